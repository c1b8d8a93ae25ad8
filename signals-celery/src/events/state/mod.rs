//! Celery's cluster state (`celery.events.state.State`): see [`State`].

mod heap;
mod task;
mod texts;
mod worker;

use std::borrow::Cow;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashlink::linked_hash_map::RawEntryMut;
use hashlink::LinkedHashMap;
use parking_lot::{RwLock, RwLockReadGuard};
use smallvec::SmallVec;

use crate::events::event_ref::{EventFields, FieldRef};
use crate::events::field_name::FieldName;
use crate::events::{Event, EventRef};
use heap::{TaskHeap, TimeTuple};
use texts::Texts;

/// The state's own sets: a fast hash (foldhash), as the bounded maps' is;
/// the keys are ids and names, hashed on every event.
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

pub use task::{Task, TaskState};
pub use worker::{Worker, HEARTBEAT_DRIFT_MAX, HEARTBEAT_EXPIRE_WINDOW, HEARTBEAT_MAX};

/// Called with a worker that joined or left.
type NodeCallback = Box<dyn Fn(&Worker) + Send + Sync>;

/// The bounds of a [`State`]: Celery's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLimits {
    /// Workers kept (the least recently added go first): 5,000.
    pub max_workers: usize,
    /// Tasks kept: 10,000. The time index keeps 4 entries per task, and the
    /// children waiting for their parent are bounded by the same number
    /// (celery #4832).
    pub max_tasks: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        Self {
            max_workers: 5_000,
            max_tasks: 10_000,
        }
    }
}

/// What [`State::apply`] did with an event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// A `worker-*` event: the worker's hostname, and whether it was new.
    Worker {
        /// The worker.
        hostname: Arc<str>,
        /// Whether the event created it.
        created: bool,
    },
    /// A `task-*` event: the task's id, and whether it was new.
    Task {
        /// The task.
        uuid: Arc<str>,
        /// Whether the event created it.
        created: bool,
    },
    /// Not a worker or task event, or one without the fields the state
    /// needs: counted, and otherwise ignored (as Celery does).
    Ignored,
}

/// Celery's cluster state (`celery.events.state.State`) in Rust: workers and
/// tasks as their events describe them, with Celery's rules, bounded.
///
/// Feed it every event a receiver gets ([`EventReceiverBuilder::on_state`](super::EventReceiverBuilder::on_state)
/// does, or call [`apply`](Self::apply) from a handler), and read it from any
/// thread: [`read`](Self::read) gives a consistent view under a read lock, the
/// snapshot methods ([`workers`](Self::workers), [`tasks_by_time`](Self::tasks_by_time), ...) copy
/// what they return, so a slow reader never holds the receiver back longer
/// than the copy.
///
/// ```
/// use signals_celery::events::{Event, State, TaskState};
/// let state = State::new();
/// let event = |json: &str| Event::from_fields(serde_json::from_str(json).unwrap());
/// state.apply(&event(r#"{"type": "worker-online", "hostname": "w1", "timestamp": 100.0,
///                         "local_received": 100.0, "freq": 2.0, "pid": 7}"#));
/// state.apply(&event(r#"{"type": "task-received", "uuid": "t1", "name": "tasks.add",
///                         "hostname": "w1", "timestamp": 101.0, "local_received": 101.0, "clock": 3}"#));
/// state.apply(&event(r#"{"type": "task-succeeded", "uuid": "t1", "result": "4", "runtime": 0.5,
///                         "hostname": "w1", "timestamp": 102.0, "local_received": 102.0, "clock": 4}"#));
/// let task = state.task("t1").unwrap();
/// assert_eq!(task.state, TaskState::Success);
/// assert_eq!(task.name.as_deref(), Some("tasks.add"));
/// assert!(state.worker("w1").unwrap().alive_at(105.0));
/// assert!(!state.worker("w1").unwrap().alive_at(106.0)); // 102 + 2 x 2 s
/// ```
pub struct State {
    model: RwLock<Model>,
    on_node_join: Option<NodeCallback>,
    on_node_leave: Option<NodeCallback>,
}

impl State {
    /// An empty state with Celery's bounds.
    pub fn new() -> Self {
        Self::with_limits(StateLimits::default())
    }

    /// An empty state with these bounds.
    pub fn with_limits(limits: StateLimits) -> Self {
        Self {
            model: RwLock::new(Model::new(limits)),
            on_node_join: None,
            on_node_leave: None,
        }
    }

