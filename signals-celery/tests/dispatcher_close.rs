//! `close()` against a send in progress, Celery 5.7's guarantee on every
//! transport: `close` waits for a publish in flight (a `send`, an explicit
//! `publish` with a caller's producer, a flush), so nothing is published once it
//! has returned; and a send whose event is still being serialized when `close`
//! runs is buffered, not published.
//!
//! Each test holds the publish or the serialization open on purpose (a
//! transport or an event that waits on a channel), so the race is not left to
//! the scheduler. The scenarios run on the in-memory transport, on a real Redis
//! and on a real RabbitMQ node.

#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)]
mod support;

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use signals_celery::events::{
    AmqpSubscriber, AmqpTransport, CeleryEvent, EventDispatcher, EventSource, MemoryTransport,
    Message, RedisSubscriber, RedisTransport, Sent, TaskSucceeded, Transport, TransportError,
};

/// A transport that, for its first publish, says so and then waits to be let
/// go before handing the message to the transport it wraps.
struct Held {
    inner: Arc<dyn Transport>,
    hold: Mutex<Option<(Sender<()>, Receiver<()>)>>,
    /// Each publish's end, in order with the test's own marks.
    log: Arc<Mutex<Vec<&'static str>>>,
}

impl Held {
    /// The transport, a receiver told when the held publish has begun, and a
    /// sender that lets it go on.
    fn new(
        inner: Arc<dyn Transport>,
        log: Arc<Mutex<Vec<&'static str>>>,
    ) -> (Arc<Self>, Receiver<()>, Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let held = Arc::new(Self {
            inner,
            hold: Mutex::new(Some((entered_tx, release_rx))),
            log,
        });
        (held, entered_rx, release_tx)
    }
}

impl Transport for Held {
    fn driver_type(&self) -> &str {
        self.inner.driver_type()
    }

    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        let hold = self.hold.lock().unwrap().take();
        if let Some((entered, release)) = hold {
            entered.send(()).unwrap();
            release.recv().unwrap();
        }
        let published = self.inner.publish(message);
        self.log.lock().unwrap().push("published");
        published
    }

    fn flush(&self) -> Result<(), TransportError> {
        self.inner.flush()
    }
}

/// Where the test reads what reached the broker: the event types, in order.
trait Broker {
    fn transport(&self) -> Arc<dyn Transport>;
    /// The types of the events that reach the broker: waits up to 10 s for
    /// `expected` of them, then a little longer for any more.
    fn received(&mut self, expected: usize) -> Vec<String>;
}

struct Memory(MemoryTransport);

impl Broker for Memory {
    fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(self.0.clone())
    }

    fn received(&mut self, _expected: usize) -> Vec<String> {
        // Publishing to memory is immediate: what is not there was not sent.
        types_of(self.0.drain().into_iter().map(|message| message.body))
    }
}

/// A real broker's transport and one of our subscribers to it.
struct Remote<S: EventSource> {
    transport: Arc<dyn Transport>,
    subscriber: S,
}

impl<S: EventSource> Broker for Remote<S> {
    fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.transport)
    }

    fn received(&mut self, expected: usize) -> Vec<String> {
        self.transport.flush().expect("the broker has everything");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut types = Vec::new();
        loop {
            let wait = if types.len() < expected {
                deadline.saturating_duration_since(Instant::now())
            } else {
                STILL
            };
            match self.subscriber.next_delivery(wait, 1 << 20) {
                Ok(Some(delivery)) => types.extend(types_of([delivery.body].into_iter())),
                Ok(None) => return types,
                Err(error) => panic!("the subscriber failed: {error}"),
            }
        }
    }
}

fn types_of(bodies: impl Iterator<Item = Vec<u8>>) -> Vec<String> {
    bodies
        .flat_map(
            |body| match serde_json::from_slice::<Value>(&body).unwrap() {
                Value::Array(events) => events,
                event => vec![event],
            },
        )
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect()
}

/// How long a check that something did *not* happen waits: long enough that
/// the old behaviour (close returning at once) is always caught.
const STILL: Duration = Duration::from_millis(300);

/// How a scenario gets its publish started.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// `send_event`, with the dispatcher's own transport.
    Send,
    /// `publish` with a caller's producer (here the same held transport).
    Publish,
    /// A flush of a full group buffer.
    Flush,
}

