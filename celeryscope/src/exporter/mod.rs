//! `celeryscope exporter`: celery-exporter 0.12, same flags, metrics and
//! labels, on our event receiver and cluster state.
//!
//! - Events arrive on a subscription of their own thread; each one is
//!   counted, after a worker's event is applied to the cluster state and a
//!   task's to the exporter's table of tasks (only what the metrics read).
//! - A scrape of `/metrics` times out silent workers, asks the workers for
//!   their queues and pools (remote control: `active_queues`, `stats`) and
//!   the broker for each queue's length; a scrape that fails answers 500,
//!   as celery-exporter's does.
//! - `/health` connects afresh and makes a round trip (a held socket can
//!   look open after the broker went away), and checks that the event
//!   subscription is up and the last scrape worked. On Redis, a
//!   subscription silent for 5 s is checked with a `PING` whose reply must
//!   come within 5 s more, so a dead socket that still looks open turns
//!   `/health` red and is replaced; on AMQP, the connection's heartbeats
//!   (at the interval the broker asks for: 60 s on RabbitMQ by default) do
//!   the same.

mod metrics;
pub(crate) mod options;
mod registry;
mod tasks;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use signals_celery::events::{EventReceiver, State};
use signals_celery::queues::{QueueOptions, QueueProbe};

use crate::broker::{self, Control, SubscribeOptions, Watched};
use metrics::{MetricOptions, Metrics, QueueReport};
pub(crate) use options::ExporterOptions;
use options::Settings;
use registry::Format;

/// How long a scrape waits for the workers' replies (`celery inspect`'s
/// default timeout).
const INSPECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs the exporter until the process is stopped; an error is one the
/// user can act on (a bad flag, a port taken).
pub(crate) fn run(mut options: ExporterOptions) -> Result<(), String> {
    let settings = options.settings().map_err(|error| error.to_string())?;
    crate::logging::init(settings.log_level);
    let url = options.broker_url.clone();
    let masked = signals_celery::mask_password(&url);
    if options.accept_content.is_some() {
        tracing::info!(
            "Setting celery accept_content {:?} (events are read as JSON)",
            options.accept_content
        );
    }
    let roots = match settings.ssl_options.get("ca_certs") {
        Some(path) => Some(read_certificates(path)?),
        None => None,
    };
    let failover =
        broker::failover_of(&settings.transport_options).map_err(|error| error.to_string())?;
    let subscribe = SubscribeOptions {
        reconnect_delay: (options.retry_interval > 0.0)
            .then(|| Duration::from_secs_f64(options.retry_interval)),
        global_keyprefix: settings.transport_options.get("global_keyprefix").cloned(),
        fanout_prefix: settings
            .transport_options
            .get("fanout_prefix")
            .map(|value| !matches!(value.to_ascii_lowercase().as_str(), "false" | "0" | "no")),
        tls_root_certificates: roots.clone(),
        failover: failover.clone(),
    };
    let probe = QueueProbe::with_options(
        &broker::normalized(&url),
        QueueOptions {
            failover: failover.clone(),
            ..queue_options(&settings, roots.clone())
        },
    )
    .map_err(|error| error.to_string())?;
    let control = Control::open(&url, roots, failover).map_err(|error| error.to_string())?;
    let source = Watched::open(&url, &subscribe).map_err(|error| error.to_string())?;
    let subscribed = source.status();

    let state = Arc::new(State::new());
    let metrics = Arc::new(Mutex::new(Metrics::new(metric_options(
        &options, &settings,
    ))));
    let receiver = {
        let (state, metrics) = (Arc::clone(&state), Arc::clone(&metrics));
        EventReceiver::builder()
            // Timestamps as the workers sent them: an ETA is compared with
            // them, and both are UTC.
            .localize(false)
            .handler_ref("*", move |event| {
                let kind = event.kind();
                if kind.starts_with("worker-") {
                    // Workers' liveness as Celery's State judges it; tasks
                    // are remembered by the metrics' own table.
                    state.apply_ref(event);
                }
                let mut metrics = metrics.lock().unwrap_or_else(PoisonError::into_inner);
                match kind {
                    "worker-heartbeat" => metrics.worker_heartbeat(&state, event),
                    "worker-online" => metrics.worker_status(event, true),
                    "worker-offline" => metrics.worker_status(event, false),
                    _ if kind.starts_with("task-") => metrics.task_event(event),
                    _ => {}
                }
            })
            .on_error({
                let masked = masked.clone();
                move |error| {
                    tracing::error!("celery-exporter exception '{error}' on {masked}, retrying")
                }
            })
            .build()
    };

    let address = format!("{}:{}", options.host, options.port);
    let server = tiny_http::Server::http(&address)
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .map_or(address.clone(), |address| address.to_string());
    tracing::info!(
        "Started celery-exporter at host='{}' on port='{}'",
        options.host,
        bound.rsplit(':').next().unwrap_or_default()
    );
    // For tests and scripts: the address really bound (port 0 picks one).
    println!("listening on http://{bound}/");

    if !source.wait_subscribed(Duration::from_secs(5)) {
        tracing::error!("Failed to connect to broker='{masked}'; retrying in the background");
    }
    let _capturing = receiver
        .spawn(source)
        .map_err(|error| format!("cannot start the event thread: {error}"))?;

    let service = Arc::new(Service {
        metrics,
        probe,
        control,
        subscribed,
        scrape_failed: AtomicBool::new(false),
        masked,
    });
    for request in server.incoming_requests() {
        let service = Arc::clone(&service);
        // A scrape waits on the workers' replies: one thread per request so
        // that /health answers meanwhile.
        let spawned = std::thread::Builder::new()
            .name("celeryscope-http".into())
            .spawn(move || service.respond(request));
        if let Err(error) = spawned {
            tracing::error!("cannot answer a request: {error}");
        }
    }
    Ok(())
}

