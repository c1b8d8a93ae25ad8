//! Every signal of `celery.signals` (Celery 5.x), declared with [`signal`] and
//! typed.
//!
//! Senders are typed as Celery's are: a task signal's sender is the task's name
//! ([`TaskName`], so `#[receiver(task_sent, sender = "tasks.add")]` filters as
//! `task_sent.connect(handler, sender="tasks.add")` does), a worker signal's is
//! the worker's nodename ([`Hostname`]). Where Celery passes a Python object, the
//! argument is the Rust type a Rust task system would have; each signal's docs
//! say which.
//!
//! These signals are declared here so a Rust service and its libraries agree on
//! them: the service's task runner sends them, any crate registers receivers.
//!
//! # Examples
//!
//! ```
//! use signals_celery::signals::{task_sent, TaskId, TaskSentArgs};
//! use signals::receiver;
//! use std::time::SystemTime;
//!
//! #[receiver(task_sent, sender = "tasks.add")]
//! fn on_add_sent(task_id: &TaskId, eta: Option<&SystemTime>) {
//!     println!("tasks.add sent as {task_id} (eta {eta:?})");
//! }
//!
//! let args = TaskSentArgs::new(TaskId::from("7d3e"), "tasks.add");
//! assert_eq!(task_sent.send("tasks.add", &args).unwrap().len(), 1);
//! assert!(task_sent.send("tasks.mul", &args).unwrap().is_empty());
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use ::signals::{signal, BoxError};

/// A task's registered name, e.g. `"tasks.add"`. A Rust task system registers
/// its tasks at build time, so the name is `&'static str` (Celery: `str`).
pub type TaskName = &'static str;

/// A worker's nodename, e.g. `"celery@host"` (Celery: the `hostname` string).
pub type Hostname = String;

/// Positional arguments of a task, as they travel in the message.
pub type TaskArgs = Vec<Value>;

/// Keyword arguments of a task, as they travel in the message.
pub type TaskKwargs = Map<String, Value>;

/// A task's id (a UUID string in Celery).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub String);

impl TaskId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TaskId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl From<String> for TaskId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

/// A task's state, as Celery's `celery.states` names them; also what the
/// cluster state ([`events::State`](crate::events::State)) records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Waiting for execution or unknown (`task-sent`).
    Pending,
    /// Received by a worker (`task-received`).
    Received,
    /// Started (`task-started`).
    Started,
    /// Succeeded (`task-succeeded`).
    Success,
    /// Failed (`task-failed`).
    Failure,
    /// Waiting to be retried (`task-retried`).
    Retry,
    /// Revoked (`task-revoked`).
    Revoked,
    /// Rejected by the worker (`task-rejected`).
    Rejected,
    /// A custom state: a task's own `update_state`, or a `task-<name>` event
    /// (the name upper-cased, as Celery does).
    Custom(String),
}

