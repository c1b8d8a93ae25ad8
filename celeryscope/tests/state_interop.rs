//! `events::State` against Celery 5.7's own `State` on one real stream: a real
//! Celery worker (solo pool, events on) runs real tasks on a real
//! `redis-server` (one succeeds, one fails, one is retried, one is revoked);
//! Celery's receiver and State (`tests/celery/state_driver.py`) and ours
//! (`EventReceiver::on_state` on a `RedisSubscriber`) follow the same events.
//! At the end, the workers' alive flags and every task's state, name, result
//! or exception, and runtime are equal; and `celeryscope exporter`, following
//! the same broker, counts the same tasks under celery-exporter's labels.

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

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Killed;
use rabbitmq::RabbitServer;
use serde_json::{json, Value};
use signals_celery::events::{AmqpSubscriber, EventReceiver, RedisSubscriber, State};
use support::RedisServer;

fn celery_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../signals-celery/tests/celery")
}

/// What we compare, from our State: the same shape the driver prints.
fn our_summary(state: &State, ids: &[String]) -> Value {
    let view = state.read();
    let workers: serde_json::Map<String, Value> = view
        .workers()
        .map(|w| (w.hostname.to_string(), json!({"alive": w.alive()})))
        .collect();
    let tasks: serde_json::Map<String, Value> = view
        .tasks()
        .map(|t| {
            (
                t.uuid.to_string(),
                json!({
                    "state": t.state.as_str(),
                    "name": t.name.as_deref(),
                    "result": t.result.as_deref(),
                    "exception": t.exception.as_deref(),
                    "runtime": t.runtime,
                }),
            )
        })
        .collect();
    json!({"ids": ids, "workers": workers, "tasks": tasks})
}

#[test]
fn our_state_and_celerys_agree_on_a_real_workers_tasks() {
    let server = RedisServer::start();
    let url = server.url(0);
    let state = Arc::new(State::new());
    let subscriber = RedisSubscriber::open(&url).expect("URL");
    assert!(subscriber.wait_subscribed(Duration::from_secs(5)));
    let receiver = EventReceiver::builder().on_state(state.clone()).build();
    let capturing = receiver.spawn(subscriber).expect("thread");
    agree_on(&state, &url, &url);
    drop(capturing);
}

#[test]
fn our_state_and_celerys_agree_on_a_real_workers_tasks_over_amqp() {
    let server = RabbitServer::start();
    let url = server.url();
    // kombu spells the default vhost `//`.
    let kombu_url = format!("amqp://guest:guest@127.0.0.1:{}//", server.port);
    let state = Arc::new(State::new());
    let subscriber = AmqpSubscriber::open(&url).expect("URL");
    assert!(subscriber.wait_subscribed(Duration::from_secs(10)));
    let receiver = EventReceiver::builder().on_state(state.clone()).build();
    let capturing = receiver.spawn(subscriber).expect("thread");
    agree_on(&state, &url, &kombu_url);
    drop(capturing);
}

