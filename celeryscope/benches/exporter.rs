//! `celeryscope exporter` beside another exporter of the same metrics (such
//! as celery-exporter run from source), fed one fixed stream of Celery events
//! through a `redis-server` of the bench's own: events taken per second and
//! resident memory, each exporter in turn, in one run.
//!
//! ```text
//! cargo bench -p celeryscope --bench exporter -- [--events N] [--multi K] \
//!     [--peer 'python cli.py --broker-url={url} --port={port}']
//! ```
//!
//! The stream: 8 workers sending heartbeats, and tasks of 50 names going sent
//! (by a client) -> received -> started -> succeeded, one in ten failed with
//! one of two exception classes: 4 events per task, a heartbeat every 25th
//! event. With `--multi K` the workers' task events travel as Celery's
//! prefork workers send them, `K` to a `task.multi` message; by default each
//! event is a message of its own.
//!
//! How an exporter is timed, so that only its own work is measured:
//! 1. It is started, and stopped (SIGSTOP) once it has subscribed.
//! 2. The whole stream is published. Redis keeps what the stopped subscriber
//!    has not read in its output buffer (the bench lifts that buffer's limit).
//! 3. It is continued (SIGCONT), and the clock runs until it has read
//!    everything (Redis's output buffer for it empty) and its CPU time has not
//!    moved for 300 ms; the time of its last CPU tick ends the run.
//! 4. Its `/metrics` must then count every task event of the stream, or the
//!    run is reported as failed.
//!
//! Memory: the exporter's resident set once subscribed, and its peak
//! (`VmHWM`) after the run. `{url}` and `{port}` in `--peer` are replaced by
//! the broker URL and a free port; the command runs under `sh -c 'exec …'`,
//! so its process is the one measured.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../signals-celery/tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{celeryscope, signal, total};
use serde_json::{json, Value};
use signals_celery::events::{EventDispatcher, RedisTransport, Transport};
use support::RedisServer;

/// Worker hostnames in the stream.
const WORKERS: u64 = 8;

/// What the bench was asked for.
struct Options {
    events: u64,
    multi: Option<usize>,
    peer: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        events: 200_000,
        multi: None,
        peer: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => {
                options.events = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--events N")
            }
            "--multi" => {
                options.multi = Some(args.next().and_then(|n| n.parse().ok()).expect("--multi K"))
            }
            "--peer" => options.peer = args.next(),
            // cargo bench passes --bench; criterion-style filters are ignored.
            _ => {}
        }
    }
    options
}

/// The task counts the stream's events add up to, as an exporter's counters
/// must show them.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    sent: u64,
    received: u64,
    started: u64,
    succeeded: u64,
    failed: u64,
}

/// One event of the stream: which dispatcher sends it, its type and fields.
fn event_at(index: u64) -> (Option<u64>, &'static str, Value) {
    if index.is_multiple_of(25) {
        let worker = index / 25 % WORKERS;
        return (
            Some(worker),
            "worker-heartbeat",
            json!({"freq": 2.0, "active": 4, "processed": index, "loadavg": [0.5, 0.4, 0.3],
                   "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux"}),
        );
    }
    let task = index / 4;
    let uuid = format!("9b7f1c2e-0000-4000-8000-{task:012}");
    let name = format!("proj.tasks.job{}", task % 50);
    let worker = Some(task % WORKERS);
    match index % 4 {
        0 => (
            None,
            "task-sent",
            json!({"uuid": uuid, "name": name, "args": "(1, 2)", "kwargs": "{}", "retries": 0,
                   "eta": null, "expires": null, "queue": "celery", "exchange": "",
                   "routing_key": "celery", "root_id": uuid, "parent_id": null}),
        ),
        1 => (
            worker,
            "task-received",
            json!({"uuid": uuid, "name": name, "args": "(1, 2)", "kwargs": "{}",
                   "root_id": uuid, "parent_id": null, "retries": 0, "eta": null,
                   "expires": null}),
        ),
        2 => (worker, "task-started", json!({"uuid": uuid})),
        _ if task % 10 == 9 => {
            let exception = if task % 20 == 9 {
                "ValueError('bad input')"
            } else {
                "KeyError('missing')"
            };
            (
                worker,
                "task-failed",
                json!({"uuid": uuid, "exception": exception,
                       "traceback": "Traceback (most recent call last):\n  ...\n"}),
            )
        }
        _ => (
            worker,
            "task-succeeded",
            json!({"uuid": uuid, "result": "3", "runtime": 0.0123}),
        ),
    }
}

