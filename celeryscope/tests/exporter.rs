//! `celeryscope exporter` against a real `redis-server` of the test's own,
//! fed by a client and a worker that send Celery's events: every
//! celery-exporter metric with its labels, the flags that change names,
//! labels and timing, the `CE_*` variables, the Grafana mixin's series,
//! content negotiation, and `/health` going red when the broker or the
//! subscription goes away.

mod common;
#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/mod.rs"]
mod support;
#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{celeryscope, eventually, http_get, samples, signal, total, value, Cluster, Exporter};
use rabbitmq::RabbitServer;
use serde_json::json;
use signals_celery::events::{
    AmqpOptions, AmqpTransport, EventDispatcher, RedisOptions, RedisTransport, Transport,
};
use support::RedisServer;
use tls::{TestCa, TlsRedis, PASSWORD};

/// Pushes `count` messages on the Redis list `key`.
fn push(url: &str, key: &str, count: usize) {
    let client = redis::Client::open(url).expect("a client");
    let mut connection = client.get_connection().expect("connected");
    for n in 0..count {
        redis::cmd("LPUSH")
            .arg(key)
            .arg(n)
            .exec(&mut connection)
            .expect("pushed");
    }
}

/// A mix of outcomes: two successes, failures of two exception classes, a
/// retry, a revoke and a rejection, each on `celery` or `priority`.
fn run_a_mix(cluster: &Cluster) {
    cluster.heartbeat("worker-online", 0);
    cluster.start_task("t1", "tasks.add", "celery");
    cluster.send(
        true,
        "task-succeeded",
        json!({"uuid": "t1", "result": "4", "runtime": 0.3}),
    );
    cluster.start_task("t2", "tasks.add", "celery");
    cluster.send(
        true,
        "task-succeeded",
        json!({"uuid": "t2", "result": "5", "runtime": 2.0}),
    );
    cluster.start_task("t3", "tasks.div", "priority");
    cluster.send(
        true,
        "task-failed",
        json!({"uuid": "t3", "exception": "ZeroDivisionError('division by zero')", "traceback": "..."}),
    );
    cluster.start_task("t4", "tasks.div", "priority");
    cluster.send(
        true,
        "task-failed",
        json!({"uuid": "t4", "exception": "ValueError('bad')", "traceback": "..."}),
    );
    cluster.start_task("t5", "tasks.flaky", "celery");
    cluster.send(
        true,
        "task-retried",
        json!({"uuid": "t5", "exception": "Retry('again')", "traceback": "..."}),
    );
    cluster.start_task("t6", "tasks.slow", "celery");
    cluster.send(
        true,
        "task-revoked",
        json!({"uuid": "t6", "terminated": true, "signum": 15, "expired": false}),
    );
    cluster.start_task("t7", "tasks.add", "celery");
    cluster.send(
        true,
        "task-rejected",
        json!({"uuid": "t7", "requeue": false}),
    );
    cluster.heartbeat("worker-heartbeat", 0);
}

