//! The event dispatcher: each of Celery's options and methods, the message it
//! publishes, and the typed events.

#[path = "support/wire.rs"]
mod wire;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use signals_celery::events::{
    CeleryEvent, DeliveryMode, Event, EventDispatcher, EventError, Fields, Json, LamportClock,
    MemoryTransport, Message, PublishRetryPolicy, Published, SendOptions, Sent, SerializeError,
    Serializer, TaskFailed, TaskReceived, TaskRejected, TaskRetried, TaskRevoked, TaskSent,
    TaskStarted, TaskSucceeded, Transport, TransportError, WorkerHeartbeat, WorkerOffline,
    WorkerOnline,
};
use wire::wire_keys;

fn fields(value: Value) -> Fields {
    value.as_object().cloned().expect("an object")
}

fn only_event(broker: &MemoryTransport) -> (Published, Event) {
    let message = broker.try_recv().expect("a message");
    let mut events = message.events().unwrap();
    assert_eq!(events.len(), 1);
    let event = events.pop().unwrap();
    (message, event)
}

#[test]
fn the_message_is_what_celery_publishes() {
    let broker = MemoryTransport::new();
    let clock = Arc::new(LamportClock::new());
    let dispatcher = EventDispatcher::builder(broker.clone())
        .hostname("w1@example")
        .clock(clock.clone())
        .utcoffset(-2.0)
        .build();
    let given = fields(json!({"uuid": "7", "n": 1}));
    let sent = dispatcher.send("custom-my-event", &given).unwrap();
    assert_eq!(sent, Sent::Published);
    let (message, event) = only_event(&broker);
    // Every dash becomes a dot.
    assert_eq!(message.routing_key, "custom.my.event");
    assert_eq!(message.exchange, "celeryev");
    assert_eq!(message.content_type, "application/json");
    assert_eq!(message.content_encoding, "utf-8");
    assert_eq!(message.header("hostname"), Some("w1@example"));
    assert_eq!(message.delivery_mode, DeliveryMode::Transient);
    // Celery's key order (the given fields in the order their map iterates
    // them) and Python's separators.
    let mut expected = vec!["hostname", "utcoffset", "pid", "clock"];
    expected.extend(given.keys().map(String::as_str));
    expected.extend(["timestamp", "type"]);
    assert_eq!(wire_keys(&message.body), expected);
    let text = String::from_utf8(message.body.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"hostname": "w1@example", "utcoffset": -2.0, "pid": "#),
        "{text}"
    );
    assert_eq!(event.pid(), Some(u64::from(std::process::id())));
    assert_eq!(event.clock(), Some(1));
    assert_eq!(clock.value(), 1);
    assert_eq!(event.kind(), Some("custom-my-event"));
    let age = signals_now() - event.timestamp().unwrap();
    assert!((0.0..60.0).contains(&age), "timestamp {age} s old");
}

fn signals_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn default_hostname_is_celerys_anonymous_node_name() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone()).build();
    let expected_prefix = format!("gen{}@", std::process::id());
    assert!(dispatcher.hostname().starts_with(&expected_prefix));
    assert!(dispatcher.hostname().len() > expected_prefix.len());
}

#[test]
fn a_given_timestamp_is_kept_and_reserved_fields_are_refused() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone()).build();
    let given = fields(json!({"uuid": "1", "timestamp": 12.5}));
    dispatcher.send("task-received", &given).unwrap();
    let (message, event) = only_event(&broker);
    assert_eq!(event.timestamp(), Some(12.5));
    let keys = wire_keys(&message.body);
    let mut expected: Vec<&str> = given.keys().map(String::as_str).collect();
    expected.push("type");
    assert_eq!(keys[4..], expected);
    for reserved in ["hostname", "utcoffset", "pid", "clock", "type"] {
        let error = dispatcher
            .send("task-received", &fields(json!({ reserved: 1 })))
            .unwrap_err();
        assert!(matches!(&error, EventError::ReservedField(name) if name == reserved));
        assert!(error.to_string().contains(reserved));
    }
    assert!(broker.is_empty());
}

