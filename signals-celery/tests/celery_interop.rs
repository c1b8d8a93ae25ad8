//! Interoperability with real Celery (5.7, from PyPI, in the virtualenv that
//! `./test.sh` creates) over a real `redis-server`, and over a real RabbitMQ
//! node:
//! - Celery's own `EventReceiver` and monitor `State` (what `celery events` and
//!   Flower use) receive the events our dispatcher sends (Redis and AMQP);
//! - our `EventReceiver` receives what Celery's own `EventDispatcher` sends
//!   (Redis and AMQP);
//! - through Redis Sentinel (`sentinel://` URLs and `master_name`): Celery's
//!   `State` sees our worker example, and our receiver follows a real Celery
//!   worker.

#[path = "support/celery.rs"]
mod celery;
#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)] // not every test uses every helper
#[path = "support/sentinel.rs"]
mod sentinel;
mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rabbitmq::RabbitServer;
use serde_json::{json, Value};
use signals_celery::events::{
    AmqpSubscriber, AmqpTransport, CeleryEvent, Dumper, Event, EventDispatcher, EventReceiver,
    EventSource, LamportClock, Received, RedisSubscriber, RedisTransport, TaskFailed, TaskReceived,
    TaskRejected, TaskRetried, TaskRevoked, TaskSent, TaskStarted, TaskSucceeded, Transport,
    WorkerHeartbeat, WorkerOffline, WorkerOnline,
};
use support::RedisServer;

/// A Python script of `tests/celery/`, killed if the test ends first.
struct Script {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Script {
    fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/celery")
            .join(name);
        let mut child = Command::new(celery::venv_program("python"))
            .arg(script)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        Self { child, lines }
    }

    /// The next line of output (the test fails if the script ended).
    fn line(&mut self) -> String {
        match self.lines.next() {
            Some(Ok(line)) => line,
            other => panic!("the script ended early ({other:?}); see its stderr above"),
        }
    }

    /// The rest of the output, once the script exited successfully.
    fn finish(mut self) -> Vec<String> {
        let rest: Vec<String> = self.lines.by_ref().map_while(Result::ok).collect();
        let status = self.child.wait().expect("waited");
        assert!(
            status.success(),
            "the script failed ({status}); output: {rest:?}"
        );
        rest
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fields(value: Value) -> signals_celery::events::Fields {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn celerys_own_receiver_and_monitor_see_our_events() {
    let server = RedisServer::start();
    celery_sees_our_events(
        &server.url(0),
        || celery::wait_for_pattern_subscribers(&server.url(0), 1),
        || RedisTransport::open(&server.url(0)).expect("URL"),
    );
}

#[test]
fn celerys_own_receiver_and_monitor_see_our_events_over_amqp() {
    let server = RabbitServer::start();
    // kombu names the default virtual host `/` as `//`.
    let kombu_url = format!("amqp://guest:guest@127.0.0.1:{}//", server.port);
    celery_sees_our_events(
        &kombu_url,
        // follow.py binds its queue before it says READY.
        || {},
        || AmqpTransport::open(&server.url()).expect("URL"),
    );
}

/// Our dispatcher sends a worker's and three tasks' lives through transports
/// made by `open`; Celery's own `EventReceiver` and `State`, following
/// `python_url`, must see every event as a Celery worker's.
fn celery_sees_our_events<T: Transport + 'static>(
    python_url: &str,
    wait_ready: impl FnOnce(),
    open: impl Fn() -> T,
) {
    const EVENTS: usize = 12;
    let mut follower = Script::start("follow.py", &[python_url, &EVENTS.to_string(), "30"], &[]);
    assert_eq!(follower.line(), "READY");
    wait_ready();

    let worker = json!({"freq": 2.0, "sw_ident": "rs-signals", "sw_ver": "0.1.0",
                        "sw_sys": "Linux", "active": 1, "processed": 3,
                        "loadavg": [0.5, 0.25, 0.125]});
    let received = |uuid: &str, name: &str| {
        fields(
            json!({"uuid": uuid, "name": name, "args": "(2, 2)", "kwargs": "{}",
                      "retries": 0, "eta": null, "expires": null,
                      "root_id": uuid, "parent_id": null}),
        )
    };
    let clock = Arc::new(LamportClock::new());
    let dispatcher = EventDispatcher::builder(open())
        .hostname("rust@host")
        .clock(clock.clone())
        .build();
    let grouped = EventDispatcher::builder(open())
        .hostname("rust@host")
        .clock(clock.clone())
        .buffer_group(["task"])
        .build();
    let gone = EventDispatcher::builder(open())
        .hostname("gone@host")
        .clock(clock.clone())
        .build();
    let worker_fields = fields(worker.clone());
    dispatcher
        .send("worker-online", &worker_fields)
        .expect("sent");
    dispatcher
        .send("task-received", &received("u1", "tasks.add"))
        .expect("sent");
    dispatcher
        .send_event(&TaskStarted { uuid: "u1".into() })
        .expect("sent");
    dispatcher
        .send_event(&TaskSucceeded {
            uuid: "u1".into(),
            result: "4".into(),
            runtime: 0.25,
        })
        .expect("sent");
    dispatcher
        .send("task-received", &received("u2", "tasks.div"))
        .expect("sent");
    dispatcher
        .send_event(&TaskFailed {
            uuid: "u2".into(),
            exception: "ZeroDivisionError('division by zero')".into(),
            traceback: "Traceback (most recent call last): ...".into(),
        })
        .expect("sent");
    dispatcher
        .send("worker-heartbeat", &worker_fields)
        .expect("sent");
    dispatcher.flush(true, true).expect("flushed");
    // Three task events in one `task.multi` message.
    grouped
        .send("task-received", &received("u3", "tasks.mul"))
        .expect("sent");
    grouped
        .send_event(&TaskStarted { uuid: "u3".into() })
        .expect("sent");
    grouped
        .send_event(&TaskSucceeded {
            uuid: "u3".into(),
            result: "12".into(),
            runtime: 0.5,
        })
        .expect("sent");
    grouped.flush(true, true).expect("flushed");
    gone.send("worker-online", &worker_fields).expect("sent");
    gone.send("worker-offline", &worker_fields).expect("sent");
    gone.flush(true, true).expect("flushed");

    let output = follower.finish();
    let events: Vec<Value> = output
        .iter()
        .filter_map(|line| line.strip_prefix("EVENT "))
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "worker-online",
            "task-received",
            "task-started",
            "task-succeeded",
            "task-received",
            "task-failed",
            "worker-heartbeat",
            "task-received",
            "task-started",
            "task-succeeded",
            "worker-online",
            "worker-offline",
        ]
    );
    for event in &events {
        for key in [
            "hostname",
            "utcoffset",
            "pid",
            "clock",
            "timestamp",
            "local_received",
        ] {
            assert!(event.get(key).is_some(), "{key} missing in {event}");
        }
        assert_eq!(event["pid"], std::process::id());
    }
    assert_eq!(events[3]["result"], "4");
    assert_eq!(events[3]["runtime"], 0.25);
    assert_eq!(
        events[5]["exception"],
        "ZeroDivisionError('division by zero')"
    );
    // Our clock as Celery's receiver left it: 1, 2, 3, ... in sending order.
    let clocks: Vec<u64> = events
        .iter()
        .map(|e| e["clock"].as_u64().expect("clock"))
        .collect();
    assert_eq!(clocks, (1..=EVENTS as u64).collect::<Vec<_>>());

