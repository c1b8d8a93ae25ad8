//! The exporter's memory of tasks between their events: only what its metrics
//! read (name, queue, ETA, exception, runtime, when the task was sent and
//! started), merged from each event as Celery's `State` merges a task's events,
//! in a table of bounded size.
//!
//! celery-exporter reads these through Celery's full `State`. The full cluster
//! state ([`signals_celery::events::State`]) gives the same values, but keeps
//! some twenty fields per task and the indexes `top` needs; this table costs a
//! fraction of that per event, which is most of what the exporter spends after
//! reading an event.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use signals_celery::events::{EventRef, FieldRef, TaskState};

/// The most tasks kept, as Celery's `State` keeps (`max_tasks_in_memory`):
/// past it, the task first seen longest ago is forgotten.
pub(crate) const MAX_TASKS: usize = 10_000;

/// What the metrics know of a task after an event is applied to it.
#[derive(Debug)]
pub(crate) struct KnownTask {
    state: TaskState,
    /// The task's name, once an event named it.
    pub(crate) name: Option<Box<str>>,
    /// The queue `task-sent` named.
    pub(crate) queue: Option<Box<str>>,
    /// The ETA, as the event wrote it (ISO 8601).
    pub(crate) eta: Option<Box<str>>,
    /// The exception's repr, from `task-failed` or `task-retried`.
    pub(crate) exception: Option<Box<str>>,
    /// Seconds the task ran, from `task-succeeded`.
    pub(crate) runtime: Option<f64>,
    /// The timestamp of `task-sent`.
    pub(crate) sent: Option<f64>,
    /// The timestamp of `task-started`.
    pub(crate) started: Option<f64>,
}

impl KnownTask {
    fn new() -> Self {
        Self {
            state: TaskState::Pending,
            name: None,
            queue: None,
            eta: None,
            exception: None,
            runtime: None,
            sent: None,
            started: None,
        }
    }

    /// Celery's `Task.event` for the fields kept: the event's time under its
    /// own name (`sent`, `started`), then its fields. An event that happened
    /// before the task's current state leaves the state as it is, and a late
    /// `task-received` gives only the fields Celery merges from one (of
    /// those kept here: the name and the ETA).
    fn apply(&mut self, subject: &str, event: &TaskFields<'_>) {
        let state = TaskState::of_event_subject(subject);
        match subject {
            "sent" => self.sent = event.timestamp.and_then(|at| at.as_f64()),
            "started" => self.started = event.timestamp.and_then(|at| at.as_f64()),
            _ => {}
        }
        let late = state.happened_before(&self.state);
        let all_fields = !(late && state == TaskState::Received);
        set_text(&mut self.name, event.name);
        set_text(&mut self.eta, event.eta);
        if all_fields {
            set_text(&mut self.queue, event.queue);
            set_text(&mut self.exception, event.exception);
            if let Some(runtime) = event.runtime {
                self.runtime = runtime.as_f64();
            }
        }
        if !late {
            self.state = state;
        }
    }
}

/// Sets `slot` to a field's text ([`FieldRef::as_text`], as the cluster
/// state keeps it) when the event has the field. An unchanged text is not
/// copied again.
fn set_text(slot: &mut Option<Box<str>>, value: Option<FieldRef<'_>>) {
    let Some(value) = value else {
        return;
    };
    match value.as_text() {
        Some(text) if slot.as_deref() == Some(&*text) => {}
        text => *slot = text.map(Into::into),
    }
}

/// The fields of a task event that the exporter reads, found in one pass
/// over the event's fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskFields<'a> {
    pub(crate) uuid: Option<FieldRef<'a>>,
    pub(crate) hostname: Option<FieldRef<'a>>,
    pub(crate) timestamp: Option<FieldRef<'a>>,
    name: Option<FieldRef<'a>>,
    eta: Option<FieldRef<'a>>,
    queue: Option<FieldRef<'a>>,
    exception: Option<FieldRef<'a>>,
    runtime: Option<FieldRef<'a>>,
}

impl<'a> TaskFields<'a> {
    /// Reads the fields of `event`.
    pub(crate) fn of(event: &EventRef<'a>) -> Self {
        let mut fields = Self {
            uuid: None,
            hostname: None,
            timestamp: None,
            name: None,
            eta: None,
            queue: None,
            exception: None,
            runtime: None,
        };
        for (name, value) in event.fields() {
            let slot = match name {
                "uuid" => &mut fields.uuid,
                "hostname" => &mut fields.hostname,
                "timestamp" => &mut fields.timestamp,
                "name" => &mut fields.name,
                "eta" => &mut fields.eta,
                "queue" => &mut fields.queue,
                "exception" => &mut fields.exception,
                "runtime" => &mut fields.runtime,
                _ => continue,
            };
            *slot = Some(value);
        }
        fields
    }

    /// The task's id, hostname and timestamp: Celery's State does not apply
    /// a task event without all three (a string id and hostname, a numeric
    /// timestamp).
    pub(crate) fn required(&self) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
        let timestamp = self.timestamp?;
        if !timestamp.is_number() {
            return None;
        }
        Some((self.uuid?.as_str()?, self.hostname?.as_str()?))
    }
}

/// The tasks, by id, with the order they were first seen in.
#[derive(Debug)]
pub(crate) struct TaskTable {
    tasks: HashMap<Arc<str>, KnownTask, foldhash::fast::RandomState>,
    first_seen: VecDeque<Arc<str>>,
    limit: usize,
}