    /// Calls `callback` when a worker joins: on its first event, and on every
    /// `worker-online`.
    pub fn on_node_join(mut self, callback: impl Fn(&Worker) + Send + Sync + 'static) -> Self {
        self.on_node_join = Some(Box::new(callback));
        self
    }

    /// Calls `callback` when a worker leaves (`worker-offline`), and from
    /// then on removes a worker that leaves, as Celery's `State` does with
    /// an `on_node_leave` callback.
    ///
    /// Without one, a worker that leaves stays in the state, no longer
    /// [`alive`](Worker::alive) (its heartbeats cleared): that is how
    /// `celery events`, Flower and the exporters show an offline worker.
    ///
    /// ```
    /// use serde_json::json;
    /// use signals_celery::events::{Event, State};
    ///
    /// let worker = |kind: &str, at: f64| match json!({
    ///     "type": kind, "hostname": "w1", "timestamp": at, "local_received": at,
    /// }) {
    ///     serde_json::Value::Object(fields) => Event::from_fields(fields),
    ///     _ => unreachable!(),
    /// };
    /// let kept = State::new();
    /// let forgetting = State::new().on_node_leave(|_| {});
    /// for state in [&kept, &forgetting] {
    ///     state.apply(&worker("worker-online", 100.0));
    ///     state.apply(&worker("worker-offline", 101.0));
    /// }
    /// assert!(!kept.worker("w1").unwrap().alive());
    /// assert!(forgetting.worker("w1").is_none());
    /// ```
    pub fn on_node_leave(mut self, callback: impl Fn(&Worker) + Send + Sync + 'static) -> Self {
        self.on_node_leave = Some(Box::new(callback));
        self.model.get_mut().forget_offline = true;
        self
    }

    /// Applies one event, as Celery's `State.event` does. The callbacks run
    /// after the write lock is released.
    pub fn apply(&self, event: &Event) -> Applied {
        self.apply_fields(event)
    }

    /// Applies one event borrowed from its message, as [`apply`](Self::apply)
    /// does: what [`EventReceiverBuilder::on_state`] does with every event,
    /// for a [`handler_ref`](crate::events::EventReceiverBuilder::handler_ref)
    /// that picks which events to apply.
    ///
    /// [`EventReceiverBuilder::on_state`]: crate::events::EventReceiverBuilder::on_state
    pub fn apply_ref(&self, event: &EventRef<'_>) -> Applied {
        self.apply_fields(event)
    }

    fn apply_fields(&self, event: &impl EventFields) -> Applied {
        let (applied, node) = self.model.write().apply(event);
        match node {
            Some(NodeChange::Joined(worker)) => {
                if let Some(callback) = &self.on_node_join {
                    callback(&worker);
                }
            }
            Some(NodeChange::Left(worker)) => {
                if let Some(callback) = &self.on_node_leave {
                    callback(&worker);
                }
            }
            None => {}
        }
        applied
    }

    /// Applies several events under one lock (a `.multi` message's).
    pub fn apply_all<'e>(&self, events: impl IntoIterator<Item = &'e Event>) {
        if self.on_node_join.is_none() && self.on_node_leave.is_none() {
            let mut model = self.model.write();
            for event in events {
                let _ = model.apply(event);
            }
        } else {
            for event in events {
                let _ = self.apply(event);
            }
        }
    }

    /// A consistent view, under a read lock: events wait while it lives, so
    /// keep it short.
    pub fn read(&self) -> StateView<'_> {
        StateView {
            model: self.model.read(),
        }
    }

    /// A copy of the worker, if known.
    pub fn worker(&self, hostname: &str) -> Option<Worker> {
        self.model.read().workers.get(hostname).cloned()
    }

    /// A copy of the task, if known.
    pub fn task(&self, uuid: &str) -> Option<Task> {
        self.model.read().tasks.get(uuid).cloned()
    }

    /// Copies of every worker, the least recently added first.
    pub fn workers(&self) -> Vec<Worker> {
        self.model.read().workers.values().cloned().collect()
    }

    /// Copies of the workers alive now (Celery's `alive_workers`).
    pub fn alive_workers(&self) -> Vec<Worker> {
        let now = crate::events::event::now();
        self.read()
            .workers()
            .filter(|w| w.alive_at(now))
            .cloned()
            .collect()
    }

    /// Copies of up to `limit` tasks, newest first by Lamport clock (see
    /// [`StateView::tasks_by_time`]).
    pub fn tasks_by_time(&self, limit: usize) -> Vec<Task> {
        self.read().tasks_by_time().take(limit).cloned().collect()
    }

    /// How many events were applied.
    pub fn event_count(&self) -> u64 {
        self.model.read().event_count
    }

    /// How many `task-received` events were applied.
    pub fn task_count(&self) -> u64 {
        self.model.read().task_count
    }

    /// Forgets every worker and task (Celery's `clear(ready=False)`), or only
    /// the finished tasks and every worker (`ready = true`).
    pub fn clear(&self, ready: bool) {
        self.model.write().clear(ready);
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = self.model.read();
        f.debug_struct("State")
            .field("events", &model.event_count)
            .field("tasks", &model.tasks.len())
            .field("workers", &model.workers.len())
            .finish()
    }
}

