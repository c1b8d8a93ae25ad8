//! Reading a panic's payload, for logs and [`ReceiverError::Panicked`](crate::ReceiverError).

use std::any::Any;

/// The message of a panic: its payload when that is a string.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
