//! The EventReceiver on a real `redis-server`: every event type round-trips
//! single and grouped (`.multi`), garbage is counted and survived, remote events
//! reach in-process receivers as signals, and a stream cut by killing Redis is
//! delivered exactly once.

mod support;
#[path = "support/tally.rs"]
mod tally;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use signals::receiver;
use signals_celery::events::{
    remote, CeleryEvent, EventDispatcher, EventReceiver, EventReceiverBuilder, EventSource as _,
    LamportClock, ReceiveError, Received, ReceiverStats, RedisOptions, RedisSubscriber,
    RedisTransport, TaskFailed, TaskReceived, TaskRejected, TaskRetried, TaskRevoked, TaskSent,
    TaskStarted, TaskSucceeded, WorkerHeartbeat, WorkerOffline, WorkerOnline,
};
use support::RedisServer;
use tally::{send_numbered, Tally};

/// What the typed handlers saw: (event type, the typed event as JSON, clock).
type Seen = Arc<Mutex<Vec<(String, Value, u64)>>>;

fn record<E: CeleryEvent + 'static>(
    builder: EventReceiverBuilder,
    seen: &Seen,
) -> EventReceiverBuilder {
    let seen = seen.clone();
    builder.on(move |event: &Received<E>| {
        let fields = serde_json::to_value(&event.event).expect("serializable");
        seen.lock()
            .unwrap()
            .push((E::TYPE.to_owned(), fields, event.clock));
    })
}

/// One of each standard event type, every field set.
fn samples() -> Vec<(&'static str, Value)> {
    fn one<E: CeleryEvent>(event: E) -> (&'static str, Value) {
        (E::TYPE, serde_json::to_value(event).expect("serializable"))
    }
    // The three worker events carry the same fields.
    macro_rules! worker {
        ($event:ident, $active:expr, $processed:expr, $loadavg:expr) => {
            one($event {
                freq: 2.0,
                sw_ident: "rs-signals".into(),
                sw_ver: "0.1.0".into(),
                sw_sys: "Linux".into(),
                active: $active,
                processed: $processed,
                loadavg: $loadavg,
            })
        };
    }
    vec![
        one(TaskSent {
            uuid: "t1".into(),
            name: "tasks.add".into(),
            args: "(2, 2)".into(),
            kwargs: "{}".into(),
            retries: 1,
            eta: Some("2026-11-22T10:00:00+00:00".into()),
            expires: None,
            queue: Some("celery".into()),
            exchange: Some("".into()),
            routing_key: Some("celery".into()),
            root_id: Some("t0".into()),
            parent_id: Some("t0".into()),
        }),
        one(TaskReceived {
            uuid: "t1".into(),
            name: "tasks.add".into(),
            args: "(2, 2)".into(),
            kwargs: "{'x': 1}".into(),
            retries: 0,
            eta: None,
            expires: Some("2026-11-23T00:00:00+00:00".into()),
            root_id: Some("t0".into()),
            parent_id: None,
        }),
        one(TaskStarted { uuid: "t1".into() }),
        one(TaskSucceeded {
            uuid: "t1".into(),
            result: "4".into(),
            runtime: 0.125,
        }),
        one(TaskFailed {
            uuid: "t2".into(),
            exception: "ZeroDivisionError('division by zero')".into(),
            traceback: "Traceback (most recent call last): ...".into(),
        }),
        one(TaskRejected {
            uuid: "t3".into(),
            requeue: true,
        }),
        one(TaskRevoked {
            uuid: "t4".into(),
            terminated: true,
            signum: Some(15),
            expired: false,
        }),
        one(TaskRetried {
            uuid: "t5".into(),
            exception: "Retry in 2s".into(),
            traceback: "".into(),
        }),
        worker!(WorkerOnline, 0, 0, Some([0.5, 0.25, 0.125])),
        worker!(WorkerHeartbeat, 3, 30, Some([0.5, 0.25, 0.125])),
        worker!(WorkerOffline, 0, 30, None),
    ]
}

