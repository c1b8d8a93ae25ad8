//! Errors reported by dispatch.
//!
//! Receivers may fail with any error type; the runtime carries it as a [`BoxError`]
//! so one signal can hold receivers written against different error types.

use crate::ids::ReceiverId;

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

/// What a sync [`send`](crate::Signal::send) or
/// [`send_robust`](crate::Signal::send_robust) reports for an async receiver:
/// it cannot run one, and does not skip it silently.
///
/// A sync send has no executor to drive the receiver's future, and blocking on
/// one (as Django's `async_to_sync` does) can deadlock when the caller is itself
/// on an async runtime's thread. So the receiver's outcome is this error: `send`
/// stops at it as at any failure, `send_robust` returns it in the receiver's
/// slot and logs it. Send with [`asend`](crate::Signal::asend) or
/// [`asend_robust`](crate::Signal::asend_robust) to run async receivers; outside
/// any runtime, an executor's `block_on` over `asend` does it from sync code.
///
/// ```
/// use signals::{AwaitRequired, ReceiverError, Signal};
/// let sig: Signal<()> = Signal::new("saved");
/// sig.connect_async(async |_: &&str, _: &()| {});
/// let error = sig.send("app", &()).unwrap_err();
/// assert!(error.source.is::<AwaitRequired>());
/// let outcomes = sig.send_robust("app", &());
/// assert!(matches!(&outcomes[0], Err(ReceiverError::Failed(e)) if e.is::<AwaitRequired>()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an async receiver cannot be run by a sync send; send with `asend` or `asend_robust`")]
pub struct AwaitRequired;