/// What the HTTP handlers share.
struct Service {
    metrics: Arc<Mutex<Metrics>>,
    probe: QueueProbe,
    control: Control,
    subscribed: Arc<AtomicBool>,
    scrape_failed: AtomicBool,
    masked: String,
}

impl Service {
    fn respond(&self, request: tiny_http::Request) {
        let path = request
            .url()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let accept = request
            .headers()
            .iter()
            .find(|header| header.field.equiv("Accept"))
            .map(|header| header.value.as_str().to_owned());
        let (status, content_type, body) = match path.as_str() {
            "/metrics" => self.metrics(accept.as_deref()),
            "/health" => self.health(),
            "/" => (200, "text/html; charset=utf-8", INDEX.to_owned()),
            _ => (404, "text/plain; charset=utf-8", "Not Found\n".to_owned()),
        };
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
            .expect("a valid header");
        let response = tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(header);
        if let Err(error) = request.respond(response) {
            tracing::debug!("a response was not delivered: {error}");
        }
    }

    fn metrics(&self, accept: Option<&str>) -> (u16, &'static str, String) {
        match self.scrape() {
            Ok(()) => {
                self.scrape_failed.store(false, Ordering::Relaxed);
                let format = Format::negotiate(accept);
                let metrics = self.metrics.lock().unwrap_or_else(PoisonError::into_inner);
                (200, format.content_type(), metrics.encode(format))
            }
            Err(error) => {
                self.scrape_failed.store(true, Ordering::Relaxed);
                tracing::error!("Failed to scrape metrics: {error}");
                (
                    500,
                    "text/plain; charset=utf-8",
                    format!("Failed to scrape metrics: {error}"),
                )
            }
        }
    }

    fn health(&self) -> (u16, &'static str, String) {
        let text = "text/plain; charset=utf-8";
        if let Err(error) = self.probe.ping() {
            tracing::error!("Failed to connect to broker='{}': {error}", self.masked);
            return (
                500,
                text,
                format!("Failed to connect to broker: '{}'", self.masked),
            );
        }
        if !self.subscribed.load(Ordering::Relaxed) {
            return (
                500,
                text,
                format!(
                    "Connected to the broker {}, but the event subscription is down",
                    self.masked
                ),
            );
        }
        // A failed scrape is rerun rather than reported: one failure does not
        // keep the exporter unhealthy until the next scrape.
        if self.scrape_failed.load(Ordering::Relaxed) {
            if let Err(error) = self.scrape() {
                return (
                    500,
                    text,
                    format!(
                        "Connected to the broker {}, but unable to scrape: {error}",
                        self.masked
                    ),
                );
            }
            self.scrape_failed.store(false, Ordering::Relaxed);
        }
        (
            200,
            text,
            format!("Connected to the broker {}", self.masked),
        )
    }