fn typed_receiver(seen: &Seen, clock: Arc<LamportClock>) -> EventReceiver {
    let mut builder = EventReceiver::builder().clock(clock);
    builder = record::<TaskSent>(builder, seen);
    builder = record::<TaskReceived>(builder, seen);
    builder = record::<TaskStarted>(builder, seen);
    builder = record::<TaskSucceeded>(builder, seen);
    builder = record::<TaskFailed>(builder, seen);
    builder = record::<TaskRejected>(builder, seen);
    builder = record::<TaskRevoked>(builder, seen);
    builder = record::<TaskRetried>(builder, seen);
    builder = record::<WorkerOnline>(builder, seen);
    builder = record::<WorkerHeartbeat>(builder, seen);
    builder = record::<WorkerOffline>(builder, seen);
    builder.build()
}

/// A dispatcher to `server`'s database 0, as `hostname`.
fn dispatcher(server: &RedisServer, hostname: &str) -> EventDispatcher {
    EventDispatcher::builder(RedisTransport::open(&server.url(0)).expect("valid URL"))
        .hostname(hostname)
        .build()
}

fn subscribe(server: &RedisServer) -> RedisSubscriber {
    let subscriber = RedisSubscriber::open(&server.url(0)).expect("valid URL");
    assert!(
        subscriber.wait_subscribed(Duration::from_secs(5)),
        "subscribed"
    );
    subscriber
}

#[test]
fn every_event_type_round_trips_single_and_grouped() {
    let server = RedisServer::start();
    let mut subscriber = subscribe(&server);
    let seen: Seen = Arc::default();
    let receiver_clock = Arc::new(LamportClock::new());
    let receiver = typed_receiver(&seen, receiver_clock.clone());

    let send_all = |grouped: bool| {
        let transport = RedisTransport::open(&server.url(0)).expect("valid URL");
        let mut builder = EventDispatcher::builder(transport)
            .hostname("rust@host")
            .clock(Arc::new(LamportClock::new()));
        if grouped {
            builder = builder.buffer_group(["task", "worker"]).buffer_limit(100);
        }
        let dispatcher = builder.build();
        for (kind, fields) in samples() {
            dispatcher
                .send(kind, fields.as_object().expect("an object"))
                .expect("sent");
        }
        dispatcher.flush(true, true).expect("flushed");
    };

    send_all(false);
    let report = receiver.capture(&mut subscriber, Some(11), Some(Duration::from_secs(10)));
    assert_eq!((report.messages, report.events), (11, 11));
    send_all(true);
    let report = receiver.capture(&mut subscriber, Some(11), Some(Duration::from_secs(10)));
    // Two messages: `task.multi` with 8 events and `worker.multi` with 3.
    assert_eq!((report.messages, report.events), (2, 11));

    let seen = seen.lock().unwrap();
    let expected = samples();
    for (round, received) in seen.chunks(11).enumerate() {
        for ((kind, fields, clock), (expected_kind, expected_fields)) in
            received.iter().zip(&expected)
        {
            assert_eq!(kind, expected_kind, "round {round}");
            assert_eq!(fields, expected_fields, "round {round}: {kind}");
            if kind == "task-sent" {
                // Celery's rule: a client's clock is replaced by ours minus one.
                assert!(*clock < receiver_clock.value());
            }
        }
    }
    assert_eq!(seen.len(), 22);
    // Each dispatcher counted 1..=11; the receiver's clock moved past them.
    assert!(receiver_clock.value() > 11, "{}", receiver_clock.value());
    assert_eq!(receiver.stats().errors(), 0, "{:?}", receiver.stats());
}

