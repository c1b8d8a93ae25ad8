#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! Events per second from an `EventDispatcher` through the Redis transport into
//! a real `redis-server` that the benchmark starts on a free loopback port:
//! one by one, and batched by group (`buffer_group`, 24 per `task.multi`). Each
//! measured iteration sends 1,000 events and waits until Redis has them all.
//! The `end_to_end_*` cases also run an `EventReceiver` on a `RedisSubscriber`
//! and wait until it has handled every event (Celery's `c_e2e_*` cases).

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signals::events::{
    EventDispatcher, EventReceiver, LamportClock, Received, RedisSubscriber, RedisTransport,
    TaskSucceeded,
};

const BATCH: u64 = 1_000;

/// A dispatcher to `url`, unbuffered or with the `task` group buffered (24 per
/// message).
fn dispatcher(url: &str, grouped: bool) -> EventDispatcher {
    let transport = RedisTransport::open(url).expect("valid URL");
    let builder = EventDispatcher::builder(transport)
        .hostname("bench@localhost")
        .clock(Arc::new(LamportClock::new()));
    if grouped {
        builder.buffer_group(["task"]).build()
    } else {
        builder.build()
    }
}

/// Sends `BATCH` events and waits until Redis has them all.
fn send_batch(dispatcher: &EventDispatcher, event: &TaskSucceeded) {
    for _ in 0..BATCH {
        black_box(dispatcher.send_event(event).expect("accepted"));
    }
    dispatcher.flush(true, true).expect("Redis has them");
}

fn redis_events(c: &mut Criterion) {
    let server = support::RedisServer::start();
    let event = TaskSucceeded {
        uuid: "d9bd3a2c-6ad4-4c8e-bb3f-0d6a4b3f3f0e".into(),
        result: "4".into(),
        runtime: 0.0123,
    };
    let mut group = c.benchmark_group("redis_events");
    group.throughput(Throughput::Elements(BATCH));
    for (name, grouped) in [("unbuffered", false), ("grouped_24", true)] {
        let dispatcher = dispatcher(&server.url(0), grouped);
        group.bench_function(name, |b| {
            b.iter(|| {
                send_batch(&dispatcher, &event);
            })
        });
    }
    for (name, grouped) in [
        ("end_to_end_unbuffered", false),
        ("end_to_end_grouped_24", true),
    ] {
        let handled = Arc::new(AtomicU64::new(0));
        let counter = handled.clone();
        let receiver = EventReceiver::builder()
            .on(move |_: &Received<TaskSucceeded>| {
                counter.fetch_add(1, Ordering::Relaxed);
            })
            .build();
        let subscriber = RedisSubscriber::open(&server.url(0)).expect("valid URL");
        assert!(subscriber.wait_subscribed(Duration::from_secs(10)));
        let capturing = receiver.spawn(subscriber).expect("thread");
        let dispatcher = dispatcher(&server.url(0), grouped);
        let mut expected = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                send_batch(&dispatcher, &event);
                expected += BATCH;
                let deadline = Instant::now() + Duration::from_secs(30);
                while handled.load(Ordering::Relaxed) < expected {
                    assert!(Instant::now() < deadline, "the receiver fell behind");
                    std::hint::spin_loop();
                }
            })
        });
        drop(capturing);
        assert_eq!(receiver.stats().errors(), 0, "{:?}", receiver.stats());
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = redis_events
}
criterion_main!(benches);
