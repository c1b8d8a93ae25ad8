//! The `redis_worker` example against real brokers: Flower 2.2 lists it and
//! renders its page with a task in flight, on Redis and on RabbitMQ, and
//! `celery control` drives its event casts; `--help` and bad command lines.

#[allow(dead_code)] // not every test uses every helper
#[path = "support/celery.rs"]
mod celery;
#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rabbitmq::RabbitServer;
use support::RedisServer;

/// A running program, killed when dropped.
struct Running {
    child: Child,
}

impl Running {
    fn start(command: &mut Command) -> Self {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        Self { child }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bad_command_lines_exit_with_usage() {
    // One example left with a command line; the loop keeps the messages.
    #[allow(clippy::single_element_loop)]
    for name in ["redis_worker"] {
        let output = Command::new(celery::example(name)).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Usage:"),
            "{name}"
        );
        let help = Command::new(celery::example(name))
            .arg("--help")
            .output()
            .expect("runs");
        assert!(help.status.success(), "{name} --help");
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.contains("Usage:") && help.contains("amqp://"),
            "{name}: {help}"
        );
        let output = Command::new(celery::example(name))
            .arg("http://not-redis")
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("invalid Redis URL"),
            "{name}"
        );
    }
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Some((status, body.to_owned()))
}

/// A real Flower 2.2 (from the test virtualenv) lists the `redis_worker`
/// example: `/api/workers` has its stats and registered tasks (from remote
/// control), `/worker/<name>` renders with a task in flight (its `active`
/// entry carries every field of Celery's `Request.info()`), and
/// `/workers?json=1` shows its load average (from its heartbeats).
#[test]
fn flower_shows_the_rust_worker() {
    let server = RedisServer::start();
    flower_scenario(&server.url(0));
}

/// The same with Flower, the example and Celery's command line on RabbitMQ.
#[test]
fn flower_shows_the_rust_worker_over_amqp() {
    let server = RabbitServer::start();
    flower_scenario(&server.url());
}

fn flower_scenario(url: &str) {
    const NAME: &str = "rust-flower@test";
    let url = url.to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    // Both are killed when dropped, also when an assertion below fails.
    let _flower = Running::start(
        Command::new(celery::venv_program("celery"))
            .args(["-b", &url, "flower", "--address=127.0.0.1"])
            .arg(format!("--port={port}"))
            .env("FLOWER_UNAUTHENTICATED_API", "true"),
    );
    // One task that runs for the whole test: the worker page is read while
    // it is active.
    let _worker = Running::start(
        Command::new(celery::example("redis_worker"))
            .arg(&url)
            .args([
                "--tasks",
                "1",
                "--task-seconds",
                "600",
                "--interval",
                "1",
                "--hostname",
                NAME,
            ]),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let workers: serde_json::Value = loop {
        let listed = http_get(port, "/api/workers?refresh=1")
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
        if let Some(workers) = listed {
            if workers[NAME]["stats"].is_object() && workers[NAME]["registered"].is_array() {
                break workers;
            }
        }
        assert!(Instant::now() < deadline, "Flower did not list {NAME}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let ours = &workers[NAME];
    assert_eq!(
        ours["registered"],
        serde_json::json!(["tasks.add"]),
        "{ours}"
    );
    assert_eq!(
        ours["stats"]["pool"]["implementation"], "signals (Rust)",
        "{ours}"
    );
    assert_eq!(ours["active_queues"][0]["name"], "celery", "{ours}");

    // Flower asks a worker for its tasks only when it is named.
    let deadline = Instant::now() + Duration::from_secs(30);
    let named = loop {
        let named = http_get(port, &format!("/api/workers?workername={NAME}&refresh=1"))
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
        if let Some(named) = named {
            if named[NAME]["active"]
                .as_array()
                .is_some_and(|active| !active.is_empty())
            {
                break named;
            }
        }
        assert!(Instant::now() < deadline, "Flower shows no active task");
        std::thread::sleep(Duration::from_millis(500));
    };
    let active = &named[NAME]["active"];
    assert_eq!(active[0]["name"], "tasks.add", "a task in flight: {active}");
    for field in [
        "id",
        "name",
        "args",
        "kwargs",
        "type",
        "hostname",
        "time_start",
        "acknowledged",
        "delivery_info",
        "worker_pid",
    ] {
        assert!(
            active[0].get(field).is_some(),
            "`{field}` missing in {active}"
        );
    }
    let (status, page) = http_get(port, &format!("/worker/{NAME}")).expect("Flower answers");
    assert_eq!(status, 200, "the worker's page, a task in flight: {page}");
    let task_id = active[0]["id"].as_str().expect("an id");
    assert!(page.contains(task_id), "the active task on the page");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = http_get(port, "/workers?json=1")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
        let loadavg = listed.as_ref().and_then(|listed| {
            listed["data"]
                .as_array()?
                .iter()
                .find(|worker| worker["hostname"] == NAME)
                .map(|worker| worker["loadavg"].clone())
        });
        if let Some(serde_json::Value::Array(loadavg)) = loadavg {
            assert_eq!(loadavg.len(), 3);
            assert!(
                loadavg.iter().all(serde_json::Value::is_number),
                "{loadavg:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no numeric load average for {NAME}: {listed:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The example wires the event casts to its dispatcher.
    for (command, reply) in [
        ("disable_events", "task events disabled"),
        ("enable_events", "task events enabled"),
        ("enable_events", "task events already enabled"),
    ] {
        let output = Command::new(celery::venv_program("celery"))
            .args(["-b", &url, "control", command, "--timeout", "3", "-d", NAME])
            .output()
            .expect("celery control runs");
        let shown = String::from_utf8_lossy(&output.stdout);
        assert!(shown.contains(reply), "{command}: {shown}");
    }
}
