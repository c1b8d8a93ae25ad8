//! A task as the cluster state knows it, and Celery's rules for merging its
//! events when they arrive out of order.

use std::sync::Arc;

use super::Named;
pub use crate::celery::TaskState;
use crate::events::event_ref::FieldRef;
use crate::events::field_name::FieldName;

/// A task: what its events said, merged by Celery's rules.
///
/// Text fields hold what the event carried: Celery sends `args`, `kwargs`
/// and `result` as `repr` strings, so they are strings here too (a value of
/// another JSON type is kept as its JSON text).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Task {
    /// The task id.
    pub uuid: Arc<str>,
    /// The task's name (from `task-sent` or `task-received`).
    pub name: Option<String>,
    /// Its state.
    pub state: TaskState,
    /// When each event arrived, by its `timestamp` (localized).
    pub sent: Option<f64>,
    /// See [`sent`](Self::sent).
    pub received: Option<f64>,
    /// See [`sent`](Self::sent).
    pub started: Option<f64>,
    /// See [`sent`](Self::sent).
    pub succeeded: Option<f64>,
    /// See [`sent`](Self::sent).
    pub failed: Option<f64>,
    /// See [`sent`](Self::sent).
    pub retried: Option<f64>,
    /// See [`sent`](Self::sent).
    pub revoked: Option<f64>,
    /// See [`sent`](Self::sent).
    pub rejected: Option<f64>,
    /// The positional arguments, as sent (a `repr`).
    pub args: Option<String>,
    /// The keyword arguments, as sent (a `repr`).
    pub kwargs: Option<String>,
    /// The ETA, if any.
    pub eta: Option<String>,
    /// The expiry, if any.
    pub expires: Option<String>,
    /// How many times it was retried.
    pub retries: Option<i64>,
    /// The worker's hostname (any event but `task-sent`).
    pub worker: Option<String>,
    /// The client's hostname (`task-sent`).
    pub client: Option<String>,
    /// The result (`task-succeeded`, a `repr`).
    pub result: Option<String>,
    /// The exception (`task-failed`, `task-retried`).
    pub exception: Option<String>,
    /// The traceback.
    pub traceback: Option<String>,
    /// The timestamp of the event that set the state (or a later-arriving
    /// earlier one's, as Celery does).
    pub timestamp: Option<f64>,
    /// Seconds the task ran (`task-succeeded`).
    pub runtime: Option<f64>,
    /// The exchange it was sent to (`task-sent`).
    pub exchange: Option<String>,
    /// Its routing key (`task-sent`).
    pub routing_key: Option<String>,
    /// The queue it was sent to (`task-sent`).
    pub queue: Option<String>,
    /// The Lamport clock of the last event applied in order.
    pub clock: u64,
    /// The root task's id.
    pub root_id: Option<String>,
    /// The parent task's id.
    pub parent_id: Option<String>,
    /// The ids of its children, in the order they were linked (those still
    /// in the state: see [`StateView::children`](super::StateView::children)).
    pub children: Vec<Arc<str>>,
    /// The name and hostname it was indexed under (`tasks_by_type`,
    /// `tasks_by_worker`), to unindex it when it is evicted.
    pub(crate) indexed: Option<(String, String)>,
}

/// The `task-received` fields merged into a task whatever its state (Celery's
/// `Task.merge_rules`).
const RECEIVED_FIELDS: u64 = FieldName::Name.bit()
    | FieldName::Args.bit()
    | FieldName::Kwargs.bit()
    | FieldName::ParentId.bit()
    | FieldName::RootId.bit()
    | FieldName::Retries.bit()
    | FieldName::Eta.bit()
    | FieldName::Expires.bit();

