#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! Events per second from an `EventDispatcher` through the Redis transport into
//! a real `redis-server` that the benchmark starts on a free loopback port:
//! one by one, and batched by group (`buffer_group`, 24 per `task.multi`). Each
//! measured iteration sends 1,000 events and waits until Redis has them all.
//! The `end_to_end_*` cases send 100,000 events per iteration (grouped 24 or
//! 100 per message; 20,000 unbuffered) and also run an `EventReceiver` on a
//! `RedisSubscriber`, waiting until it has handled every event (Celery's
//! `c_e2e_*` cases, which send 120,000).

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signals_celery::events::{
    EventDispatcher, EventReceiver, LamportClock, Received, RedisSubscriber, RedisTransport,
    TaskSucceeded,
};

const BATCH: u64 = 1_000;
const E2E_BATCH: u64 = 100_000;

/// A dispatcher to `url`, unbuffered or with the `task` group buffered up to
/// `limit` events per message.
fn dispatcher(url: &str, limit: Option<usize>) -> EventDispatcher {
    let transport = RedisTransport::open(url).expect("valid URL");
    let builder = EventDispatcher::builder(transport)
        .hostname("bench@localhost")
        .clock(Arc::new(LamportClock::new()));
    match limit {
        Some(limit) => builder.buffer_group(["task"]).buffer_limit(limit).build(),
        None => builder.build(),
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
    for (name, limit) in [("unbuffered", None), ("grouped_24", Some(24))] {
        let dispatcher = dispatcher(&server.url(0), limit);
        group.bench_function(name, |b| {
            b.iter(|| {
                send_batch(&dispatcher, &event);
            })
        });
    }
    // End to end, each iteration sends `E2E_BATCH` events and waits until the
    // receiver has handled the last: a long run, as Celery's `c_e2e` case
    // (120,000 events) is, so that filling and draining the pipeline is a
    // small part of it.
    group.sample_size(10);
    for (name, limit, batch) in [
        // Fewer unbuffered: the transport's queue holds 100,000 messages.
        ("end_to_end_unbuffered", None, 20_000),
        ("end_to_end_grouped_24", Some(24), E2E_BATCH),
        ("end_to_end_grouped_100", Some(100), E2E_BATCH),
    ] {
        group.throughput(Throughput::Elements(batch));
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
        let dispatcher = dispatcher(&server.url(0), limit);
        let mut expected = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..batch {
                    black_box(dispatcher.send_event(&event).expect("accepted"));
                }
                dispatcher.flush(true, true).expect("queued");
                expected += batch;
                let deadline = Instant::now() + Duration::from_secs(60);
                while handled.load(Ordering::Relaxed) < expected {
                    assert!(Instant::now() < deadline, "the receiver fell behind");
                    std::thread::yield_now();
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
