//! The AMQP transport against a real RabbitMQ node of the test's own: the
//! exchange declared with Celery's exact flags, Celery's properties and raw
//! JSON body, single and `.multi` messages, and delivery of events published
//! while the broker was down.

#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;

use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties, Consumer, ExchangeKind};
use rabbitmq::RabbitServer;
use serde_json::Value;
use signals_celery::events::{
    AmqpOptions, AmqpTransport, EventDispatcher, TaskSucceeded, Transport, WorkerOnline,
};
use tokio::runtime::Runtime;

/// A consumer as Celery's `EventReceiver` binds one: a queue of its own, bound
/// to `celeryev` with `#`.
struct Monitor {
    runtime: Runtime,
    _connection: Connection,
    consumer: Consumer,
}

/// One message as the monitor got it.
struct Got {
    routing_key: String,
    properties: lapin::BasicProperties,
    body: Vec<u8>,
}

impl Monitor {
    fn new(server: &RabbitServer) -> Self {
        Self::open(server, false)
    }

    /// A monitor whose queue is durable: declared before the broker stops,
    /// it is there, bound, when the broker comes back, so nothing published
    /// after the restart goes unrouted while a new queue is being declared.
    fn lasting(server: &RabbitServer) -> Self {
        Self::open(server, true)
    }