impl Task {
    pub(crate) fn new(uuid: Arc<str>) -> Self {
        Self {
            uuid,
            name: None,
            state: TaskState::Pending,
            sent: None,
            received: None,
            started: None,
            succeeded: None,
            failed: None,
            retried: None,
            revoked: None,
            rejected: None,
            args: None,
            kwargs: None,
            eta: None,
            expires: None,
            retries: None,
            worker: None,
            client: None,
            result: None,
            exception: None,
            traceback: None,
            timestamp: None,
            runtime: None,
            exchange: None,
            routing_key: None,
            queue: None,
            clock: 0,
            root_id: None,
            parent_id: None,
            children: Vec::new(),
            indexed: None,
        }
    }

    /// Whether the task is done.
    pub fn is_ready(&self) -> bool {
        self.state.is_ready()
    }

    /// Applies a `task-<subject>` event (Celery's `Task.event`).
    pub(crate) fn apply(&mut self, subject: &str, timestamp: Option<f64>, event: &Named<'_>) {
        let (state, known) = TaskState::of_subject(subject);
        if known {
            // `task.started = timestamp`, and so on, whatever the order.
            *self.event_time(subject) = timestamp;
        }
        let happened_before = state != TaskState::Retry
            && self.state != TaskState::Retry
            && state.precedence() > self.state.precedence();
        if happened_before {
            // This event logically precedes the current state: keep the
            // state. A late `task-received` gives only its merge fields; any
            // other late event gives all its fields.
            if state == TaskState::Received {
                for &(field, value) in event {
                    if RECEIVED_FIELDS & field.bit() != 0 {
                        self.set(field, value);
                    }
                }
            } else {
                self.set_all(event);
            }
        } else {
            self.set_all(event);
            self.state = state;
            self.timestamp = timestamp;
        }
    }

    fn event_time(&mut self, subject: &str) -> &mut Option<f64> {
        match subject {
            "sent" => &mut self.sent,
            "received" => &mut self.received,
            "started" => &mut self.started,
            "failed" => &mut self.failed,
            "retried" => &mut self.retried,
            "succeeded" => &mut self.succeeded,
            "revoked" => &mut self.revoked,
            _ => &mut self.rejected,
        }
    }

    /// Copies every field the task keeps (Celery copies every field of the
    /// event onto the task; the others are not part of a task's model).
    fn set_all(&mut self, event: &Named<'_>) {
        for &(field, value) in event {
            self.set(field, value);
        }
    }

    fn set(&mut self, field: FieldName, value: FieldRef<'_>) {
        match field {
            FieldName::Name => set_text(&mut self.name, value),
            FieldName::Args => set_text(&mut self.args, value),
            FieldName::Kwargs => set_text(&mut self.kwargs, value),
            FieldName::Eta => set_text(&mut self.eta, value),
            FieldName::Expires => set_text(&mut self.expires, value),
            FieldName::Retries => self.retries = value.as_i64(),
            FieldName::Result => set_text(&mut self.result, value),
            FieldName::Exception => set_text(&mut self.exception, value),
            FieldName::Traceback => set_text(&mut self.traceback, value),
            FieldName::Runtime => self.runtime = value.as_f64(),
            FieldName::Exchange => set_text(&mut self.exchange, value),
            FieldName::RoutingKey => set_text(&mut self.routing_key, value),
            FieldName::Queue => set_text(&mut self.queue, value),
            FieldName::Clock => self.clock = value.as_u64().unwrap_or(0),
            FieldName::Timestamp => self.timestamp = value.as_f64(),
            FieldName::RootId => set_text(&mut self.root_id, value),
            FieldName::ParentId => set_text(&mut self.parent_id, value),
            _ => {}
        }
    }
}

/// Sets a text field to a value's text: a string as is, `null` as nothing,
/// anything else as its JSON text. The same text again allocates nothing
/// (`task-sent` and `task-received` repeat the name and arguments).
fn set_text(slot: &mut Option<String>, value: FieldRef<'_>) {
    if value.is_null() {
        *slot = None;
    } else if let Some(text) = value.as_str() {
        if slot.as_deref() != Some(&*text) {
            *slot = Some(text.into_owned());
        }
    } else {
        // Compact JSON, however the sender spaced it.
        *slot = Some(value.to_value().to_string());
    }
}