impl TaskState {
    /// Celery's name for the state, e.g. `"SUCCESS"`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "PENDING",
            Self::Received => "RECEIVED",
            Self::Started => "STARTED",
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Retry => "RETRY",
            Self::Revoked => "REVOKED",
            Self::Rejected => "REJECTED",
            Self::Custom(name) => name,
        }
    }

    /// Whether the task is done (`celery.states.READY_STATES`).
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Revoked)
    }

    /// The state a `task-<subject>` event moves a task to: `"succeeded"` is
    /// [`Success`](Self::Success), and a subject that is not one of Celery's
    /// own is a [`Custom`](Self::Custom) state, upper-cased.
    ///
    /// ```
    /// use signals_celery::events::TaskState;
    ///
    /// assert_eq!(TaskState::of_event_subject("succeeded"), TaskState::Success);
    /// assert_eq!(TaskState::of_event_subject("progress"), TaskState::Custom("PROGRESS".into()));
    /// ```
    pub fn of_event_subject(subject: &str) -> Self {
        Self::of_subject(subject).0
    }

    /// Whether an event moving a task to this state, arriving when the task
    /// is in `current`, happened before it (Celery's `Task.event`: neither is
    /// `RETRY`, and this state ranks earlier in a task's life). Celery then
    /// keeps the task's state and takes only some of the event's fields.
    ///
    /// ```
    /// use signals_celery::events::TaskState;
    ///
    /// // A `task-received` that arrives after `task-started`.
    /// assert!(TaskState::Received.happened_before(&TaskState::Started));
    /// assert!(!TaskState::Success.happened_before(&TaskState::Started));
    /// assert!(!TaskState::Retry.happened_before(&TaskState::Started));
    /// ```
    pub fn happened_before(&self, current: &Self) -> bool {
        *self != Self::Retry && *current != Self::Retry && self.precedence() > current.precedence()
    }

    /// The state a `task-<subject>` event moves a task to, and whether the
    /// subject is one of Celery's own.
    pub(crate) fn of_subject(subject: &str) -> (Self, bool) {
        let state = match subject {
            "sent" => Self::Pending,
            "received" => Self::Received,
            "started" => Self::Started,
            "failed" => Self::Failure,
            "retried" => Self::Retry,
            "succeeded" => Self::Success,
            "revoked" => Self::Revoked,
            "rejected" => Self::Rejected,
            custom => return (Self::Custom(custom.to_uppercase()), false),
        };
        (state, true)
    }

    /// Celery's precedence (`celery.states.precedence`): lower is later in a
    /// task's life; a custom state ranks where Celery's `None` does.
    pub(crate) fn precedence(&self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Custom(_) => 2,
            Self::Revoked => 3,
            Self::Started => 4,
            Self::Received => 5,
            Self::Rejected => 6,
            Self::Retry => 7,
            Self::Pending => 8,
        }
    }
}

/// A task request as a worker holds it (Celery: `celery.worker.request.Request`,
/// or the task's `Context`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// The task's id.
    pub id: TaskId,
    /// The task's name (a `String`: a request may name a task this process does
    /// not know).
    pub task: String,
    /// Positional arguments.
    pub args: TaskArgs,
    /// Keyword arguments.
    pub kwargs: TaskKwargs,
    /// How many times the task was retried.
    pub retries: u32,
    /// When the task is due, if scheduled.
    pub eta: Option<SystemTime>,
    /// When the task expires, if ever.
    pub expires: Option<SystemTime>,
    /// The worker handling it.
    pub hostname: Option<Hostname>,
}

/// A message as it came from the broker (Celery: a kombu `Message`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// The raw body.
    pub body: Vec<u8>,
    /// Its MIME type, e.g. `application/json`.
    pub content_type: String,
    /// Its encoding, e.g. `utf-8`.
    pub content_encoding: String,
    /// Message headers.
    pub headers: Map<String, Value>,
    /// Message properties (delivery info, priority, ...).
    pub properties: Map<String, Value>,
}

/// The worker being set up (Celery: the `WorkController` instance).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerInstance {
    /// The worker's nodename.
    pub hostname: Hostname,
    /// Its pool's concurrency.
    pub concurrency: usize,
    /// Its pool's kind, e.g. `"threads"`.
    pub pool: String,
}

// ---------------------------------------------------------------------------
// Task signals
// ---------------------------------------------------------------------------

/// Dispatched before a task is published, in the process sending it; the sender
/// is the task's name. Celery passes mutable dicts, which receivers may change:
/// the message's headers and properties are behind a `Mutex` here for the same
/// purpose.
#[signal(
    providing_args = [
        /// The message body.
        body: Value,
        /// The exchange published to.
        exchange: String,
        /// The routing key.
        routing_key: String,
        /// The message headers; receivers may change them.
        headers: Mutex<Map<String, Value>>,
        /// The message properties; receivers may change them.
        properties: Mutex<Map<String, Value>>,
        /// Entities (queues, exchanges) declared before publishing.
        declare: Vec<String>,
        /// The publish retry policy, if any.
        retry_policy: Option<Map<String, Value>>,
    ],
    sender = TaskName,
)]
pub static before_task_publish: Signal;

