#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! Events per second from an `EventDispatcher` into the in-memory transport,
//! published one by one and batched by group (`buffer_group`, 24 per message);
//! and from 1, 2 and 4 threads sharing one dispatcher (more threads than this
//! machine's cores), into a transport that discards, so the figure is the
//! dispatcher's own: its clock, its writing and its `close` gate.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signals_celery::events::{
    EventDispatcher, LamportClock, MemoryTransport, Message, TaskSucceeded, Transport,
    TransportError,
};

/// Takes every message and keeps none.
struct Discard;

impl Transport for Discard {
    fn driver_type(&self) -> &str {
        "discard"
    }

    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        black_box(message.body.len());
        Ok(())
    }
}

/// Events per measured iteration; the broker is drained after each.
const BATCH: u64 = 1_000;

fn events(c: &mut Criterion) {
    let event = TaskSucceeded {
        uuid: "d9bd3a2c-6ad4-4c8e-bb3f-0d6a4b3f3f0e".into(),
        result: "4".into(),
        runtime: 0.0123,
    };
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(BATCH));
    for (name, grouped) in [("unbuffered", false), ("grouped_24", true)] {
        let broker = MemoryTransport::new();
        let mut builder = EventDispatcher::builder(broker.clone())
            .hostname("bench@localhost")
            .clock(Arc::new(LamportClock::new()));
        if grouped {
            builder = builder.buffer_group(["task"]);
        }
        let dispatcher = builder.build();
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    black_box(dispatcher.send_event(&event).unwrap());
                }
                black_box(broker.drain());
            })
        });
    }
    group.finish();

    // Each thread sends this many events per measured iteration.
    const PER_THREAD: u64 = 10_000;
    let dispatcher = EventDispatcher::builder(Discard)
        .hostname("bench@localhost")
        .clock(Arc::new(LamportClock::new()))
        .build();
    let mut group = c.benchmark_group("events_threads");
    for threads in [1u64, 2, 4] {
        group.throughput(Throughput::Elements(PER_THREAD * threads));
        group.bench_function(format!("unbuffered_{threads}"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let start = std::sync::Barrier::new(threads as usize + 1);
                    total += std::thread::scope(|scope| {
                        for _ in 0..threads {
                            scope.spawn(|| {
                                start.wait();
                                for _ in 0..PER_THREAD {
                                    black_box(dispatcher.send_event(&event).unwrap());
                                }
                            });
                        }
                        start.wait();
                        let began = std::time::Instant::now();
                        // The scope joins the threads before it returns.
                        began
                    })
                    .elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = events
}
criterion_main!(benches);
