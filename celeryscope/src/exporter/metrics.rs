//! celery-exporter's metrics, fed by events as it feeds them: the task
//! counters (and which are pre-created at zero), the runtime and queue wait
//! histograms, the worker gauges with their timeout and purge, and the queue
//! gauges a scrape sets.

use std::collections::{BTreeSet, HashMap};

use signals_celery::events::{EventRef, State};

use super::registry::{now, FamilyId, Format, Kind, LabelsKey, Registry};
use super::tasks::{TaskFields, TaskTable, MAX_TASKS};

/// The task events counted, with their help texts (celery-exporter's).
const TASK_EVENTS: [(&str, &str); 8] = [
    ("task-sent", "Sent when a task message is published."),
    ("task-received", "Sent when the worker receives a task."),
    ("task-started", "Sent just before the worker executes the task."),
    ("task-succeeded", "Sent if the task executed successfully."),
    ("task-failed", "Sent if the execution of the task failed."),
    (
        "task-rejected",
        "The task was rejected by the worker, possibly to be re-queued or moved to a dead letter queue.",
    ),
    ("task-revoked", "Sent if the task has been revoked."),
    ("task-retried", "Sent if the task failed, but will be retried in the future."),
];

/// Where `task-sent` and `task-failed` are in [`TASK_EVENTS`].
const SENT: usize = 0;
const FAILED: usize = 4;

/// What shapes the metrics: the flags that change names, labels or timing.
#[derive(Clone, Debug)]
pub(crate) struct MetricOptions {
    pub(crate) prefix: String,
    pub(crate) static_labels: Vec<(String, String)>,
    pub(crate) buckets: Vec<f64>,
    pub(crate) queue_wait_buckets: Vec<f64>,
    pub(crate) generic_hostname_task_sent: bool,
    pub(crate) generic_hostname_worker_task: bool,
    pub(crate) default_queue_name: String,
    pub(crate) worker_timeout: f64,
    pub(crate) purge_after: f64,
    pub(crate) queues: Vec<String>,
}

/// When a worker was last heard from, and whether its gauges were zeroed.
#[derive(Clone, Copy, Debug)]
struct LastSeen {
    at: f64,
    forgotten: bool,
}

/// The queue gauges of one scrape.
#[derive(Clone, Debug, Default)]
pub(crate) struct QueueReport {
    /// Queue name → messages waiting, for each queue the broker answered.
    pub(crate) lengths: HashMap<String, u64>,
    /// Queue name → consumers (AMQP only).
    pub(crate) consumers: HashMap<String, u64>,
    /// Queue name → workers consuming it (from `active_queues`).
    pub(crate) workers: HashMap<String, u64>,
    /// Queue name → pool processes of those workers (from `stats`).
    pub(crate) processes: HashMap<String, u64>,
    /// Queues the workers named, added to those followed from now on.
    pub(crate) seen: BTreeSet<String>,
}