/// Dispatched after a task was published, in the process sending it; the
/// sender is the task's name.
#[signal(
    providing_args = [
        /// The message body.
        body: Value,
        /// The message headers.
        headers: Map<String, Value>,
        /// The exchange published to.
        exchange: String,
        /// The routing key.
        routing_key: String,
    ],
    sender = TaskName,
)]
pub static after_task_publish: Signal;

/// Dispatched when a task has been sent to the broker, in the process sending
/// it (deprecated in Celery in favour of [`after_task_publish`]); the sender is
/// the task's name.
#[signal(
    providing_args = [
        /// The task's id.
        task_id: TaskId,
        /// The task's name (Celery: the task object).
        task: TaskName,
        /// Positional arguments.
        args: TaskArgs,
        /// Keyword arguments.
        kwargs: TaskKwargs,
        /// When the task is due, if scheduled.
        eta: Option<SystemTime>,
        /// The group (taskset) the task is part of, if any.
        taskset: Option<String>,
    ],
    sender = TaskName,
)]
pub static task_sent: Signal;

impl TaskSentArgs {
    /// The arguments of a task sent now, with no arguments, eta or group.
    pub fn new(task_id: TaskId, task: TaskName) -> Self {
        Self {
            task_id,
            task,
            args: TaskArgs::new(),
            kwargs: TaskKwargs::new(),
            eta: None,
            taskset: None,
        }
    }
}

/// Dispatched when a worker receives a task; the sender is the worker's
/// nodename (Celery: the consumer).
#[signal(providing_args = [/** The request. */ request: Request], sender = Hostname)]
pub static task_received: Signal;

/// Dispatched before a task runs; the sender is the task's name (Celery: the
/// task object).
#[signal(
    providing_args = [
        /// The task's id.
        task_id: TaskId,
        /// The task's name (Celery: the task object).
        task: TaskName,
        /// Positional arguments.
        args: TaskArgs,
        /// Keyword arguments.
        kwargs: TaskKwargs,
    ],
    sender = TaskName,
)]
pub static task_prerun: Signal;

/// Dispatched after a task ran; the sender is the task's name.
#[signal(
    providing_args = [
        /// The task's id.
        task_id: TaskId,
        /// The task's name (Celery: the task object).
        task: TaskName,
        /// Positional arguments.
        args: TaskArgs,
        /// Keyword arguments.
        kwargs: TaskKwargs,
        /// What the task returned.
        retval: Value,
        /// The task's resulting state.
        state: TaskState,
    ],
    sender = TaskName,
)]
pub static task_postrun: Signal;

/// Dispatched when a task succeeds; the sender is the task's name.
#[signal(
    providing_args = [
        /// What the task returned.
        result: Value,
        /// How long it ran (Celery 5.7 added `runtime`).
        runtime: Duration,
    ],
    sender = TaskName,
)]
pub static task_success: Signal;

/// Dispatched when a task will be retried; the sender is the task's name.
#[signal(
    providing_args = [
        /// The request being retried.
        request: Request,
        /// Why, if known.
        reason: Option<String>,
        /// The formatted exception info, if any.
        einfo: Option<String>,
    ],
    sender = TaskName,
)]
pub static task_retry: Signal;

/// Dispatched when a task fails; the sender is the task's name.
#[signal(
    providing_args = [
        /// The task's id.
        task_id: TaskId,
        /// The error the task failed with.
        exception: BoxError,
        /// Positional arguments.
        args: TaskArgs,
        /// Keyword arguments.
        kwargs: TaskKwargs,
        /// The formatted traceback (a backtrace), if captured.
        traceback: Option<String>,
        /// The formatted exception info, if any.
        einfo: Option<String>,
    ],
    sender = TaskName,
)]
pub static task_failure: Signal;

