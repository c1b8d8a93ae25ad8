//! A Prometheus exporter for a Celery cluster, built on `events::State`:
//! follows the events on a Redis or AMQP broker and serves `/metrics`.
//!
//! ```text
//! cargo run --example exporter -- redis://127.0.0.1:6379/0 --listen 127.0.0.1:9808
//! cargo run --example exporter -- amqp://guest:guest@127.0.0.1:5672/%2f
//! ```
//!
//! Metric names and labels follow the most used public exporter
//! (danihodovic/celery-exporter): `celery_task_<event>_total{name, hostname,
//! queue_name}` for sent, received, started, succeeded, failed (with
//! `exception`), rejected, revoked and retried; `celery_task_runtime`
//! (histogram, seconds) on success; `celery_worker_up` and
//! `celery_worker_tasks_active` by hostname. Added here:
//! `celery_worker_last_heartbeat_timestamp_seconds`. `hostname` is the node
//! name's host part, as there.
//!
//! Label cardinality is bounded: the first `--max-task-names` task names
//! (default 1,000) keep their own label, later ones are counted under
//! `other`; exception labels are the exception's class name, the first 100
//! kept; hostnames are those of the workers the state keeps (5,000).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use signals_celery::events::{
    AmqpSubscriber, Event, EventReceiver, EventSource, RedisSubscriber, State,
};

/// Serves Prometheus metrics of the Celery cluster on a broker.
#[derive(Parser)]
#[command(name = "exporter")]
struct Options {
    /// The broker: redis://[:password@]host[:port][/db], rediss://..., or
    /// amqp://user:password@host[:port]/vhost (amqps:// for TLS).
    url: String,
    /// Where to serve /metrics (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:9808")]
    listen: String,
    /// Task names with a label of their own; later ones are `other`.
    #[arg(long, default_value_t = 1_000)]
    max_task_names: usize,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    name: String,
    hostname: String,
    queue_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailedLabels {
    name: String,
    hostname: String,
    exception: String,
    queue_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    hostname: String,
}

/// Prometheus client's default buckets, as the Python exporter's.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

fn runtime_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The metrics, and the bounds on their labels.
struct Metrics {
    registry: Registry,
    /// `task-sent` ... `task-retried` but `task-failed`, by event type.
    tasks: Vec<(&'static str, Family<TaskLabels, Counter>)>,
    failed: Family<FailedLabels, Counter>,
    runtime: Family<TaskLabels, Histogram, fn() -> Histogram>,
    worker_up: Family<WorkerLabels, Gauge>,
    worker_active: Family<WorkerLabels, Gauge>,
    worker_heartbeat: Family<WorkerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    names: Mutex<Folded>,
    exceptions: Mutex<Folded>,
    /// Workers ever seen, so that one that left reports `up 0`.
    seen_workers: Mutex<HashSet<String>>,
}

/// A label whose distinct values are bounded: past `max`, new values are
/// `other`.
struct Folded {
    kept: HashSet<String>,
    max: usize,
}

impl Folded {
    fn new(max: usize) -> Self {
        Self {
            kept: HashSet::new(),
            max,
        }
    }

