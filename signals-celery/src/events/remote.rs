//! Remote events as signals of this process: an
//! [`EventReceiver`](super::EventReceiver) built with
//! [`emit_signals`](super::EventReceiverBuilder::emit_signals) sends each
//! event it receives on the signal of its type, with the sender's hostname as
//! the signal's sender, so an in-process receiver sees what other services do.
//!
//! ```
//! use signals_celery::events::{remote, Received, TaskFailed};
//! use signals::receiver;
//!
//! #[receiver(remote::task_failed, sender = "w1@host")]
//! fn page_someone(event: &Received<TaskFailed>) {
//!     eprintln!("task {} failed on w1: {}", event.uuid, event.exception);
//! }
//! # let _ = page_someone;
//! ```

use signals::signal;

use super::kinds::{
    TaskFailed, TaskReceived, TaskRejected, TaskRetried, TaskRevoked, TaskSent, TaskStarted,
    TaskSucceeded, WorkerHeartbeat, WorkerOffline, WorkerOnline,
};
use super::receiver::{ReceiveError, Received};
use super::{CeleryEvent, Event, EventRef};

/// Every remote event, raw, whatever its type (also those with no typed signal).
#[signal(providing_args = [event: Event], sender = String)]
pub static event: Signal;

/// A remote `task-sent`.
#[signal(providing_args = [event: Received<TaskSent>], sender = String)]
pub static task_sent: Signal;

/// A remote `task-received`.
#[signal(providing_args = [event: Received<TaskReceived>], sender = String)]
pub static task_received: Signal;

/// A remote `task-started`.
#[signal(providing_args = [event: Received<TaskStarted>], sender = String)]
pub static task_started: Signal;

/// A remote `task-succeeded`.
#[signal(providing_args = [event: Received<TaskSucceeded>], sender = String)]
pub static task_succeeded: Signal;

/// A remote `task-failed`.
#[signal(providing_args = [event: Received<TaskFailed>], sender = String)]
pub static task_failed: Signal;

/// A remote `task-rejected`.
#[signal(providing_args = [event: Received<TaskRejected>], sender = String)]
pub static task_rejected: Signal;

/// A remote `task-revoked`.
#[signal(providing_args = [event: Received<TaskRevoked>], sender = String)]
pub static task_revoked: Signal;

/// A remote `task-retried`.
#[signal(providing_args = [event: Received<TaskRetried>], sender = String)]
pub static task_retried: Signal;

/// A remote `worker-online`.
#[signal(providing_args = [event: Received<WorkerOnline>], sender = String)]
pub static worker_online: Signal;

/// A remote `worker-heartbeat`.
#[signal(providing_args = [event: Received<WorkerHeartbeat>], sender = String)]
pub static worker_heartbeat: Signal;

/// A remote `worker-offline`.
#[signal(providing_args = [event: Received<WorkerOffline>], sender = String)]
pub static worker_offline: Signal;

/// Sends `received` on [`event`] and on the signal of its type. Receivers'
/// errors and panics are `send_robust`'s (logged, never raised).
/// The owned [`Event`] is made only when [`event`] has a receiver for this
/// sender.
pub(crate) fn emit(kind: &str, received: &EventRef<'_>) -> Result<(), ReceiveError> {
    let hostname = received
        .hostname()
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_default();
    if event.has_listeners(&hostname) {
        event.send_robust(
            &hostname,
            &EventArgs {
                event: received.to_event(),
            },
        );
    }
    macro_rules! typed {
        ($($ty:ident => $signal:ident, $args:ident;)*) => {
            match kind {
                $(<$ty as CeleryEvent>::TYPE if $signal.has_listeners(&hostname) => {
                    let typed = Received::<$ty>::read(received)?;
                    $signal.send_robust(&hostname, &$args { event: typed });
                })*
                _ => {}
            }
        };
    }
    typed! {
        TaskSent => task_sent, TaskSentArgs;
        TaskReceived => task_received, TaskReceivedArgs;
        TaskStarted => task_started, TaskStartedArgs;
        TaskSucceeded => task_succeeded, TaskSucceededArgs;
        TaskFailed => task_failed, TaskFailedArgs;
        TaskRejected => task_rejected, TaskRejectedArgs;
        TaskRevoked => task_revoked, TaskRevokedArgs;
        TaskRetried => task_retried, TaskRetriedArgs;
        WorkerOnline => worker_online, WorkerOnlineArgs;
        WorkerHeartbeat => worker_heartbeat, WorkerHeartbeatArgs;
        WorkerOffline => worker_offline, WorkerOfflineArgs;
    }
    Ok(())
}