    // Our dumper prints each event as `celery events --dump` does.
    let celery_dump: Vec<&str> = output
        .iter()
        .filter_map(|line| line.strip_prefix("DUMP "))
        .collect();
    let mut dumper = Dumper::new();
    let ours: Vec<String> = events
        .iter()
        .map(|event| dumper.line(&Event::from_fields(fields(event.clone()))))
        .collect();
    assert_eq!(ours, celery_dump);

    let summary: Value = serde_json::from_str(
        output
            .iter()
            .find_map(|line| line.strip_prefix("SUMMARY "))
            .expect("a summary"),
    )
    .expect("JSON");
    let workers = &summary["workers"];
    assert_eq!(workers["rust@host"]["alive"], true, "{workers}");
    assert_eq!(workers["rust@host"]["sw_ident"], "rs-signals");
    assert_eq!(workers["rust@host"]["processed"], 3);
    assert_eq!(workers["rust@host"]["loadavg"], json!([0.5, 0.25, 0.125]));
    assert_eq!(workers["gone@host"]["alive"], false, "{workers}");
    let tasks = &summary["tasks"];
    assert_eq!(tasks["u1"]["state"], "SUCCESS", "{tasks}");
    assert_eq!(tasks["u1"]["name"], "tasks.add");
    assert_eq!(tasks["u1"]["result"], "4");
    assert_eq!(tasks["u1"]["worker"], "rust@host");
    assert_eq!(tasks["u2"]["state"], "FAILURE");
    assert_eq!(
        tasks["u2"]["exception"],
        "ZeroDivisionError('division by zero')"
    );
    assert_eq!(tasks["u3"]["state"], "SUCCESS");
    assert_eq!(tasks["u3"]["result"], "12");
    assert_eq!(summary["event_count"], EVENTS);
}

#[test]
fn our_receiver_follows_celerys_own_dispatcher() {
    let server = RedisServer::start();
    let mut subscriber = RedisSubscriber::open(&server.url(0)).expect("URL");
    assert!(subscriber.wait_subscribed(Duration::from_secs(5)));
    we_follow_celerys_dispatcher(&mut subscriber, &server.url(0));
}

