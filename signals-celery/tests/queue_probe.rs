//! `queues::QueueProbe` against real brokers of the test's own: a Redis
//! queue's length counts kombu's priority sub-queues, an AMQP queue's comes
//! from a passive declare with its consumers, a missing AMQP queue is `None`,
//! and a stopped broker is an error, never a hang.

#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
mod support;

use std::time::{Duration, Instant};

use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use rabbitmq::RabbitServer;
use signals_celery::queues::{QueueError, QueueOptions, QueueProbe};
use support::RedisServer;

#[test]
fn a_redis_queue_counts_its_priority_sub_queues() {
    let server = RedisServer::start();
    let url = server.url(0);
    let client = redis::Client::open(url.as_str()).expect("a client");
    let mut connection = client.get_connection().expect("connected");
    // kombu's layout: `celery` is priority 0; `celery\x06\x163` etc. the
    // higher steps.
    for (key, count) in [
        ("celery", 2),
        ("celery\x06\x163", 1),
        ("celery\x06\x169", 4),
        ("other", 1),
    ] {
        for n in 0..count {
            redis::cmd("LPUSH")
                .arg(key)
                .arg(format!("message {n}"))
                .exec(&mut connection)
                .expect("pushed");
        }
    }
    let probe = QueueProbe::open(&url).expect("a probe");
    probe.ping().expect("Redis answers");
    let depths = probe
        .depths(&["celery".into(), "other".into(), "missing".into()])
        .expect("depths");
    let messages: Vec<(String, u64)> = depths
        .into_iter()
        .map(|(queue, depth)| {
            (
                queue,
                depth.expect("a Redis queue always has a depth").messages,
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            ("celery".to_owned(), 7),
            ("other".to_owned(), 1),
            ("missing".to_owned(), 0)
        ]
    );

    // kombu's transport options: another separator, prefix and steps.
    redis::cmd("LPUSH")
        .arg("app:celery:5")
        .arg("m")
        .exec(&mut connection)
        .expect("pushed");
    redis::cmd("LPUSH")
        .arg("app:celery")
        .arg("m")
        .exec(&mut connection)
        .expect("pushed");
    let probe = QueueProbe::with_options(
        &url,
        QueueOptions {
            global_keyprefix: "app:".into(),
            priority_steps: vec![0, 5],
            sep: ":".into(),
            ..QueueOptions::default()
        },
    )
    .expect("a probe");
    let depths = probe.depths(&["celery".into()]).expect("depths");
    assert_eq!(depths[0].1.map(|depth| depth.messages), Some(2));
}

#[test]
fn a_stopped_redis_is_an_error_within_the_timeout() {
    let mut server = RedisServer::start();
    let url = server.url(0);
    server.kill();
    let probe = QueueProbe::with_options(
        &url,
        QueueOptions {
            timeout: Duration::from_secs(2),
            ..QueueOptions::default()
        },
    )
    .expect("a probe");
    let began = Instant::now();
    assert!(matches!(probe.ping(), Err(QueueError::Unreachable { .. })));
    assert!(matches!(
        probe.depths(&["celery".into()]),
        Err(QueueError::Unreachable { .. })
    ));
    assert!(began.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_bad_url_is_a_typed_error_with_the_password_masked() {
    match QueueProbe::open("ftp://user:secret@host/") {
        Err(QueueError::InvalidUrl { url, reason }) => {
            assert!(!url.contains("secret"), "{url}");
            assert!(reason.contains("redis://"), "{reason}");
        }
        other => panic!("not an invalid URL: {other:?}"),
    }
}

/// A queue's messages and consumers.
type Counts = (u64, Option<u64>);

#[test]
fn an_amqp_queue_is_declared_passively_with_its_consumers() {
    let mut server = RabbitServer::start();
    let url = server.url();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let _consumer = runtime.block_on(async {
        let connection = Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("connected");
        let channel = connection.create_channel().await.expect("a channel");
        channel
            .queue_declare(
                "celery".into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declared");
        for n in 0..3 {
            channel
                .basic_publish(
                    "".into(),
                    "celery".into(),
                    BasicPublishOptions::default(),
                    format!("message {n}").as_bytes(),
                    BasicProperties::default(),
                )
                .await
                .expect("published")
                .await
                .expect("routed");
        }
        // A second queue, empty, with one consumer.
        channel
            .queue_declare(
                "busy".into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("declared");
        let consumer = channel
            .basic_consume(
                "busy".into(),
                "probe-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consuming");
        (connection, channel, consumer)
    });
    let probe = QueueProbe::open(&url).expect("a probe");
    probe.ping().expect("RabbitMQ answers");
    let depths = probe
        .depths(&["celery".into(), "missing".into(), "busy".into()])
        .expect("depths");
    let counts: Vec<(String, Option<Counts>)> = depths
        .into_iter()
        .map(|(queue, depth)| (queue, depth.map(|depth| (depth.messages, depth.consumers))))
        .collect();
    assert_eq!(
        counts,
        [
            ("celery".to_owned(), Some((3, Some(0)))),
            ("missing".to_owned(), None),
            ("busy".to_owned(), Some((0, Some(1)))),
        ]
    );
    drop(_consumer);
    server.stop();
    assert!(matches!(probe.ping(), Err(QueueError::Unreachable { .. })));
}