impl TaskTable {
    /// A table that keeps at most `limit` tasks (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            tasks: HashMap::default(),
            first_seen: VecDeque::new(),
            limit: limit.max(1),
        }
    }

    /// Applies a `task-<subject>` event to the task it names, and returns
    /// the task as it is after the event.
    pub(crate) fn apply(
        &mut self,
        uuid: &str,
        subject: &str,
        event: &TaskFields<'_>,
    ) -> &KnownTask {
        if !self.tasks.contains_key(uuid) {
            self.make_room();
            let id: Arc<str> = Arc::from(uuid);
            self.first_seen.push_back(Arc::clone(&id));
            self.tasks.insert(id, KnownTask::new());
        }
        let task = self
            .tasks
            .get_mut(uuid)
            .expect("the task was found or inserted above");
        task.apply(subject, event);
        task
    }

    /// Forgets the task first seen longest ago while the table is full.
    #[cold]
    fn make_room(&mut self) {
        while self.tasks.len() >= self.limit {
            match self.first_seen.pop_front() {
                Some(oldest) => {
                    self.tasks.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// How many tasks are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signals_celery::events::State;

    /// Applies `body` (one event as JSON) to the table and to the full
    /// cluster state, and checks the two agree on every field kept. The
    /// cluster state wants the fields a receiver adds; they are added here.
    fn apply_both(table: &mut TaskTable, state: &State, body: &str) {
        let received = body.replacen(
            '{',
            r#"{"local_received": 100.0, "clock": 1, "hostname": "c@h", "#,
            1,
        );
        EventRef::scan_body(received.as_bytes(), |event| {
            let applied = state.apply_ref(event);
            let fields = TaskFields::of(event);
            let (uuid, _) = fields.required().unwrap();
            let subject = event.kind().strip_prefix("task-").unwrap();
            let known = table.apply(&uuid, subject, &fields);
            let task = state
                .task(&uuid)
                .unwrap_or_else(|| panic!("{body}: {applied:?}"));
            assert_eq!(
                known.name.as_deref(),
                task.name.as_deref(),
                "name after {body}"
            );
            assert_eq!(
                known.queue.as_deref(),
                task.queue.as_deref(),
                "queue after {body}"
            );
            assert_eq!(
                known.eta.as_deref(),
                task.eta.as_deref(),
                "eta after {body}"
            );
            assert_eq!(
                known.exception.as_deref(),
                task.exception.as_deref(),
                "exception after {body}"
            );
            assert_eq!(known.runtime, task.runtime, "runtime after {body}");
            assert_eq!(known.sent, task.sent, "sent after {body}");
            assert_eq!(known.started, task.started, "started after {body}");
            assert_eq!(known.state, task.state, "state after {body}");
        })
        .unwrap();
    }

    #[test]
    fn the_table_keeps_what_the_cluster_state_keeps_in_order_and_out_of_order() {
        let (mut table, state) = (TaskTable::new(100), State::new());
        let events = [
            // In order, with a retry between.
            r#"{"type": "task-sent", "uuid": "a", "name": "t.add", "queue": "celery", "timestamp": 1.0}"#,
            r#"{"type": "task-received", "uuid": "a", "name": "t.add", "hostname": "w@h", "timestamp": 2.0, "eta": "2026-12-04T10:00:00+00:00"}"#,
            r#"{"type": "task-started", "uuid": "a", "hostname": "w@h", "timestamp": 3.0}"#,
            r#"{"type": "task-retried", "uuid": "a", "hostname": "w@h", "timestamp": 4.0, "exception": "Retry('x')"}"#,
            r#"{"type": "task-started", "uuid": "a", "hostname": "w@h", "timestamp": 5.0}"#,
            r#"{"type": "task-failed", "uuid": "a", "hostname": "w@h", "timestamp": 6.0, "exception": "KeyError('k')"}"#,
            // Out of order: succeeded first, then a late received and sent.
            r#"{"type": "task-succeeded", "uuid": "b", "hostname": "w@h", "timestamp": 9.0, "runtime": 0.25}"#,
            r#"{"type": "task-received", "uuid": "b", "name": "t.mul", "queue": "ignored", "hostname": "w@h", "timestamp": 7.0}"#,
            r#"{"type": "task-sent", "uuid": "b", "name": "t.mul", "queue": "q2", "timestamp": 6.5}"#,
            // A null name, and a custom event.
            r#"{"type": "task-received", "uuid": "c", "name": null, "hostname": "w@h", "timestamp": 1.0}"#,
            r#"{"type": "task-progress", "uuid": "c", "name": "t.late", "hostname": "w@h", "timestamp": 2.0}"#,
            r#"{"type": "task-sent", "uuid": "c", "queue": [1, {"a": 2}], "eta": null, "timestamp": 0.5}"#,
        ];
        for body in events {
            apply_both(&mut table, &state, body);
        }
    }

    #[test]
    fn a_full_table_forgets_the_task_first_seen_longest_ago() {
        let mut table = TaskTable::new(3);
        for uuid in ["a", "b", "c", "a", "d"] {
            let body = format!(
                r#"{{"type": "task-received", "uuid": "{uuid}", "name": "t.{uuid}", "timestamp": 1.0}}"#
            );
            EventRef::scan_body(body.as_bytes(), |event| {
                table.apply(uuid, "received", &TaskFields::of(event));
            })
            .unwrap();
        }
        assert_eq!(table.len(), 3);
        assert!(
            !table.tasks.contains_key("a"),
            "a was first seen longest ago"
        );
        for kept in ["b", "c", "d"] {
            assert!(table.tasks.contains_key(kept), "{kept} is kept");
        }
    }
}