/// The exporter's metrics.
pub(crate) struct Metrics {
    options: MetricOptions,
    registry: Registry,
    counters: Vec<(&'static str, FamilyId)>,
    worker_up: FamilyId,
    worker_tasks_active: FamilyId,
    task_runtime: FamilyId,
    task_queue_wait_time: FamilyId,
    queue_length: FamilyId,
    active_consumer_count: FamilyId,
    active_worker_count: FamilyId,
    active_process_count: FamilyId,
    last_seen: HashMap<String, LastSeen>,
    /// Every queue followed: `-Q`'s, then those the workers named.
    queues: BTreeSet<String>,
    /// `task_received`'s family: every counter of a task label set is
    /// created at once, so its series tells whether they all exist.
    received: FamilyId,
    /// What earlier events told of each task.
    tasks: TaskTable,
}

impl Metrics {
    pub(crate) fn new(options: MetricOptions) -> Self {
        let mut registry = Registry::default();
        let statics: Vec<String> = options
            .static_labels
            .iter()
            .map(|(key, _)| key.clone())
            .collect();
        let names = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .map(|name| (*name).to_owned())
                .chain(statics.iter().cloned())
                .collect()
        };
        let prefix = options.prefix.clone();
        let name = |suffix: &str| format!("{prefix}{suffix}");
        let counters: Vec<(&str, FamilyId)> = TASK_EVENTS
            .iter()
            .map(|(kind, help)| {
                let labels = if *kind == "task-failed" {
                    names(&["name", "hostname", "exception", "queue_name"])
                } else {
                    names(&["name", "hostname", "queue_name"])
                };
                let family =
                    registry.register(name(&kind.replace('-', "_")), help, Kind::Counter, labels);
                (*kind, family)
            })
            .collect();
        let received = counters
            .iter()
            .find_map(|(kind, family)| (*kind == "task-received").then_some(*family))
            .expect("task-received is one of TASK_EVENTS");
        let worker_up = registry.register(
            name("worker_up"),
            "Indicates if a worker has recently sent a heartbeat.",
            Kind::Gauge,
            names(&["hostname"]),
        );
        let worker_tasks_active = registry.register(
            name("worker_tasks_active"),
            "The number of tasks the worker is currently processing",
            Kind::Gauge,
            names(&["hostname"]),
        );
        let task_runtime = registry.register(
            name("task_runtime"),
            "Histogram of task runtime measurements.",
            Kind::Histogram(options.buckets.clone()),
            names(&["name", "hostname", "queue_name"]),
        );
        let task_queue_wait_time = registry.register(
            name("task_queue_wait_time"),
            "Histogram of the time tasks spend waiting in the queue before being executed, excluding deliberate ETA/countdown delay.",
            Kind::Histogram(options.queue_wait_buckets.clone()),
            names(&["name", "hostname", "queue_name"]),
        );
        let queue_length = registry.register(
            name("queue_length"),
            "The number of message in broker queue.",
            Kind::Gauge,
            names(&["queue_name"]),
        );
        let active_consumer_count = registry.register(
            name("active_consumer_count"),
            "The number of active consumer in broker queue.",
            Kind::Gauge,
            names(&["queue_name"]),
        );
        let active_worker_count = registry.register(
            name("active_worker_count"),
            "The number of active workers in broker queue.",
            Kind::Gauge,
            names(&["queue_name"]),
        );
        let active_process_count = registry.register(
            name("active_process_count"),
            "The number of active processes in broker queue.",
            Kind::Gauge,
            names(&["queue_name"]),
        );
        Self {
            queues: options.queues.iter().cloned().collect(),
            options,
            registry,
            counters,
            worker_up,
            worker_tasks_active,
            task_runtime,
            task_queue_wait_time,
            queue_length,
            active_consumer_count,
            active_worker_count,
            active_process_count,
            last_seen: HashMap::new(),
            received,
            tasks: TaskTable::new(MAX_TASKS),
        }
    }

    /// The queues followed: `-Q`'s and those workers named since.
    pub(crate) fn queues(&self) -> Vec<String> {
        self.queues.iter().cloned().collect()
    }

    /// A task event: applied to the task it names, then counted, as
    /// celery-exporter's `track_task_event` does.
    pub(crate) fn task_event(&mut self, event: &EventRef<'_>) {
        let kind = event.kind();
        let Some(subject) = kind.strip_prefix("task-") else {
            return;
        };
        let fields = TaskFields::of(event);
        // Without these, Celery's State does not apply the event, and
        // celery-exporter does not count it.
        let Some((uuid, nodename)) = fields.required() else {
            return;
        };
        let task = self.tasks.apply(&uuid, subject, &fields);
        let Some(counted) = self
            .counters
            .iter()
            .position(|(counted, _)| *counted == kind)
        else {
            return;
        };
        // Python's `str(None)` for what the task does not know yet.
        let name = task.name.as_deref().unwrap_or("None");
        let queue = task
            .queue
            .as_deref()
            .unwrap_or(&self.options.default_queue_name);
        let generic = if kind == "task-sent" {
            self.options.generic_hostname_task_sent
        } else {
            self.options.generic_hostname_worker_task
        };
        let hostname = if generic {
            "generic"
        } else {
            host_part(&nodename)
        };
        let statics = &self.options.static_labels;
        let plain = with_statics(statics, &[name, hostname, queue]);
        // One hash of the label values for every family they are counted in.
        let key = LabelsKey::of(&plain);
        // Only an event of a new label set touches the other counters, so an
        // event of a known set costs two lookups.
        if !self.registry.contains_keyed(self.received, key, &plain) {
            for (at, &(_, family)) in self.counters.iter().enumerate() {
                // Seen at zero, so that rates exist before the first one;
                // not task-sent, whose clients' hostnames would multiply
                // the series.
                if at == counted || at == SENT {
                    continue;
                }
                if at == FAILED {
                    let labels = with_statics(statics, &[name, hostname, "", queue]);
                    self.registry.inc(family, &labels, 0.0);
                } else {
                    self.registry.inc_keyed(family, key, &plain, 0.0);
                }
            }
        }
        let family = self.counters[counted].1;
        if counted == FAILED {
            let exception = exception_class(task.exception.as_deref().unwrap_or(""));
            let labels = with_statics(statics, &[name, hostname, &exception, queue]);
            self.registry.inc(family, &labels, 1.0);
        } else {
            self.registry.inc_keyed(family, key, &plain, 1.0);
        }
        if kind == "task-started" {
            if let (Some(started), Some(sent)) = (task.started, task.sent) {
                // A countdown or retry backoff is an ETA: deliberate delay,
                // not waiting.
                let baseline = task
                    .eta
                    .as_deref()
                    .and_then(parse_iso8601)
                    .map_or(sent, |eta| eta.max(sent));
                let waited = (started - baseline).max(0.0);
                self.registry
                    .observe_keyed(self.task_queue_wait_time, key, &plain, waited);
            }
        }
        if kind == "task-succeeded" {
            if let Some(runtime) = task.runtime {
                self.registry
                    .observe_keyed(self.task_runtime, key, &plain, runtime);
            }
        }
    }

