//! A mailbox node: answers Celery's remote-control commands for one worker
//! name, from what the service tells it, plus commands the service adds.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::request::Request;
use super::task_info::{ScheduledTask, TaskInfo};
use crate::events::LamportClock;

/// What the service reports about itself; the node answers `registered`,
/// `active`, `reserved`, `scheduled`, `revoked`, `active_queues`, `conf` and
/// `stats` from it. Task entries are [`TaskInfo`]s, Celery's
/// `Request.info()` with every field it has.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// The task names the worker runs.
    pub registered: Vec<String>,
    /// Tasks running now.
    pub active: Vec<TaskInfo>,
    /// Tasks received and waiting.
    pub reserved: Vec<TaskInfo>,
    /// Tasks waiting for an ETA.
    pub scheduled: Vec<ScheduledTask>,
    /// Revoked task ids.
    pub revoked: Vec<String>,
    /// Tasks run, by name (`stats`'s `total`).
    pub total: BTreeMap<String, u64>,
    /// The queues consumed, as Celery's `Queue.as_dict()` (`name`,
    /// `exchange`, `routing_key`, ...).
    pub queues: Vec<Value>,
    /// Configuration shown by `inspect conf`.
    pub conf: Map<String, Value>,
    /// How many tasks can run at once (`stats`'s pool `max-concurrency`).
    pub concurrency: usize,
}

/// What a node has handled, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Requests addressed to this node and acted on.
    pub handled: u64,
    /// Requests for other nodes.
    pub ignored: u64,
    /// Requests dropped because their `expires` had passed.
    pub expired: u64,
    /// Messages that were not a request (bad envelope, not JSON, too large).
    pub malformed: u64,
    /// Requests for a command the node does not know.
    pub unknown: u64,
    /// Replies that could not be sent.
    pub reply_failures: u64,
}

type Command = Box<dyn Fn(&Map<String, Value>) -> Value + Send + Sync>;
type Hook = Box<dyn Fn() -> bool + Send + Sync>;

/// A remote-control node for one worker name: the commands a Celery worker
/// answers, and those the service adds. A mailbox
/// ([`RedisMailbox`](super::RedisMailbox)) feeds it requests and sends its
/// replies; [`handle`](Self::handle) is the whole of its logic, usable
/// without a broker.
///
/// ```
/// use signals_celery::control::{Node, Request};
///
/// let node = Node::builder("rust@host")
///     .registered(["tasks.add"])
///     .command("double", |args: serde_json::Value| args["n"].as_i64().unwrap_or(0) * 2)
///     .build();
/// let ping: Request = serde_json::from_str(
///     r#"{"method": "ping", "arguments": {}, "destination": null, "ticket": "t",
///         "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "c1"}}"#,
/// )?;
/// assert_eq!(node.handle(&ping), Some(serde_json::json!({"rust@host": {"ok": "pong"}})));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    hostname: String,
    started: Instant,
    clock: Arc<LamportClock>,
    info: RwLock<WorkerInfo>,
    broker: Mutex<Map<String, Value>>,
    commands: HashMap<String, Command>,
    on_heartbeat: Option<Box<dyn Fn() + Send + Sync>>,
    on_enable_events: Option<Hook>,
    on_disable_events: Option<Hook>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    handled: AtomicU64,
    ignored: AtomicU64,
    expired: AtomicU64,
    malformed: AtomicU64,
    unknown: AtomicU64,
    reply_failures: AtomicU64,
}

/// Builds a [`Node`].
pub struct NodeBuilder {
    hostname: String,
    clock: Option<Arc<LamportClock>>,
    info: WorkerInfo,
    commands: HashMap<String, Command>,
    on_heartbeat: Option<Box<dyn Fn() + Send + Sync>>,
    on_enable_events: Option<Hook>,
    on_disable_events: Option<Hook>,
}

impl Node {
    /// A builder for the node named `hostname` (`name@host`, as the worker's
    /// events carry it).
    pub fn builder(hostname: impl Into<String>) -> NodeBuilder {
        NodeBuilder {
            hostname: hostname.into(),
            clock: None,
            info: WorkerInfo {
                concurrency: 1,
                ..WorkerInfo::default()
            },
            commands: HashMap::new(),
            on_heartbeat: None,
            on_enable_events: None,
            on_disable_events: None,
        }
    }

    /// The node's name.
    pub fn hostname(&self) -> &str {
        &self.inner.hostname
    }

    /// The clock its replies carry (the process's shared Lamport clock unless
    /// the builder was given one).
    pub fn clock(&self) -> &Arc<LamportClock> {
        &self.inner.clock
    }

    /// Changes what the node reports, such as a task starting or ending.
    pub fn update(&self, change: impl FnOnce(&mut WorkerInfo)) {
        change(&mut self.inner.info.write());
    }