#[test]
fn timestamps_are_localized_and_stamped_on_arrival() {
    let server = RedisServer::start();
    let mut subscriber = subscribe(&server);
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let log = stamps.clone();
    let receiver = EventReceiver::builder()
        .clock(Arc::new(LamportClock::new()))
        .on(move |event: &Received<TaskStarted>| {
            log.lock()
                .unwrap()
                .push((event.timestamp, event.utcoffset, event.local_received));
        })
        .build();
    // A sender two hours east of UTC (Celery: utcoffset -2).
    let dispatcher = EventDispatcher::builder(RedisTransport::open(&server.url(0)).expect("URL"))
        .hostname("east@host")
        .utcoffset(-2.0)
        .build();
    let before = now();
    dispatcher
        .send_event(&TaskStarted { uuid: "x".into() })
        .expect("sent");
    dispatcher.flush(true, true).expect("flushed");
    let after = now();
    receiver.capture(&mut subscriber, Some(1), Some(Duration::from_secs(10)));

    let (timestamp, offset, local_received) = stamps.lock().unwrap()[0];
    assert_eq!(offset, -2.0);
    let here = signals_celery::events::utcoffset();
    let sent = timestamp + (offset - here) * 3600.0;
    assert!(
        before <= sent && sent <= after,
        "{before} <= {sent} <= {after}"
    );
    assert!(after <= local_received && local_received <= now());
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

fn raw_envelope(body: &[u8], content_type: &str, tag: Option<&str>) -> Vec<u8> {
    let mut properties = json!({"delivery_mode": 1, "priority": 0, "body_encoding": "base64"});
    if let Some(tag) = tag {
        properties["delivery_tag"] = tag.into();
    }
    serde_json::to_vec(&json!({
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "content-encoding": "utf-8",
        "content-type": content_type,
        "headers": {},
        "properties": properties,
    }))
    .expect("JSON")
}

#[test]
fn garbage_is_counted_and_the_receiver_keeps_going() {
    let server = RedisServer::start();
    let mut subscriber = subscribe(&server);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let log = errors.clone();
    let started = Arc::new(Mutex::new(Vec::new()));
    let good = started.clone();
    let receiver = EventReceiver::builder()
        .max_message_size(64 * 1024)
        .on_error(move |error: &ReceiveError| log.lock().unwrap().push(error.to_string()))
        .on(move |event: &Received<TaskStarted>| good.lock().unwrap().push(event.uuid.clone()))
        .build();

    let json = "application/json";
    let garbage: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        b"\xff\xfe\x00binary".to_vec(),
        br#"{"body": 5}"#.to_vec(),
        br#"["an", "envelope", "is", "an", "object"]"#.to_vec(),
        raw_envelope(br#"{"type": "task-started"}"#, json, None), // no delivery tag
        raw_envelope(b"{truncated", json, Some("g1")),
        raw_envelope(b"17", json, Some("g2")),
        raw_envelope(br#"[{"type": "task-started", "uuid": "in-list"}, "x", {"no": "type"}]"#, json, Some("g3")),
        raw_envelope(b"\x80\x04pickle", "application/x-python-serialize", Some("g4")),
        raw_envelope(&vec![b' '; 200 * 1024], json, Some("g5")),
        raw_envelope(br#"{"type": "task-started", "clock": "soon"}"#, json, Some("g6")),
        raw_envelope(br#"{"type": "task-started", "uuid": 12}"#, json, Some("g7")),
        br#"{"body": "!!not base64!!", "properties": {"body_encoding": "base64", "delivery_tag": "g8"}}"#.to_vec(),
    ];
    let client = redis::Client::open(server.url(0)).expect("URL");
    let mut connection = client.get_connection().expect("connects");
    for payload in &garbage {
        redis::cmd("PUBLISH")
            .arg("/0.celeryev/task.started")
            .arg(payload)
            .query::<i64>(&mut connection)
            .expect("published");
    }
    let dispatcher = dispatcher(&server, "good@host");
    dispatcher
        .send_event(&TaskStarted {
            uuid: "after-garbage".into(),
        })
        .expect("sent");
    dispatcher.flush(true, true).expect("flushed");

    let report = receiver.capture(&mut subscriber, Some(3), Some(Duration::from_secs(10)));
    assert_eq!(report.messages, garbage.len() as u64 + 1);
    assert_eq!(*started.lock().unwrap(), ["in-list", "after-garbage"]);
    let stats = receiver.stats();
    assert_eq!(stats.not_json, 3, "{stats:?}"); // text, binary, truncated body
    assert_eq!(stats.malformed, 8, "{stats:?}"); // body 5, list envelope, no tag, 17, "x", no type, clock, base64
    assert_eq!(stats.unsupported, 1, "{stats:?}");
    assert_eq!(stats.too_large, 1, "{stats:?}");
    assert_eq!(stats.decode_errors, 1, "{stats:?}"); // uuid 12 is not a string
    assert_eq!(stats.events, 3, "{stats:?}"); // the uuid-12 event reached its handler
    assert_eq!(errors.lock().unwrap().len() as u64, stats.errors());
}

static REMOTE_FAILURES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static REMOTE_ANY: AtomicUsize = AtomicUsize::new(0);

#[receiver(remote::task_failed, sender = "py@worker")]
fn on_remote_failure(event: &Received<TaskFailed>) {
    REMOTE_FAILURES
        .lock()
        .unwrap()
        .push((event.uuid.clone(), event.exception.clone()));
}

#[receiver(remote::event)]
fn on_any_remote_event(event: &signals_celery::events::Event) {
    if event
        .hostname()
        .is_some_and(|host| host.ends_with("@worker"))
    {
        REMOTE_ANY.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn remote_events_reach_in_process_receivers_as_signals() {
    let server = RedisServer::start();
    let mut subscriber = subscribe(&server);
    let receiver = EventReceiver::builder().emit_signals(true).build();
    for host in ["py@worker", "other@worker"] {
        let dispatcher = dispatcher(&server, host);
        dispatcher
            .send_event(&TaskFailed {
                uuid: format!("from-{host}"),
                exception: "KeyError('x')".into(),
                traceback: String::new(),
            })
            .expect("sent");
        dispatcher
            .send_event(&TaskStarted { uuid: "s".into() })
            .expect("sent");
        dispatcher.flush(true, true).expect("flushed");
    }
    receiver.capture(&mut subscriber, Some(4), Some(Duration::from_secs(10)));
    // The sender filter holds: only py@worker's failure.
    assert_eq!(
        *REMOTE_FAILURES.lock().unwrap(),
        [("from-py@worker".to_string(), "KeyError('x')".to_string())]
    );
    assert_eq!(REMOTE_ANY.load(Ordering::SeqCst), 4);
}

#[test]
fn a_stream_cut_by_killing_redis_is_delivered_exactly_once() {
    const EVENTS: usize = 6_000;
    let mut server = RedisServer::start();
    let subscriber = subscribe(&server);
    let tally = Tally::default();
    let receiver = tally
        .count(EventReceiver::builder(), "task-started")
        .build();
    let capturing = receiver.spawn(subscriber).expect("thread");

    // Held until a subscriber hears it: nothing is lost while either side is down.
    let options = RedisOptions {
        min_subscribers: 1,
        flush_timeout: Duration::from_secs(60),
        reconnect_delay: Duration::from_millis(50),
        ..RedisOptions::default()
    };
    let transport = RedisTransport::with_options(&server.url(0), options).expect("URL");
    let dispatcher = Arc::new(
        EventDispatcher::builder(transport)
            .hostname("stream@host")
            .build(),
    );
    let sender = send_numbered(&dispatcher, EVENTS, started, Duration::from_millis(2));
    // Kill Redis once a quarter of the stream has arrived.
    tally.wait_heard(EVENTS / 4, Duration::from_secs(30));
    server.kill();
    let at_kill = tally.heard();
    std::thread::sleep(Duration::from_millis(300));
    server.restart();

    sender.join().expect("the sender finished");
    dispatcher.flush(true, true).expect("everything published");
    tally.settle(EVENTS, Duration::from_secs(30));
    let subscriber = capturing.stop().expect("the capture thread ran");

    assert!(
        at_kill < EVENTS,
        "Redis was killed mid-stream ({at_kill} of {EVENTS})"
    );
    assert!(subscriber.subscriptions() >= 2, "the subscriber came back");
    tally.assert_each_once(EVENTS);
    eprintln!("killed at {at_kill} of {EVENTS}: {:?}", receiver.stats());
    assert!(
        receiver.stats().source_errors >= 1,
        "{:?}",
        receiver.stats()
    );
}

/// The `n`-th event of a numbered stream.
fn started(n: usize) -> TaskStarted {
    TaskStarted {
        uuid: n.to_string(),
    }
}

#[test]
fn an_idle_subscription_misses_nothing() {
    // The subscriber wakes from its blocking read every 500 ms; those wake-ups
    // must not cost a message (redis-rs's `recv_response` skips one per timeout).
    let server = RedisServer::start();
    let mut subscriber = subscribe(&server);
    std::thread::sleep(Duration::from_millis(1_700));
    let dispatcher = dispatcher(&server, "late@host");
    let (events, stats) = three_events(&dispatcher, &mut subscriber);
    assert_eq!(events, 3, "{stats:?}");
}

/// Three events sent through `dispatcher` and captured from `subscriber`:
/// how many arrived, and the receiver's counters.
fn three_events(
    dispatcher: &EventDispatcher,
    subscriber: &mut RedisSubscriber,
) -> (u64, ReceiverStats) {
    for n in 0..3 {
        dispatcher.send_event(&started(n)).expect("sent");
    }
    dispatcher.flush(true, true).expect("flushed");
    let receiver = EventReceiver::builder().build();
    let report = receiver.capture(subscriber, Some(3), Some(Duration::from_secs(5)));
    (report.events, receiver.stats())
}

/// A receiver may allow messages larger than the default limit: the
/// subscriber hands such a message over unopened, and it is opened and read
/// under the receiver's own limit; one over that limit is still refused.
#[test]
fn a_receiver_with_a_limit_above_the_default_reads_a_larger_message() {
    use signals_celery::events::DEFAULT_MAX_MESSAGE_SIZE;

    let server = RedisServer::start();
    let mut subscriber = subscribe(&server);
    let results = Arc::new(Mutex::new(Vec::new()));
    let seen = results.clone();
    let receiver = EventReceiver::builder()
        .max_message_size(3 * DEFAULT_MAX_MESSAGE_SIZE)
        .handler("task-succeeded", move |event| {
            let result = event.fields()["result"].as_str().unwrap_or_default().len();
            seen.lock().unwrap().push(result);
        })
        .build();
    let dispatcher = dispatcher(&server, "big@host");
    for size in [2 * DEFAULT_MAX_MESSAGE_SIZE, 4 * DEFAULT_MAX_MESSAGE_SIZE] {
        let mut fields = serde_json::Map::new();
        fields.insert("uuid".into(), json!(format!("big-{size}")));
        fields.insert("result".into(), json!("x".repeat(size)));
        dispatcher.send("task-succeeded", &fields).expect("sent");
    }
    dispatcher.flush(true, true).expect("flushed");

    let report = receiver.capture(&mut subscriber, Some(1), Some(Duration::from_secs(10)));
    assert_eq!(report.events, 1, "{report:?}");
    assert_eq!(*results.lock().unwrap(), [2 * DEFAULT_MAX_MESSAGE_SIZE]);
    let report = receiver.capture(&mut subscriber, None, Some(Duration::from_secs(2)));
    assert_eq!(report.messages, 1, "{report:?}");
    assert_eq!(receiver.stats().too_large, 1);
}

/// Three events through `url`, sent and captured; how many arrived.
fn three_events_through(url: &str) -> u64 {
    let mut subscriber = RedisSubscriber::open(url).expect("valid URL");
    assert!(
        subscriber.wait_subscribed(Duration::from_secs(5)),
        "subscribed through {url}"
    );
    let dispatcher = EventDispatcher::builder(RedisTransport::open(url).expect("valid URL"))
        .hostname("auth@host")
        .build();
    three_events(&dispatcher, &mut subscriber).0
}

/// The subscriber signs in as its URL says, with a password alone or as an
/// ACL user, and a refused password is a reported error, not silence.
#[test]
fn the_subscriber_signs_in_with_the_urls_credentials() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url(0)).expect("a client");
    let mut admin = client.get_connection().expect("connected");
    redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "watcher",
            "on",
            ">watcher-secret",
            "~*",
            "&*",
            "+@all",
        ])
        .query::<()>(&mut admin)
        .expect("user made");
    redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "server-secret"])
        .query::<()>(&mut admin)
        .expect("password set");
    let port = server.port;

    let with_password = format!("redis://:server-secret@127.0.0.1:{port}/0");
    assert_eq!(three_events_through(&with_password), 3);
    let as_user = format!("redis://watcher:watcher-secret@127.0.0.1:{port}/0");
    assert_eq!(three_events_through(&as_user), 3);

    let refused = format!("redis://:wrong-secret@127.0.0.1:{port}/0");
    let mut subscriber = RedisSubscriber::open(&refused).expect("valid URL");
    assert!(!subscriber.wait_subscribed(Duration::from_secs(1)));
    let error = subscriber
        .next_delivery(Duration::from_secs(5), 1 << 20)
        .expect_err("a refused password is an error");
    let text = error.to_string();
    assert!(text.to_lowercase().contains("authentication"), "{text}");
    assert!(
        !text.contains("wrong-secret"),
        "the password stays hidden: {text}"
    );
}
