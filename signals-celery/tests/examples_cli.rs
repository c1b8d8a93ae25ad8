//! The command-line examples against a real `redis-server`: `redis_worker`
//! sends a worker's life, and both our `event_dump` and Celery's own
//! `celery events --dump` print it, the same lines; the same two examples over
//! a real RabbitMQ node; `--help` and bad command lines.

#[path = "support/celery.rs"]
mod celery;
#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rabbitmq::RabbitServer;
use support::RedisServer;

/// An example binary built by `cargo test` beside this test.
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

/// A running program whose output lines are collected.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        let stdout = child.stdout.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn wait_for(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let lines = self.lines.lock().unwrap().clone();
            if lines.iter().any(|line| line.contains(needle)) {
                return lines;
            }
            assert!(Instant::now() < deadline, "no `{needle}` in {lines:#?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The event lines, without what differs between two receivers
/// (`local_received`).
fn events(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| !line.starts_with("->"))
        .map(|line| match line.find("local_received=") {
            Some(start) => {
                let end = line[start..]
                    .find(", ")
                    .map_or(line.len(), |end| start + end + 2);
                format!("{}{}", &line[..start], &line[end..])
            }
            None => line.clone(),
        })
        .collect()
}

#[test]
fn celery_and_our_dump_show_the_rust_worker_alike() {
    let server = RedisServer::start();
    let url = server.url(0);
    let ours = Running::start(Command::new(example("event_dump")).arg(&url));
    let theirs = Running::start(
        Command::new(celery::venv_program("celery")).args(["-b", &url, "events", "--dump"]),
    );
    celery::wait_for_pattern_subscribers(&url, 2);

    run_worker(&url);
    let ours = events(&ours.wait_for("shutdown"));
    let theirs = events(&theirs.wait_for("shutdown"));
    assert_eq!(ours, theirs);
    assert_a_workers_life(&ours);
}

/// Runs `redis_worker` with 5 tasks against `url`, as `rust@example`.
fn run_worker(url: &str) {
    let worker = Command::new(example("redis_worker"))
        .args([
            url,
            "--tasks",
            "5",
            "--interval",
            "0.1",
            "--hostname",
            "rust@example",
        ])
        .output()
        .expect("redis_worker runs");
    assert!(
        worker.status.success(),
        "{}",
        String::from_utf8_lossy(&worker.stderr)
    );
}

/// The dump of what `run_worker` sent: its start, tasks, heartbeats and end,
/// every line the worker's.
fn assert_a_workers_life(lines: &[String]) {
    let text = lines.join("\n");
    for expected in [
        "] started: ",
        "task received: tasks.add(",
        "task succeeded: tasks.add(",
        "task failed: tasks.add(",
        "] heartbeat: ",
        "] shutdown: ",
    ] {
        assert!(text.contains(expected), "no `{expected}` in\n{text}");
    }
    let tasks = lines
        .iter()
        .filter(|line| line.contains("task received: "))
        .count();
    assert_eq!(tasks, 5, "{text}");
    assert!(
        lines
            .iter()
            .all(|line| line.starts_with("rust@example [") || line.starts_with("  (Rust)")),
        "{text}"
    );
}

#[test]
fn our_dump_shows_the_rust_worker_over_amqp() {
    let server = RabbitServer::start();
    let url = server.url();
    let ours = Running::start(Command::new(example("event_dump")).arg(&url));
    // It says so once its queue is bound.
    ours.wait_for("-> evdump: starting capture");
    run_worker(&url);
    assert_a_workers_life(&events(&ours.wait_for("shutdown")));
}

#[test]
fn bad_command_lines_exit_with_usage() {
    for name in ["event_dump", "redis_worker"] {
        let output = Command::new(example(name)).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Usage:"),
            "{name}"
        );
        let help = Command::new(example(name))
            .arg("--help")
            .output()
            .expect("runs");
        assert!(help.status.success(), "{name} --help");
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(
            help.contains("Usage:") && help.contains("amqp://"),
            "{name}: {help}"
        );
        let output = Command::new(example(name))
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
    let _worker = Running::start(Command::new(example("redis_worker")).arg(&url).args([
        "--tasks",
        "1",
        "--task-seconds",
        "600",
        "--interval",
        "1",
        "--hostname",
        NAME,
    ]));

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