    fn label(&mut self, value: &str) -> String {
        if self.kept.contains(value) {
            return value.to_owned();
        }
        if self.kept.len() < self.max {
            self.kept.insert(value.to_owned());
            return value.to_owned();
        }
        "other".to_owned()
    }
}

const TASK_EVENTS: [(&str, &str); 7] = [
    ("task-sent", "Sent when a task message is published."),
    ("task-received", "Sent when the worker receives a task."),
    (
        "task-started",
        "Sent just before the worker executes the task.",
    ),
    ("task-succeeded", "Sent if the task executed successfully."),
    ("task-rejected", "The task was rejected by the worker."),
    ("task-revoked", "Sent if the task has been revoked."),
    (
        "task-retried",
        "Sent if the task failed, but will be retried.",
    ),
];

impl Metrics {
    fn new(max_task_names: usize) -> Self {
        let mut registry = Registry::default();
        let mut tasks = Vec::new();
        for (kind, help) in TASK_EVENTS {
            let family = Family::<TaskLabels, Counter>::default();
            registry.register(
                format!("celery_{}", kind.replace('-', "_")),
                help,
                family.clone(),
            );
            tasks.push((kind, family));
        }
        let failed = Family::<FailedLabels, Counter>::default();
        registry.register(
            "celery_task_failed",
            "Sent if the execution of the task failed.",
            failed.clone(),
        );
        let runtime: Family<TaskLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(runtime_histogram);
        registry.register(
            "celery_task_runtime",
            "Histogram of task runtime measurements.",
            runtime.clone(),
        );
        let worker_up = Family::<WorkerLabels, Gauge>::default();
        registry.register(
            "celery_worker_up",
            "Indicates if a worker has recently sent a heartbeat.",
            worker_up.clone(),
        );
        let worker_active = Family::<WorkerLabels, Gauge>::default();
        registry.register(
            "celery_worker_tasks_active",
            "The number of tasks the worker is currently processing.",
            worker_active.clone(),
        );
        let worker_heartbeat = Family::default();
        registry.register(
            "celery_worker_last_heartbeat_timestamp_seconds",
            "When the worker's last heartbeat arrived (seconds since the epoch).",
            worker_heartbeat.clone(),
        );
        Self {
            registry,
            tasks,
            failed,
            runtime,
            worker_up,
            worker_active,
            worker_heartbeat,
            names: Mutex::new(Folded::new(max_task_names)),
            exceptions: Mutex::new(Folded::new(100)),
            seen_workers: Mutex::new(HashSet::new()),
        }
    }

    /// Counts a task event, once the state has applied it (for the task's
    /// name and queue, which only `task-sent` and `task-received` carry).
    fn count(&self, state: &State, event: &Event) {
        let (Some(kind), Some(uuid)) = (event.kind(), event.get("uuid").and_then(|v| v.as_str()))
        else {
            return;
        };
        // Borrowed under the state's read lock: `state.task` would copy the
        // whole task, with its texts, for every event.
        let view = state.read();
        let Some(task) = view.task(uuid) else { return };
        let name = self
            .names
            .lock()
            .expect("not poisoned")
            .label(task.name.as_deref().unwrap_or("unknown"));
        let labels = TaskLabels {
            name,
            hostname: host_part(event.hostname().unwrap_or_default()),
            queue_name: task.queue.as_deref().unwrap_or("celery").to_owned(),
        };
        if kind == "task-failed" {
            let exception = self
                .exceptions
                .lock()
                .expect("not poisoned")
                .label(&exception_class(
                    task.exception.as_deref().unwrap_or_default(),
                ));
            self.failed
                .get_or_create(&FailedLabels {
                    name: labels.name.clone(),
                    hostname: labels.hostname.clone(),
                    exception,
                    queue_name: labels.queue_name.clone(),
                })
                .inc();
            return;
        }
        if let Some((_, family)) = self.tasks.iter().find(|(k, _)| *k == kind) {
            family.get_or_create(&labels).inc();
        }
        if kind == "task-succeeded" {
            if let Some(runtime) = task.runtime {
                self.runtime.get_or_create(&labels).observe(runtime);
            }
        }
    }