#[test]
fn blind_events_carry_a_null_clock_and_do_not_advance_it() {
    let broker = MemoryTransport::new();
    let clock = Arc::new(LamportClock::new());
    let dispatcher = EventDispatcher::builder(broker.clone())
        .clock(clock.clone())
        .build();
    dispatcher
        .send_with(
            "worker-heartbeat",
            &Fields::new(),
            SendOptions::new().blind(true),
        )
        .unwrap();
    let (message, event) = only_event(&broker);
    assert_eq!(event.get("clock"), Some(&Value::Null));
    assert!(String::from_utf8(message.body)
        .unwrap()
        .contains(r#""clock": null"#));
    assert_eq!(clock.value(), 0);
}

#[test]
fn dispatchers_of_one_app_share_a_lamport_clock() {
    let broker = MemoryTransport::new();
    let clock = Arc::new(LamportClock::new());
    let first = EventDispatcher::builder(broker.clone())
        .clock(clock.clone())
        .build();
    let second = EventDispatcher::builder(broker.clone())
        .clock(clock.clone())
        .build();
    first.send("worker-online", &Fields::new()).unwrap();
    second.send("worker-online", &Fields::new()).unwrap();
    first.send("worker-online", &Fields::new()).unwrap();
    let clocks: Vec<_> = broker
        .drain()
        .iter()
        .map(|m| m.events().unwrap()[0].clock().unwrap())
        .collect();
    assert_eq!(clocks, [1, 2, 3]);
    // A received event moves the shared clock past it.
    assert_eq!(clock.adjust(10), 11);
    second.send("worker-online", &Fields::new()).unwrap();
    assert_eq!(only_event(&broker).1.clock(), Some(12));
}

#[test]
fn options_groups_exchange_delivery_mode_and_headers() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .groups(["worker"])
        .exchange("myevents")
        .delivery_mode(DeliveryMode::Persistent)
        .header("x-service", "billing")
        .build();
    assert_eq!(
        dispatcher.send("task-started", &Fields::new()).unwrap(),
        Sent::Skipped
    );
    assert!(broker.is_empty(), "the task group is not among `groups`");
    dispatcher.send("worker-online", &Fields::new()).unwrap();
    let (message, _) = only_event(&broker);
    assert_eq!(message.exchange, "myevents");
    assert_eq!(dispatcher.exchange(), "myevents");
    assert_eq!(message.delivery_mode, DeliveryMode::Persistent);
    assert_eq!(message.header("x-service"), Some("billing"));
    assert_eq!(message.header("hostname"), Some(dispatcher.hostname()));
}

#[test]
fn a_disabled_dispatcher_sends_nothing() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .enabled(false)
        .build();
    assert!(!dispatcher.is_enabled());
    assert_eq!(
        dispatcher.send("worker-online", &Fields::new()).unwrap(),
        Sent::Skipped
    );
    assert!(broker.is_empty());
    assert_eq!(dispatcher.buffered(), 0);
}

#[test]
fn enable_disable_close_and_their_callbacks() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone()).build();
    let enabled = Arc::new(AtomicUsize::new(0));
    let disabled = Arc::new(AtomicUsize::new(0));
    let (e, d) = (enabled.clone(), disabled.clone());
    dispatcher.on_enabled(move || {
        e.fetch_add(1, Ordering::SeqCst);
    });
    dispatcher.on_disabled(move || {
        d.fetch_add(1, Ordering::SeqCst);
    });
    dispatcher.disable();
    dispatcher.disable(); // already disabled: no second callback
    assert_eq!(disabled.load(Ordering::SeqCst), 1);
    assert!(dispatcher.is_closed());
    assert!(dispatcher.publisher().is_none());
    assert_eq!(
        dispatcher.send("worker-online", &Fields::new()).unwrap(),
        Sent::Skipped
    );
    dispatcher.enable().unwrap();
    assert_eq!(enabled.load(Ordering::SeqCst), 1);
    assert!(dispatcher.publisher().is_some());
    assert_eq!(
        dispatcher.send("worker-online", &Fields::new()).unwrap(),
        Sent::Published
    );
    // Closed but enabled: events wait in the buffer (Celery 5.7 drops them).
    dispatcher.close();
    assert_eq!(
        dispatcher.send("worker-heartbeat", &Fields::new()).unwrap(),
        Sent::Buffered
    );
    assert_eq!(dispatcher.flush(true, true).unwrap().events, 0, "closed");
    assert_eq!(dispatcher.buffered(), 1);
    dispatcher.enable().unwrap();
    assert_eq!(dispatcher.flush(true, true).unwrap().events, 1);
    let kinds: Vec<_> = broker.drain().into_iter().map(|m| m.routing_key).collect();
    assert_eq!(kinds, ["worker.online", "worker.heartbeat"]);
}