/// A consistent view of a [`State`] (see [`State::read`]).
pub struct StateView<'s> {
    model: RwLockReadGuard<'s, Model>,
}

impl StateView<'_> {
    /// The workers, the least recently added first.
    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.model.workers.values()
    }

    /// A worker.
    pub fn worker(&self, hostname: &str) -> Option<&Worker> {
        self.model.workers.get(hostname)
    }

    /// The tasks, the least recently added first.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.model.tasks.values()
    }

    /// A task.
    pub fn task(&self, uuid: &str) -> Option<&Task> {
        self.model.tasks.get(uuid)
    }

    /// How many tasks are kept.
    pub fn task_len(&self) -> usize {
        self.model.tasks.len()
    }

    /// The tasks newest first, each once, ordered as Celery's
    /// `tasks_by_time`: by the Lamport clock of their events, equal clocks by
    /// the sender's id, and by timestamp where an event had no clock.
    pub fn tasks_by_time(&self) -> impl Iterator<Item = &Task> {
        let mut seen = HashSet::default();
        self.model.heap.newest_first().filter_map(move |uuid| {
            let task = self.model.tasks.get(uuid)?;
            seen.insert(Arc::clone(uuid)).then_some(task)
        })
    }

    /// The tasks whose first event named them `name` (Celery's
    /// `tasks_by_type[name]`), the least recently added first.
    ///
    /// This walks the kept tasks (at most [`StateLimits::max_tasks`]): the
    /// state keeps no index by name, which would cost every new task and
    /// every eviction two hash updates for a question asked far less often.
    pub fn tasks_by_type<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Task> {
        self.tasks()
            .filter(move |task| task.indexed.as_ref().is_some_and(|(of, _)| **of == *name))
    }

    /// The tasks whose first event came from `hostname` (Celery's
    /// `tasks_by_worker[hostname]`), the least recently added first. Like
    /// [`tasks_by_type`](Self::tasks_by_type), this walks the kept tasks.
    pub fn tasks_by_worker<'a>(&'a self, hostname: &'a str) -> impl Iterator<Item = &'a Task> {
        self.tasks().filter(move |task| {
            task.indexed
                .as_ref()
                .is_some_and(|(_, by)| **by == *hostname)
        })
    }

    /// The task's children still in the state.
    pub fn children<'a>(&'a self, task: &'a Task) -> impl Iterator<Item = &'a Task> {
        task.children
            .iter()
            .filter_map(|uuid| self.model.tasks.get(&**uuid))
    }

    /// Every task name seen, sorted (Celery's `task_types`).
    pub fn task_types(&self) -> impl Iterator<Item = &str> {
        // Kept in a hash set (looked up on every event), sorted when read.
        let mut names: Vec<&str> = self.model.texts.names().collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// How many events were applied.
    pub fn event_count(&self) -> u64 {
        self.model.event_count
    }

    /// How many `task-received` events were applied.
    pub fn task_count(&self) -> u64 {
        self.model.task_count
    }

    /// How many parents are awaited by children that arrived first.
    pub fn unresolved_parents(&self) -> usize {
        self.model.to_resolve.len()
    }

    /// How many entries the time index holds (at most 4 per kept task).
    pub fn time_index_len(&self) -> usize {
        self.model.heap.len()
    }
}