    /// The worker gauges from the state, then the text format.
    fn render(&self, state: &State) -> String {
        let mut seen = self.seen_workers.lock().expect("not poisoned");
        let mut up_now = HashSet::new();
        for worker in state.workers() {
            let labels = WorkerLabels {
                hostname: host_part(&worker.hostname),
            };
            let alive = worker.alive();
            self.worker_up.get_or_create(&labels).set(i64::from(alive));
            self.worker_active
                .get_or_create(&labels)
                .set(worker.active.unwrap_or(0) as i64);
            if let Some(last) = worker.heartbeats.last() {
                self.worker_heartbeat.get_or_create(&labels).set(*last);
            }
            up_now.insert(labels.hostname.clone());
            seen.insert(labels.hostname);
        }
        // A worker that went offline left the state: it is down.
        for hostname in seen.iter().filter(|h| !up_now.contains(*h)) {
            let labels = WorkerLabels {
                hostname: hostname.clone(),
            };
            self.worker_up.get_or_create(&labels).set(0);
            self.worker_active.get_or_create(&labels).set(0);
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String");
        text
    }
}

/// `celery@host` -> `host` (Celery's `nodesplit`).
fn host_part(nodename: &str) -> String {
    nodename
        .split_once('@')
        .map_or(nodename, |(_, host)| host)
        .to_owned()
}

/// `ValueError('bad')` -> `ValueError`.
fn exception_class(exception: &str) -> String {
    let class: String = exception
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    if class.is_empty() {
        "unknown".to_owned()
    } else {
        class
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    let server = match tiny_http::Server::http(&options.listen) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("exporter: cannot listen on {}: {error}", options.listen);
            return ExitCode::FAILURE;
        }
    };
    match server.server_addr().to_ip() {
        Some(addr) => println!("-> serving http://{addr}/metrics"),
        None => println!("-> serving /metrics"),
    }

    let state = Arc::new(State::new());
    let metrics = Arc::new(Metrics::new(options.max_task_names));
    let counted = (state.clone(), metrics.clone());
    let receiver = EventReceiver::builder()
        .on_state(state.clone())
        .handler("*", move |event| {
            if event.kind().is_some_and(|kind| kind.starts_with("task-")) {
                counted.1.count(&counted.0, event);
            }
        })
        .on_error(|error| eprintln!("-> {error}"))
        .build();
    // Kept until the server stops: dropping it stops following.
    let capturing: Result<Box<dyn std::any::Any>, String> =
        if options.url.starts_with("amqp://") || options.url.starts_with("amqps://") {
            AmqpSubscriber::open(&options.url)
                .map_err(|error| error.to_string())
                .and_then(|source| start(&receiver, source))
                .map(|capturing| Box::new(capturing) as Box<dyn std::any::Any>)
        } else {
            RedisSubscriber::open(&options.url)
                .map_err(|error| error.to_string())
                .and_then(|source| start(&receiver, source))
                .map(|capturing| Box::new(capturing) as Box<dyn std::any::Any>)
        };
    let _capturing = match capturing {
        Ok(capturing) => capturing,
        Err(error) => {
            eprintln!("exporter: {error}");
            return ExitCode::FAILURE;
        }
    };

    for request in server.incoming_requests() {
        let response = if request.url() == "/metrics" {
            let header = tiny_http::Header::from_bytes(
                &b"Content-Type"[..],
                &b"text/plain; version=0.0.4; charset=utf-8"[..],
            )
            .expect("a valid header");
            tiny_http::Response::from_string(metrics.render(&state)).with_header(header)
        } else {
            tiny_http::Response::from_string("see /metrics\n").with_status_code(404)
        };
        if let Err(error) = request.respond(response) {
            eprintln!("-> {error}");
        }
    }
    ExitCode::SUCCESS
}

/// Follows `source` on a thread of its own, once subscribed.
fn start<S: EventSource + Send + WaitSubscribed + 'static>(
    receiver: &EventReceiver,
    mut source: S,
) -> Result<signals_celery::events::Capturing<S>, String> {
    if !source.wait(Duration::from_secs(10)) {
        eprintln!("-> not subscribed yet after 10 s; going on");
    }
    println!("-> following events");
    receiver.spawn(source).map_err(|error| error.to_string())
}

/// The subscribers' `wait_subscribed`, for `start`.
trait WaitSubscribed {
    fn wait(&mut self, timeout: Duration) -> bool;
}

impl WaitSubscribed for RedisSubscriber {
    fn wait(&mut self, timeout: Duration) -> bool {
        self.wait_subscribed(timeout)
    }
}

impl WaitSubscribed for AmqpSubscriber {
    fn wait(&mut self, timeout: Duration) -> bool {
        self.wait_subscribed(timeout)
    }
}
