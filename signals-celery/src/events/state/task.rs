//! A task as the cluster state knows it, and Celery's rules for merging its
//! events when they arrive out of order.

use std::sync::Arc;

use super::texts::Texts;
use super::{Named, NamedField, Required};
use crate::events::event_ref::FieldRef;
use crate::events::field_name::FieldName;
pub use crate::signals::TaskState;

/// A task: what its events said, merged by Celery's rules.
///
/// Text fields hold what the event carried: Celery sends `args`, `kwargs`
/// and `result` as `repr` strings, so they are strings here too (a value of
/// another JSON type is kept as its JSON text). Every text is an
/// `Arc<str>`: the state keeps the texts many tasks repeat (names,
/// hostnames, queues, short arguments and results such as `{}` or `None`)
/// once, and shares them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Task {
    /// The task id.
    pub uuid: Arc<str>,
    /// The task's name (from `task-sent` or `task-received`).
    pub name: Option<Arc<str>>,
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
    pub args: Option<Arc<str>>,
    /// The keyword arguments, as sent (a `repr`).
    pub kwargs: Option<Arc<str>>,
    /// The ETA, if any.
    pub eta: Option<Arc<str>>,
    /// The expiry, if any.
    pub expires: Option<Arc<str>>,
    /// How many times it was retried.
    pub retries: Option<i64>,
    /// The worker's hostname (any event but `task-sent`).
    pub worker: Option<Arc<str>>,
    /// The client's hostname (`task-sent`).
    pub client: Option<Arc<str>>,
    /// The result (`task-succeeded`, a `repr`).
    pub result: Option<Arc<str>>,
    /// The exception (`task-failed`, `task-retried`).
    pub exception: Option<Arc<str>>,
    /// The traceback.
    pub traceback: Option<Arc<str>>,
    /// The timestamp of the event that set the state (or a later-arriving
    /// earlier one's, as Celery does).
    pub timestamp: Option<f64>,
    /// Seconds the task ran (`task-succeeded`).
    pub runtime: Option<f64>,
    /// The exchange it was sent to (`task-sent`).
    pub exchange: Option<Arc<str>>,
    /// Its routing key (`task-sent`).
    pub routing_key: Option<Arc<str>>,
    /// The queue it was sent to (`task-sent`).
    pub queue: Option<Arc<str>>,
    /// The Lamport clock of the last event applied in order.
    pub clock: u64,
    /// The root task's id.
    pub root_id: Option<Arc<str>>,
    /// The parent task's id.
    pub parent_id: Option<Arc<str>>,
    /// The ids of its children, in the order they were linked (those still
    /// in the state: see [`StateView::children`](super::StateView::children)).
    pub children: Vec<Arc<str>>,
    /// The name and hostname of the event that created it, if that event
    /// had a name: what `tasks_by_type` and `tasks_by_worker` match.
    pub(crate) indexed: Option<(Arc<str>, Arc<str>)>,
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
    pub(crate) fn apply(
        &mut self,
        subject: &str,
        event: &Named<'_>,
        required: &Required<'_>,
        texts: &mut Texts,
    ) {
        let timestamp = required.timestamp;
        let (state, known) = TaskState::of_subject(subject);
        if known {
            // `task.started = timestamp`, and so on, whatever the order.
            *self.event_time(subject) = timestamp;
        }
        if state.happened_before(&self.state) {
            // This event logically precedes the current state: keep the
            // state. A late `task-received` gives only its merge fields; any
            // other late event gives all its fields.
            if state == TaskState::Received {
                for &NamedField { value, name: field } in event {
                    if RECEIVED_FIELDS & field.bit() != 0 {
                        self.set(field, value, required, texts);
                    }
                }
            } else {
                self.set_all(event, required, texts);
            }
        } else {
            self.set_all(event, required, texts);
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
    fn set_all(&mut self, event: &Named<'_>, required: &Required<'_>, texts: &mut Texts) {
        for &NamedField { value, name: field } in event {
            self.set(field, value, required, texts);
        }
    }

    /// Sets one field (inline: called per field of every task event). The
    /// clock and timestamp were read already (`required`); the texts tasks
    /// repeat are shared through `texts`.
    #[inline(always)]
    fn set(
        &mut self,
        field: FieldName,
        value: FieldRef<'_>,
        required: &Required<'_>,
        texts: &mut Texts,
    ) {
        match field {
            FieldName::Name => texts.set(field, &mut self.name, value),
            FieldName::Args => texts.set(field, &mut self.args, value),
            FieldName::Kwargs => texts.set(field, &mut self.kwargs, value),
            FieldName::Eta => texts.set(field, &mut self.eta, value),
            FieldName::Expires => texts.set(field, &mut self.expires, value),
            FieldName::Retries => self.retries = value.as_i64(),
            FieldName::Result => texts.set(field, &mut self.result, value),
            FieldName::Exception => texts.set(field, &mut self.exception, value),
            FieldName::Traceback => texts.set(field, &mut self.traceback, value),
            FieldName::Runtime => self.runtime = value.as_f64(),
            FieldName::Exchange => texts.set(field, &mut self.exchange, value),
            FieldName::RoutingKey => texts.set(field, &mut self.routing_key, value),
            FieldName::Queue => texts.set(field, &mut self.queue, value),
            FieldName::Clock => self.clock = required.clock.unwrap_or(0),
            FieldName::Timestamp => self.timestamp = required.timestamp,
            // A task's root is most often itself: then the id is shared.
            FieldName::RootId => set_id(&mut self.root_id, value, &self.uuid),
            FieldName::ParentId => set_id(&mut self.parent_id, value, &self.uuid),
            _ => {}
        }
    }
}

/// Sets a task id field: shares `own` when the id is the task's own, and
/// keeps the text as it is when it did not change.
fn set_id(slot: &mut Option<Arc<str>>, value: FieldRef<'_>, own: &Arc<str>) {
    match value.as_text() {
        Some(text) if slot.as_deref() == Some(&*text) => {}
        Some(text) if *text == **own => *slot = Some(Arc::clone(own)),
        text => *slot = text.map(|text| Arc::from(&*text)),
    }
}