/// Publishes the stream; returns what it adds up to.
fn publish(url: &str, events: u64, multi: Option<usize>) -> Expected {
    let transport: Arc<dyn Transport> =
        Arc::new(RedisTransport::open(url).expect("a Redis transport"));
    let client = EventDispatcher::builder_arc(transport.clone())
        .hostname("gen77@web1")
        .build();
    let workers: Vec<EventDispatcher> = (0..WORKERS)
        .map(|worker| {
            let builder = EventDispatcher::builder_arc(transport.clone())
                .hostname(format!("celery@worker{worker}"));
            match multi {
                Some(limit) => builder.buffer_group(["task"]).buffer_limit(limit).build(),
                None => builder.build(),
            }
        })
        .collect();
    let mut expected = Expected::default();
    for index in 0..events {
        let (from, kind, fields) = event_at(index);
        match kind {
            "task-sent" => expected.sent += 1,
            "task-received" => expected.received += 1,
            "task-started" => expected.started += 1,
            "task-succeeded" => expected.succeeded += 1,
            "task-failed" => expected.failed += 1,
            _ => {}
        }
        let dispatcher = from.map_or(&client, |worker| &workers[worker as usize]);
        dispatcher
            .send(kind, fields.as_object().expect("an object"))
            .expect("sent");
    }
    for dispatcher in workers.iter().chain([&client]) {
        dispatcher.flush(true, true).expect("flushed");
        dispatcher.close();
    }
    expected
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` on the exporter: its body, if it answered 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    common::http_get(port, path, None)
        .filter(|(status, _, _)| *status == 200)
        .map(|(_, _, body)| body)
}

/// The counts an exporter's page shows.
fn counted(page: &str) -> Expected {
    let count = |name| total(page, name, &[]) as u64;
    Expected {
        sent: count("celery_task_sent_total"),
        received: count("celery_task_received_total"),
        started: count("celery_task_started_total"),
        succeeded: count("celery_task_succeeded_total"),
        failed: count("celery_task_failed_total"),
    }
}

/// A process's CPU time in clock ticks (user + system, all threads).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; the fields after it are plain.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    field(11) + field(12)
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The output-buffer bytes Redis holds for its pattern or channel
/// subscribers (`None` while there is none).
fn subscriber_backlog(redis: &mut redis::Connection) -> Option<u64> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(redis).ok()?;
    let mut found = None;
    for line in list.lines() {
        let field = |key: &str| {
            line.split(' ')
                .find_map(|part| part.strip_prefix(key))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if field("psub=") + field("sub=") > 0 {
            *found.get_or_insert(0) += field("omem=") + field("qbuf=");
        }
    }
    found
}

/// Stops an exporter as a service manager would: SIGTERM, then SIGKILL if it
/// is still running 10 s later (so that a profiler wrapping it, such as
/// callgrind, writes its figures).
fn stop(child: &mut Child) {
    signal(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One exporter's figures.
struct Figures {
    idle_kib: u64,
    peak_kib: u64,
    seconds: f64,
    cpu_seconds: f64,
    /// Whether its counters showed every task event of the stream.
    complete: bool,
}

/// Starts `command` (an exporter), times it over the stream, stops it.
fn measure(
    label: &str,
    mut command: Command,
    port: u16,
    server: &RedisServer,
    options: &Options,
) -> Figures {
    let url = server.url(0);
    let mut redis = redis::Client::open(url.as_str())
        .and_then(|client| client.get_connection())
        .expect("a Redis connection");
    let mut child: Child = command
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("BENCH_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("the exporter starts");
    let pid = child.id();
    // Up once it serves / and has subscribed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(port, "/").is_none() || subscriber_backlog(&mut redis).is_none() {
        assert!(Instant::now() < deadline, "{label}: never came up");
        assert!(child.try_wait().ok().flatten().is_none(), "{label}: exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A scrape first, so both have built their pages once before the run.
    let _ = http_get(port, "/metrics");
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = status_kib(pid, "VmRSS:");
    signal(pid, "STOP");
    let expected = publish(&url, options.events, options.multi);
    let ticks_before = cpu_ticks(pid);
    let start = Instant::now();
    signal(pid, "CONT");
    let mut last_ticks = ticks_before;
    let mut last_busy = start;
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let ticks = cpu_ticks(pid);
        let now = Instant::now();
        if ticks != last_ticks {
            last_ticks = ticks;
            last_busy = now;
        } else if now - last_busy > Duration::from_millis(300)
            && subscriber_backlog(&mut redis) == Some(0)
        {
            break;
        }
        assert!(
            now - start < Duration::from_secs(3600),
            "{label}: never finished"
        );
    }
    let seconds = (last_busy - start).as_secs_f64();
    let cpu_seconds = (last_ticks - ticks_before) as f64 / 100.0;
    let peak_kib = status_kib(pid, "VmHWM:");
    let page = http_get(port, "/metrics").unwrap_or_default();
    let counted = counted(&page);
    stop(&mut child);
    let complete = counted == expected;
    if !complete {
        eprintln!("{label}: counted {counted:?}, the stream holds {expected:?}");
    }
    Figures {
        idle_kib,
        peak_kib,
        seconds,
        cpu_seconds,
        complete,
    }
}

fn main() {
    let options = options();
    let server = RedisServer::start();
    let mut redis = redis::Client::open(server.url(0).as_str())
        .and_then(|client| client.get_connection())
        .expect("a Redis connection");
    // A stopped subscriber's backlog must stay in Redis, not cut it off.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 0 0 0")
        .exec(&mut redis)
        .expect("CONFIG SET");
    let url = server.url(0);
    let stream = match options.multi {
        Some(k) => format!(
            "{} events, workers' task events {k} to a task.multi message",
            options.events
        ),
        None => format!("{} events, one message each", options.events),
    };
    println!("exporter bench: {stream}");

    let mut runs: Vec<(String, Figures)> = Vec::new();
    let port = free_port();
    let mut ours = celeryscope();
    ours.args(["exporter", "--broker-url", &url, "--host", "127.0.0.1"])
        .args(["--port", &port.to_string()]);
    runs.push((
        "celeryscope exporter".into(),
        measure("celeryscope", ours, port, &server, &options),
    ));
    if let Some(peer) = &options.peer {
        let port = free_port();
        let line = peer
            .replace("{url}", &url)
            .replace("{port}", &port.to_string());
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("exec {line}"));
        runs.push((
            peer.clone(),
            measure("peer", command, port, &server, &options),
        ));
    }

    println!(
        "| exporter | events/s | CPU µs per event | RSS idle, MiB | RSS peak, MiB | counted |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    for (label, figures) in &runs {
        println!(
            "| {label} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            options.events as f64 / figures.seconds,
            figures.cpu_seconds * 1e6 / options.events as f64,
            figures.idle_kib as f64 / 1024.0,
            figures.peak_kib as f64 / 1024.0,
            if figures.complete {
                "every task event"
            } else {
                "INCOMPLETE"
            },
        );
    }
}
