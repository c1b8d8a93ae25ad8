//! The task entries of the `active`, `reserved` and `scheduled` replies, in
//! the shape of Celery's `Request.info()`: Flower's worker page and `celery
//! inspect` read every one of these fields, so each entry carries them all.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One task a worker holds, as Celery's `Request.info()` reports it.
///
/// Every field is written, `null` where unknown, because readers index
/// them directly (Flower's worker page raises on a missing `acknowledged`).
///
/// ```
/// use signals_celery::control::TaskInfo;
///
/// let task = TaskInfo::new("d9f1...", "tasks.add", "w1@host")
///     .args(serde_json::json!([2, 2]))
///     .started_at(1_700_000_000.0, 4242);
/// let json = serde_json::to_value(&task).unwrap();
/// assert_eq!(json["type"], "tasks.add");
/// assert_eq!(json["acknowledged"], true);
/// assert_eq!(json["worker_pid"], 4242);
/// assert_eq!(json["delivery_info"]["routing_key"], "celery");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task id.
    pub id: String,
    /// The task name.
    pub name: String,
    /// The positional arguments (a list, or their repr as a string).
    pub args: Value,
    /// The keyword arguments (a map, or their repr as a string).
    pub kwargs: Value,
    /// The task type: its name, as Celery writes it.
    #[serde(rename = "type")]
    pub kind: String,
    /// The node that holds the task (`name@host`).
    pub hostname: String,
    /// When the task started running (seconds since the epoch), if it has.
    pub time_start: Option<f64>,
    /// Whether its message has been acknowledged.
    pub acknowledged: bool,
    /// Where its message came from.
    pub delivery_info: DeliveryInfo,
    /// The process running it, if it runs.
    pub worker_pid: Option<u32>,
}

impl TaskInfo {
    /// A task received and not started: no arguments, not acknowledged,
    /// delivered on the `celery` queue.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        hostname: impl Into<String>,
    ) -> Self {
        let name = name.into();
        Self {
            id: id.into(),
            kind: name.clone(),
            name,
            args: Value::Array(Vec::new()),
            kwargs: Value::Object(Map::new()),
            hostname: hostname.into(),
            time_start: None,
            acknowledged: false,
            delivery_info: DeliveryInfo::default(),
            worker_pid: None,
        }
    }

    /// With these positional arguments.
    pub fn args(mut self, args: Value) -> Self {
        self.args = args;
        self
    }

    /// With these keyword arguments.
    pub fn kwargs(mut self, kwargs: Value) -> Self {
        self.kwargs = kwargs;
        self
    }

    /// Started at `time_start` by process `worker_pid`, its message
    /// acknowledged (Celery acknowledges before running, unless `acks_late`).
    pub fn started_at(mut self, time_start: f64, worker_pid: u32) -> Self {
        self.time_start = Some(time_start);
        self.worker_pid = Some(worker_pid);
        self.acknowledged = true;
        self
    }

    /// Delivered as `delivery_info` says.
    pub fn delivery_info(mut self, delivery_info: DeliveryInfo) -> Self {
        self.delivery_info = delivery_info;
        self
    }
}

/// Where a task's message came from: Celery's `Request.delivery_info`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryInfo {
    /// The exchange it was published to (`""` for the default exchange).
    pub exchange: Option<String>,
    /// Its routing key: the queue, for Celery's default routing.
    pub routing_key: Option<String>,
    /// Its message priority, if it had one.
    pub priority: Option<u8>,
    /// Whether the broker delivered it before.
    pub redelivered: bool,
}

impl DeliveryInfo {
    /// Delivered through the default exchange from `queue`.
    pub fn queue(queue: impl Into<String>) -> Self {
        Self {
            exchange: Some(String::new()),
            routing_key: Some(queue.into()),
            priority: None,
            redelivered: false,
        }
    }

    /// With this message priority.
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }
}

impl Default for DeliveryInfo {
    fn default() -> Self {
        Self::queue("celery")
    }
}

/// A task waiting for its ETA: an entry of the `scheduled` reply.
///
/// ```
/// use signals_celery::control::{ScheduledTask, TaskInfo};
///
/// let waiting = ScheduledTask::new(TaskInfo::new("id", "tasks.add", "w1@host"))
///     .eta("2026-12-02T12:00:00+00:00");
/// let json = serde_json::to_value(&waiting).unwrap();
/// assert_eq!(json["request"]["name"], "tasks.add");
/// assert_eq!(json["priority"], 6);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScheduledTask {
    /// When it is due, ISO 8601.
    pub eta: Option<String>,
    /// Its place in the worker's timer (Celery's default is 6).
    pub priority: i64,
    /// The task.
    pub request: TaskInfo,
}

impl ScheduledTask {
    /// `request`, with no ETA and the timer's default priority.
    pub fn new(request: TaskInfo) -> Self {
        Self {
            eta: None,
            priority: 6,
            request,
        }
    }

    /// Due at `eta` (ISO 8601).
    pub fn eta(mut self, eta: impl Into<String>) -> Self {
        self.eta = Some(eta.into());
        self
    }
}