/// A transport kombu would name `sql`: Celery disables events on it.
struct SqlTransport;

impl Transport for SqlTransport {
    fn driver_type(&self) -> &str {
        "sql"
    }
    fn publish(&self, _: &Message<'_>) -> Result<(), TransportError> {
        Err(TransportError::Refused("sql cannot carry events".into()))
    }
}

#[test]
fn a_transport_that_cannot_carry_events_leaves_the_dispatcher_disabled() {
    let dispatcher = EventDispatcher::builder(SqlTransport).build();
    assert!(!dispatcher.is_enabled());
    let error = dispatcher.enable().unwrap_err();
    assert!(matches!(&error, EventError::Unsupported { driver } if driver == "sql"));
    assert!(!dispatcher.is_enabled());
    assert_eq!(
        dispatcher.send("worker-online", &Fields::new()).unwrap(),
        Sent::Skipped
    );
}

#[test]
fn without_buffer_while_offline_a_failure_is_returned() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .buffer_while_offline(false)
        .build();
    broker.set_online(false);
    let error = dispatcher
        .send("worker-online", &Fields::new())
        .unwrap_err();
    assert!(matches!(
        error,
        EventError::Transport(TransportError::Unavailable(_))
    ));
    assert_eq!(dispatcher.buffered(), 0);
    dispatcher.close();
    assert!(matches!(
        dispatcher.send("worker-online", &Fields::new()),
        Err(EventError::Closed)
    ));
}

/// Fails the first `failures` publishes as unavailable, then delegates.
struct Recovering {
    inner: MemoryTransport,
    failures: AtomicUsize,
    attempts: AtomicUsize,
}

impl Transport for Recovering {
    fn driver_type(&self) -> &str {
        "memory"
    }
    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(TransportError::Unavailable("not yet".into()));
        }
        self.inner.publish(message)
    }
}

#[test]
fn retry_follows_the_policy_before_buffering() {
    let broker = MemoryTransport::new();
    let transport = Arc::new(Recovering {
        inner: broker.clone(),
        failures: AtomicUsize::new(2),
        attempts: AtomicUsize::new(0),
    });
    let dispatcher = EventDispatcher::builder_arc(transport.clone()).build();
    let quick = PublishRetryPolicy {
        max_retries: 3,
        interval_start: std::time::Duration::ZERO,
        interval_step: std::time::Duration::from_millis(1),
        interval_max: std::time::Duration::from_millis(2),
    };
    let options = SendOptions::new().retry(true).retry_policy(quick);
    assert_eq!(
        dispatcher
            .send_with("worker-heartbeat", &Fields::new(), options)
            .unwrap(),
        Sent::Published
    );
    assert_eq!(transport.attempts.load(Ordering::SeqCst), 3);
    // Fewer retries than failures: the event is buffered, not lost.
    transport.failures.store(5, Ordering::SeqCst);
    transport.attempts.store(0, Ordering::SeqCst);
    let once = SendOptions::new()
        .retry(true)
        .retry_policy(PublishRetryPolicy {
            max_retries: 1,
            ..quick
        });
    assert_eq!(
        dispatcher
            .send_with("worker-heartbeat", &Fields::new(), once)
            .unwrap(),
        Sent::Buffered
    );
    assert_eq!(transport.attempts.load(Ordering::SeqCst), 2);
    // Without retry: one attempt.
    transport.attempts.store(0, Ordering::SeqCst);
    dispatcher.send("worker-heartbeat", &Fields::new()).unwrap();
    assert_eq!(transport.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(dispatcher.buffered(), 2);
}

#[test]
fn publish_uses_the_given_producer() {
    let broker = MemoryTransport::new();
    let other = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone()).build();
    dispatcher
        .publish("task-sent", &fields(json!({"uuid": "9"})), &other, true)
        .unwrap();
    assert!(broker.is_empty());
    let (message, event) = only_event(&other);
    assert_eq!(message.routing_key, "task.sent");
    assert_eq!(event.get("clock"), Some(&Value::Null));
    assert_eq!(event.get("uuid"), Some(&json!("9")));
}

