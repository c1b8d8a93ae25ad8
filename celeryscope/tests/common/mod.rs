//! What the tool's tests share: the binary run as a child whose output is
//! collected, HTTP requests to it, and a Celery client and worker made of
//! our event dispatchers (the real Celery worker has tests of its own).

#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use signals_celery::events::{AmqpTransport, EventDispatcher, RedisTransport, Transport};

/// The binary under test.
pub(crate) fn celeryscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_celeryscope"))
}

/// A running program whose output lines are collected (its logs, on
/// stderr, go to the test's); killed when dropped.
pub(crate) struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub(crate) fn start(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    /// The lines so far, once one contains `needle` (30 s at most).
    pub(crate) fn wait_for(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let lines = self.lines();
            if lines.iter().any(|line| line.contains(needle)) {
                return lines;
            }
            assert!(Instant::now() < deadline, "no `{needle}` in {lines:#?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited, and how.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when the test ends, whatever happened.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `celeryscope exporter` on a free port of 127.0.0.1.
pub(crate) struct Exporter {
    pub(crate) running: Running,
    pub(crate) port: u16,
}

impl Exporter {
    pub(crate) fn start(broker_url: &str, args: &[&str]) -> Self {
        Self::start_with(
            celeryscope().args(["exporter", "--broker-url", broker_url]),
            args,
        )
    }

    /// Started, without waiting for it to be healthy.
    pub(crate) fn start_unhealthy(broker_url: &str, args: &[&str]) -> Self {
        let running = Running::start(
            celeryscope()
                .args(["exporter", "--broker-url", broker_url])
                .args(["--host", "127.0.0.1", "--port", "0"])
                .args(args),
        );
        let port = Self::port_of(&running);
        Self { running, port }
    }

    fn port_of(running: &Running) -> u16 {
        let lines = running.wait_for("listening on http://");
        lines
            .iter()
            .find_map(|line| line.strip_prefix("listening on http://"))
            .and_then(|rest| rest.trim_end_matches('/').rsplit(':').next()?.parse().ok())
            .expect("a port")
    }

    pub(crate) fn start_with(command: &mut Command, args: &[&str]) -> Self {
        let running = Running::start(
            command
                .args(["--host", "127.0.0.1", "--port", "0"])
                .args(args),
        );
        let port = Self::port_of(&running);
        let exporter = Self { running, port };
        // Events published before the subscription are not seen (Redis
        // pub/sub): wait until /health says it is up.
        let deadline = Instant::now() + Duration::from_secs(30);
        while exporter.health().0 != 200 {
            assert!(
                Instant::now() < deadline,
                "never healthy: {:#?}",
                exporter.running.lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        exporter
    }

    /// `GET /metrics`: the body, or panics on a status but 200.
    pub(crate) fn metrics(&self) -> String {
        let (status, _, body) = http_get(self.port, "/metrics", None).expect("answers");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `GET /health`'s status.
    pub(crate) fn health(&self) -> (u16, String) {
        let (status, _, body) = http_get(self.port, "/health", None).expect("answers");
        (status, body)
    }
}

/// Sends `signal` (such as `STOP`, `CONT`) to process `pid`.
pub(crate) fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// `GET path` with an `Accept` header: the status, the content type and the
/// body.
pub(crate) fn http_get(
    port: u16,
    path: &str,
    accept: Option<&str>,
) -> Option<(u16, String, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let accept = accept.map_or(String::new(), |accept| format!("Accept: {accept}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{accept}\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    Some((status, content_type, body.to_owned()))
}

/// The samples of a Prometheus text page: (name, labels as `k="v"` text,
/// value).
pub(crate) fn samples(page: &str) -> Vec<(String, String, f64)> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            Some((name.to_owned(), labels.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the sample named `name` whose labels contain every one of
/// `labels` (`k="v"`).
pub(crate) fn value(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    samples(page)
        .into_iter()
        .find(|(sample, set, _)| {
            sample == name
                && labels
                    .iter()
                    .all(|label| set.split(',').any(|part| part == *label))
        })
        .map(|(_, _, value)| value)
}

/// The sum of the samples named `name` whose labels contain every one of
/// `labels`.
pub(crate) fn total(page: &str, name: &str, labels: &[&str]) -> f64 {
    samples(page)
        .into_iter()
        .filter(|(sample, set, _)| {
            sample == name
                && labels
                    .iter()
                    .all(|label| set.split(',').any(|part| part == *label))
        })
        .map(|(_, _, value)| value)
        .sum()
}

/// A Celery client and worker made of our dispatchers, on one broker.
pub(crate) struct Cluster {
    pub(crate) client: EventDispatcher,
    pub(crate) worker: EventDispatcher,
    pub(crate) worker_name: String,
}

impl Cluster {
    pub(crate) fn new(url: &str, worker_name: &str) -> Self {
        let transport = || -> Arc<dyn Transport> {
            if url.starts_with("amqp") {
                Arc::new(AmqpTransport::open(url).expect("an AMQP transport"))
            } else {
                Arc::new(RedisTransport::open(url).expect("a Redis transport"))
            }
        };
        Self {
            client: EventDispatcher::builder_arc(transport())
                .hostname("gen42@client-host")
                .build(),
            worker: EventDispatcher::builder_arc(transport())
                .hostname(worker_name)
                .build(),
            worker_name: worker_name.to_owned(),
        }
    }

    pub(crate) fn send(&self, from_worker: bool, kind: &str, fields: Value) {
        let dispatcher = if from_worker {
            &self.worker
        } else {
            &self.client
        };
        dispatcher
            .send(kind, fields.as_object().expect("an object"))
            .expect("sent");
        dispatcher.flush(true, true).expect("flushed");
    }

    pub(crate) fn heartbeat(&self, kind: &str, active: u64) {
        self.send(
            true,
            kind,
            json!({"freq": 2.0, "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux",
                   "active": active, "processed": 0, "loadavg": [0.1, 0.1, 0.1]}),
        );
    }

    /// A task sent on `queue`, received and started by the worker.
    pub(crate) fn start_task(&self, uuid: &str, name: &str, queue: &str) {
        self.send(
            false,
            "task-sent",
            json!({"uuid": uuid, "name": name, "args": "()", "kwargs": "{}", "retries": 0,
                   "eta": null, "expires": null, "queue": queue, "exchange": "",
                   "routing_key": queue, "root_id": uuid, "parent_id": null}),
        );
        self.send(
            true,
            "task-received",
            json!({"uuid": uuid, "name": name, "args": "()", "kwargs": "{}", "retries": 0,
                   "eta": null, "expires": null, "root_id": uuid, "parent_id": null}),
        );
        self.send(true, "task-started", json!({"uuid": uuid}));
    }
}

/// Waits until `check` holds on a fresh scrape (20 s at most).
pub(crate) fn eventually(exporter: &Exporter, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = exporter.metrics();
        if check(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "{what}:\n{page}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