/// Dispatched when the worker itself fails while running a task (not the
/// task); the sender is the task's name.
#[signal(
    providing_args = [
        /// The task's id.
        task_id: TaskId,
        /// Positional arguments.
        args: TaskArgs,
        /// Keyword arguments.
        kwargs: TaskKwargs,
        /// The request.
        request: Request,
        /// The internal error.
        exception: BoxError,
        /// The formatted traceback, if captured.
        traceback: Option<String>,
        /// The formatted exception info, if any.
        einfo: Option<String>,
    ],
    sender = TaskName,
)]
pub static task_internal_error: Signal;

/// Dispatched when a task is revoked or terminated; the sender is the task's
/// name.
#[signal(
    providing_args = [
        /// The request (Celery: the task's `Context`).
        request: Request,
        /// Whether it was terminated while running.
        terminated: bool,
        /// The signal number used to terminate it, if any.
        signum: Option<i32>,
        /// Whether it was revoked because it expired.
        expired: bool,
    ],
    sender = TaskName,
)]
pub static task_revoked: Signal;

/// Dispatched when a worker rejects a message it cannot handle; the sender is
/// the worker's nodename (Celery: the consumer).
#[signal(
    providing_args = [
        /// The rejected message.
        message: Message,
        /// Why, if known.
        exc: Option<String>,
    ],
    sender = Hostname,
)]
pub static task_rejected: Signal;

/// Dispatched when a worker receives a message for a task it does not know;
/// the sender is the worker's nodename (Celery: the consumer).
#[signal(
    providing_args = [
        /// The message.
        message: Message,
        /// The error raised for it.
        exc: String,
        /// The unknown task name.
        name: String,
        /// The task's id.
        id: TaskId,
    ],
    sender = Hostname,
)]
pub static task_unknown: Signal;

// ---------------------------------------------------------------------------
// Worker and app signals
// ---------------------------------------------------------------------------

/// The first signal a worker sends, before it is set up; the sender is its
/// nodename.
#[signal(
    providing_args = [
        /// The worker.
        instance: WorkerInstance,
        /// The app's configuration.
        conf: Map<String, Value>,
        /// The command-line options.
        options: Map<String, Value>,
    ],
    sender = Hostname,
)]
pub static celeryd_init: Signal;

/// Dispatched once the worker's queues are set up; the sender is its nodename.
#[signal(
    providing_args = [
        /// The worker.
        instance: WorkerInstance,
        /// The app's configuration.
        conf: Map<String, Value>,
    ],
    sender = Hostname,
)]
pub static celeryd_after_setup: Signal;

/// Dispatched when the app imports its task modules; the sender is the app's
/// name. Celery re-raises what receivers fail with, as [`Signal::send`]
/// does.
///
/// [`Signal::send`]: signals::Signal::send
#[signal(sender = &'static str)]
pub static import_modules: Signal;

/// Dispatched before the worker starts; the sender is its nodename (Celery:
/// the `WorkController`).
#[signal(sender = Hostname)]
pub static worker_init: Signal;

/// Dispatched in the parent before a pool process is created; the sender is
/// the worker's nodename (Celery: the pool).
#[signal(sender = Hostname)]
pub static worker_before_create_process: Signal;

/// Dispatched in each new pool process; the sender is the worker's nodename.
#[signal(sender = Hostname)]
pub static worker_process_init: Signal;

/// Dispatched in a pool process about to exit; the sender is the worker's
/// nodename.
#[signal(
    providing_args = [/** The process id. */ pid: u32, /** Its exit code. */ exitcode: i32],
    sender = Hostname,
)]
pub static worker_process_shutdown: Signal;

/// Dispatched when the worker is ready to accept work; the sender is its
/// nodename (Celery: the consumer).
#[signal(sender = Hostname)]
pub static worker_ready: Signal;

