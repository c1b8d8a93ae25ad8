//! `celeryscope exporter` beside a real Celery 5.7 worker, on a real
//! `redis-server` and then on a real RabbitMQ node: the mix of
//! `tests/celery/mix_tasks.py` (successes on two queues, one of them a
//! priority queue, failures of two exception classes, a retry, a revoke and
//! a task with an ETA), sent by Celery's own client (`mix_driver.py`).
//!
//! - While no worker runs, `queue_length` equals each queue's length as kombu
//!   reads it (on Redis, priority sub-queues included).
//! - During the run, the worker is up and its queues are followed.
//! - After it, every counter equals the tasks run, under celery-exporter's
//!   labels; the ETA task's queue wait leaves out its countdown; every metric
//!   of celery-exporter is served with its label names.

#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/celery.rs"]
mod celery;
mod common;
#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};

use common::{eventually, samples, total, value, Exporter, Killed};
use rabbitmq::RabbitServer;
use serde_json::Value;
use support::RedisServer;

fn celery_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/celery")
}

#[test]
fn the_exporter_follows_a_real_celery_workers_mix_on_redis() {
    let server = RedisServer::start();
    let url = server.url(0);
    side_by_side(&url, &url, false);
}

#[test]
fn the_exporter_follows_a_real_celery_workers_mix_on_rabbitmq() {
    let server = RabbitServer::start();
    // kombu spells the default vhost `//`.
    let kombu_url = format!("amqp://guest:guest@127.0.0.1:{}//", server.port);
    side_by_side(&server.url(), &kombu_url, true);
}

/// The line of the driver's output that starts with `prefix`, as JSON.
fn driver_says(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> Value {
    let line = lines
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("the driver never said {prefix} (see its stderr above)"));
    serde_json::from_str(&line).expect("JSON")
}

/// The label names of every sample of `metric` on `page`, each set once.
fn label_sets(page: &str, metric: &str) -> Vec<Vec<String>> {
    let mut sets: Vec<Vec<String>> = samples(page)
        .into_iter()
        .filter(|(name, _, _)| name == metric)
        .map(|(_, labels, _)| {
            labels
                .split("\",")
                .filter_map(|pair| Some(pair.split_once('=')?.0.to_owned()))
                .collect()
        })
        .collect();
    sets.dedup();
    sets
}