#[test]
fn buffered_groups_go_as_one_multi_message_of_buffer_limit_events() {
    let broker = MemoryTransport::new();
    let buffered = Arc::new(AtomicUsize::new(0));
    let counter = buffered.clone();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .buffer_group(["task"])
        .buffer_limit(3)
        .on_send_buffered(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    for i in 0..2 {
        let sent = dispatcher
            .send_event(&TaskStarted {
                uuid: i.to_string(),
            })
            .unwrap();
        assert_eq!(sent, Sent::Buffered);
    }
    // Other groups are published at once.
    dispatcher.send("worker-heartbeat", &Fields::new()).unwrap();
    assert_eq!(broker.try_recv().unwrap().routing_key, "worker.heartbeat");
    assert!(broker.is_empty());
    assert_eq!(buffered.load(Ordering::SeqCst), 2);
    // The third fills the buffer: one flush, no callback.
    dispatcher
        .send_event(&TaskStarted { uuid: "2".into() })
        .unwrap();
    assert_eq!(buffered.load(Ordering::SeqCst), 2);
    let message = broker.try_recv().unwrap();
    assert_eq!(message.routing_key, "task.multi");
    let text = String::from_utf8(message.body.clone()).unwrap();
    assert!(text.starts_with("[{") && text.contains("}, {"), "{text}");
    let uuids: Vec<_> = message
        .events()
        .unwrap()
        .iter()
        .map(|e| e.decode::<TaskStarted>().unwrap().uuid)
        .collect();
    assert_eq!(uuids, ["0", "1", "2"]);
    assert_eq!(dispatcher.buffered(), 0);
    // Buffered events are clocked even when sent blind, as in Celery.
    dispatcher
        .send_event_with(&TaskStarted::default(), SendOptions::new().blind(true))
        .unwrap();
    dispatcher.flush(false, true).unwrap();
    let event = &broker.try_recv().unwrap().events().unwrap()[0];
    assert!(event.clock().is_some());
    // An empty group is not published (Celery <= 5.6 sent `[]`).
    assert_eq!(dispatcher.flush(true, true).unwrap().messages, 0);
    assert!(broker.is_empty());
}

#[test]
fn flush_publishes_errors_and_groups_as_asked() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .buffer_group(["task"])
        .build();
    broker.set_online(false);
    dispatcher.send("worker-heartbeat", &Fields::new()).unwrap();
    dispatcher.send_event(&TaskStarted::default()).unwrap();
    broker.set_online(true);
    let report = dispatcher.flush(false, true).unwrap();
    assert_eq!((report.messages, report.events, report.buffered), (1, 1, 1));
    assert_eq!(broker.try_recv().unwrap().routing_key, "task.multi");
    let report = dispatcher.flush(true, false).unwrap();
    assert_eq!((report.messages, report.buffered), (1, 0));
    assert_eq!(broker.try_recv().unwrap().routing_key, "worker.heartbeat");
}

#[test]
fn extend_buffer_moves_the_other_dispatchers_events() {
    let broker = MemoryTransport::new();
    let old = EventDispatcher::builder(broker.clone()).build();
    broker.set_online(false);
    old.send("worker-heartbeat", &Fields::new()).unwrap();
    old.send("worker-heartbeat", &Fields::new()).unwrap();
    broker.set_online(true);
    let new = EventDispatcher::builder(broker.clone()).build();
    assert_eq!(new.extend_buffer(&old), 2);
    assert_eq!(old.buffered(), 0, "moved, so never published twice");
    assert_eq!(new.flush(true, true).unwrap().events, 2);
    assert_eq!(old.flush(true, true).unwrap().events, 0);
    assert_eq!(broker.drain().len(), 2);
}