/// A worker that joined or left, for the callbacks. Boxed: every event
/// returns an `Option` of this, and a worker inline made that a copy of
/// some 200 bytes per event.
enum NodeChange {
    Joined(Box<Worker>),
    Left(Box<Worker>),
}

/// The state proper, behind the lock.
struct Model {
    limits: StateLimits,
    workers: LinkedHashMap<Arc<str>, Worker>,
    tasks: LinkedHashMap<Arc<str>, Task>,
    heap: TaskHeap,
    /// Children that arrived before their parent, by parent id.
    to_resolve: LinkedHashMap<Arc<str>, Vec<Arc<str>>>,
    /// Task names seen, and the other texts tasks share.
    texts: Texts,
    /// Hostnames already warned about drift (Celery warns once per host).
    drift_warned: HashSet<String>,
    event_count: u64,
    task_count: u64,
    /// Whether a worker that goes offline is removed (set with an
    /// `on_node_leave` callback, as in Celery) rather than kept, not alive.
    forget_offline: bool,
}

impl Model {
    fn new(limits: StateLimits) -> Self {
        Self {
            limits,
            workers: LinkedHashMap::new(),
            tasks: LinkedHashMap::new(),
            heap: TaskHeap::new(limits.max_tasks.saturating_mul(4)),
            to_resolve: LinkedHashMap::new(),
            texts: Texts::new(),
            drift_warned: HashSet::default(),
            event_count: 0,
            task_count: 0,
            forget_offline: false,
        }
    }

    fn clear(&mut self, ready: bool) {
        self.workers.clear();
        if ready {
            let done: Vec<Arc<str>> = self
                .tasks
                .values()
                .filter(|task| task.is_ready())
                .map(|task| Arc::clone(&task.uuid))
                .collect();
            for uuid in done {
                if let Some(task) = self.tasks.remove(&uuid) {
                    unlink_evicted(&mut self.tasks, &task);
                }
            }
        } else {
            self.tasks.clear();
        }
        self.heap.clear();
        self.event_count = 0;
        self.task_count = 0;
    }