fn side_by_side(url: &str, python_url: &str, amqp: bool) {
    let exporter = Exporter::start(url, &["-Q", "celery,urgent"]);

    // 1. No worker: the tasks wait in their queues.
    let mut driver = Killed(
        Command::new(celery::venv_program("python"))
            .arg(celery_dir().join("mix_driver.py"))
            .current_dir(celery_dir())
            .env("MIX_BROKER", python_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts"),
    );
    let mut lines = BufReader::new(driver.0.stdout.take().expect("piped")).lines();
    let queued = driver_says(&mut lines, "QUEUED ");
    assert_eq!(queued["celery"], 5, "{queued}");
    assert_eq!(queued["urgent"], 3, "{queued}");
    let page = eventually(&exporter, "queue lengths as kombu reads them", |page| {
        value(page, "celery_queue_length", &[r#"queue_name="celery""#]) == Some(5.0)
            && value(page, "celery_queue_length", &[r#"queue_name="urgent""#]) == Some(3.0)
    });
    assert_eq!(
        value(
            &page,
            "celery_active_worker_count",
            &[r#"queue_name="urgent""#]
        ),
        Some(0.0)
    );
    if amqp {
        assert_eq!(
            value(
                &page,
                "celery_active_consumer_count",
                &[r#"queue_name="celery""#]
            ),
            Some(0.0)
        );
    }

    // 2. A worker on both queues takes them and the rest of the mix.
    let _worker = Killed(
        Command::new(celery::venv_program("celery"))
            .current_dir(celery_dir())
            .env("MIX_BROKER", python_url)
            .args(["-A", "mix_tasks", "worker", "--pool", "solo", "-E"])
            .args(["-Q", "celery,urgent", "-n", "mix@test-host"])
            .args(["--loglevel", "ERROR"])
            .stdout(Stdio::null())
            // The failing tasks' tracebacks are expected: not in the test log.
            .stderr(Stdio::null())
            .spawn()
            .expect("celery worker starts"),
    );
    writeln!(driver.0.stdin.as_mut().expect("piped")).expect("the driver goes on");
    let sent = driver_says(&mut lines, "SENT ");
    assert!(sent["revoked"].is_string(), "{sent}");

    // During the run: the worker is up, and consumes both queues.
    let page = eventually(&exporter, "the worker up, on both queues", |page| {
        value(page, "celery_worker_up", &[r#"hostname="test-host""#]) == Some(1.0)
            && value(
                page,
                "celery_active_worker_count",
                &[r#"queue_name="urgent""#],
            ) == Some(1.0)
    });
    assert!(value(
        &page,
        "celery_worker_tasks_active",
        &[r#"hostname="test-host""#]
    )
    .is_some());
    if amqp {
        assert_eq!(
            value(
                &page,
                "celery_active_consumer_count",
                &[r#"queue_name="urgent""#]
            ),
            Some(1.0),
            "{page}"
        );
    }

    // 3. After it: every task counted once, under its name, host and queue.
    let host = r#"hostname="test-host""#;
    let page = eventually(&exporter, "every task of the mix counted", |page| {
        total(page, "celery_task_succeeded_total", &[host]) == 10.0
            && total(page, "celery_task_failed_total", &[host]) == 2.0
            && total(page, "celery_task_revoked_total", &[host]) == 1.0
            && value(page, "celery_queue_length", &[r#"queue_name="celery""#]) == Some(0.0)
            && value(page, "celery_queue_length", &[r#"queue_name="urgent""#]) == Some(0.0)
    });
    let count = |metric: &str, labels: &[&str]| total(&page, metric, labels);
    let add = r#"name="mix_tasks.add""#;
    let (celery, urgent) = (r#"queue_name="celery""#, r#"queue_name="urgent""#);
    assert_eq!(
        count("celery_task_succeeded_total", &[add, host, celery]),
        5.0
    );
    assert_eq!(
        count("celery_task_succeeded_total", &[add, host, urgent]),
        3.0
    );
    let flaky = r#"name="mix_tasks.flaky""#;
    assert_eq!(count("celery_task_succeeded_total", &[flaky, host]), 1.0);
    assert_eq!(count("celery_task_retried_total", &[flaky, host]), 1.0);
    assert_eq!(count("celery_task_retried_total", &[host]), 1.0);
    assert_eq!(
        count(
            "celery_task_failed_total",
            &[
                r#"name="mix_tasks.fail_value""#,
                r#"exception="ValueError""#
            ]
        ),
        1.0
    );
    assert_eq!(
        count(
            "celery_task_failed_total",
            &[r#"name="mix_tasks.fail_key""#, r#"exception="KeyError""#]
        ),
        1.0
    );
    assert_eq!(
        count("celery_task_revoked_total", &[add, host, celery]),
        1.0
    );
    // Started: every run, the retried one's first run included.
    assert_eq!(count("celery_task_started_total", &[host]), 13.0);
    // Received: the same runs (a retry is a new message); the revoked task
    // is refused before Celery announces its receipt.
    assert_eq!(count("celery_task_received_total", &[host]), 13.0);
    // Sent: the driver's 13 tasks and the retry the worker sent itself.
    assert_eq!(count("celery_task_sent_total", &[]), 14.0);
    assert_eq!(count("celery_task_runtime_count", &[host]), 10.0);
    assert_eq!(count("celery_task_queue_wait_time_count", &[host]), 13.0);
    // The ETA task waited out its 2 s countdown on purpose: its queue wait
    // is measured from the ETA, not from when it was sent.
    let later = r#"name="mix_tasks.later""#;
    assert_eq!(count("celery_task_queue_wait_time_count", &[later]), 1.0);
    let waited = count("celery_task_queue_wait_time_sum", &[later]);
    assert!(
        waited < 1.5,
        "the ETA task's wait counts its countdown: {waited}"
    );
    assert_eq!(count("celery_task_succeeded_total", &[later, host]), 1.0);

    // Every metric of celery-exporter, with its label names.
    let task = ["name", "hostname", "queue_name"];
    let mut expected: Vec<(&str, Vec<&str>)> = vec![
        ("celery_task_sent_total", task.to_vec()),
        ("celery_task_received_total", task.to_vec()),
        ("celery_task_started_total", task.to_vec()),
        ("celery_task_succeeded_total", task.to_vec()),
        (
            "celery_task_failed_total",
            vec!["name", "hostname", "exception", "queue_name"],
        ),
        ("celery_task_rejected_total", task.to_vec()),
        ("celery_task_revoked_total", task.to_vec()),
        ("celery_task_retried_total", task.to_vec()),
        (
            "celery_task_runtime_bucket",
            vec!["name", "hostname", "queue_name", "le"],
        ),
        (
            "celery_task_queue_wait_time_bucket",
            vec!["name", "hostname", "queue_name", "le"],
        ),
        ("celery_worker_up", vec!["hostname"]),
        ("celery_worker_tasks_active", vec!["hostname"]),
        ("celery_queue_length", vec!["queue_name"]),
        ("celery_active_worker_count", vec!["queue_name"]),
        ("celery_active_process_count", vec!["queue_name"]),
    ];
    if amqp {
        expected.push(("celery_active_consumer_count", vec!["queue_name"]));
    }
    for (metric, labels) in expected {
        let sets = label_sets(&page, metric);
        assert!(!sets.is_empty(), "no {metric} in:\n{page}");
        for set in sets {
            assert_eq!(set, labels, "{metric}");
        }
    }
}