    /// A `worker-heartbeat`, once `state` has applied it.
    pub(crate) fn worker_heartbeat(&mut self, state: &State, event: &EventRef<'_>) {
        let Some(nodename) = event.hostname() else {
            return;
        };
        let hostname = host_part(&nodename);
        self.seen(hostname);
        let (up, active) = state.worker(&nodename).map_or((false, 0), |worker| {
            (worker.alive(), worker.active.unwrap_or(0))
        });
        let labels = with_statics(&self.options.static_labels, &[hostname]);
        self.registry
            .set(self.worker_up, &labels, f64::from(u8::from(up)));
        self.registry
            .set(self.worker_tasks_active, &labels, active as f64);
    }

    /// A `worker-online` (`online`) or `worker-offline`.
    pub(crate) fn worker_status(&mut self, event: &EventRef<'_>, online: bool) {
        let Some(nodename) = event.hostname() else {
            return;
        };
        let hostname = host_part(&nodename);
        if online {
            let labels = with_statics(&self.options.static_labels, &[hostname]);
            self.registry.set(self.worker_up, &labels, 1.0);
            self.seen(hostname);
        } else {
            self.forget(hostname);
        }
    }

    /// Heard from now (celery-exporter takes the worker's own timestamp;
    /// the time of receipt needs no clock agreement between the hosts).
    fn seen(&mut self, hostname: &str) {
        let seen = LastSeen {
            at: now(),
            forgotten: false,
        };
        match self.last_seen.get_mut(hostname) {
            Some(last) => *last = seen,
            None => {
                self.last_seen.insert(hostname.to_owned(), seen);
            }
        }
    }

    /// Zeroes a worker's gauges; keeps when it was seen if its metrics are
    /// to be purged later.
    fn forget(&mut self, hostname: &str) {
        let Some(seen) = self.last_seen.get_mut(hostname) else {
            return;
        };
        seen.forgotten = true;
        let labels = with_statics(&self.options.static_labels, &[hostname]);
        self.registry.set(self.worker_up, &labels, 0.0);
        self.registry.set(self.worker_tasks_active, &labels, 0.0);
        if self.options.purge_after <= 0.0 {
            self.last_seen.remove(hostname);
        }
    }

    /// celery-exporter's `track_timed_out_workers`, at `now`.
    pub(crate) fn time_out_workers(&mut self, now: f64) {
        if self.options.worker_timeout <= 0.0 && self.options.purge_after <= 0.0 {
            return;
        }
        let seen: Vec<(String, LastSeen)> = self
            .last_seen
            .iter()
            .map(|(hostname, seen)| (hostname.clone(), *seen))
            .collect();
        for (hostname, seen) in seen {
            let since = now - seen.at;
            if since > self.options.worker_timeout && !seen.forgotten {
                tracing::info!(
                    "Have not seen {hostname} for {since:.2} seconds. Removing from metrics"
                );
                self.forget(&hostname);
            }
            if self.options.purge_after > 0.0 && since > self.options.purge_after {
                tracing::info!(
                    "Have not seen {hostname} for {since:.2} seconds. Purging worker metrics"
                );
                self.registry.remove_with_value(&hostname);
                self.last_seen.remove(&hostname);
            }
        }
    }

