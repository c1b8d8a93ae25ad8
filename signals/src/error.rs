//! Errors reported by dispatch.
//!
//! Receivers may fail with any error type; the runtime carries it as a [`BoxError`]
//! so one signal can hold receivers written against different error types.

use crate::receiver::ReceiverId;

/// Any error a receiver returns, boxed so receivers with different error types can
/// share one signal.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The first error returned by a receiver during [`Signal::send`](crate::Signal::send).
///
/// `send` follows Django: the first failing receiver stops dispatch, and later
/// receivers are not called. Use [`Signal::send_robust`](crate::Signal::send_robust)
/// to call every receiver regardless.
///
/// ```
/// use signals::Signal;
///
/// static SAVED: Signal<u32> = Signal::new("saved");
/// SAVED.connect(|_: &&str, n: &u32| -> Result<(), std::io::Error> {
///     Err(std::io::Error::other(format!("cannot save {n}")))
/// });
/// let err = SAVED.send("app", &7).unwrap_err();
/// assert!(err.to_string().contains("cannot save 7"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("receiver {receiver} failed: {source}")]
pub struct SendError {
    /// The receiver that failed.
    pub receiver: ReceiverId,
    /// What it returned.
    #[source]
    pub source: BoxError,
}

/// Why one receiver failed during [`Signal::send_robust`](crate::Signal::send_robust).
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The receiver returned an error.
    #[error("{0}")]
    Failed(#[source] BoxError),
    /// The receiver panicked; the payload's message is kept.
    #[error("receiver panicked: {0}")]
    Panicked(String),
}

/// A retrying receiver that still failed when its [`RetryPolicy`](crate::RetryPolicy)
/// bound was reached.
///
/// Celery retries forever and never reports the failure; we stop at the user's bound
/// and hand the last error back to the sender.
#[derive(Debug, thiserror::Error)]
#[error("receiver still failing after {attempts} attempts: {last}")]
pub struct RetriesExhausted {
    /// How many times the receiver was called in all.
    pub attempts: u32,
    /// The error from the last attempt.
    #[source]
    pub last: BoxError,
}
