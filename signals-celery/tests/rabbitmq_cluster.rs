//! Events on a RabbitMQ cluster of three nodes (one machine, distinct names,
//! ports and data directories, one Erlang cookie): a dispatcher with the three
//! nodes' URLs as a failover list, and a subscriber on a durable quorum queue
//! with the same list. The node both are connected to is killed mid-stream;
//! both move to the next node, the quorum queue keeps its messages on the
//! two nodes left, and every event reaches the handlers exactly once
//! (publisher confirms, and the receiver's de-duplication of what the broker
//! delivers twice).

#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
#[path = "support/tally.rs"]
mod tally;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rabbitmq::RabbitServer;
use signals_celery::events::{
    AmqpSubscriber, AmqpSubscriberOptions, AmqpTransport, DeliveryMode, EventDispatcher,
    EventReceiver, TaskSucceeded,
};
use tally::{send_numbered, Tally};

const EVENTS: usize = 6_000;

#[test]
fn every_event_reaches_a_quorum_queue_subscriber_once_when_its_node_is_killed() {
    let mut nodes = RabbitServer::start_cluster(3);
    let list = nodes
        .iter()
        .map(RabbitServer::url)
        .collect::<Vec<_>>()
        .join(";");

    let options = AmqpSubscriberOptions {
        reconnect_delay: Duration::from_millis(50),
        ..AmqpSubscriberOptions::quorum("celeryev.cluster-test")
    };
    let subscriber = AmqpSubscriber::with_options(&list, options).expect("a subscriber");
    assert!(subscriber.wait_subscribed(Duration::from_secs(30)), "bound");
    let queues = nodes[1].ctl(&["list_queues", "name", "type", "--formatter", "json"]);
    assert!(
        queues.contains("\"celeryev.cluster-test\"") && queues.contains("\"quorum\""),
        "the subscriber's queue is a quorum queue: {queues}"
    );

    let tally = Tally::default();
    let receiver = tally
        .count(EventReceiver::builder(), "task-succeeded")
        .build();
    let capturing = receiver.spawn(subscriber).expect("a receiver thread");

    let dispatcher = Arc::new(
        EventDispatcher::builder(AmqpTransport::open(&list).expect("a transport"))
            .hostname("cluster@test")
            .delivery_mode(DeliveryMode::Persistent)
            .build(),
    );
    let sender = send_numbered(&dispatcher, EVENTS, succeeded, Duration::from_millis(2));

    // Both start on the list's first node: kill it a quarter of the way in.
    tally.wait_heard(EVENTS / 4, Duration::from_secs(60));
    nodes[0].kill();
    let killed = Instant::now();
    let at_kill = tally.heard();
    let mut moved = None;
    while moved.is_none() {
        if tally.heard() > at_kill + 100 {
            moved = Some(killed.elapsed());
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the stream did not resume on another node"
        );
        thread::sleep(Duration::from_millis(5));
    }
    sender.join().unwrap();

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
    tally.settle(EVENTS, Duration::from_secs(60));
    let stats = receiver.stats();
    let subscriber = capturing.stop().expect("the capture thread ran");

    eprintln!(
        "node killed at event {at_kill} of {EVENTS}; the stream resumed on another node after \
         {moved:?}; {} received, {} copies dropped by tag",
        tally.distinct(),
        stats.duplicates
    );
    assert!(subscriber.subscriptions() >= 2, "the subscriber moved");
    tally.assert_each_once(EVENTS);
}

/// The `n`-th event of a numbered stream.
fn succeeded(n: usize) -> TaskSucceeded {
    TaskSucceeded {
        uuid: n.to_string(),
        result: "4".into(),
        runtime: 0.001,
    }
}
