//! The AMQP transport and subscriber through a RabbitMQ restart in the middle
//! of a stream of events, on a node of the test's own.
//!
//! The guarantee tested: with persistent events (`DeliveryMode::Persistent`)
//! and a durable subscriber queue (`AmqpSubscriberOptions::durable`), every
//! event handed to the dispatcher reaches the receiver's handlers exactly once.
//! The broker delivers at least once (a message the transport re-sends after a
//! lost confirm, or one the broker delivers again because its ack was lost with
//! the connection, arrives twice); the receiver drops the second copy by its
//! tag. Celery's own receiver queue (exclusive, transient) makes no such
//! promise: it goes with the connection, and what is published while it is
//! gone is lost, for Celery's receiver as for ours.

#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
#[path = "support/tally.rs"]
mod tally;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rabbitmq::RabbitServer;
use signals_celery::events::{
    AmqpSubscriber, AmqpSubscriberOptions, AmqpTransport, DeliveryMode, EventDispatcher,
    EventReceiver, Sent, TaskSucceeded,
};
use tally::Tally;

/// Events in the stream.
const EVENTS: usize = 6_000;
/// The broker stops after this many are sent...
const STOP_AT: usize = 2_000;
/// ...and starts again after this many.
const START_AT: usize = 4_000;

#[test]
fn every_event_reaches_a_durable_subscriber_once_through_a_broker_restart() {
    let mut server = RabbitServer::start();
    let url = server.url();

    let subscriber =
        AmqpSubscriber::with_options(&url, AmqpSubscriberOptions::durable("celeryev.fault-test"))
            .expect("a subscriber");
    assert!(subscriber.wait_subscribed(Duration::from_secs(30)), "bound");

    let tally = Tally::default();
    let receiver = tally
        .count(EventReceiver::builder(), "task-succeeded")
        .build();
    let capturing = receiver.spawn(subscriber).expect("a receiver thread");

    let dispatcher = Arc::new(
        EventDispatcher::builder(AmqpTransport::open(&url).expect("a transport"))
            .hostname("faults@test")
            .delivery_mode(DeliveryMode::Persistent)
            .build(),
    );

    // The sender runs through the three phases; it waits at START_AT until
    // the broker is back, so some events go before, some while it is down and
    // some after.
    let sent = Arc::new(AtomicUsize::new(0));
    let (restarted_tx, restarted_rx) = mpsc::channel::<()>();
    let sender = {
        let dispatcher = Arc::clone(&dispatcher);
        let sent = Arc::clone(&sent);
        thread::spawn(move || {
            for uuid in 0..EVENTS {
                if uuid == START_AT {
                    restarted_rx.recv().unwrap();
                }
                let event = TaskSucceeded {
                    uuid: uuid.to_string(),
                    result: "4".into(),
                    runtime: 0.001,
                };
                let outcome = dispatcher.send_event(&event).expect("accepted");
                assert_ne!(outcome, Sent::Skipped);
                sent.store(uuid + 1, Ordering::Release);
                if uuid % 20 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };

    let wait_for = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while sent.load(Ordering::Acquire) < count {
            assert!(Instant::now() < deadline, "the sender is stuck");
            thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for(STOP_AT);
    server.stop();
    wait_for(START_AT);
    server.restart();
    restarted_tx.send(()).unwrap();
    sender.join().unwrap();

    // Until the broker has confirmed everything, buffered events included.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match dispatcher.flush(true, true) {
            Ok(report) if report.buffered == 0 => break,
            outcome => assert!(
                Instant::now() < deadline,
                "not all confirmed within 60 s: {outcome:?}"
            ),
        }
        thread::sleep(Duration::from_millis(100));
    }

    // Anything still on its way would show up as a second sighting.
    tally.settle(EVENTS, Duration::from_secs(60));
    let stats = receiver.stats();
    drop(capturing.stop());

    eprintln!(
        "{EVENTS} events sent ({} before the stop, {} while down, {} after): {} received, \
         {} copies dropped by tag, {} messages taken",
        STOP_AT,
        START_AT - STOP_AT,
        EVENTS - START_AT,
        tally.distinct(),
        stats.duplicates,
        stats.messages
    );
    tally.assert_each_once(EVENTS);
    assert_eq!(stats.events, EVENTS as u64);
}
