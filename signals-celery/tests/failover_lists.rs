//! kombu's failover lists (`redis://h1;redis://h2`, `amqp://n1;amqp://n2`) on
//! real servers: a dead first URL is skipped, and the log says which; a
//! publisher and a subscriber whose node goes away move to the next one; a
//! list that cannot be used is a typed error.

#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
mod support;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rabbitmq::RabbitServer;
use signals_celery::control::RedisMailbox;
use signals_celery::control::{AmqpControl, AmqpMailbox, MailboxOptions, Node, RedisControl};
use signals_celery::events::{
    AmqpConfigError, AmqpSubscriber, AmqpTransport, EventDispatcher, EventReceiver, EventSource,
    Received, RedisConfigError, RedisOptions, RedisSubscriber, RedisSubscriberOptions,
    RedisTransport, TaskStarted,
};
use signals_celery::queues::{QueueError, QueueProbe};
use signals_celery::TopologyError;
use support::RedisServer;

/// Everything logged by this test binary, as text.
fn log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        struct Shared;
        impl Write for Shared {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                log().lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(|| Shared)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        Mutex::new(Vec::new())
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&log().lock().unwrap()).into_owned()
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Counts the `TaskStarted` events a receiver hears from `source`.
fn count_events<S: EventSource + Send + 'static>(
    source: S,
) -> (Arc<AtomicUsize>, signals_celery::events::Capturing<S>) {
    let heard = Arc::new(AtomicUsize::new(0));
    let total = heard.clone();
    let receiver = EventReceiver::builder()
        .on(move |_: &Received<TaskStarted>| {
            total.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    (heard, receiver.spawn(source).expect("thread"))
}

fn wait_for(count: &AtomicUsize, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while count.load(Ordering::SeqCst) < expected {
        assert!(
            Instant::now() < deadline,
            "{} of {expected} events heard",
            count.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn send(dispatcher: &EventDispatcher, events: std::ops::Range<usize>) {
    for i in events {
        dispatcher
            .send_event(&TaskStarted {
                uuid: i.to_string(),
            })
            .expect("accepted");
    }
    dispatcher.flush(true, true).expect("published");
}

#[test]
fn a_redis_list_skips_a_dead_first_url_and_logs_it() {
    let _ = log();
    let server = RedisServer::start();
    let dead = format!("redis://:secret@127.0.0.1:{}/0", dead_port());
    let list = format!("{dead};{}", server.url(0));

    let subscriber = RedisSubscriber::open(&list).expect("a valid list");
    assert!(subscriber.wait_subscribed(Duration::from_secs(10)));
    let (heard, _capturing) = count_events(subscriber);
    let transport = RedisTransport::open(&list).expect("a valid list");
    let dispatcher = EventDispatcher::builder(transport).build();
    send(&dispatcher, 0..100);
    wait_for(&heard, 100);

    let mailbox =
        RedisMailbox::serve(Node::builder("listed@rust").build(), &list).expect("a valid list");
    assert!(mailbox.wait_ready(Duration::from_secs(10)));
    let replies = RedisControl::open(&list)
        .expect("a valid list")
        .ping(Duration::from_secs(2))
        .expect("ping");
    assert!(
        replies.iter().any(|(name, _)| name == "listed@rust"),
        "{replies:?}"
    );
    QueueProbe::open(&list)
        .expect("a valid list")
        .ping()
        .expect("the second URL answers");

    let log = logged();
    let masked = dead.replace(":secret@", ":***@");
    assert!(
        log.contains("cannot connect to a broker URL of the list")
            && log.contains(&format!("skipped={masked}")),
        "the skipped URL is logged: {log}"
    );
    assert!(!log.contains("secret"), "the password is masked: {log}");
}

#[test]
fn a_redis_publisher_and_subscriber_move_to_the_next_node_when_theirs_goes_away() {
    let _ = log();
    let mut first = RedisServer::start();
    let second = RedisServer::start();
    let list = format!("{};{}", first.url(0), second.url(0));
    let subscriber = RedisSubscriber::with_options(
        &list,
        RedisSubscriberOptions {
            reconnect_delay: Duration::from_millis(50),
            ..RedisSubscriberOptions::default()
        },
    )
    .expect("a valid list");
    assert!(subscriber.wait_subscribed(Duration::from_secs(10)));
    let (heard, capturing) = count_events(subscriber);
    let transport = RedisTransport::with_options(
        &list,
        RedisOptions {
            // Held until the subscriber hears it: it is on the second node
            // only once it has moved.
            min_subscribers: 1,
            reconnect_delay: Duration::from_millis(50),
            flush_timeout: Duration::from_secs(30),
            ..RedisOptions::default()
        },
    )
    .expect("a valid list");
    let dispatcher = EventDispatcher::builder(transport).build();
    send(&dispatcher, 0..50);
    wait_for(&heard, 50);

    first.kill();
    send(&dispatcher, 50..100);
    wait_for(&heard, 100);
    let subscriber = capturing.stop().expect("the capture thread ran");
    assert_eq!(subscriber.subscriptions(), 2, "subscribed again, once");
    let log = logged();
    let moved = format!("from={} to={}", first.url(0), second.url(0));
    assert!(
        log.contains("moving to the next URL of the list") && log.contains(&moved),
        "the move is logged: {log}"
    );
}

#[test]
fn an_amqp_list_skips_a_dead_first_url_and_logs_it() {
    let _ = log();
    let server = RabbitServer::start();
    let dead = format!("amqp://guest:secret@127.0.0.1:{}/%2f", dead_port());
    let list = format!("{dead};{}", server.url());

    let subscriber = AmqpSubscriber::open(&list).expect("a valid list");
    assert!(subscriber.wait_subscribed(Duration::from_secs(20)));
    let (heard, _capturing) = count_events(subscriber);
    let transport = AmqpTransport::open(&list).expect("a valid list");
    let dispatcher = EventDispatcher::builder(transport).build();
    send(&dispatcher, 0..100);
    wait_for(&heard, 100);

    let mailbox =
        AmqpMailbox::serve(Node::builder("listed@amqp").build(), &list).expect("a valid list");
    assert!(mailbox.wait_ready(Duration::from_secs(20)));
    let replies = AmqpControl::open(&list)
        .expect("a valid list")
        .ping(Duration::from_secs(2))
        .expect("ping");
    assert!(
        replies.iter().any(|(name, _)| name == "listed@amqp"),
        "{replies:?}"
    );
    QueueProbe::open(&list)
        .expect("a valid list")
        .ping()
        .expect("the second URL answers");

    let log = logged();
    let masked = dead.replace(":secret@", ":***@");
    assert!(
        log.contains(&format!("skipped={masked}")),
        "the skipped URL is logged: {log}"
    );
    assert!(!log.contains("secret"), "the password is masked: {log}");
}

#[test]
fn lists_that_cannot_be_used_are_typed_errors() {
    let mixed = "redis://127.0.0.1:1/0;amqp://127.0.0.1:2//";
    assert!(matches!(
        RedisTransport::open(mixed),
        Err(RedisConfigError::Topology(
            TopologyError::MixedSchemes { .. }
        ))
    ));
    assert!(matches!(
        RedisSubscriber::open(mixed),
        Err(RedisConfigError::Topology(
            TopologyError::MixedSchemes { .. }
        ))
    ));
    assert!(matches!(
        RedisControl::open(mixed),
        Err(RedisConfigError::Topology(
            TopologyError::MixedSchemes { .. }
        ))
    ));
    assert!(matches!(
        QueueProbe::open(mixed),
        Err(QueueError::Topology(TopologyError::MixedSchemes { .. }))
    ));
    let mixed = "amqp://127.0.0.1:2//;redis://127.0.0.1:1/0";
    assert!(matches!(
        AmqpTransport::open(mixed),
        Err(AmqpConfigError::Topology(
            TopologyError::MixedSchemes { .. }
        ))
    ));
    assert!(matches!(
        AmqpSubscriber::open(mixed),
        Err(AmqpConfigError::Topology(
            TopologyError::MixedSchemes { .. }
        ))
    ));
    assert!(matches!(
        AmqpControl::open(mixed),
        Err(AmqpConfigError::Topology(
            TopologyError::MixedSchemes { .. }
        ))
    ));
    for empty in ["", ";", "redis://127.0.0.1:1/0;"] {
        assert!(
            matches!(
                RedisTransport::open(empty),
                Err(RedisConfigError::Topology(TopologyError::EmptyList { .. }))
            ),
            "{empty:?}"
        );
    }
    assert!(matches!(
        AmqpTransport::open("amqp://127.0.0.1:2//;"),
        Err(AmqpConfigError::Topology(TopologyError::EmptyList { .. }))
    ));
    assert!(matches!(
        RedisMailbox::serve(Node::builder("x").build(), ""),
        Err(RedisConfigError::Topology(TopologyError::EmptyList { .. }))
    ));
    assert!(matches!(
        AmqpMailbox::serve_with(Node::builder("x").build(), "", MailboxOptions::default()),
        Err(AmqpConfigError::Topology(TopologyError::EmptyList { .. }))
    ));
}

#[test]
fn remote_control_leaves_a_server_that_stopped_taking_writes() {
    let _ = log();
    let first = RedisServer::start();
    let second = RedisServer::start();
    let list = format!("{};{}", first.url(0), second.url(0));
    let options = MailboxOptions {
        reconnect_delay: Duration::from_millis(50),
        ..MailboxOptions::default()
    };
    let mailbox = RedisMailbox::serve_with(Node::builder("moving@rust").build(), &list, options)
        .expect("a valid list");
    assert!(mailbox.wait_ready(Duration::from_secs(10)));
    let control = RedisControl::open(&list).expect("a valid list");
    let pong = |control: &RedisControl| {
        control
            .ping(Duration::from_secs(1))
            .is_ok_and(|replies| replies.iter().any(|(name, _)| name == "moving@rust"))
    };
    assert!(pong(&control), "both on the first server");

    // The first server becomes a replica, as a demoted master does: its
    // connections stay open, but writes (the replies' LPUSH, the client's
    // binding) are refused with READONLY.
    let client = redis::Client::open(first.url(0)).expect("URL");
    let mut admin = client.get_connection().expect("connects");
    redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(second.port)
        .query::<()>(&mut admin)
        .expect("REPLICAOF");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pong(&control) {
        assert!(
            Instant::now() < deadline,
            "the mailbox and the client did not move to the writable server: {}",
            logged()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