/// Runs the worker, the driver and the exporter on the broker (`url` as we
/// spell it, `python_url` as kombu does) while `state` follows it, and
/// compares.
fn agree_on(state: &State, url: &str, python_url: &str) {
    let mut exporter = start_exporter(url);
    let url = python_url;

    let _worker = Killed(
        Command::new(celery::venv_program("celery"))
            .current_dir(celery_dir())
            .env("STATE_BROKER", url)
            .args(["-A", "state_tasks", "worker", "--pool", "solo", "-E"])
            .args(["-n", "state@test-host", "--loglevel", "ERROR"])
            .stdout(Stdio::null())
            // The failing task's traceback is expected: not in the test log.
            .stderr(Stdio::null())
            .spawn()
            .expect("celery worker starts"),
    );
    let mut driver = Killed(
        Command::new(celery::venv_program("python"))
            .arg(celery_dir().join("state_driver.py"))
            .env("STATE_BROKER", url)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts"),
    );
    let stdout = driver.0.stdout.take().expect("piped");
    let summary_line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("SUMMARY ").map(str::to_owned))
        .expect("the driver prints its State (see its stderr above)");
    let theirs: Value = serde_json::from_str(&summary_line).expect("JSON");
    let ids: Vec<String> = serde_json::from_value(theirs["ids"].clone()).expect("ids");

    // Our receiver may be a little behind Celery's: wait until it agrees.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut ours = our_summary(state, &ids);
    while ours != theirs && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        ours = our_summary(state, &ids);
    }
    assert_eq!(ours, theirs, "ours (left) and Celery's (right)");

    // What the run must have produced, so that equality means something.
    let tasks = &theirs["tasks"];
    let by_id = |i: usize| &tasks[&ids[i]];
    assert_eq!(by_id(0)["state"], "SUCCESS");
    assert_eq!(by_id(0)["result"], "4");
    assert!(by_id(0)["runtime"].as_f64().is_some_and(|r| r > 0.0));
    assert_eq!(by_id(1)["state"], "FAILURE");
    assert!(by_id(1)["exception"]
        .as_str()
        .unwrap()
        .contains("bad input"));
    assert_eq!(by_id(2)["state"], "SUCCESS", "retried once, then succeeded");
    assert_eq!(by_id(2)["result"], "'ok after retry'");
    assert_eq!(by_id(3)["state"], "SUCCESS");
    assert_eq!(by_id(3)["name"], "evil\"name\\with\nnewline ünïcode");
    assert_eq!(by_id(4)["state"], "REVOKED");
    assert_eq!(theirs["workers"]["state@test-host"]["alive"], true);
    let flaky = state.task(&ids[2]).unwrap();
    assert!(flaky.retried.is_some(), "the retry was seen");
    // Celery indexes a task under the name and host of the event that
    // created it, if that event had a name. The first `add` always has one
    // (task-sent from the driver, or task-received from the worker). The
    // revoked `add` is indexed only when its task-sent arrived before the
    // worker's task-revoked, which has no name: two processes publish them,
    // so either may come first.
    let by_type: Vec<String> = state
        .read()
        .tasks_by_type("state_tasks.add")
        .map(|task| task.uuid.to_string())
        .collect();
    assert!(by_type.contains(&ids[0]), "{by_type:?}");
    assert!(
        by_type.len() == 1 || (by_type.len() == 2 && by_type.contains(&ids[4])),
        "{by_type:?}"
    );

    // The exporter, following the same broker since before the tasks ran.
    let metrics = scrape(&mut exporter);
    let value = |line_start: &str| -> f64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{line_start}` in:\n{metrics}"))
    };
    let labels =
        |name: &str| format!(r#"{{name="{name}",hostname="test-host",queue_name="celery"}}"#);
    assert_eq!(
        value(&format!(
            "celery_task_succeeded_total{}",
            labels("state_tasks.add")
        )),
        1.0
    );
    assert_eq!(
        value(&format!(
            "celery_task_received_total{}",
            labels("state_tasks.add")
        )),
        1.0
    );
    assert_eq!(
        value(&format!(
            "celery_task_succeeded_total{}",
            labels("state_tasks.flaky")
        )),
        1.0
    );
    assert_eq!(
        value(&format!(
            "celery_task_retried_total{}",
            labels("state_tasks.flaky")
        )),
        1.0
    );
    assert_eq!(
        value(&format!(
            "celery_task_revoked_total{}",
            labels("state_tasks.add")
        )),
        1.0
    );
    assert_eq!(
        value(
            r#"celery_task_failed_total{name="state_tasks.fail",hostname="test-host",exception="ValueError",queue_name="celery"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&format!(
            "celery_task_runtime_count{}",
            labels("state_tasks.add")
        )),
        1.0
    );
    assert_eq!(value(r#"celery_worker_up{hostname="test-host"}"#), 1.0);
    // The hostile name, escaped as the text format wants: \" \\ \n.
    assert_eq!(
        value(&format!(
            "celery_task_succeeded_total{}",
            labels(r#"evil\"name\\with\nnewline ünïcode"#)
        )),
        1.0
    );
    assert!(
        !metrics.lines().any(|line| line.starts_with("newline")),
        "a raw newline split a line:\n{metrics}"
    );
}

/// `celeryscope exporter` and the address it serves on.
struct Exporter {
    _child: Killed,
    addr: String,
}

fn start_exporter(url: &str) -> Exporter {
    let mut child = Command::new(env!("CARGO_BIN_EXE_celeryscope"))
        .args([
            "exporter",
            "--broker-url",
            url,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the exporter starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("listening on http://")
                .map(|rest| rest.trim_end_matches('/').to_owned())
        })
        .expect("the exporter prints its address");
    // Drain the rest so the exporter never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let exporter = Exporter {
        _child: Killed(child),
        addr,
    };
    // Following events once /health says the subscription is up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(&exporter, "/health").0.contains(" 200") {
        assert!(Instant::now() < deadline, "the exporter never got healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    exporter
}

/// GET `path`, by hand (HTTP/1.0, the body up to the end): the head and
/// the body.
fn get(exporter: &Exporter, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&exporter.addr).expect("connects");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_owned(), body.to_owned())
}

/// GET /metrics, by hand (HTTP/1.0, the body up to the end).
fn scrape(exporter: &mut Exporter) -> String {
    let (head, body) = get(exporter, "/metrics");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body
}
