//! `celeryscope dump` and `celeryscope inspect` against real brokers:
//! `dump` prints a worker's life as Celery's own `celery events --dump`
//! does, line for line, on Redis and on RabbitMQ; `inspect ping` gets the
//! replies of a real Celery worker and of one of ours in one broadcast, in
//! `celery inspect`'s shape and as JSON; `top`, in a tmux pane, shows a
//! real Celery worker and its tasks; `--help` and bad command lines.

#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/celery.rs"]
mod celery;
mod common;
#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{celeryscope, Cluster, Running};
use rabbitmq::RabbitServer;
use serde_json::json;
use signals_celery::control::{Node, RedisMailbox};
use support::RedisServer;

/// A worker's life as `rust@example`: online, five tasks (the fifth fails,
/// with a two-line traceback), a heartbeat, offline.
fn run_worker(url: &str) {
    let cluster = Cluster::new(url, "rust@example");
    cluster.heartbeat("worker-online", 0);
    for n in 1..=5 {
        let uuid = format!("rust-task-{n}");
        cluster.send(
            true,
            "task-received",
            json!({"uuid": uuid, "name": "tasks.add", "args": format!("({n}, {n})"),
                   "kwargs": "{}", "retries": 0, "eta": null, "expires": null,
                   "root_id": uuid, "parent_id": null}),
        );
        cluster.send(true, "task-started", json!({"uuid": uuid}));
        if n == 5 {
            cluster.send(
                true,
                "task-failed",
                json!({"uuid": uuid, "exception": "ValueError('every fifth task fails')",
                       "traceback": "Traceback (most recent call last):\n  (Rust)"}),
            );
        } else {
            cluster.send(
                true,
                "task-succeeded",
                json!({"uuid": uuid, "result": (2 * n).to_string(), "runtime": 0.05}),
            );
        }
    }
    cluster.heartbeat("worker-heartbeat", 0);
    cluster.heartbeat("worker-offline", 0);
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
fn celery_and_our_dump_show_a_worker_alike() {
    let server = RedisServer::start();
    let url = server.url(0);
    let ours = Running::start(celeryscope().args(["dump", "-b", &url]));
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

#[test]
fn our_dump_shows_a_worker_over_amqp() {
    let server = RabbitServer::start();
    let url = server.url();
    let ours = Running::start(celeryscope().args(["dump", "-b", &url]));
    // It says so once its queue is bound.
    ours.wait_for("-> evdump: starting capture");
    run_worker(&url);
    assert_a_workers_life(&events(&ours.wait_for("shutdown")));
}

#[test]
fn inspect_ping_gets_a_celery_worker_and_ours_in_one_broadcast() {
    let server = RedisServer::start();
    let url = server.url(0);
    let _python = Running::start(
        Command::new(celery::venv_program("celery"))
            .current_dir(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../signals-celery/tests/celery"
            ))
            .args([
                "-A",
                "state_tasks",
                "worker",
                "-n",
                "py@test",
                "--pool",
                "solo",
            ])
            .args(["--loglevel", "ERROR"])
            .env("STATE_BROKER", &url),
    );
    let node = Node::builder("rust@test").registered(["tasks.add"]).build();
    let mailbox = RedisMailbox::serve(node, &url).expect("serving");
    assert!(mailbox.wait_ready(Duration::from_secs(10)));

    // The Celery worker takes a few seconds to start: ping until both answer.
    let deadline = Instant::now() + Duration::from_secs(60);
    let output = loop {
        let output = celeryscope()
            .args(["inspect", "-b", &url, "ping", "--timeout", "2"])
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if text.contains("py@test") && text.contains("rust@test") {
            break text;
        }
        assert!(Instant::now() < deadline, "not both in: {text}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        output.contains("->  rust@test: OK\n        pong"),
        "{output}"
    );
    assert!(output.contains("->  py@test: OK\n        pong"), "{output}");
    assert!(output.trim_end().ends_with("2 nodes online."), "{output}");

    let json = celeryscope()
        .args([
            "inspect",
            "-b",
            &url,
            "registered",
            "-d",
            "rust@test",
            "--json",
        ])
        .output()
        .expect("runs");
    let replies: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON on stdout");
    assert_eq!(replies, json!({"rust@test": ["tasks.add"]}));

    // Nobody at that name: Celery's message and exit code.
    let none = celeryscope()
        .args([
            "inspect",
            "-b",
            &url,
            "ping",
            "-d",
            "nobody@nowhere",
            "-t",
            "0.5",
        ])
        .output()
        .expect("runs");
    assert_eq!(none.status.code(), Some(69));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("No nodes replied within time constraint")
    );
}

#[test]
fn bad_command_lines_exit_with_usage() {
    for args in [
        vec![],
        vec!["dump"],
        vec!["inspect", "-b", "redis://h"],
        vec!["top"],
    ] {
        let output = celeryscope()
            .args(&args)
            .env_remove("CELERY_BROKER_URL")
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Usage:"),
            "{args:?}"
        );
    }
    let help = celeryscope().arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["exporter", "top", "dump", "inspect"] {
        assert!(help.contains(command), "{help}");
    }
    for args in [
        vec!["dump", "-b", "http://not-redis"],
        vec!["inspect", "-b", "http://not-redis", "ping"],
    ] {
        let output = celeryscope().args(&args).output().expect("runs");
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("invalid"),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|output| output.status.success()),
            "tmux is missing: ./test.sh installs it (apt-get install tmux)"
        );
        Self {
            socket: format!("celeryscope-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn top_in_a_tmux_pane_shows_a_real_celery_worker_and_its_tasks() {
    let server = RedisServer::start();
    let url = server.url(0);
    let tmux = Tmux::new();
    let top = format!(
        "{} top -b {url} --refresh-ms 200",
        env!("CARGO_BIN_EXE_celeryscope")
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "120",
        "-y",
        "30",
        &top,
    ]);
    // Following once Redis counts its subscription.
    celery::wait_for_pattern_subscribers(&url, 1);

    let celery_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../signals-celery/tests/celery"
    );
    let _worker = Running::start(
        Command::new(celery::venv_program("celery"))
            .current_dir(celery_dir)
            .args(["-A", "state_tasks", "worker", "-n", "py@top-host"])
            .args(["--pool", "solo", "-E", "--loglevel", "ERROR"])
            .env("STATE_BROKER", &url)
            .stderr(Stdio::null()),
    );
    let sent = Command::new(celery::venv_program("python"))
        .current_dir(celery_dir)
        .env("STATE_BROKER", &url)
        .args([
            "-c",
            "from state_tasks import add, fail; add.delay(2, 2); fail.delay()",
        ])
        .status()
        .expect("python runs");
    assert!(sent.success());

    let deadline = Instant::now() + Duration::from_secs(60);
    let screen = loop {
        let screen = tmux.run(&["capture-pane", "-p", "-t", "top"]);
        if [
            "py@top-host",
            "state_tasks.add",
            "SUCCESS",
            "state_tasks.fail",
            "FAILURE",
        ]
        .iter()
        .all(|shown| screen.contains(shown))
        {
            break screen;
        }
        assert!(Instant::now() < deadline, "not all shown yet:\n{screen}");
        std::thread::sleep(Duration::from_millis(200));
    };
    println!("{screen}");
    assert!(screen.contains(&url), "the broker is named:\n{screen}");

    // `q` quits, and the pane's session ends with it.
    tmux.run(&["send-keys", "-t", "top", "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tmux.run(&["list-sessions"]).is_empty() {
        assert!(Instant::now() < deadline, "top did not quit on `q`");
        std::thread::sleep(Duration::from_millis(100));
    }
}