#[test]
fn our_receiver_follows_celerys_own_dispatcher_over_amqp() {
    let server = RabbitServer::start();
    let mut subscriber = AmqpSubscriber::open(&server.url()).expect("URL");
    assert!(subscriber.wait_subscribed(Duration::from_secs(10)));
    let kombu_url = format!("amqp://guest:guest@127.0.0.1:{}//", server.port);
    we_follow_celerys_dispatcher(&mut subscriber, &kombu_url);
}

/// Celery's own `EventDispatcher` (`emit.py`) sends a worker's and its tasks'
/// lives to `python_url`; our receiver, reading `source`, must decode every
/// event, typed, with Celery's clocks and localized timestamps.
fn we_follow_celerys_dispatcher(source: &mut impl EventSource, python_url: &str) {
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let log = events.clone();
    let clock = Arc::new(LamportClock::new());
    let receiver = EventReceiver::builder()
        .clock(clock.clone())
        .handler("*", move |event| log.lock().unwrap().push(event.clone()))
        .build();

    // A Python worker in India: utcoffset -5.5 on the wire.
    let emitter = Script::start("emit.py", &[python_url], &[("TZ", "Asia/Kolkata")]);
    let report = receiver.capture(source, Some(15), Some(Duration::from_secs(60)));
    let output = emitter.finish();
    assert_eq!(output, ["SENT 15"]);
    assert_eq!(report.events, 15, "{:?}", receiver.stats());
    assert_eq!(report.messages, 13); // the three grouped events came as one message
    assert_eq!(receiver.stats().errors(), 0, "{:?}", receiver.stats());

    let events = events.lock().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind().expect("type")).collect();
    assert_eq!(
        kinds,
        [
            "worker-online",
            "task-sent",
            "task-received",
            "task-started",
            "task-succeeded",
            "task-failed",
            "task-retried",
            "task-revoked",
            "task-rejected",
            "worker-heartbeat",
            "task-received",
            "task-started",
            "task-succeeded",
            "custom-blind",
            "worker-offline",
        ]
    );

    fn typed<E: CeleryEvent>(event: &Event) -> Received<E> {
        assert_eq!(event.kind(), Some(E::TYPE));
        Received::from_event(event).unwrap_or_else(|e| panic!("{} does not fit: {e}", E::TYPE))
    }
    let online = typed::<WorkerOnline>(&events[0]);
    assert_eq!((online.sw_ident.as_str(), online.freq), ("py-celery", 2.0));
    assert_eq!((online.active, online.processed), (1, 7));
    assert_eq!(online.loadavg, Some([0.5, 0.25, 0.125]));
    assert_eq!(online.hostname, "py@worker");
    let sent = typed::<TaskSent>(&events[1]);
    assert_eq!(
        (sent.name.as_str(), sent.queue.as_deref()),
        ("tasks.add", Some("celery"))
    );
    let received = typed::<TaskReceived>(&events[2]);
    assert_eq!(
        (received.uuid.as_str(), received.args.as_str()),
        ("p1", "(2, 2)")
    );
    assert_eq!(typed::<TaskStarted>(&events[3]).uuid, "p1");
    let succeeded = typed::<TaskSucceeded>(&events[4]);
    assert_eq!((succeeded.result.as_str(), succeeded.runtime), ("4", 0.25));
    let failed = typed::<TaskFailed>(&events[5]);
    assert_eq!(failed.exception, "ZeroDivisionError('division by zero')");
    assert!(failed.traceback.starts_with("Traceback"));
    assert_eq!(typed::<TaskRetried>(&events[6]).exception, "Retry('in 2s')");
    let revoked = typed::<TaskRevoked>(&events[7]);
    assert_eq!(
        (revoked.terminated, revoked.signum, revoked.expired),
        (true, Some(15), false)
    );
    assert!(!typed::<TaskRejected>(&events[8]).requeue);
    assert_eq!(typed::<WorkerHeartbeat>(&events[9]).processed, 7);
    assert_eq!(typed::<TaskSucceeded>(&events[12]).result, "12");
    assert_eq!(typed::<WorkerOffline>(&events[14]).sw_ident, "py-celery");

    // Celery 5.7 sends the offset as a float; every event carries it, localized.
    let here = signals_celery::events::utcoffset();
    for event in events.iter() {
        assert_eq!(event.utcoffset(), Some(-5.5), "{event:?}");
        let local_received = event
            .get("local_received")
            .and_then(Value::as_f64)
            .expect("stamped");
        let sent_at = event.timestamp().expect("timestamp") + (-5.5 - here) * 3600.0;
        assert!(
            (local_received - sent_at).abs() < 30.0,
            "{sent_at} vs {local_received}"
        );
    }
    // Clocks: Celery's app clock counted 1, 2, ...; task-sent got ours minus one;
    // the blind event (clock null) got one of ours.
    assert_eq!(events[0].clock(), Some(1));
    assert_eq!(events[2].clock(), Some(3));
    assert_eq!(
        events[1].clock(),
        Some(1),
        "task-sent: (2 after worker-online's adjust) - 1"
    );
    assert!(
        events[13].clock().is_some(),
        "the blind event was given a clock"
    );
    assert!(clock.value() >= 15, "{}", clock.value());
}

