//! The Redis transport against a real `redis-server`: the exact kombu envelope
//! and channel, single and `.multi` messages, db numbers and key prefixes, and
//! delivery after Redis is killed and restarted.

mod support;
#[path = "support/wire.rs"]
mod wire;

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use signals_celery::events::{
    Event, EventDispatcher, RedisOptions, RedisTransport, TaskSucceeded, Transport,
};
use support::RedisServer;

/// A pattern subscription on a server, read with a timeout.
struct Subscriber {
    connection: redis::Connection,
}

impl Subscriber {
    fn new(server: &RedisServer, pattern: &str) -> Self {
        let client = redis::Client::open(server.url(0)).expect("valid URL");
        let mut connection = client.get_connection().expect("connects");
        connection
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        // Raw PSUBSCRIBE: the connection stays subscribed for the test's life
        // (redis-rs's `PubSub` guard unsubscribes when dropped).
        connection
            .send_packed_command(&redis::cmd("PSUBSCRIBE").arg(pattern).get_packed_command())
            .expect("psubscribe sent");
        let confirmation = connection.recv_response().expect("psubscribe confirmed");
        assert!(
            format!("{confirmation:?}").contains("psubscribe"),
            "{confirmation:?}"
        );
        Self { connection }
    }

    /// The next (channel, payload).
    fn next(&mut self) -> (String, Vec<u8>) {
        let value = self
            .connection
            .recv_response()
            .expect("a message within 5 s");
        let message = redis::Msg::from_owned_value(value).expect("a pub/sub message");
        (
            message.get_channel_name().to_owned(),
            message.get_payload_bytes().to_vec(),
        )
    }
}

/// The envelope's fields, in order, and its decoded body.
fn open_envelope(payload: &[u8]) -> (Vec<String>, serde_json::Map<String, Value>, Vec<u8>) {
    let envelope: serde_json::Map<String, Value> =
        serde_json::from_slice(payload).expect("the envelope is JSON");
    let keys = wire::wire_keys(payload);
    let body = base64::engine::general_purpose::STANDARD
        .decode(envelope["body"].as_str().expect("body is a string"))
        .expect("body is base64");
    (keys, envelope, body)
}

fn succeeded(uuid: &str) -> TaskSucceeded {
    TaskSucceeded {
        uuid: uuid.into(),
        result: "'4'".into(),
        runtime: 0.25,
    }
}

#[test]
fn an_event_is_published_as_kombu_publishes_it() {
    let server = RedisServer::start();
    let mut subscriber = Subscriber::new(&server, "/0.celeryev/*");
    let transport = RedisTransport::open(&server.url(0)).expect("valid URL");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("rust@host")
        .build();
    dispatcher.send_event(&succeeded("t-1")).expect("queued");
    dispatcher.flush(true, true).expect("sent");

    let (channel, payload) = subscriber.next();
    assert_eq!(channel, "/0.celeryev/task.succeeded");
    let text = String::from_utf8(payload.clone()).expect("UTF-8");
    assert!(
        text.starts_with("{\"body\": \""),
        "Python separators: {text}"
    );
    let (keys, envelope, body) = open_envelope(&payload);
    assert_eq!(
        keys,
        [
            "body",
            "content-encoding",
            "content-type",
            "headers",
            "properties"
        ]
    );
    assert_eq!(envelope["content-encoding"], "utf-8");
    assert_eq!(envelope["content-type"], "application/json");
    assert_eq!(
        envelope["headers"],
        serde_json::json!({"hostname": "rust@host"})
    );
    let properties = envelope["properties"].as_object().expect("an object");
    assert_eq!(
        wire::nested_wire_keys(&payload, "properties"),
        [
            "delivery_mode",
            "delivery_info",
            "priority",
            "body_encoding",
            "delivery_tag"
        ]
    );
    assert_eq!(properties["delivery_mode"], 1);
    assert_eq!(
        properties["delivery_info"],
        serde_json::json!({"exchange": "celeryev", "routing_key": "task.succeeded"})
    );
    assert_eq!(properties["priority"], 0);
    assert_eq!(properties["body_encoding"], "base64");
    assert_eq!(properties["delivery_tag"].as_str().map(str::len), Some(36));

    let events = Event::parse_body(&body).expect("the body is an event");
    assert_eq!(events.len(), 1);
    let event = events[0]
        .decode::<TaskSucceeded>()
        .expect("a task-succeeded");
    assert_eq!(event.uuid, "t-1");
    assert_eq!(events[0].hostname(), Some("rust@host"));
    assert_eq!(events[0].kind(), Some("task-succeeded"));
}

