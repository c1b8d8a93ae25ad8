//! A celery-rs worker built with the adapter (the `observed_worker` example),
//! as Celery's own tools see it, on a real redis-server and a real RabbitMQ
//! node: Python Celery 5.7 sends tasks by name (a success, a failure, a task
//! retried once, one with an ETA, and 1,000 no-ops); Celery's `EventReceiver`
//! and `State` show the worker alive and every task's final state, name,
//! result or exception and runtime; `celery inspect ping` and `registered`
//! reach it; each no-op ends with exactly one `task-succeeded`.

#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/celery.rs"]
mod celery_venv;
#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The no-ops sent after the mix.
const NOOPS: usize = 1_000;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing (cargo test builds the examples)",
        path.display()
    );
    path
}

/// A child process, killed when the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the Rust worker on `rust_url` and the Python driver on
/// `python_url`; returns the driver's summary.
fn run(rust_url: &str, python_url: &str, hostname: &str) -> Value {
    let _worker = Killed(
        Command::new(example("observed_worker"))
            .arg(rust_url)
            .args(["--hostname", hostname, "--queue", "rust"])
            .stdout(Stdio::null())
            .spawn()
            .expect("the worker starts"),
    );
    let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/celery/driver.py");
    let mut child = Command::new(celery_venv::venv_program("python"))
        .arg(driver)
        .args([python_url, "rust", hostname, &NOOPS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let summary = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("SUMMARY ").map(str::to_owned));
    let status = child.wait().expect("waited");
    assert!(
        status.success(),
        "the driver failed ({status}); see its stderr above"
    );
    let summary = summary.expect("a summary");
    eprintln!("Celery's view: {summary}");
    serde_json::from_str(&summary).expect("JSON")
}

fn check(summary: &Value, hostname: &str) {
    let worker = &summary["worker"];
    assert_eq!(worker["alive"], true, "{summary}");
    assert_eq!(worker["sw_ident"], "celery-rs", "{summary}");
    let tasks = &summary["tasks"];
    for label in ["add", "fail", "flaky", "eta"] {
        assert_eq!(tasks[label]["worker"], hostname, "{label}: {summary}");
    }
    assert_eq!(tasks["add"]["state"], "SUCCESS", "{summary}");
    assert_eq!(tasks["add"]["name"], "add", "{summary}");
    assert_eq!(tasks["add"]["result"], "5", "{summary}");
    assert!(tasks["add"]["runtime"]
        .as_f64()
        .is_some_and(|runtime| runtime >= 0.0));
    assert_eq!(tasks["fail"]["state"], "FAILURE", "{summary}");
    assert_eq!(
        tasks["fail"]["exception"], "UnexpectedError('bad input')",
        "{summary}"
    );
    assert_eq!(tasks["flaky"]["state"], "SUCCESS", "{summary}");
    assert_eq!(tasks["flaky"]["result"], "'ok after retry'", "{summary}");
    assert_eq!(tasks["flaky"]["retried"], 1, "one task-retried: {summary}");
    assert_eq!(tasks["eta"]["state"], "SUCCESS", "{summary}");
    assert_eq!(tasks["eta"]["result"], "2", "{summary}");

    let noops = &summary["noops"];
    assert_eq!(noops["succeeded_once"], NOOPS, "{summary}");
    assert_eq!(noops["ends"], NOOPS, "no end lost or doubled: {summary}");

    assert_eq!(summary["ping"][hostname], serde_json::json!({"ok": "pong"}));
    let mut registered: Vec<&str> = summary["registered"][hostname]
        .as_array()
        .expect("registered tasks")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    registered.sort_unstable();
    assert_eq!(registered, ["add", "fail", "flaky", "noop"], "{summary}");
}

#[test]
fn celery_sees_a_celery_rs_worker_on_redis() {
    let server = support::RedisServer::start();
    let summary = run(&server.url(0), &server.url(0), "rust@redis-interop");
    check(&summary, "rust@redis-interop");
}

#[test]
fn celery_sees_a_celery_rs_worker_on_rabbitmq() {
    let server = rabbitmq::RabbitServer::start();
    // kombu names the default virtual host `/` as `//`.
    let kombu_url = format!("amqp://guest:guest@127.0.0.1:{}//", server.port);
    let summary = run(&server.url(), &kombu_url, "rust@amqp-interop");
    check(&summary, "rust@amqp-interop");
}
