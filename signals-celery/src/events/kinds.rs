//! Typed versions of Celery's standard events (`celery-wire.md` F, Celery's
//! "Event Reference").
//!
//! Each type holds the event's own fields; the dispatcher adds the standard ones
//! (`hostname`, `utcoffset`, `pid`, `clock`, `timestamp`, `type`). Where Celery
//! sends a Python `repr` (task arguments, results, exceptions), the field is that
//! text as a `String`; ISO 8601 times (`eta`, `expires`) are strings too, so what
//! a Python worker sent decodes unchanged.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An event type with a fixed Celery name, sendable with
/// [`EventDispatcher::send_event`](super::EventDispatcher::send_event) and
/// decodable with [`Event::decode`](super::Event::decode).
pub trait CeleryEvent: Serialize + DeserializeOwned {
    /// The event type, e.g. `task-succeeded`.
    const TYPE: &'static str;
}

macro_rules! celery_events {
    ($(
        $(#[$doc:meta])*
        $name:ident = $kind:literal {
            $( $(#[$field_doc:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $( $(#[$field_doc])* pub $field: $ty, )*
        }

        impl CeleryEvent for $name {
            const TYPE: &'static str = $kind;
        }
    )*};
}

celery_events! {
    /// `task-sent`: a task message was published (with `task_send_sent_event`).
    TaskSent = "task-sent" {
        /// The task id.
        uuid: String,
        /// The task name, e.g. `tasks.add`.
        name: String,
        /// The positional arguments, as text.
        args: String,
        /// The keyword arguments, as text.
        kwargs: String,
        /// How many times the task was retried.
        retries: u32,
        /// When the task may run, ISO 8601.
        eta: Option<String>,
        /// When the task expires, ISO 8601.
        expires: Option<String>,
        /// The queue it was sent to.
        queue: Option<String>,
        /// The exchange it was sent to.
        exchange: Option<String>,
        /// Its routing key.
        routing_key: Option<String>,
        /// The id of the first task of its workflow.
        root_id: Option<String>,
        /// The id of the task that sent it.
        parent_id: Option<String>,
    }

    /// `task-received`: a worker received a task.
    TaskReceived = "task-received" {
        /// The task id.
        uuid: String,
        /// The task name.
        name: String,
        /// The positional arguments, as text.
        args: String,
        /// The keyword arguments, as text.
        kwargs: String,
        /// How many times the task was retried.
        retries: u32,
        /// When the task may run, ISO 8601.
        eta: Option<String>,
        /// When the task expires, ISO 8601.
        expires: Option<String>,
        /// The id of the first task of its workflow.
        root_id: Option<String>,
        /// The id of the task that sent it.
        parent_id: Option<String>,
    }

    /// `task-started`: a worker started running a task.
    TaskStarted = "task-started" {
        /// The task id.
        uuid: String,
    }

    /// `task-succeeded`: a task finished.
    TaskSucceeded = "task-succeeded" {
        /// The task id.
        uuid: String,
        /// The result, as text.
        result: String,
        /// How long it ran, in seconds.
        runtime: f64,
    }

    /// `task-failed`: a task raised.
    TaskFailed = "task-failed" {
        /// The task id.
        uuid: String,
        /// The error, as text.
        exception: String,
        /// Where it was raised.
        traceback: String,
    }

    /// `task-rejected`: a worker rejected a task.
    TaskRejected = "task-rejected" {
        /// The task id.
        uuid: String,
        /// Whether it was put back in the queue.
        requeue: bool,
    }

    /// `task-revoked`: a task was revoked.
    TaskRevoked = "task-revoked" {
        /// The task id.
        uuid: String,
        /// Whether its process was terminated.
        terminated: bool,
        /// The signal used to terminate it, if any.
        signum: Option<i32>,
        /// Whether it was revoked because it expired.
        expired: bool,
    }

    /// `task-retried`: a task failed and will be retried.
    TaskRetried = "task-retried" {
        /// The task id.
        uuid: String,
        /// The error, as text.
        exception: String,
        /// Where it was raised.
        traceback: String,
    }
}

/// The worker events, which share one set of fields.
macro_rules! worker_events {
    ($( $(#[$doc:meta])* $name:ident = $kind:literal; )*) => {
        celery_events! {$(
            $(#[$doc])*
            $name = $kind {
                /// Heartbeat interval, seconds.
                freq: f64,
                /// The worker software (`py-celery` for Celery).
                sw_ident: String,
                /// Its version.
                sw_ver: String,
                /// Its operating system.
                sw_sys: String,
                /// Tasks running now.
                active: u64,
                /// Tasks processed so far.
                processed: u64,
                /// Load averages over 1, 5 and 15 minutes.
                loadavg: Option<[f64; 3]>,
            }
        )*}
    };
}

worker_events! {
    /// `worker-online`: a worker connected.
    WorkerOnline = "worker-online";
    /// `worker-heartbeat`: a worker is alive (every `freq` seconds).
    WorkerHeartbeat = "worker-heartbeat";
    /// `worker-offline`: a worker is shutting down.
    WorkerOffline = "worker-offline";
}