    fn open(server: &RabbitServer, lasting: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let (connection, consumer) = runtime.block_on(async {
            let connection = Connection::connect(&server.url(), ConnectionProperties::default())
                .await
                .expect("connects");
            let channel = connection.create_channel().await.expect("a channel");
            // Celery's flags exactly: declaring it otherwise than the
            // transport did would close the channel (406).
            channel
                .exchange_declare(
                    "celeryev".into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        auto_delete: false,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("celeryev as Celery declares it");
            let queue = channel
                .queue_declare(
                    if lasting {
                        "celeryev.test-lasting".into()
                    } else {
                        "celeryev.test-monitor".into()
                    },
                    QueueDeclareOptions {
                        exclusive: !lasting,
                        auto_delete: !lasting,
                        durable: lasting,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("a queue");
            channel
                .queue_bind(
                    queue.name().clone(),
                    "celeryev".into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bound");
            let consumer = channel
                .basic_consume(
                    queue.name().clone(),
                    "monitor".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("consuming");
            (connection, consumer)
        });
        Self {
            runtime,
            _connection: connection,
            consumer,
        }
    }

    /// The next message, within 10 s.
    fn next(&mut self) -> Got {
        use futures::StreamExt as _;
        let consumer = &mut self.consumer;
        self.runtime.block_on(async {
            let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .expect("a message within 10 s")
                .expect("the consumer is open")
                .expect("a delivery");
            Got {
                routing_key: delivery.routing_key.to_string(),
                properties: delivery.properties.clone(),
                body: delivery.data.clone(),
            }
        })
    }
}

fn succeeded(uuid: &str) -> TaskSucceeded {
    TaskSucceeded {
        uuid: uuid.into(),
        result: "'4'".into(),
        runtime: 0.25,
    }
}

/// The properties Celery sets, and that no other is set.
fn assert_celery_properties(got: &Got, hostname: &str) {
    let properties = &got.properties;
    assert_eq!(
        properties.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(
        properties.content_encoding().as_ref().map(|s| s.as_str()),
        Some("utf-8")
    );
    assert_eq!(*properties.delivery_mode(), Some(1), "transient");
    assert_eq!(*properties.priority(), Some(0));
    let headers = properties.headers().as_ref().expect("headers");
    let fields: Vec<_> = headers.inner().iter().collect();
    assert_eq!(fields.len(), 1, "only hostname: {fields:?}");
    match headers.inner().get("hostname") {
        Some(AMQPValue::LongString(value)) => assert_eq!(value.to_string(), hostname),
        other => panic!("hostname header: {other:?}"),
    }
    assert!(properties.correlation_id().is_none() && properties.reply_to().is_none());
    assert!(properties.message_id().is_none() && properties.timestamp().is_none());
    assert!(properties.expiration().is_none() && properties.user_id().is_none());
}

#[test]
fn events_are_published_as_celery_publishes_them() {
    let server = RabbitServer::start();
    let mut monitor = Monitor::new(&server);
    let transport = AmqpTransport::open(&server.url()).expect("a valid URL");
    assert_eq!(transport.driver_type(), "amqp");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("rust@host")
        .buffer_group(["task"])
        .buffer_limit(2)
        .build();
    dispatcher
        .send_event(&WorkerOnline::default())
        .expect("sent");
    dispatcher.send_event(&succeeded("t-1")).expect("buffered");
    dispatcher
        .send_event(&succeeded("t-2"))
        .expect("a full group: sent");
    dispatcher.flush(true, true).expect("confirmed");

    let online = monitor.next();
    assert_eq!(online.routing_key, "worker.online");
    assert_celery_properties(&online, "rust@host");
    // The raw JSON of the event: no envelope, no base64.
    let event: Value = serde_json::from_slice(&online.body).expect("the body is JSON");
    assert_eq!(event["type"], "worker-online");
    assert_eq!(event["hostname"], "rust@host");

    let multi = monitor.next();
    assert_eq!(multi.routing_key, "task.multi");
    assert_celery_properties(&multi, "rust@host");
    let events: Vec<Value> = serde_json::from_slice(&multi.body).expect("a JSON list");
    let uuids: Vec<_> = events.iter().map(|event| event["uuid"].clone()).collect();
    assert_eq!(uuids, ["t-1", "t-2"]);
    assert!(events.iter().all(|event| event["type"] == "task-succeeded"));
}

#[test]
fn events_published_while_the_broker_is_down_arrive_once_it_is_back() {
    let mut server = RabbitServer::start();
    let options = AmqpOptions {
        flush_timeout: Duration::from_millis(500),
        reconnect_delay: Duration::from_millis(50),
        ..AmqpOptions::default()
    };
    drop(Monitor::lasting(&server));
    server.stop();
    let transport = AmqpTransport::with_options(&server.url(), options).expect("a valid URL");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("rust@host")
        .build();
    for n in 0..200 {
        dispatcher
            .send_event(&succeeded(&format!("t-{n}")))
            .expect("queued by the transport");
    }
    assert!(
        dispatcher.flush(true, true).is_err(),
        "the broker is down: not confirmed"
    );
    server.restart();
    let mut monitor = Monitor::lasting(&server);
    // The transport reconnects on its own and publishes what it kept.
    let mut uuids = Vec::new();
    while uuids.len() < 200 {
        let got = monitor.next();
        let event: Value = serde_json::from_slice(&got.body).expect("JSON");
        uuids.push(event["uuid"].as_str().expect("a uuid").to_owned());
    }
    let expected: Vec<_> = (0..200).map(|n| format!("t-{n}")).collect();
    assert_eq!(uuids, expected, "every event, in order, once");
}

#[test]
fn a_bad_url_is_a_typed_error_without_the_password() {
    let error = AmqpTransport::open("amqp://user:hunter2@127.0.0.1:notaport/%2f").unwrap_err();
    let text = error.to_string();
    assert!(text.contains("invalid AMQP URL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{error:?}").contains("hunter2"));
}

#[test]
fn our_subscriber_follows_our_transport_and_resubscribes_after_a_restart() {
    use signals_celery::events::{AmqpSubscriber, EventReceiver};
    use std::sync::{Arc, Mutex};

    let mut server = RabbitServer::start();
    let mut subscriber = AmqpSubscriber::open(&server.url()).expect("a valid URL");
    assert!(subscriber.wait_subscribed(Duration::from_secs(10)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let receiver = EventReceiver::builder()
        .handler("*", move |event| {
            log.lock()
                .unwrap()
                .push(event.get("uuid").and_then(Value::as_str).map(str::to_owned))
        })
        .build();
    let send = |server: &RabbitServer, uuids: &[&str]| {
        let transport = AmqpTransport::open(&server.url()).expect("a valid URL");
        let dispatcher = EventDispatcher::builder(transport)
            .hostname("rust@host")
            .buffer_group(["task"])
            .build();
        for uuid in uuids {
            dispatcher.send_event(&succeeded(uuid)).expect("buffered");
        }
        dispatcher.flush(true, true).expect("confirmed");
    };
    send(&server, &["a", "b", "c"]);
    let report = receiver.capture(&mut subscriber, Some(3), Some(Duration::from_secs(20)));
    assert_eq!(report.events, 3);
    assert_eq!(report.messages, 1, "one task.multi message");

    server.restart();
    // The subscriber reports the lost connection, then binds a new queue.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while subscriber.subscriptions() < 2 {
        assert!(std::time::Instant::now() < deadline, "resubscribed");
        let _ = receiver.capture(&mut subscriber, Some(1), Some(Duration::from_millis(200)));
    }
    send(&server, &["d"]);
    let report = receiver.capture(&mut subscriber, Some(1), Some(Duration::from_secs(20)));
    assert_eq!(report.events, 1);
    let seen: Vec<_> = seen.lock().unwrap().iter().flatten().cloned().collect();
    assert_eq!(seen, ["a", "b", "c", "d"]);
    assert!(
        receiver.stats().errors() >= 1,
        "the lost connection was reported"
    );
}

#[allow(dead_code)]
#[path = "support/tls.rs"]
mod tls;

/// `amqps://` to a node whose certificate a private CA signed: trusted with the
/// CA given, refused without it (and the error does not show the password);
/// certificates that are not PEM are a typed error at once.
#[test]
fn events_travel_over_tls_with_a_private_ca() {
    use signals_celery::events::{
        AmqpConfigError, AmqpSubscriber, AmqpSubscriberOptions, EventReceiver, EventSource,
        Received, TaskStarted,
    };

    let certificates = std::env::temp_dir().join(format!("signals-amqps-{}", std::process::id()));
    std::fs::create_dir_all(&certificates).expect("a temporary directory");
    let ca = tls::TestCa::make(&certificates);
    let server = RabbitServer::start_tls(rabbitmq::TlsFiles {
        ca: &ca.ca_file,
        cert: &ca.cert_file,
        key: &ca.key_file,
    });
    let url = server.tls_url();
    assert!(url.starts_with("amqps://"));

    let subscriber = AmqpSubscriber::with_options(
        &url,
        AmqpSubscriberOptions {
            tls_root_certificates: Some(ca.ca.clone()),
            ..AmqpSubscriberOptions::default()
        },
    )
    .expect("valid URL");
    assert!(
        subscriber.wait_subscribed(Duration::from_secs(30)),
        "subscribed over TLS"
    );
    let transport = AmqpTransport::with_options(
        &url,
        AmqpOptions {
            tls_root_certificates: Some(ca.ca.clone()),
            ..AmqpOptions::default()
        },
    )
    .expect("valid URL");
    let dispatcher = EventDispatcher::builder(transport)
        .hostname("tls@host")
        .build();
    for uuid in ["a", "b", "c"] {
        dispatcher
            .send_event(&TaskStarted { uuid: uuid.into() })
            .expect("sent");
    }
    dispatcher.flush(true, true).expect("confirmed over TLS");
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let receiver = {
        let got = got.clone();
        EventReceiver::builder()
            .on(move |event: &Received<TaskStarted>| {
                got.lock().unwrap().push(event.event.uuid.clone());
            })
            .build()
    };
    let mut subscriber = subscriber;
    receiver.capture(&mut subscriber, Some(3), Some(Duration::from_secs(10)));
    assert_eq!(*got.lock().unwrap(), ["a", "b", "c"]);

    // Without the CA, the server's certificate is not trusted.
    let mut untrusting = AmqpSubscriber::open(&url).expect("valid URL");
    let error = untrusting
        .next_delivery(Duration::from_secs(10), 1 << 20)
        .expect_err("the certificate is refused");
    let text = error.to_string();
    assert!(
        text.to_lowercase().contains("certificate"),
        "the error says why: {text}"
    );
    assert!(!text.contains("guest:guest"), "no password: {text}");

    let error = AmqpTransport::with_options(
        &url,
        AmqpOptions {
            tls_root_certificates: Some(b"not a certificate".to_vec()),
            ..AmqpOptions::default()
        },
    )
    .expect_err("refused");
    assert!(matches!(error, AmqpConfigError::InvalidCertificates));
    let _ = std::fs::remove_dir_all(&certificates);
}