#[test]
fn grouped_events_go_as_one_multi_message() {
    let server = RedisServer::start();
    let mut subscriber = Subscriber::new(&server, "/0.celeryev/*");
    let transport = RedisTransport::open(&server.url(0)).expect("valid URL");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("rust@host")
        .buffer_group(["task"])
        .buffer_limit(3)
        .build();
    for id in ["m-1", "m-2", "m-3"] {
        dispatcher.send_event(&succeeded(id)).expect("accepted");
    }
    dispatcher.flush(true, true).expect("sent");
    let (channel, payload) = subscriber.next();
    assert_eq!(channel, "/0.celeryev/task.multi");
    let (_, _, body) = open_envelope(&payload);
    let events = Event::parse_body(&body).expect("a list of events");
    let ids: Vec<_> = events
        .iter()
        .map(|event| event.decode::<TaskSucceeded>().expect("typed").uuid)
        .collect();
    assert_eq!(ids, ["m-1", "m-2", "m-3"]);
}

#[test]
fn db_number_and_global_key_prefix_shape_the_channel() {
    let server = RedisServer::start();
    let mut subscriber = Subscriber::new(&server, "app:/5.celeryev/*");
    let options = RedisOptions {
        global_keyprefix: "app:".into(),
        ..RedisOptions::default()
    };
    let transport = RedisTransport::with_options(&server.url(5), options).expect("valid URL");
    assert_eq!(
        transport.channel("celeryev", "worker.online"),
        "app:/5.celeryev/worker.online"
    );
    let dispatcher = EventDispatcher::builder(transport).build();
    dispatcher.send_event(&succeeded("p-1")).expect("queued");
    dispatcher.flush(true, true).expect("sent");
    assert_eq!(subscriber.next().0, "app:/5.celeryev/task.succeeded");

    let bad = RedisTransport::open("redis://:hunter2@127.0.0.1:1/notanumber")
        .err()
        .expect("invalid");
    let message = bad.to_string();
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
    assert!(message.contains("notanumber"), "{message}");
}

#[test]
fn events_queued_while_redis_is_down_are_delivered_after_it_is_back() {
    let mut server = RedisServer::start();
    let options = RedisOptions {
        // The subscriber below needs a moment after the restart.
        reconnect_delay: Duration::from_millis(800),
        flush_timeout: Duration::from_secs(20),
        ..RedisOptions::default()
    };
    let transport = RedisTransport::with_options(&server.url(0), options).expect("valid URL");
    {
        let mut subscriber = Subscriber::new(&server, "/0.celeryev/*");
        transport.publish(&message(b"{\"n\": 0}")).expect("queued");
        transport.flush().expect("sent");
        assert!(!subscriber.next().1.is_empty());
    }
    server.kill();
    for n in 1..=50 {
        let body = format!("{{\"n\": {n}}}");
        transport
            .publish(&message(body.as_bytes()))
            .expect("queued while down");
    }
    // The writer is failing and backing off: nothing can be sent.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(transport.pending(), 50);
    server.restart();
    let mut subscriber = Subscriber::new(&server, "/0.celeryev/*");
    transport.flush().expect("delivered once Redis is back");
    let mut seen = Vec::new();
    while seen.len() < 50 {
        let (_, payload) = subscriber.next();
        let (_, _, body) = open_envelope(&payload);
        let value: Value = serde_json::from_slice(&body).expect("JSON");
        seen.push(value["n"].as_u64().expect("n"));
    }
    assert_eq!(seen, (1..=50).collect::<Vec<_>>(), "in order, none lost");
}

fn message(body: &[u8]) -> signals_celery::events::Message<'_> {
    signals_celery::events::Message {
        exchange: "celeryev",
        routing_key: "task.succeeded",
        body,
        content_type: "application/json",
        content_encoding: "utf-8",
        headers: &[("hostname", "rust@host")],
        delivery_mode: signals_celery::events::DeliveryMode::Transient,
    }
}