    /// celery-exporter's `scrape`: worker timeouts, then the queue metrics.
    fn scrape(&self) -> Result<(), String> {
        self.metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .time_out_workers(registry::now());
        let stats = self
            .control
            .broadcast("stats", Map::new(), None, INSPECT_TIMEOUT)
            .map_err(|error| error.to_string())?;
        let active_queues = self
            .control
            .broadcast("active_queues", Map::new(), None, INSPECT_TIMEOUT)
            .map_err(|error| error.to_string())?;
        let mut report = queue_report(&stats, &active_queues);
        let mut queues: BTreeSet<String> = self
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queues()
            .into_iter()
            .collect();
        queues.extend(report.seen.iter().cloned());
        let queues: Vec<String> = queues.into_iter().collect();
        for (queue, depth) in self
            .probe
            .depths(&queues)
            .map_err(|error| error.to_string())?
        {
            match depth {
                Some(depth) => {
                    report.lengths.insert(queue.clone(), depth.messages);
                    if let Some(consumers) = depth.consumers {
                        report.consumers.insert(queue, consumers);
                    }
                }
                // A queue that does not exist (yet) holds nothing and has
                // no consumer, as celery-exporter reports it.
                None if broker::is_amqp(&self.masked) => {
                    report.lengths.insert(queue.clone(), 0);
                    report.consumers.insert(queue, 0);
                }
                None => {}
            }
        }
        let mut metrics = self.metrics.lock().unwrap_or_else(PoisonError::into_inner);
        metrics.queue_report(report);
        if metrics.dropped() > 0 {
            tracing::warn!(
                "{} series not kept: a metric reached {} series",
                metrics.dropped(),
                registry::MAX_SERIES
            );
        }
        Ok(())
    }
}

/// Workers and processes per queue, from the `stats` and `active_queues`
/// replies (celery-exporter's `track_queue_metrics`).
fn queue_report(stats: &[(String, Value)], active_queues: &[(String, Value)]) -> QueueReport {
    let processes_of: HashMap<&str, u64> = stats
        .iter()
        .map(|(worker, stats)| {
            let processes = stats["pool"]["processes"].as_array().map_or(0, Vec::len);
            (worker.as_str(), processes as u64)
        })
        .collect();
    let mut report = QueueReport::default();
    for (worker, queues) in active_queues {
        for queue in queues.as_array().into_iter().flatten() {
            let Some(name) = queue["name"].as_str() else {
                continue;
            };
            report.seen.insert(name.to_owned());
            *report.workers.entry(name.to_owned()).or_default() += 1;
            *report.processes.entry(name.to_owned()).or_default() +=
                processes_of.get(worker.as_str()).copied().unwrap_or(0);
        }
    }
    report
}

fn metric_options(options: &ExporterOptions, settings: &Settings) -> MetricOptions {
    MetricOptions {
        prefix: options.metric_prefix.clone(),
        static_labels: settings.static_labels.clone(),
        buckets: settings.buckets.clone(),
        queue_wait_buckets: settings.queue_wait_buckets.clone(),
        generic_hostname_task_sent: options.generic_hostname_task_sent_metric,
        generic_hostname_worker_task: options.generic_hostname_worker_task_metric,
        default_queue_name: options.default_queue_name.clone(),
        worker_timeout: options.worker_timeout as f64,
        purge_after: options.purge_offline_worker_metrics as f64,
        queues: settings.queues.clone(),
    }
}

/// kombu's Redis transport options that say where queues are.
fn queue_options(settings: &Settings, roots: Option<Vec<u8>>) -> QueueOptions {
    let mut options = QueueOptions {
        tls_root_certificates: roots,
        ..QueueOptions::default()
    };
    let transport = &settings.transport_options;
    if let Some(prefix) = transport.get("global_keyprefix") {
        options.global_keyprefix = prefix.clone();
    }
    if let Some(sep) = transport.get("sep") {
        options.sep = sep.clone();
    }
    if let Some(steps) = transport.get("priority_steps") {
        // A JSON list, as celery-exporter reads a transport option.
        if let Ok(steps) = serde_json::from_str::<Vec<u32>>(steps) {
            options.priority_steps = steps;
        }
    }
    options
}

fn read_certificates(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|source| {
        broker::BrokerError::Certificates {
            path: path.to_owned(),
            source,
        }
        .to_string()
    })
}

const INDEX: &str = "<!doctype html>
<html lang=\"en\">
  <head>
    <meta charset=\"utf-8\">
    <title>celery-exporter</title>
  </head>
  <body>
    <h1>Celery Exporter</h1>
    <p><a href=\"/metrics\">Metrics</a></p>
  </body>
</html>
";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queue_counts_come_from_active_queues_and_pool_sizes() {
        let stats = vec![
            ("a@h1".to_owned(), json!({"pool": {"processes": [1, 2, 3]}})),
            ("b@h2".to_owned(), json!({"pool": {"processes": [4]}})),
        ];
        let active = vec![
            (
                "a@h1".to_owned(),
                json!([{"name": "celery"}, {"name": "high"}]),
            ),
            ("b@h2".to_owned(), json!([{"name": "celery"}])),
        ];
        let report = queue_report(&stats, &active);
        assert_eq!(report.workers["celery"], 2);
        assert_eq!(report.processes["celery"], 4);
        assert_eq!(report.processes["high"], 3);
        assert_eq!(report.seen.len(), 2);
    }
}