#[test]
fn every_metric_is_served_with_celery_exporters_labels() {
    let server = RedisServer::start();
    let url = server.url(0);
    push(&url, "celery", 3);
    push(&url, "celery\x06\x169", 2);
    let exporter = Exporter::start(&url, &["-Q", "celery,priority"]);
    let cluster = Cluster::new(&url, "celery@worker-1");
    run_a_mix(&cluster);
    let page = eventually(&exporter, "every event counted", |page| {
        total(page, "celery_task_rejected_total", &[]) == 1.0
            && value(page, "celery_worker_up", &[r#"hostname="worker-1""#]) == Some(1.0)
    });

    let add = [
        r#"name="tasks.add""#,
        r#"hostname="worker-1""#,
        r#"queue_name="celery""#,
    ];
    assert_eq!(value(&page, "celery_task_received_total", &add), Some(3.0));
    assert_eq!(value(&page, "celery_task_started_total", &add), Some(3.0));
    assert_eq!(value(&page, "celery_task_succeeded_total", &add), Some(2.0));
    // The client's hostname labels task-sent.
    assert_eq!(
        value(
            &page,
            "celery_task_sent_total",
            &[
                r#"name="tasks.add""#,
                r#"hostname="client-host""#,
                r#"queue_name="celery""#
            ]
        ),
        Some(3.0)
    );
    for class in ["ZeroDivisionError", "ValueError"] {
        let exception = format!("exception=\"{class}\"");
        assert_eq!(
            value(
                &page,
                "celery_task_failed_total",
                &[
                    r#"name="tasks.div""#,
                    &exception,
                    r#"queue_name="priority""#
                ]
            ),
            Some(1.0),
            "{class}"
        );
    }
    assert_eq!(
        total(
            &page,
            "celery_task_retried_total",
            &[r#"name="tasks.flaky""#]
        ),
        1.0
    );
    assert_eq!(
        total(
            &page,
            "celery_task_revoked_total",
            &[r#"name="tasks.slow""#]
        ),
        1.0
    );
    // celery-exporter counts each kind once per event, whatever its labels.
    assert_eq!(total(&page, "celery_task_sent_total", &[]), 7.0);
    assert_eq!(total(&page, "celery_task_started_total", &[]), 7.0);
    assert_eq!(total(&page, "celery_task_failed_total", &[]), 2.0);
    // The counters a task did not reach exist at zero, failed with an empty
    // exception; task-sent is never pre-created for a worker.
    assert_eq!(
        value(
            &page,
            "celery_task_failed_total",
            &[
                r#"name="tasks.add""#,
                r#"hostname="worker-1""#,
                r#"exception="""#
            ]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&page, "celery_task_sent_total", &[r#"hostname="worker-1""#]),
        None
    );
    // Runtime: two observations, 0.3 s and 2.0 s.
    assert_eq!(value(&page, "celery_task_runtime_count", &add), Some(2.0));
    assert_eq!(value(&page, "celery_task_runtime_sum", &add), Some(2.3));
    assert_eq!(
        value(
            &page,
            "celery_task_runtime_bucket",
            &[add[0], r#"le="0.5""#]
        ),
        Some(1.0)
    );
    // Queue wait: one observation per started task that was sent.
    assert_eq!(
        value(&page, "celery_task_queue_wait_time_count", &add),
        Some(3.0)
    );
    assert_eq!(
        value(
            &page,
            "celery_worker_tasks_active",
            &[r#"hostname="worker-1""#]
        ),
        Some(0.0)
    );
    // The queues of -Q: lengths with the priority sub-queues, no worker
    // answered remote control.
    assert_eq!(
        value(&page, "celery_queue_length", &[r#"queue_name="celery""#]),
        Some(5.0)
    );
    assert_eq!(
        value(&page, "celery_queue_length", &[r#"queue_name="priority""#]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &page,
            "celery_active_worker_count",
            &[r#"queue_name="celery""#]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &page,
            "celery_active_process_count",
            &[r#"queue_name="celery""#]
        ),
        Some(0.0)
    );
    // prometheus_client's `_created` series.
    assert!(
        page.contains("# TYPE celery_task_received_created gauge"),
        "{page}"
    );

    // A worker that goes offline: up 0, active 0.
    cluster.heartbeat("worker-offline", 0);
    eventually(&exporter, "the worker down", |page| {
        value(page, "celery_worker_up", &[r#"hostname="worker-1""#]) == Some(0.0)
    });
}

/// The series celery-exporter's celery-mixin (dashboards, alerts, rules)
/// queries, written down from its `dashboards/*.libsonnet`,
/// `prometheus_alerts.yaml` and `prometheus_rules.yaml`, with the labels it
/// reads.
const MIXIN_SERIES: [(&str, &[&str]); 10] = [
    (
        "celery_task_failed_total",
        &["name", "queue_name", "exception", "hostname"],
    ),
    (
        "celery_task_succeeded_total",
        &["name", "queue_name", "hostname"],
    ),
    ("celery_task_sent_total", &["name", "queue_name"]),
    ("celery_task_received_total", &["name", "queue_name"]),
    ("celery_task_retried_total", &["name", "queue_name"]),
    ("celery_task_revoked_total", &["name", "queue_name"]),
    ("celery_task_rejected_total", &["name", "queue_name"]),
    ("celery_task_runtime_bucket", &["name", "queue_name", "le"]),
    ("celery_worker_up", &["hostname"]),
    ("celery_queue_length", &["queue_name"]),
];

#[test]
fn the_grafana_mixins_series_are_served() {
    let server = RedisServer::start();
    let url = server.url(0);
    let exporter = Exporter::start(&url, &["-Q", "celery"]);
    let cluster = Cluster::new(&url, "celery@worker-1");
    run_a_mix(&cluster);
    let page = eventually(&exporter, "the mix counted", |page| {
        total(page, "celery_task_rejected_total", &[]) == 1.0
    });
    for (name, labels) in MIXIN_SERIES {
        let found = samples(&page).into_iter().any(|(sample, set, _)| {
            sample == name
                && labels.iter().all(|label| {
                    set.split(',')
                        .any(|part| part.starts_with(&format!("{label}=\"")))
                })
        });
        assert!(found, "{name} with {labels:?}:\n{page}");
    }
    for name in [
        "celery_worker_tasks_active",
        "celery_task_queue_wait_time_bucket",
        "celery_active_worker_count",
        "celery_active_process_count",
        "celery_task_started_total",
    ] {
        assert!(
            samples(&page).iter().any(|(sample, ..)| sample == name),
            "{name}"
        );
    }
}

#[test]
fn prefix_static_labels_and_generic_hostnames_change_every_series() {
    let server = RedisServer::start();
    let url = server.url(0);
    let exporter = Exporter::start(
        &url,
        &[
            "--metric-prefix",
            "jobs_",
            "--static-label",
            "env=test",
            "--static-label",
            "team=core",
            "--generic-hostname-worker-task-metric",
            "-Q",
            "celery",
        ],
    );
    let cluster = Cluster::new(&url, "celery@worker-1");
    run_a_mix(&cluster);
    let page = eventually(&exporter, "the mix counted", |page| {
        total(page, "jobs_task_rejected_total", &[]) == 1.0
    });
    let all = samples(&page);
    assert!(!all.is_empty());
    for (name, labels, _) in &all {
        assert!(name.starts_with("jobs_"), "{name}");
        assert!(
            labels.contains(r#"env="test""#) && labels.contains(r#"team="core""#),
            "{name}{{{labels}}}"
        );
    }
    // The worker's task counters are generic; task-sent keeps the client's.
    assert_eq!(
        value(
            &page,
            "jobs_task_succeeded_total",
            &[r#"hostname="generic""#]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &page,
            "jobs_task_succeeded_total",
            &[r#"hostname="worker-1""#]
        ),
        None
    );
    assert_eq!(
        value(
            &page,
            "jobs_task_sent_total",
            &[r#"hostname="client-host""#, r#"name="tasks.add""#]
        ),
        Some(3.0)
    );
    // The worker gauges keep the real hostname.
    assert_eq!(
        value(&page, "jobs_worker_up", &[r#"hostname="worker-1""#]),
        Some(1.0)
    );
    drop(exporter);

    let exporter = Exporter::start(&url, &["--generic-hostname-task-sent-metric"]);
    run_a_mix(&cluster);
    let page = eventually(&exporter, "the mix counted", |page| {
        total(page, "celery_task_rejected_total", &[]) == 1.0
    });
    assert_eq!(
        value(
            &page,
            "celery_task_sent_total",
            &[r#"hostname="generic""#, r#"name="tasks.add""#]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &page,
            "celery_task_succeeded_total",
            &[r#"hostname="worker-1""#]
        ),
        Some(2.0)
    );
}

#[test]
fn a_silent_worker_times_out_then_its_series_are_purged() {
    let server = RedisServer::start();
    let url = server.url(0);
    let exporter = Exporter::start(
        &url,
        &[
            "--worker-timeout",
            "1",
            "--purge-offline-worker-metrics",
            "4",
        ],
    );
    let cluster = Cluster::new(&url, "celery@worker-9");
    cluster.heartbeat("worker-heartbeat", 2);
    cluster.start_task("p1", "tasks.add", "celery");
    cluster.send(
        true,
        "task-succeeded",
        json!({"uuid": "p1", "result": "1", "runtime": 0.1}),
    );
    let host = r#"hostname="worker-9""#;
    eventually(&exporter, "the worker up", |page| {
        value(page, "celery_worker_up", &[host]) == Some(1.0)
            && value(page, "celery_task_succeeded_total", &[host]) == Some(1.0)
    });
    // Past the timeout: down, its counters kept.
    std::thread::sleep(Duration::from_millis(1500));
    let page = exporter.metrics();
    assert_eq!(
        value(&page, "celery_worker_up", &[host]),
        Some(0.0),
        "{page}"
    );
    assert_eq!(
        value(&page, "celery_task_succeeded_total", &[host]),
        Some(1.0)
    );
    // Past the purge: every series of the host is gone.
    std::thread::sleep(Duration::from_secs(3));
    let page = exporter.metrics();
    assert!(
        !samples(&page)
            .iter()
            .any(|(_, labels, _)| labels.contains(host)),
        "{page}"
    );
}

/// A stopped and continued process (SIGSTOP then SIGCONT: a debugger, a
/// frozen container) finds its blocked socket reads cut short (EINTR). The
/// subscription must carry on over the same connection: Redis holds what was
/// published meanwhile for that connection only.
#[test]
fn an_exporter_stopped_and_continued_counts_what_was_sent_meanwhile() {
    let server = RedisServer::start();
    let url = server.url(0);
    let exporter = Exporter::start(&url, &[]);
    let cluster = Cluster::new(&url, "celery@worker-s");
    cluster.heartbeat("worker-online", 0);
    let host = r#"hostname="worker-s""#;
    eventually(&exporter, "the worker up", |page| {
        value(page, "celery_worker_up", &[host]) == Some(1.0)
    });
    signal(exporter.running.pid(), "STOP");
    // Longer than the subscription's read timeout, so a read is under way.
    std::thread::sleep(Duration::from_millis(800));
    for n in 0..50 {
        let uuid = format!("s{n}");
        cluster.start_task(&uuid, "tasks.add", "celery");
        cluster.send(
            true,
            "task-succeeded",
            json!({"uuid": uuid, "result": "2", "runtime": 0.01}),
        );
    }
    signal(exporter.running.pid(), "CONT");
    eventually(&exporter, "all 50 tasks counted", |page| {
        total(page, "celery_task_succeeded_total", &[host]) == 50.0
            && total(page, "celery_task_sent_total", &[]) == 50.0
    });
}

#[test]
fn ce_variables_configure_it_as_click_reads_them() {
    let server = RedisServer::start();
    let url = server.url(0);
    let exporter = Exporter::start_with(
        celeryscope()
            .arg("exporter")
            .env("CE_BROKER_URL", &url)
            .env("CE_STATIC_LABEL", "env=staging region=eu")
            .env("CE_METRIC_PREFIX", "ce_")
            .env("CE_QUEUES", "alpha,beta"),
        &[],
    );
    let page = exporter.metrics();
    for queue in ["alpha", "beta"] {
        let label = format!("queue_name=\"{queue}\"");
        assert_eq!(
            value(
                &page,
                "ce_queue_length",
                &[&label, r#"env="staging""#, r#"region="eu""#]
            ),
            Some(0.0),
            "{page}"
        );
    }
}

#[test]
fn openmetrics_is_served_to_a_scraper_that_asks_for_it() {
    let server = RedisServer::start();
    let url = server.url(0);
    let exporter = Exporter::start(&url, &["-Q", "celery"]);
    let (status, content_type, body) = http_get(
        exporter.port,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    )
    .expect("answers");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("# TYPE celery_task_sent counter"), "{body}");
    let (status, content_type, body) = http_get(exporter.port, "/metrics", None).expect("answers");
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        body.contains("# TYPE celery_task_sent_total counter"),
        "{body}"
    );
    let (status, _, body) = http_get(exporter.port, "/", None).expect("answers");
    assert_eq!(status, 200);
    assert!(body.contains("href=\"/metrics\""), "{body}");
}

#[test]
fn health_goes_red_when_the_subscription_is_cut_and_when_redis_stops() {
    let mut server = RedisServer::start();
    let url = server.url(0);
    // A retry interval of 3 s: the subscription stays down that long.
    let exporter = Exporter::start(&url, &["--retry-interval", "3"]);
    assert_eq!(exporter.health().0, 200);

    // Cut the subscriber's connection; the broker itself stays up.
    let client = redis::Client::open(url.as_str()).expect("a client");
    let mut connection = client.get_connection().expect("connected");
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut connection)
        .expect("killed");
    assert_eq!(killed, 1);
    let deadline = Instant::now() + Duration::from_secs(2);
    let (status, body) = loop {
        let (status, body) = exporter.health();
        if status == 500 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, 500, "red after the cut: {body}");
    assert!(body.contains("subscription is down"), "{body}");
    // It comes back once the subscriber reconnects.
    let deadline = Instant::now() + Duration::from_secs(15);
    while exporter.health().0 != 200 {
        assert!(Instant::now() < deadline, "never green again");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The broker stops: red within the retry interval.
    server.kill();
    let (status, body) = exporter.health();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Failed to connect to broker"), "{body}");
    assert!(!body.contains("secret"), "{body}");
    let (status, _, body) = http_get(exporter.port, "/metrics", None).expect("answers");
    assert_eq!(status, 500, "a scrape with no broker fails: {body}");
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    while exporter.health().0 != 200 {
        assert!(Instant::now() < deadline, "never green after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `/health`'s status once it is `wanted`, or whatever it is after `within`.
fn health_within(exporter: &Exporter, wanted: u16, within: Duration) -> (u16, String) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = exporter.health();
        if status == wanted || Instant::now() > deadline {
            return (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn health_goes_red_when_rabbitmq_closes_the_connection_and_when_it_stops() {
    let mut server = RabbitServer::start();
    let url = server.url();
    let exporter = Exporter::start(&url, &["--retry-interval", "3"]);
    assert_eq!(exporter.health().0, 200);

    // The node closes every client connection; it stays up.
    server.ctl(&["close_all_connections", "closed by the health test"]);
    let (status, body) = health_within(&exporter, 500, Duration::from_secs(3));
    assert_eq!(status, 500, "red after the close: {body}");
    assert!(body.contains("subscription is down"), "{body}");
    let (status, body) = health_within(&exporter, 200, Duration::from_secs(20));
    assert_eq!(status, 200, "green once resubscribed: {body}");

    // The node stops: red at once (a fresh connection is refused).
    server.stop();
    let (status, body) = exporter.health();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Failed to connect to broker"), "{body}");
    assert!(
        body.contains("guest:***@"),
        "the password is masked: {body}"
    );
    server.restart();
    let (status, body) = health_within(&exporter, 200, Duration::from_secs(30));
    assert_eq!(status, 200, "green after the restart: {body}");
}

/// A TCP relay to a broker whose connections can be frozen: a frozen
/// connection stays open at both ends and carries nothing more either way,
/// as a connection through a vanished host or a firewall that dropped the
/// flow. Connections made after a freeze pass as before.
struct FreezingRelay {
    port: u16,
    /// Connections numbered below this are frozen.
    frozen_below: Arc<AtomicU64>,
    opened: Arc<AtomicU64>,
}

impl FreezingRelay {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let frozen_below = Arc::new(AtomicU64::new(0));
        let opened = Arc::new(AtomicU64::new(0));
        let (frozen, count) = (frozen_below.clone(), opened.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let id = count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                for (mut from, mut to) in [(client_in, server), (server_in, client)] {
                    let frozen = frozen.clone();
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        while let Ok(read @ 1..) = from.read(&mut buffer) {
                            if id < frozen.load(Ordering::SeqCst) {
                                // Held, not closed: the test's end closes it.
                                continue;
                            }
                            if to.write_all(&buffer[..read]).is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        });
        Self {
            port,
            frozen_below,
            opened,
        }
    }

    /// Freezes every connection open now.
    fn freeze(&self) {
        let opened = self.opened.load(Ordering::SeqCst);
        self.frozen_below.store(opened, Ordering::SeqCst);
    }
}

#[test]
fn health_goes_red_when_the_subscription_goes_silent_on_a_dead_socket() {
    let server = RedisServer::start();
    let direct = server.url(0);
    let redis_port: u16 = direct
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next()?.parse().ok())
        .expect("a port in the URL");
    let relay = FreezingRelay::start(redis_port);
    let through_relay = format!("redis://127.0.0.1:{}/0", relay.port);
    let exporter = Exporter::start(&through_relay, &["--retry-interval", "1"]);
    assert_eq!(exporter.health().0, 200);

    // The subscription's socket still looks open, but nothing comes through:
    // a PING on the silent subscription finds it out.
    relay.freeze();
    let (status, body) = health_within(&exporter, 500, Duration::from_secs(20));
    assert_eq!(status, 500, "red once the silence is checked: {body}");
    assert!(body.contains("subscription is down"), "{body}");
    let (status, body) = health_within(&exporter, 200, Duration::from_secs(20));
    assert_eq!(status, 200, "green on a new connection: {body}");

    // Events reach it again.
    let cluster = Cluster::new(&direct, "celery@w1");
    cluster.start_task("t1", "tasks.add", "celery");
    eventually(&exporter, "the task after the new connection", |page| {
        total(page, "celery_task_started_total", &[]) == 1.0
    });
}

/// A task's life over `transport`, as a client and a worker send it.
fn a_task_over(transport: std::sync::Arc<dyn Transport>) {
    let dispatcher = EventDispatcher::builder_arc(transport)
        .hostname("celery@tls-host")
        .build();
    for (kind, fields) in [
        ("worker-online", json!({})),
        (
            "task-received",
            json!({"uuid": "tls-1", "name": "tasks.add", "args": "()", "kwargs": "{}"}),
        ),
        ("task-started", json!({"uuid": "tls-1"})),
        (
            "task-succeeded",
            json!({"uuid": "tls-1", "result": "4", "runtime": 0.1}),
        ),
    ] {
        dispatcher
            .send(kind, fields.as_object().expect("an object"))
            .expect("sent");
    }
    dispatcher.flush(true, true).expect("published over TLS");
}

/// The exporter on a TLS broker whose certificate only `ca_file` vouches
/// for: healthy (the probe, the subscription and remote control all trust
/// it), counting a task sent over TLS, the password never shown.
fn exporter_over_tls(
    url: &str,
    ca_file: &std::path::Path,
    transport: std::sync::Arc<dyn Transport>,
) {
    let ca_option = format!("ca_certs={}", ca_file.display());
    let exporter = Exporter::start(url, &["--broker-ssl-option", &ca_option]);
    assert_eq!(exporter.health().0, 200);
    a_task_over(transport);
    let page = eventually(&exporter, "the task sent over TLS", |page| {
        value(
            page,
            "celery_task_succeeded_total",
            &[r#"name="tasks.add""#, r#"hostname="tls-host""#],
        ) == Some(1.0)
    });
    assert_eq!(
        value(&page, "celery_worker_up", &[r#"hostname="tls-host""#]),
        Some(1.0)
    );
    let (_, health) = exporter.health();
    assert!(!health.contains(PASSWORD), "{health}");

    // Without the CA, the broker's certificate is refused: red, not a hang.
    let untrusting = Exporter::start_unhealthy(url, &[]);
    let (status, body) = untrusting.health();
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains(PASSWORD), "{body}");
}

#[test]
fn the_exporter_follows_redis_over_tls_with_a_private_ca() {
    let server = TlsRedis::start();
    let transport = RedisTransport::with_options(
        &server.url(),
        RedisOptions {
            tls_root_certificates: Some(server.ca.clone()),
            ..RedisOptions::default()
        },
    )
    .expect("valid URL");
    exporter_over_tls(
        &server.url(),
        &server.dir.join("ca.crt"),
        std::sync::Arc::new(transport),
    );
}

#[test]
fn the_exporter_follows_rabbitmq_over_tls_with_a_private_ca() {
    let dir = std::env::temp_dir().join(format!("celeryscope-amqps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let ca = TestCa::make(&dir);
    let server = RabbitServer::start_tls(rabbitmq::TlsFiles {
        ca: &ca.ca_file,
        cert: &ca.cert_file,
        key: &ca.key_file,
    });
    let transport = AmqpTransport::with_options(
        &server.tls_url(),
        AmqpOptions {
            tls_root_certificates: Some(ca.ca.clone()),
            ..AmqpOptions::default()
        },
    )
    .expect("valid URL");
    exporter_over_tls(
        &server.tls_url(),
        &ca.ca_file,
        std::sync::Arc::new(transport),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_are_clear_errors_not_panics() {
    for (args, message) in [
        (vec!["--broker-url", "ftp://host/"], "invalid"),
        (
            vec!["--broker-url", "redis://h", "--static-label", "oops"],
            "KEY=VALUE",
        ),
        (
            vec!["--broker-url", "redis://h", "--buckets", "1,a"],
            "not a number",
        ),
        (
            vec!["--broker-url", "redis://h", "--port", "70000"],
            "70000",
        ),
    ] {
        let output = celeryscope()
            .arg("exporter")
            .args(&args)
            .env_remove("CE_BROKER_URL")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let output = celeryscope()
        .arg("exporter")
        .env_remove("CE_BROKER_URL")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--broker-url"));
}
