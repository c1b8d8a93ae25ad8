//! A celery-rs worker built with the adapter (the `observed_worker` example),
//! as Celery's own tools see it, on a real redis-server and a real RabbitMQ
//! node: Python Celery 5.7 sends tasks by name (a success, a failure, a task
//! retried once, one with an ETA, and 1,000 no-ops); Celery's `EventReceiver`
//! and `State` show the worker alive and every task's final state, name,
//! result or exception and runtime; `celery inspect ping` and `registered`
//! reach it; each no-op ends with exactly one `task-succeeded`; a real
//! Flower 2.2 lists the worker and shows its tasks.

#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/celery.rs"]
mod celery_venv;
#[allow(dead_code)] // not every test uses every helper
#[path = "../../signals-celery/tests/support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The no-ops sent after the mix.
const NOOPS: usize = 1_000;

/// A child process, killed when the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`: the status and the body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
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

/// A real Flower (from the test virtualenv) on `url`, on a free port.
fn flower(url: &str) -> (Killed, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(celery_venv::venv_program("celery"))
        .args(["-b", url, "flower", "--address=127.0.0.1"])
        .arg(format!("--port={port}"))
        .env("FLOWER_UNAUTHENTICATED_API", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("flower starts");
    let flower = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(port, "/healthcheck").is_none_or(|(status, _)| status != 200) {
        assert!(Instant::now() < deadline, "Flower did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    (flower, port)
}

/// The example worker's task names, as `inspect registered` lists them.
const REGISTERED: [&str; 5] = ["add", "fail", "flaky", "noop", "sleep"];

/// The strings of a JSON list, sorted (a list of task names).
fn sorted_names(list: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = list
        .as_array()
        .expect("a list of names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    names.sort_unstable();
    names
}

/// Runs the Rust worker on `rust_url` and the Python driver on
/// `python_url`; returns the driver's summary, and the worker, still
/// running.
fn run(rust_url: &str, python_url: &str, hostname: &str) -> (Value, Killed) {
    let worker = Killed(
        Command::new(celery_venv::example("observed_worker"))
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
    (serde_json::from_str(&summary).expect("JSON"), worker)
}

fn check(summary: &Value, hostname: &str) {
    let worker = &summary["worker"];
    assert_eq!(worker["alive"], true, "{summary}");
    assert_eq!(worker["sw_ident"], "celery-rs", "{summary}");
    let tasks = &summary["tasks"];
    for label in ["sleep", "add", "fail", "flaky", "eta"] {
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
    assert_eq!(
        sorted_names(&summary["registered"][hostname]),
        REGISTERED,
        "{summary}"
    );

    // `inspect active` caught the 2 s task while it ran, with the fields of
    // Celery's `Request.info()`.
    let active = &summary["active"];
    assert_eq!(active["id"], summary["ids"]["sleep"], "{summary}");
    assert_eq!(active["name"], "sleep", "{summary}");
    assert_eq!(active["args"], serde_json::json!([2.0]), "{summary}");
    assert_eq!(active["hostname"], hostname, "{summary}");
    assert_eq!(active["delivery_info"]["routing_key"], "rust", "{summary}");
    assert!(active["time_start"].is_number(), "{summary}");
    assert_eq!(tasks["sleep"]["state"], "SUCCESS", "{summary}");
}

#[test]
fn celery_sees_a_celery_rs_worker_on_redis() {
    const NAME: &str = "rust@redis-interop";
    let server = support::RedisServer::start();
    let (_flower, port) = flower(&server.url(0));
    let (summary, worker) = run(&server.url(0), &server.url(0), NAME);
    check(&summary, NAME);

    // Flower lists the worker, with what remote control told it...
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers: Value = loop {
        let listed = http_get(port, "/api/workers?refresh=1")
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok());
        if let Some(workers) = listed.filter(|workers| workers[NAME]["registered"].is_array()) {
            break workers;
        }
        assert!(Instant::now() < deadline, "Flower did not list {NAME}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        sorted_names(&workers[NAME]["registered"]),
        REGISTERED,
        "{workers}"
    );
    assert_eq!(
        workers[NAME]["active_queues"][0]["name"], "rust",
        "{workers}"
    );
    // ...and each task as its events told it.
    for (label, state) in [
        ("add", "SUCCESS"),
        ("fail", "FAILURE"),
        ("flaky", "SUCCESS"),
    ] {
        let id = summary["ids"][label].as_str().expect("an id");
        let (status, body) =
            http_get(port, &format!("/api/task/info/{id}")).expect("Flower answers");
        assert_eq!(status, 200, "{label}: {body}");
        let info: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(info["state"], state, "{label}: {info}");
        assert_eq!(info["worker"], NAME, "{label}: {info}");
        let (status, page) = http_get(port, &format!("/task/{id}")).expect("Flower answers");
        assert_eq!(status, 200, "{label}'s page");
        assert!(
            page.contains(id) && page.contains(state),
            "{label}'s page shows it"
        );
    }

    assert!(workers[NAME]["stats"].is_object(), "{workers}");

    // `celery control disable_events` / `enable_events` reach the
    // worker's dispatcher.
    let control = signals_celery::control::RedisControl::open(&server.url(0)).expect("URL");
    let toggle = |method: &str| {
        let replies = control
            .broadcast(
                method,
                Default::default(),
                Some(&[NAME]),
                Duration::from_secs(2),
                None,
            )
            .expect("a reply");
        replies
            .iter()
            .find(|(name, _)| name == NAME)
            .map(|(_, reply)| reply["ok"].as_str().unwrap_or_default().to_owned())
            .expect("the worker's reply")
    };
    assert_eq!(toggle("disable_events"), "task events disabled");
    assert_eq!(toggle("disable_events"), "task events already disabled");
    assert_eq!(toggle("enable_events"), "task events enabled");

    // A clean stop (SIGINT, celery-rs's warm shutdown) sends worker-offline.
    let mut events = signals_celery::events::RedisSubscriber::open(&server.url(0)).expect("URL");
    assert!(events.wait_subscribed(Duration::from_secs(5)));
    let status = Command::new("kill")
        .args(["-INT", &worker.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let offline = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = offline.clone();
    let receiver = signals_celery::events::EventReceiver::builder()
        .handler("worker-offline", move |event| {
            if event.fields()["hostname"] == NAME {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .build();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !offline.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "no worker-offline after SIGINT");
        receiver.capture(&mut events, Some(1), Some(Duration::from_millis(500)));
    }
}

#[test]
fn celery_sees_a_celery_rs_worker_on_rabbitmq() {
    let server = rabbitmq::RabbitServer::start();
    // kombu names the default virtual host `/` as `//`.
    let kombu_url = format!("amqp://guest:guest@127.0.0.1:{}//", server.port);
    let (summary, _worker) = run(&server.url(), &kombu_url, "rust@amqp-interop");
    check(&summary, "rust@amqp-interop");
}