/// Dispatched when the worker begins shutting down; the sender is its
/// nodename.
#[signal(
    providing_args = [
        /// The signal that caused it, e.g. `"SIGTERM"`.
        sig: String,
        /// `"Warm"` or `"Cold"`.
        how: String,
        /// The exit code the worker will exit with.
        exitcode: i32,
    ],
    sender = Hostname,
)]
pub static worker_shutting_down: Signal;

/// Dispatched when the worker is about to shut down; the sender is its
/// nodename (Celery: the `WorkController`).
#[signal(sender = Hostname)]
pub static worker_shutdown: Signal;

/// Dispatched when the worker sends a heartbeat event; the sender is its
/// nodename (Celery: the `Heart`).
#[signal(sender = Hostname)]
pub static heartbeat_sent: Signal;

// ---------------------------------------------------------------------------
// Logging, beat, eventlet and command signals
// ---------------------------------------------------------------------------

/// Dispatched to set up logging; Celery skips its own logging set-up when this
/// signal has receivers. There is no sender (Celery: `None`), hence `()`.
#[signal(
    providing_args = [
        /// The level, e.g. `"INFO"`.
        loglevel: String,
        /// The log file, if any (otherwise stderr).
        logfile: Option<PathBuf>,
        /// The log format.
        format: String,
        /// Whether to colour the output.
        colorize: bool,
    ],
    sender = (),
)]
pub static setup_logging: Signal;

/// Dispatched after the global logger is set up; no sender (`()`).
#[signal(
    providing_args = [
        /// The logger's name (Celery: the `Logger` object).
        logger: String,
        /// The level.
        loglevel: String,
        /// The log file, if any.
        logfile: Option<PathBuf>,
        /// The log format.
        format: String,
        /// Whether to colour the output.
        colorize: bool,
    ],
    sender = (),
)]
pub static after_setup_logger: Signal;

/// Dispatched after the task logger is set up; no sender (`()`).
#[signal(
    providing_args = [
        /// The logger's name (Celery: the `Logger` object).
        logger: String,
        /// The level.
        loglevel: String,
        /// The log file, if any.
        logfile: Option<PathBuf>,
        /// The log format.
        format: String,
        /// Whether to colour the output.
        colorize: bool,
    ],
    sender = (),
)]
pub static after_setup_task_logger: Signal;

/// Dispatched when celery beat starts; the sender is the beat service's
/// hostname.
#[signal(sender = Hostname)]
pub static beat_init: Signal;

/// Dispatched when celery beat starts embedded in a worker; the sender is the
/// beat service's hostname.
#[signal(sender = Hostname)]
pub static beat_embedded_init: Signal;

/// Dispatched when the eventlet pool has started; the sender is the worker's
/// nodename (Celery: the pool). Kept for parity: an async runtime's pool sends
/// it.
#[signal(sender = Hostname)]
pub static eventlet_pool_started: Signal;

/// Dispatched before the eventlet pool waits for its workers to finish; the
/// sender is the worker's nodename.
#[signal(sender = Hostname)]
pub static eventlet_pool_preshutdown: Signal;

/// Dispatched after the eventlet pool's workers finished; the sender is the
/// worker's nodename.
#[signal(sender = Hostname)]
pub static eventlet_pool_postshutdown: Signal;

/// Dispatched when the eventlet pool applies a function; the sender is the
/// worker's nodename.
#[signal(
    providing_args = [
        /// The function's name (Celery: the callable).
        target: String,
        /// Positional arguments.
        args: TaskArgs,
        /// Keyword arguments.
        kwargs: TaskKwargs,
    ],
    sender = Hostname,
)]
pub static eventlet_pool_apply: Signal;

/// Dispatched after the user's preload options are parsed; the sender is the
/// command's name.
#[signal(
    providing_args = [
        /// The app's name (Celery: the app).
        app: String,
        /// The parsed options.
        options: Map<String, Value>,
    ],
    sender = &'static str,
)]
pub static user_preload_options: Signal;
