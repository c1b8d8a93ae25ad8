#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! Events per second from an `EventDispatcher` through the AMQP transport into
//! a RabbitMQ node that the benchmark starts on free loopback ports, one by one
//! and batched by group (`buffer_group`, 24 per `task.multi`), beside Celery
//! 5.7's own `EventDispatcher` on the same node in the same run
//! (`scripts/celery_amqp_bench.py`, in the Celery virtualenv `./test.sh`
//! makes).
//!
//! Each measured iteration sends as many events as one of Celery's trials
//! (5,000 unbuffered, 50,000 grouped) and ends when the broker has confirmed
//! them all (`flush`) and a queue of the benchmark's own, bound to `celeryev`
//! with `#`, holds every message; Celery's trials end at the same point. The
//! queue is emptied between iterations, outside the timing.

#[path = "../tests/support/celery.rs"]
#[allow(dead_code)]
mod celery;
#[path = "../tests/support/rabbitmq.rs"]
#[allow(dead_code)]
mod rabbitmq;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use signals_celery::events::{AmqpTransport, EventDispatcher, LamportClock, TaskSucceeded};
use tokio::runtime::Runtime;

const COUNTER: &str = "bench.signals-counter";

/// The benchmark's own queue on `celeryev`: what the broker routed.
struct Counter {
    runtime: Runtime,
    _connection: Connection,
    channel: Channel,
}

impl Counter {
    fn new(url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (connection, channel) = runtime.block_on(async {
            let connection = Connection::connect(url, ConnectionProperties::default())
                .await
                .expect("connects");
            let channel = connection.create_channel().await.expect("a channel");
            channel
                .exchange_declare(
                    "celeryev".into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("celeryev");
            channel
                .queue_declare(
                    COUNTER.into(),
                    QueueDeclareOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("the counter queue");
            channel
                .queue_bind(
                    COUNTER.into(),
                    "celeryev".into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bound");
            (connection, channel)
        });
        Self {
            runtime,
            _connection: connection,
            channel,
        }
    }

    /// Messages in the queue.
    fn held(&self) -> u64 {
        self.runtime.block_on(async {
            let queue = self
                .channel
                .queue_declare(
                    COUNTER.into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("the counter queue");
            u64::from(queue.message_count())
        })
    }

    fn purge(&self) {
        self.runtime
            .block_on(
                self.channel
                    .queue_purge(COUNTER.into(), QueuePurgeOptions::default()),
            )
            .expect("purged");
    }
}

fn amqp_events(c: &mut Criterion) {
    let server = rabbitmq::RabbitServer::start();
    let url = server.url();
    let counter = Counter::new(&url);
    let event = TaskSucceeded {
        uuid: "d9bd3a2c-6ad4-4c8e-bb3f-0d6a4b3f3f0e".into(),
        result: "4".into(),
        runtime: 0.0123,
    };
    let mut ours = Vec::new();
    let mut group = c.benchmark_group("amqp_events");
    for (name, grouped, batch) in [("unbuffered", false, 5_000), ("grouped_24", true, 50_000)] {
        group.throughput(Throughput::Elements(batch));
        let transport = AmqpTransport::open(&url).expect("valid URL");
        let mut builder = EventDispatcher::builder(transport)
            .hostname("bench@signals")
            .clock(Arc::new(LamportClock::new()));
        if grouped {
            builder = builder.buffer_group(["task"]);
        }
        let dispatcher = builder.build();
        let messages = if grouped { batch.div_ceil(24) } else { batch };
        let (mut events, mut spent) = (0u64, Duration::ZERO);
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let start = Instant::now();
                    for _ in 0..batch {
                        black_box(dispatcher.send_event(&event).expect("accepted"));
                    }
                    dispatcher.flush(true, true).expect("confirmed");
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while counter.held() < messages {
                        assert!(Instant::now() < deadline, "messages are missing");
                    }
                    total += start.elapsed();
                    counter.purge();
                }
                events += batch * iterations;
                spent += total;
                total
            })
        });
        ours.push((name, events as f64 / spent.as_secs_f64()));
    }
    // The ceiling: lapin alone, the same bodies and properties, all 5,000
    // publishes queued at once on one confirming channel.
    let body = {
        let transport = signals_celery::events::MemoryTransport::new();
        let dispatcher = EventDispatcher::builder(transport.clone())
            .hostname("bench@signals")
            .build();
        dispatcher.send_event(&event).expect("sent");
        transport.try_recv().expect("a message").body
    };
    let (mut events, mut spent) = (0u64, Duration::ZERO);
    let channel = counter.runtime.block_on(async {
        let connection = Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("connects");
        let channel = connection.create_channel().await.expect("a channel");
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        std::mem::forget(connection); // kept open for the rest of the run
        channel
    });
    let properties = lapin::BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(1)
        .with_priority(0);
    group.throughput(Throughput::Elements(5_000));
    group.bench_function("lapin_alone_unbuffered", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let start = Instant::now();
                counter.runtime.block_on(async {
                    let publishes = (0..5_000).map(|_| {
                        channel.basic_publish(
                            "celeryev".into(),
                            "task.succeeded".into(),
                            lapin::options::BasicPublishOptions::default(),
                            &body,
                            properties.clone(),
                        )
                    });
                    for confirm in futures::future::join_all(publishes).await {
                        confirm.expect("published").await.expect("confirmed");
                    }
                });
                while counter.held() < 5_000 {}
                total += start.elapsed();
                counter.purge();
            }
            events += 5_000 * iterations;
            spent += total;
            total
        })
    });
    let ceiling = events as f64 / spent.as_secs_f64();
    group.finish();

    // Celery on the same node, now.
    let output = std::process::Command::new(celery::venv_program("python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/celery_amqp_bench.py"
        ))
        .arg(&url)
        .args(["--events", "5000"])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the Celery benchmark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the Celery benchmark's JSON");
    println!(
        "\nSame node, same run (events/s; ours: mean over criterion's iterations, \
         warm-up included; Celery {}: median of 3 trials):",
        theirs["celery"].as_str().unwrap_or("?")
    );
    println!("| case | signals | Celery | ratio |\n|---|---:|---:|---:|");
    for (name, rate) in ours {
        let celery = theirs[name].as_f64().expect("a rate");
        println!(
            "| {name} | {:.0} | {:.0} | {:.1}x |",
            rate,
            celery,
            rate / celery
        );
    }
    println!("| lapin alone, unbuffered (the node's ceiling) | {ceiling:.0} | | |");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    targets = amqp_events
}
criterion_main!(benches);