    /// The queue gauges of a scrape: every queue followed gets its worker
    /// and process counts, its length when the broker gave one, and its
    /// consumers on AMQP.
    pub(crate) fn queue_report(&mut self, report: QueueReport) {
        self.queues.extend(report.seen);
        for queue in &self.queues {
            let labels = with_statics(&self.options.static_labels, &[queue]);
            if let Some(consumers) = report.consumers.get(queue) {
                self.registry
                    .set(self.active_consumer_count, &labels, *consumers as f64);
            }
            let processes = report.processes.get(queue).copied().unwrap_or(0);
            self.registry
                .set(self.active_process_count, &labels, processes as f64);
            let workers = report.workers.get(queue).copied().unwrap_or(0);
            self.registry
                .set(self.active_worker_count, &labels, workers as f64);
            if let Some(length) = report.lengths.get(queue) {
                self.registry
                    .set(self.queue_length, &labels, *length as f64);
            }
        }
    }

    pub(crate) fn encode(&self, format: Format) -> String {
        self.registry.encode(format)
    }

    /// Series not kept because a family was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.registry.dropped()
    }
}

/// `values`, then the static labels' values.
fn with_statics<'a>(statics: &'a [(String, String)], values: &[&'a str]) -> Vec<&'a str> {
    let mut labels = Vec::with_capacity(values.len() + statics.len());
    labels.extend_from_slice(values);
    labels.extend(statics.iter().map(|(_, value)| value.as_str()));
    labels
}

/// `celery@host` -> `host` (Celery's `nodesplit`; a name without `@` is a host).
pub(crate) fn host_part(nodename: &str) -> &str {
    // A byte search: `@` is ASCII, so the text after it starts on a character.
    match nodename.bytes().position(|byte| byte == b'@') {
        Some(at) => &nodename[at + 1..],
        None => nodename,
    }
}

/// `ValueError('bad')` -> `ValueError`; anything else is `UnknownException`
/// (celery-exporter's `^(\w+)\(`).
pub(crate) fn exception_class(exception: &str) -> String {
    let class: String = exception
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !class.is_empty() && exception[class.len()..].starts_with('(') {
        class
    } else {
        "UnknownException".to_owned()
    }
}

/// An ISO 8601 time as Celery writes an ETA (`2026-12-02T10:00:00.123456+00:00`;
/// no offset is UTC) in seconds since the epoch.
pub(crate) fn parse_iso8601(text: &str) -> Option<f64> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', ' '])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let (clock, offset) = match time.find(['+', '-', 'Z', 'z']) {
        Some(at) => (&time[..at], &time[at..]),
        None => (time, ""),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour: f64 = clock_parts.next()?.parse().ok()?;
    let minute: f64 = clock_parts.next()?.parse().ok()?;
    let second: f64 = clock_parts.next().unwrap_or("0").parse().ok()?;
    let offset_seconds = match offset {
        "" | "Z" | "z" => 0.0,
        _ => {
            let sign = if offset.starts_with('-') { -1.0 } else { 1.0 };
            let digits = &offset[1..];
            let (hours, minutes) = digits
                .split_once(':')
                .unwrap_or((digits.get(..2)?, digits.get(2..).unwrap_or("0")));
            let minutes = if minutes.is_empty() { "0" } else { minutes };
            sign * (hours.parse::<f64>().ok()? * 3600.0 + minutes.parse::<f64>().ok()? * 60.0)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days as f64 * 86_400.0 + hour * 3600.0 + minute * 60.0 + second - offset_seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sent_and_failed_positions_name_those_events() {
        assert_eq!(TASK_EVENTS[SENT].0, "task-sent");
        assert_eq!(TASK_EVENTS[FAILED].0, "task-failed");
    }

    #[test]
    fn exception_classes_and_hostnames_follow_celery_exporter() {
        assert_eq!(exception_class("ValueError('bad')"), "ValueError");
        assert_eq!(exception_class("KeyError(1)"), "KeyError");
        assert_eq!(exception_class("oops"), "UnknownException");
        assert_eq!(exception_class(""), "UnknownException");
        assert_eq!(host_part("celery@worker-1"), "worker-1");
        assert_eq!(host_part("gen531@host"), "host");
        assert_eq!(host_part("bare"), "bare");
    }

    #[test]
    fn etas_parse_as_python_datetime_reads_them() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00"), Some(0.0));
        assert_eq!(
            parse_iso8601("2026-12-02T10:00:00+00:00"),
            Some(1_796_205_600.0)
        );
        assert_eq!(
            parse_iso8601("2026-12-02T12:00:00+02:00"),
            Some(1_796_205_600.0)
        );
        assert_eq!(
            parse_iso8601("2026-12-02T10:00:00.5Z"),
            Some(1_796_205_600.5)
        );
        assert_eq!(parse_iso8601("not a time"), None);
    }
}