/// A child process killed when the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn celerys_state_sees_our_worker_example_through_sentinel() {
    let set = sentinel::Sentinels::start();
    let url = set.url(0);
    let options = format!(r#"{{"master_name": "{}"}}"#, sentinel::MASTER_NAME);
    // worker-online, then three tasks' received, started and succeeded.
    const EVENTS: usize = 10;
    let mut follower = Script::start(
        "follow.py",
        &[&url, &EVENTS.to_string(), "30"],
        &[("BROKER_TRANSPORT_OPTIONS", &options)],
    );
    assert_eq!(follower.line(), "READY");
    let master = format!(
        "redis://127.0.0.1:{}/0",
        set.master_port().expect("a master")
    );
    celery::wait_for_pattern_subscribers(&master, 1);

    let status = Command::new(celery::example("redis_worker"))
        .arg(&url)
        .args(["--master-name", sentinel::MASTER_NAME])
        .args(["--tasks", "3", "--hostname", "rust@sentinel"])
        .stdout(Stdio::null())
        .status()
        .expect("the example runs");
    assert!(status.success());

    let output = follower.finish();
    let summary: Value = serde_json::from_str(
        output
            .iter()
            .find_map(|line| line.strip_prefix("SUMMARY "))
            .expect("a summary"),
    )
    .expect("JSON");
    assert!(
        summary["workers"]["rust@sentinel"].is_object(),
        "Celery's State knows the worker: {summary}"
    );
    let tasks = summary["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), 3, "{summary}");
    for task in tasks.values() {
        assert_eq!(task["state"], "SUCCESS", "{summary}");
        assert_eq!(task["name"], "tasks.add", "{summary}");
        assert_eq!(task["worker"], "rust@sentinel", "{summary}");
    }
}

#[test]
fn our_receiver_follows_a_celery_worker_through_sentinel() {
    use signals_celery::events::TaskState;
    let set = sentinel::Sentinels::start();
    let url = set.url(0);
    let failover = signals_celery::Failover {
        master_name: Some(sentinel::MASTER_NAME.into()),
        ..signals_celery::Failover::default()
    };
    let subscriber = RedisSubscriber::with_options(
        &url,
        signals_celery::events::RedisSubscriberOptions {
            failover,
            ..Default::default()
        },
    )
    .expect("a sentinel URL");
    assert!(subscriber.wait_subscribed(Duration::from_secs(10)));
    let state = Arc::new(signals_celery::events::State::new());
    let receiver = EventReceiver::builder().on_state(state.clone()).build();
    let _capturing = receiver.spawn(subscriber).expect("a receiver thread");

    let options = format!(r#"{{"master_name": "{}"}}"#, sentinel::MASTER_NAME);
    let celery_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/celery");
    let _worker = Killed(
        Command::new(celery::venv_program("celery"))
            .current_dir(celery_dir)
            .args(["-A", "state_tasks", "worker", "-n", "py@sentinel"])
            .args(["--pool", "solo", "-E", "--loglevel", "ERROR"])
            .env("STATE_BROKER", &url)
            .env("STATE_TRANSPORT_OPTIONS", &options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("celery starts"),
    );
    let sent = Command::new(celery::venv_program("python"))
        .current_dir(celery_dir)
        .env("STATE_BROKER", &url)
        .env("STATE_TRANSPORT_OPTIONS", &options)
        .args([
            "-c",
            "from state_tasks import add, fail\n[add.delay(2, 2) for _ in range(3)]\nfail.delay()",
        ])
        .status()
        .expect("python runs");
    assert!(sent.success());

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let tasks = state.tasks_by_time(100);
        let succeeded = tasks
            .iter()
            .filter(|task| task.state == TaskState::Success && task.result.as_deref() == Some("4"))
            .count();
        let failed = tasks
            .iter()
            .filter(|task| {
                task.state == TaskState::Failure
                    && task
                        .exception
                        .as_deref()
                        .is_some_and(|e| e.starts_with("ValueError"))
            })
            .count();
        let worker = state
            .worker("py@sentinel")
            .is_some_and(|worker| worker.alive());
        if succeeded == 3 && failed == 1 && worker {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{succeeded} of 3 succeeded, {failed} of 1 failed, worker seen: {worker}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
