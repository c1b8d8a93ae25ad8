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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rabbitmq::RabbitServer;
use signals_celery::events::{
    AmqpSubscriber, AmqpSubscriberOptions, AmqpTransport, DeliveryMode, EventDispatcher,
    EventReceiver, TaskSucceeded,
};

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

    // uuid -> times a handler saw it.
    let seen = Arc::new(Mutex::new(BTreeMap::<usize, usize>::new()));
    let heard = Arc::new(AtomicUsize::new(0));
    let receiver = {
        let (seen, heard) = (seen.clone(), heard.clone());
        EventReceiver::builder()
            .handler("task-succeeded", move |event| {
                let uuid = event.fields()["uuid"].as_str().unwrap().parse().unwrap();
                *seen.lock().unwrap().entry(uuid).or_default() += 1;
                heard.fetch_add(1, Ordering::SeqCst);
            })
            .build()
    };
    let capturing = receiver.spawn(subscriber).expect("a receiver thread");

    let dispatcher = Arc::new(
        EventDispatcher::builder(AmqpTransport::open(&list).expect("a transport"))
            .hostname("cluster@test")
            .delivery_mode(DeliveryMode::Persistent)
            .build(),
    );
    let sender = {
        let dispatcher = dispatcher.clone();
        thread::spawn(move || {
            for uuid in 0..EVENTS {
                let event = TaskSucceeded {
                    uuid: uuid.to_string(),
                    result: "4".into(),
                    runtime: 0.001,
                };
                dispatcher.send_event(&event).expect("accepted");
                if uuid % 20 == 0 {
                    thread::sleep(Duration::from_millis(2));
                }
            }
        })
    };

    // Both start on the list's first node: kill it a quarter of the way in.
    let deadline = Instant::now() + Duration::from_secs(60);
    while heard.load(Ordering::SeqCst) < EVENTS / 4 {
        assert!(Instant::now() < deadline, "the stream did not start");
        thread::sleep(Duration::from_millis(1));
    }
    nodes[0].kill();
    let killed = Instant::now();
    let at_kill = heard.load(Ordering::SeqCst);
    let mut moved = None;
    while moved.is_none() {
        if heard.load(Ordering::SeqCst) > at_kill + 100 {
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
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < EVENTS && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_millis(500));
    let stats = receiver.stats();
    let subscriber = capturing.stop().expect("the capture thread ran");

    let seen = seen.lock().unwrap();
    let missing: Vec<usize> = (0..EVENTS)
        .filter(|uuid| !seen.contains_key(uuid))
        .collect();
    let twice: Vec<(&usize, &usize)> = seen.iter().filter(|(_, &times)| times != 1).collect();
    eprintln!(
        "node killed at event {at_kill} of {EVENTS}; the stream resumed on another node after \
         {moved:?}; {} received once, {} copies dropped by tag",
        seen.len(),
        stats.duplicates
    );
    assert!(subscriber.subscriptions() >= 2, "the subscriber moved");
    assert!(
        missing.is_empty(),
        "{} lost, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(twice.is_empty(), "handled twice: {twice:?}");
}