    fn apply(&mut self, event: &impl EventFields) -> (Applied, Option<NodeChange>) {
        self.event_count += 1;
        // The fields the state reads, named once: the required ones read
        // into `required`, the rest kept for the task's or worker's pass.
        let mut named = SmallVec::<[NamedField<'_>; 24]>::new();
        let required = Required::collect(event, &mut named);
        let event: &Named<'_> = &named;
        let Some(kind) = required.kind.as_deref() else {
            return (Applied::Ignored, None);
        };
        let (group, subject) = kind.split_once('-').unwrap_or((kind, ""));
        match group {
            "worker" => self.worker_event(subject, &required, event),
            "task" => (self.task_event(subject, &required, event), None),
            _ => (Applied::Ignored, None),
        }
    }

    fn worker_event(
        &mut self,
        subject: &str,
        required: &Required<'_>,
        event: &Named<'_>,
    ) -> (Applied, Option<NodeChange>) {
        let (Some(hostname), Some(timestamp), Some(local_received)) = (
            required.hostname.as_deref(),
            required.timestamp,
            required.local_received,
        ) else {
            return (Applied::Ignored, None);
        };
        let offline = subject == "offline";
        let mut created = false;
        // An unknown worker going offline is updated and reported, not kept
        // (Celery's `_event`).
        let mut gone = None;
        let worker = match self.workers.get_mut(hostname) {
            Some(worker) => worker,
            None if offline => gone.insert(Worker::new(Arc::from(hostname))),
            None => {
                created = true;
                add_worker(&mut self.workers, self.limits.max_workers, hostname)
            }
        };
        worker.update(event);
        let mut drift = None;
        if offline {
            worker.heartbeats.clear();
        } else {
            drift = worker.heartbeat(local_received, timestamp);
        }
        let change = if created || subject == "online" {
            Some(NodeChange::Joined(Box::new(worker.clone())))
        } else if offline {
            Some(NodeChange::Left(Box::new(worker.clone())))
        } else {
            None
        };
        let applied = Applied::Worker {
            hostname: Arc::clone(&worker.hostname),
            created,
        };
        if let Some(drift) = drift {
            self.warn_drift(hostname, drift, local_received, timestamp);
        }
        if offline && self.forget_offline {
            self.workers.remove(hostname);
        }
        (applied, change)
    }

    fn task_event(&mut self, subject: &str, required: &Required<'_>, event: &Named<'_>) -> Applied {
        let (Some(uuid), Some(hostname), Some(timestamp), Some(local_received), Some(clock)) = (
            required.uuid.as_deref(),
            required.hostname.as_deref(),
            required.timestamp,
            required.local_received,
            required.clock,
        ) else {
            return Applied::Ignored;
        };
        let is_client_event = subject == "sent";
        // The sender: the client, whose hostname tasks share, or the worker
        // (a task event is also its heartbeat). `origin` orders the time
        // index on equal clocks. The worker stays borrowed from its map
        // while the task is updated: its hostname is copied only when the
        // task's changes.
        let mut drift = None;
        let mut worker = None;
        let origin = if is_client_event {
            self.texts.get(FieldName::Hostname, hostname)
        } else {
            let found = match self.workers.get_mut(hostname) {
                Some(found) => found,
                None => add_worker(&mut self.workers, self.limits.max_workers, hostname),
            };
            // Celery passes (local_received, timestamp) in the other order
            // here: the heartbeat recorded is the event's timestamp.
            if local_received != 0.0 {
                drift = found.heartbeat(timestamp, local_received);
            }
            let origin = Arc::clone(&found.id);
            worker = Some(&*found);
            origin
        };
        let sender = worker.map_or(&origin, |worker| &worker.hostname);
        // The task, its id hashed once whether it is found or added.
        let hash = self.tasks.hasher().hash_one(uuid);
        let (task, found) = match self
            .tasks
            .raw_entry_mut()
            .from_key_hashed_nocheck(hash, uuid)
        {
            RawEntryMut::Occupied(entry) => (entry.into_mut(), true),
            RawEntryMut::Vacant(_) => (
                add_task(&mut self.tasks, self.limits.max_tasks, hash, uuid),
                false,
            ),
        };
        if subject == "received" {
            self.task_count += 1;
        }
        let host = if is_client_event {
            &mut task.client
        } else {
            &mut task.worker
        };
        if host.as_deref() != Some(&**sender) {
            *host = Some(Arc::clone(sender));
        }
        task.apply(subject, event, required, &mut self.texts);
        if !found {
            // Celery's `tasks_by_type` and `tasks_by_worker`: by the name
            // and sender of the event that created the task, if it had a
            // name.
            task.indexed = task.name.clone().map(|name| (name, Arc::clone(sender)));
        }
        let uuid = Arc::clone(&task.uuid);
        let parent_id = task.parent_id.clone();
        self.heap.insert(TimeTuple {
            clock,
            timestamp,
            origin,
            uuid: Arc::clone(&uuid),
        });
        if let Some(drift) = drift {
            self.warn_drift(hostname, drift, timestamp, local_received);
        }
        if let Some(parent_id) = parent_id {
            // Celery reads the parent through the LRU, which makes it the
            // most recently used.
            match self.tasks.to_back(&*parent_id) {
                Some(parent) => {
                    if !parent.children.contains(&uuid) {
                        parent.children.push(Arc::clone(&uuid));
                    }
                }
                None => self.await_parent(parent_id, Arc::clone(&uuid)),
            }
        }
        if !self.to_resolve.is_empty() {
            self.resolve_children(&uuid);
        }
        Applied::Task {
            uuid,
            created: !found,
        }
    }

    /// Links the children that arrived before `uuid`, their parent.
    fn resolve_children(&mut self, uuid: &Arc<str>) {
        if let Some(children) = self.to_resolve.remove(&**uuid) {
            if let Some(task) = self.tasks.get_mut(&**uuid) {
                for child in children {
                    if !task.children.contains(&child) {
                        task.children.push(child);
                    }
                }
            }
        }
    }

    /// Keeps `child` until its parent arrives, bounded as the tasks are.
    fn await_parent(&mut self, parent_id: Arc<str>, child: Arc<str>) {
        if let Some(children) = self.to_resolve.get_mut(&*parent_id) {
            if !children.contains(&child) {
                children.push(child);
            }
            return;
        }
        if self.to_resolve.len() >= self.limits.max_tasks {
            self.to_resolve.pop_front();
        }
        self.to_resolve.insert(parent_id, vec![child]);
    }

    #[cold]
    fn warn_drift(&mut self, hostname: &str, drift: i64, received: f64, sent: f64) {
        if self.drift_warned.contains(hostname) {
            return;
        }
        // Celery memoizes the warning for 1,000 hosts.
        if self.drift_warned.len() >= 1_000 {
            self.drift_warned.clear();
        }
        self.drift_warned.insert(hostname.to_owned());
        tracing::warn!(
            hostname,
            drift,
            received,
            sent,
            "Substantial drift from {hostname} may mean clocks are out of sync. Current drift is {drift} seconds."
        );
    }
}

/// An event's fields that have a [`FieldName`], in the order sent.
pub(crate) type Named<'e> = [NamedField<'e>];