/// While the transport is inside a held publish, `close()` does not return;
/// once the publish ends, `close()` returns after it, and a send made after
/// `close()` is buffered, not published, until `enable()` and a flush.
fn close_waits_for_the_publish_in_flight(broker: &mut dyn Broker, path: Path) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (held, entered, release) = Held::new(broker.transport(), Arc::clone(&log));
    let mut builder =
        EventDispatcher::builder(Arc::clone(&held) as Arc<dyn Transport>).hostname("closer@test");
    if let Path::Flush = path {
        builder = builder.buffer_group(["task"]).buffer_limit(2);
    }
    let dispatcher = Arc::new(builder.build());

    let sender = {
        let dispatcher = Arc::clone(&dispatcher);
        let held = Arc::clone(&held);
        thread::spawn(move || match path {
            Path::Send => dispatcher.send_event(&TaskSucceeded::default()),
            Path::Publish => {
                let fields = serde_json::Map::new();
                dispatcher.publish("task-succeeded", &fields, &*held, false)
            }
            Path::Flush => {
                dispatcher.send_event(&TaskSucceeded::default()).unwrap();
                dispatcher.send_event(&TaskSucceeded::default())
            }
        })
    };
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the publish began");

    let closer = {
        let dispatcher = Arc::clone(&dispatcher);
        let log = Arc::clone(&log);
        thread::spawn(move || {
            dispatcher.close();
            log.lock().unwrap().push("closed");
        })
    };
    thread::sleep(STILL);
    assert!(
        !closer.is_finished(),
        "{path:?}: close() returned while a publish was in flight"
    );
    release.send(()).unwrap();
    closer.join().unwrap();
    let sent = sender.join().unwrap().expect("sent");
    assert_eq!(
        *log.lock().unwrap(),
        ["published", "closed"],
        "{path:?}: the publish in flight ends before close() returns"
    );
    assert_ne!(sent, Sent::Skipped);

    // Closed: a send is kept, not published.
    let after = dispatcher
        .send_event(&signals_celery::events::WorkerHeartbeat::default())
        .unwrap();
    assert_eq!(after, Sent::Buffered);
    let expected_first: Vec<String> = match path {
        Path::Flush => vec!["task-succeeded".into(), "task-succeeded".into()],
        _ => vec!["task-succeeded".into()],
    };
    assert_eq!(
        broker.received(expected_first.len()),
        expected_first,
        "{path:?}: exactly the publish in flight reached the broker"
    );
    assert_eq!(*log.lock().unwrap(), ["published", "closed"]);

    dispatcher.enable().unwrap();
    assert_eq!(dispatcher.flush(true, true).unwrap().events, 1);
    assert_eq!(
        broker.received(1),
        ["worker-heartbeat"],
        "{path:?}: the event sent while closed is published after enable"
    );
}

/// An event whose serialization, the first time on a thread armed for it,
/// says it has begun and then waits to be let go.
#[derive(Deserialize)]
struct SlowToWrite;

thread_local! {
    static HOLD_SERIALIZING: std::cell::RefCell<Option<(Sender<()>, Receiver<()>)>> =
        const { std::cell::RefCell::new(None) };
}

impl Serialize for SlowToWrite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        if let Some((entered, release)) = HOLD_SERIALIZING.with(|hold| hold.borrow_mut().take()) {
            entered.send(()).unwrap();
            release.recv().unwrap();
        }
        serializer.serialize_map(Some(0))?.end()
    }
}

impl CeleryEvent for SlowToWrite {
    const TYPE: &'static str = "custom-slow";
}

/// A send whose event is being serialized when `close()` runs: `close()` does
/// not wait for it (nothing is published yet), and the event, once written,
/// finds the dispatcher closed and is buffered; `enable()` and a flush publish
/// it.
fn a_send_still_serializing_when_close_runs_is_buffered(broker: &mut dyn Broker) {
    let dispatcher = Arc::new(
        EventDispatcher::builder(broker.transport())
            .hostname("closer@test")
            .build(),
    );
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let sender = {
        let dispatcher = Arc::clone(&dispatcher);
        thread::spawn(move || {
            HOLD_SERIALIZING.with(|hold| *hold.borrow_mut() = Some((entered_tx, release_rx)));
            dispatcher.send_event(&SlowToWrite)
        })
    };
    entered_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the serialization began");
    let closer = {
        let dispatcher = Arc::clone(&dispatcher);
        thread::spawn(move || dispatcher.close())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !closer.is_finished() {
        assert!(
            Instant::now() < deadline,
            "close() waited for a serialization"
        );
        thread::sleep(Duration::from_millis(1));
    }
    closer.join().unwrap();
    release_tx.send(()).unwrap();
    assert_eq!(sender.join().unwrap().unwrap(), Sent::Buffered);
    assert_eq!(
        broker.received(0),
        Vec::<String>::new(),
        "an event written after close() is not published"
    );
    assert_eq!(dispatcher.buffered(), 1);

    dispatcher.enable().unwrap();
    assert_eq!(dispatcher.flush(true, true).unwrap().events, 1);
    assert_eq!(broker.received(1), ["custom-slow"]);
}

fn every_scenario(broker: &mut dyn Broker) {
    for path in [Path::Send, Path::Publish, Path::Flush] {
        close_waits_for_the_publish_in_flight(broker, path);
    }
    a_send_still_serializing_when_close_runs_is_buffered(broker);
}

#[test]
fn in_memory() {
    every_scenario(&mut Memory(MemoryTransport::new()));
}

#[test]
fn on_redis() {
    let server = support::RedisServer::start();
    let url = server.url(0);
    let mut subscriber = RedisSubscriber::open(&url).expect("a subscriber");
    // Subscribed before anything is published (Redis pub/sub keeps nothing).
    assert!(subscriber
        .next_delivery(Duration::from_millis(200), 1 << 20)
        .expect("subscribed")
        .is_none());
    every_scenario(&mut Remote {
        transport: Arc::new(RedisTransport::open(&url).expect("a transport")),
        subscriber,
    });
}

#[test]
fn on_rabbitmq() {
    let server = rabbitmq::RabbitServer::start();
    let url = server.url();
    let transport: Arc<dyn Transport> = Arc::new(AmqpTransport::open(&url).expect("a transport"));
    let mut subscriber = AmqpSubscriber::open(&url).expect("a subscriber");
    assert!(subscriber
        .next_delivery(Duration::from_millis(500), 1 << 20)
        .expect("bound")
        .is_none());
    every_scenario(&mut Remote {
        transport,
        subscriber,
    });
}