    /// Counts one more run of `task` (`stats`'s `total`).
    pub fn count_task(&self, task: &str) {
        *self
            .inner
            .info
            .write()
            .total
            .entry(task.to_owned())
            .or_default() += 1;
    }

    /// What the node has handled so far.
    pub fn stats(&self) -> NodeStats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        NodeStats {
            handled: get(&c.handled),
            ignored: get(&c.ignored),
            expired: get(&c.expired),
            malformed: get(&c.malformed),
            unknown: get(&c.unknown),
            reply_failures: get(&c.reply_failures),
        }
    }

    /// Acts on `request` if it is addressed to this node; for a call, returns
    /// the reply body, `{hostname: result}`.
    ///
    /// As kombu's node does, a call to a command the node does not know gets
    /// `{"error": "KeyError('<method>')"}` (and is logged and counted); a
    /// command that fails or panics gets `{"error": ...}`.
    pub fn handle(&self, request: &Request) -> Option<Value> {
        if !request.is_for(&self.inner.hostname) {
            self.inner.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.inner.counters.handled.fetch_add(1, Ordering::Relaxed);
        let result = self.run(&request.method, &request.arguments);
        request.reply_to.as_ref()?;
        Some(json!({ self.inner.hostname.clone(): result }))
    }

    fn run(&self, method: &str, arguments: &Map<String, Value>) -> Value {
        if let Some(command) = self.inner.commands.get(method) {
            return match catch_unwind(AssertUnwindSafe(|| command(arguments))) {
                Ok(result) => result,
                Err(panic) => {
                    let message = crate::panic_message(&*panic);
                    tracing::error!(method, %message, "control command panicked");
                    json!({ "error": format!("the command panicked: {message}") })
                }
            };
        }
        let info = || self.inner.info.read();
        match method {
            "ping" => json!({"ok": "pong"}),
            "clock" => json!({"clock": self.inner.clock.value()}),
            "stats" => self.statistics(),
            "registered" => json!(info().registered),
            "active" => json!(info().active),
            "reserved" => json!(info().reserved),
            "scheduled" => json!(info().scheduled),
            "revoked" => json!(info().revoked),
            "active_queues" => json!(info().queues),
            "conf" => Value::Object(info().conf.clone()),
            // A starting Celery worker's "mingle": it asks every node for the
            // revoked ids and the clock.
            "hello" => {
                let from = arguments.get("from_node").and_then(Value::as_str);
                if from == Some(self.inner.hostname.as_str()) {
                    return Value::Null;
                }
                let revoked: Map<String, Value> = info()
                    .revoked
                    .iter()
                    .map(|id| (id.clone(), Value::from(0.0)))
                    .collect();
                json!({"revoked": revoked, "clock": self.inner.clock.forward()})
            }
            "heartbeat" => {
                if let Some(heartbeat) = &self.inner.on_heartbeat {
                    heartbeat();
                }
                Value::Null
            }
            "enable_events" => toggle(&self.inner.on_enable_events, "enabled"),
            "disable_events" => toggle(&self.inner.on_disable_events, "disabled"),
            unknown => {
                self.inner.counters.unknown.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(method = unknown, "no such control command");
                json!({ "error": format!("KeyError('{unknown}')") })
            }
        }
    }

    /// `stats`, as a Celery worker reports it, with what applies here.
    fn statistics(&self) -> Value {
        let info = self.inner.info.read();
        let pid = std::process::id();
        json!({
            "total": info.total,
            "pid": pid,
            "clock": self.inner.clock.value().to_string(),
            "uptime": self.inner.started.elapsed().as_secs(),
            "pool": {
                "implementation": "signals (Rust)",
                "max-concurrency": info.concurrency,
                "processes": [pid],
                "max-tasks-per-child": "N/A",
                "put-guarded-by-semaphore": false,
                "timeouts": [0, 0],
            },
            "broker": Value::Object(self.inner.broker.lock().clone()),
            "prefetch_count": info.concurrency,
            "rusage": rusage(),
        })
    }
}