/// A field with a [`FieldName`]. A plain struct in C layout: as a tuple,
/// the name's byte landed inside the value's words, and copying the pair
/// into the list stalled on every field (a store read back at an offset
/// the CPU could not forward).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct NamedField<'e> {
    pub(crate) value: FieldRef<'e>,
    pub(crate) name: FieldName,
}

/// The fields the state needs of every event, found in one pass over them
/// (a lookup each hashed the name: a third of the time an event took), and
/// read once: a task's clock and timestamp are these.
pub(crate) struct Required<'e> {
    kind: Option<Cow<'e, str>>,
    uuid: Option<Cow<'e, str>>,
    hostname: Option<Cow<'e, str>>,
    pub(crate) timestamp: Option<f64>,
    local_received: Option<f64>,
    pub(crate) clock: Option<u64>,
}

impl<'e> Required<'e> {
    /// Reads the required fields of `event` and pushes every other field
    /// the state knows onto `named`, in one pass. The clock and timestamp
    /// go to both: a task keeps them as read here.
    fn collect(event: &'e impl EventFields, named: &mut SmallVec<[NamedField<'e>; 24]>) -> Self {
        let mut required = Required {
            kind: None,
            uuid: None,
            hostname: None,
            timestamp: None,
            local_received: None,
            clock: None,
        };
        event.each_field(|field, value| match field {
            FieldName::Other | FieldName::Utcoffset => {}
            FieldName::Type => required.kind = value.as_str(),
            FieldName::Uuid => required.uuid = value.as_str(),
            FieldName::Hostname => required.hostname = value.as_str(),
            FieldName::LocalReceived => required.local_received = value.as_f64(),
            FieldName::Timestamp => {
                required.timestamp = value.as_f64();
                named.push(NamedField { value, name: field });
            }
            FieldName::Clock => {
                required.clock = value.as_u64();
                named.push(NamedField { value, name: field });
            }
            _ => named.push(NamedField { value, name: field }),
        });
        required
    }
}

/// Adds a task whose id hashes to `hash`, first evicting the least recently
/// used one at the bound `max` (Celery's `LRUCache.__setitem__`).
fn add_task<'t>(
    tasks: &'t mut LinkedHashMap<Arc<str>, Task>,
    max: usize,
    hash: u64,
    uuid: &str,
) -> &'t mut Task {
    if tasks.len() >= max {
        if let Some((_, evicted)) = tasks.pop_front() {
            unlink_evicted(tasks, &evicted);
        }
    }
    let uuid: Arc<str> = Arc::from(uuid);
    tasks
        .raw_entry_mut()
        .from_key_hashed_nocheck(hash, &*uuid)
        .or_insert_with(|| (Arc::clone(&uuid), Task::new(uuid)))
        .1
}

/// Removes an evicted task from its parent's children (Celery's weak sets
/// forget it the same way), so that memory stays bounded however long the
/// state runs.
fn unlink_evicted(tasks: &mut LinkedHashMap<Arc<str>, Task>, task: &Task) {
    if let Some(parent) = task
        .parent_id
        .as_deref()
        .and_then(|parent| tasks.get_mut(parent))
    {
        parent.children.retain(|child| *child != task.uuid);
    }
}

/// Adds a worker, first evicting the least recently added one at the bound
/// `max` (Celery's `LRUCache.__setitem__`).
#[cold]
fn add_worker<'w>(
    workers: &'w mut LinkedHashMap<Arc<str>, Worker>,
    max: usize,
    hostname: &str,
) -> &'w mut Worker {
    if workers.len() >= max {
        workers.pop_front();
    }
    let worker = Worker::new(Arc::from(hostname));
    workers
        .entry(Arc::clone(&worker.hostname))
        .or_insert(worker)
}