/// A serializer of our own: JSON under another content type, to show the
/// dispatcher is not tied to one format.
struct VendorJson;

impl Serializer for VendorJson {
    fn name(&self) -> &'static str {
        "vendor-json"
    }
    fn content_type(&self) -> &'static str {
        "application/vnd.example+json"
    }
    fn content_encoding(&self) -> &'static str {
        "utf-8"
    }
    fn write<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), SerializeError> {
        Json.write(value, out)
    }
    fn write_list<'a>(&self, items: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
        Json.write_list(items, out)
    }
}

#[test]
fn the_serializer_is_pluggable() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .serializer(VendorJson)
        .build();
    assert_eq!(dispatcher.serializer().name(), "vendor-json");
    dispatcher.send("worker-online", &Fields::new()).unwrap();
    assert_eq!(
        broker.try_recv().unwrap().content_type,
        "application/vnd.example+json"
    );
}

fn round_trip<E: CeleryEvent + PartialEq + std::fmt::Debug>(event: E, routing_key: &str) {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .hostname("w@h")
        .build();
    assert_eq!(dispatcher.send_event(&event).unwrap(), Sent::Published);
    let (message, received) = only_event(&broker);
    assert_eq!(message.routing_key, routing_key);
    assert_eq!(received.kind(), Some(E::TYPE));
    assert_eq!(received.hostname(), Some("w@h"));
    assert_eq!(received.decode::<E>().unwrap(), event);
}

#[test]
fn every_typed_event_round_trips() {
    round_trip(
        TaskSent {
            uuid: "u1".into(),
            name: "tasks.add".into(),
            args: "(2, 2)".into(),
            kwargs: "{}".into(),
            retries: 0,
            eta: Some("2026-11-22T10:00:00+00:00".into()),
            expires: None,
            queue: Some("celery".into()),
            exchange: Some(String::new()),
            routing_key: Some("celery".into()),
            root_id: Some("u1".into()),
            parent_id: None,
        },
        "task.sent",
    );
    round_trip(
        TaskReceived {
            uuid: "u1".into(),
            name: "tasks.add".into(),
            args: "(2, 2)".into(),
            retries: 1,
            ..Default::default()
        },
        "task.received",
    );
    round_trip(TaskStarted { uuid: "u1".into() }, "task.started");
    round_trip(
        TaskSucceeded {
            uuid: "u1".into(),
            result: "4".into(),
            runtime: 0.25,
        },
        "task.succeeded",
    );
    round_trip(
        TaskFailed {
            uuid: "u1".into(),
            exception: "ValueError('x')".into(),
            traceback: "Traceback...".into(),
        },
        "task.failed",
    );
    round_trip(
        TaskRejected {
            uuid: "u1".into(),
            requeue: true,
        },
        "task.rejected",
    );
    round_trip(
        TaskRevoked {
            uuid: "u1".into(),
            terminated: true,
            signum: Some(15),
            expired: false,
        },
        "task.revoked",
    );
    round_trip(
        TaskRetried {
            uuid: "u1".into(),
            exception: "Retry()".into(),
            traceback: String::new(),
        },
        "task.retried",
    );
    let worker = |active| WorkerHeartbeat {
        freq: 2.0,
        sw_ident: "rs-signals".into(),
        sw_ver: "0.1.0".into(),
        sw_sys: "Linux".into(),
        active,
        processed: 10,
        loadavg: Some([0.5, 0.25, 0.125]),
    };
    round_trip(worker(1), "worker.heartbeat");
    let w = worker(0);
    round_trip(
        WorkerOnline {
            freq: w.freq,
            sw_ident: w.sw_ident.clone(),
            sw_ver: w.sw_ver.clone(),
            sw_sys: w.sw_sys.clone(),
            active: 0,
            processed: 0,
            loadavg: None,
        },
        "worker.online",
    );
    round_trip(
        WorkerOffline {
            freq: w.freq,
            sw_ident: w.sw_ident,
            sw_ver: w.sw_ver,
            sw_sys: w.sw_sys,
            active: 0,
            processed: 3,
            loadavg: w.loadavg,
        },
        "worker.offline",
    );
}