/// What a mailbox reports to its node (only a broker's mailbox uses them).
#[cfg_attr(not(any(feature = "redis", feature = "amqp")), allow(dead_code))]
impl Node {
    pub(crate) fn count_malformed(&self) {
        self.inner
            .counters
            .malformed
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_expired(&self) {
        self.inner.counters.expired.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_reply_failure(&self) {
        self.inner
            .counters
            .reply_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Sets what `stats` reports as `broker` (the mailbox's connection).
    pub(crate) fn set_broker(&self, broker: Map<String, Value>) {
        *self.inner.broker.lock() = broker;
    }
}

/// `enable_events` / `disable_events`: Celery's replies.
fn toggle(hook: &Option<Hook>, done: &str) -> Value {
    match hook {
        None => json!({"error": "event dispatcher unavailable"}),
        Some(hook) if hook() => json!({ "ok": format!("task events {done}") }),
        Some(_) => json!({ "ok": format!("task events already {done}") }),
    }
}

/// The process's resource usage, as Celery's `rusage` (`getrusage`).
#[cfg(unix)]
fn rusage() -> Value {
    // SAFETY: `getrusage` only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Value::from("N/A");
        }
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    json!({
        "utime": seconds(usage.ru_utime),
        "stime": seconds(usage.ru_stime),
        "maxrss": usage.ru_maxrss,
        "ixrss": usage.ru_ixrss,
        "idrss": usage.ru_idrss,
        "isrss": usage.ru_isrss,
        "minflt": usage.ru_minflt,
        "majflt": usage.ru_majflt,
        "nswap": usage.ru_nswap,
        "inblock": usage.ru_inblock,
        "oublock": usage.ru_oublock,
        "msgsnd": usage.ru_msgsnd,
        "msgrcv": usage.ru_msgrcv,
        "nsignals": usage.ru_nsignals,
        "nvcsw": usage.ru_nvcsw,
        "nivcsw": usage.ru_nivcsw,
    })
}

#[cfg(not(unix))]
fn rusage() -> Value {
    Value::from("N/A")
}

impl NodeBuilder {
    /// The Lamport clock (default: the process's shared one).
    pub fn clock(mut self, clock: Arc<LamportClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The task names the worker runs (`inspect registered`).
    pub fn registered<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.info.registered = names.into_iter().map(Into::into).collect();
        self
    }

    /// A queue the worker consumes (`inspect active_queues`), as Celery
    /// describes a plain direct queue of that name.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.info.queues.push(json!({
            "name": name,
            "exchange": {"name": name, "type": "direct", "arguments": null,
                         "durable": true, "passive": false, "auto_delete": false,
                         "delivery_mode": null, "no_declare": false},
            "routing_key": name,
            "queue_arguments": null, "binding_arguments": null, "consumer_arguments": null,
            "durable": true, "exclusive": false, "auto_delete": false,
            "no_ack": false, "alias": null, "bindings": [], "no_declare": null,
            "expires": null, "message_ttl": null, "max_length": null,
            "max_length_bytes": null, "max_priority": null,
        }));
        self
    }

    /// How many tasks can run at once (default 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.info.concurrency = concurrency;
        self
    }

    /// Adds a command, as `@control_command` / `@inspect_command` extend a
    /// Celery worker: its arguments are deserialized from the request's
    /// keyword arguments (a JSON object) into `A`, and its result serialized
    /// as the reply. Arguments that do not fit `A` get `{"error": ...}`. A
    /// command named like a built-in one replaces it.
    pub fn command<A, R, F>(mut self, name: impl Into<String>, command: F) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let name = name.into();
        let label = name.clone();
        let wrapped = move |arguments: &Map<String, Value>| match serde_json::from_value::<A>(
            Value::Object(arguments.clone()),
        ) {
            Ok(arguments) => serde_json::to_value(command(arguments)).unwrap_or_else(
                |error| json!({ "error": format!("{label}: the reply is not JSON: {error}") }),
            ),
            Err(error) => json!({ "error": format!("{label}: bad arguments: {error}") }),
        };
        self.commands.insert(name, Box::new(wrapped));
        self
    }

    /// Runs on a `heartbeat` cast: send a `worker-heartbeat` now.
    pub fn on_heartbeat(mut self, heartbeat: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_heartbeat = Some(Box::new(heartbeat));
        self
    }

    /// Runs on `enable_events`; returns whether events were off before.
    pub fn on_enable_events(mut self, enable: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.on_enable_events = Some(Box::new(enable));
        self
    }

    /// Runs on `disable_events`; returns whether events were on before.
    pub fn on_disable_events(mut self, disable: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.on_disable_events = Some(Box::new(disable));
        self
    }

    /// The node.
    pub fn build(self) -> Node {
        Node {
            inner: Arc::new(Inner {
                hostname: self.hostname,
                started: Instant::now(),
                clock: self.clock.unwrap_or_else(LamportClock::global),
                info: RwLock::new(self.info),
                broker: Mutex::new(Map::new()),
                commands: self.commands,
                on_heartbeat: self.on_heartbeat,
                on_enable_events: self.on_enable_events,
                on_disable_events: self.on_disable_events,
                counters: Counters::default(),
            }),
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("hostname", &self.inner.hostname)
            .field("commands", &self.inner.commands.keys().collect::<Vec<_>>())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
