//! Buffering that never loses an event: one test per Celery bug it avoids, the
//! bound on the buffer, and a concurrency test with a broker that fails at random.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use signals_celery::events::{
    EventDispatcher, EventError, Fields, MemoryTransport, Message, Overflow, Sent, TaskStarted,
    Transport, TransportError,
};

fn numbered(n: usize) -> Fields {
    json!({ "n": n }).as_object().cloned().unwrap()
}

/// The `n` field of every event the broker holds, in order.
fn delivered(broker: &MemoryTransport) -> Vec<u64> {
    broker
        .drain()
        .iter()
        .flat_map(|message| message.events().unwrap())
        .map(|event| event.get("n").and_then(|n| n.as_u64()).unwrap())
        .collect()
}

/// Counts publish attempts on the way to the in-memory broker.
struct Counting {
    inner: MemoryTransport,
    attempts: AtomicUsize,
}

impl Transport for Counting {
    fn driver_type(&self) -> &str {
        "memory"
    }
    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(message)
    }
}

#[test]
fn celery_6487_a_failed_republish_keeps_the_events() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone()).build();
    broker.set_online(false);
    for n in 0..3 {
        assert_eq!(
            dispatcher.send("worker-heartbeat", &numbered(n)).unwrap(),
            Sent::Buffered
        );
    }
    // Celery <= 5.6 cleared the buffer here, though the publish failed again.
    let report = dispatcher.flush(true, true).unwrap();
    assert_eq!((report.events, report.buffered), (0, 3));
    broker.set_online(true);
    assert_eq!(dispatcher.flush(true, true).unwrap().events, 3);
    assert_eq!(delivered(&broker), [0, 1, 2]);
    // Exactly once: nothing left to publish again.
    assert_eq!(dispatcher.flush(true, true).unwrap().events, 0);
    assert!(broker.is_empty());
}

#[test]
fn celery_10417_a_rebuffered_group_batch_keeps_its_events() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .buffer_group(["task"])
        .buffer_limit(2)
        .build();
    broker.set_online(false);
    for n in 0..2 {
        // The second send fills the group and flushes; the publish fails.
        let fields = json!({ "uuid": n.to_string(), "n": n });
        dispatcher
            .send("task-started", fields.as_object().unwrap())
            .unwrap();
    }
    assert_eq!(dispatcher.buffered(), 2);
    broker.set_online(true);
    dispatcher.flush(true, true).unwrap();
    let message = broker.try_recv().unwrap();
    // Celery <= 5.6 re-buffered the very list it then emptied: `task.multi` with `[]`.
    assert_eq!(message.routing_key, "task.multi");
    assert_eq!(message.events().unwrap().len(), 2);
    assert!(broker.is_empty());
}

/// Holds the first publish until the test lets it go.
struct Gate {
    inner: MemoryTransport,
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Transport for Gate {
    fn driver_type(&self) -> &str {
        "memory"
    }
    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        if let Some(entered) = self.entered.lock().unwrap().take() {
            entered.send(()).unwrap();
            self.release.lock().unwrap().recv().unwrap();
        }
        self.inner.publish(message)
    }
}

#[test]
fn celery_10434_events_added_during_a_flush_are_kept() {
    let broker = MemoryTransport::new();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        inner: broker.clone(),
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(release_rx),
    });
    let dispatcher = Arc::new(
        EventDispatcher::builder_arc(gate)
            .buffer_group(["task"])
            .buffer_limit(100)
            .build(),
    );
    for n in 0..3 {
        let fields = json!({ "uuid": "a", "n": n });
        dispatcher
            .send("task-started", fields.as_object().unwrap())
            .unwrap();
    }
    let flusher = {
        let dispatcher = dispatcher.clone();
        thread::spawn(move || dispatcher.flush(true, true).unwrap())
    };
    // The flush is inside its publish: another thread adds to the same group.
    entered_rx.recv().unwrap();
    for n in 3..5 {
        let fields = json!({ "uuid": "b", "n": n });
        dispatcher
            .send("task-started", fields.as_object().unwrap())
            .unwrap();
    }
    release_tx.send(()).unwrap();
    assert_eq!(flusher.join().unwrap().events, 3);
    // Celery <= 5.6 emptied the list after publishing, wiping these two.
    assert_eq!(dispatcher.buffered(), 2);
    dispatcher.flush(true, true).unwrap();
    assert_eq!(delivered(&broker), [0, 1, 2, 3, 4]);
}

#[test]
fn celery_2063_a_flush_while_the_broker_is_down_does_not_spin() {
    let broker = MemoryTransport::new();
    let transport = Arc::new(Counting {
        inner: broker.clone(),
        attempts: AtomicUsize::new(0),
    });
    let dispatcher = EventDispatcher::builder_arc(transport.clone()).build();
    broker.set_online(false);
    for n in 0..1000 {
        dispatcher.send("worker-heartbeat", &numbered(n)).unwrap();
    }
    transport.attempts.store(0, Ordering::SeqCst);
    let report = dispatcher.flush(true, true).unwrap();
    // One attempt tells the broker is away; the other 999 wait, in order.
    assert_eq!(transport.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(report.buffered, 1000);
    broker.set_online(true);
    dispatcher.flush(true, true).unwrap();
    assert_eq!(delivered(&broker), (0..1000).collect::<Vec<_>>());
}

#[test]
fn celery_10273_the_buffer_is_bounded_and_rejects_visibly() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .buffer_capacity(5)
        .build();
    broker.set_online(false);
    let outcomes: Vec<_> = (0..7)
        .map(|n| dispatcher.send("worker-heartbeat", &numbered(n)))
        .collect();
    assert!(outcomes[..5]
        .iter()
        .all(|o| matches!(o, Ok(Sent::Buffered))));
    for outcome in &outcomes[5..] {
        let error = outcome.as_ref().unwrap_err();
        assert!(matches!(error, EventError::BufferFull { capacity: 5 }));
        assert!(error.to_string().contains("not accepted"));
    }
    assert_eq!(dispatcher.overflowed(), 2);
    assert_eq!(dispatcher.buffered(), 5);
    broker.set_online(true);
    dispatcher.flush(true, true).unwrap();
    assert_eq!(
        delivered(&broker),
        [0, 1, 2, 3, 4],
        "what was accepted arrives"
    );
}

#[test]
fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .buffer_capacity(5)
        .overflow(Overflow::DropOldest)
        .build();
    broker.set_online(false);
    for n in 0..7 {
        assert_eq!(
            dispatcher.send("worker-heartbeat", &numbered(n)).unwrap(),
            Sent::Buffered
        );
    }
    assert_eq!(dispatcher.overflowed(), 2);
    broker.set_online(true);
    dispatcher.flush(true, true).unwrap();
    assert_eq!(delivered(&broker), [2, 3, 4, 5, 6]);
}

#[test]
fn grouped_events_count_against_the_bound() {
    let broker = MemoryTransport::new();
    let dispatcher = EventDispatcher::builder(broker.clone())
        .buffer_group(["task"])
        .buffer_limit(100)
        .buffer_capacity(3)
        .build();
    for _ in 0..3 {
        dispatcher.send_event(&TaskStarted::default()).unwrap();
    }
    assert!(matches!(
        dispatcher.send_event(&TaskStarted::default()),
        Err(EventError::BufferFull { capacity: 3 })
    ));
    assert_eq!(dispatcher.overflowed(), 1);
    dispatcher.flush(true, true).unwrap();
    assert_eq!(broker.try_recv().unwrap().events().unwrap().len(), 3);
}

/// Fails at random (about one publish in three) while `failing` is set.
struct Flaky {
    inner: MemoryTransport,
    failing: AtomicBool,
    seed: AtomicU64,
    failures: AtomicUsize,
}

impl Transport for Flaky {
    fn driver_type(&self) -> &str {
        "memory"
    }
    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        if self.failing.load(Ordering::SeqCst) {
            // xorshift64*: a different draw for every call, on any thread.
            let mut x = self
                .seed
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            if x.wrapping_mul(0x2545_F491_4F6C_DD1D).is_multiple_of(3) {
                self.failures.fetch_add(1, Ordering::Relaxed);
                return Err(TransportError::Unavailable("random failure".into()));
            }
        }
        self.inner.publish(message)
    }
}

#[test]
fn concurrent_sends_and_flushes_on_a_flaky_broker_deliver_each_event_once() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2_000;
    let broker = MemoryTransport::new();
    let flaky = Arc::new(Flaky {
        inner: broker.clone(),
        failing: AtomicBool::new(true),
        seed: AtomicU64::new(0x5eed),
        failures: AtomicUsize::new(0),
    });
    let dispatcher = Arc::new(
        EventDispatcher::builder_arc(flaky.clone())
            .buffer_group(["task"])
            .buffer_limit(24)
            .build(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let flusher = {
        let (dispatcher, done) = (dispatcher.clone(), done.clone());
        thread::spawn(move || {
            let mut flushes = 0;
            while !done.load(Ordering::SeqCst) {
                dispatcher.flush(true, true).unwrap();
                flushes += 1;
                thread::sleep(Duration::from_micros(200));
            }
            flushes
        })
    };
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let dispatcher = dispatcher.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let id = (t * PER_THREAD + i) as u64;
                    // Half the threads send buffered task events, half worker events.
                    let kind = if t % 2 == 0 {
                        "task-started"
                    } else {
                        "worker-heartbeat"
                    };
                    let fields = json!({ "uuid": id.to_string(), "n": id });
                    dispatcher.send(kind, fields.as_object().unwrap()).unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    assert!(flusher.join().unwrap() > 0);
    assert!(
        flaky.failures.load(Ordering::Relaxed) > 100,
        "the broker did fail"
    );
    // The broker steadies; whatever is still buffered goes out.
    flaky.failing.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dispatcher.buffered() > 0 && Instant::now() < deadline {
        dispatcher.flush(true, true).unwrap();
    }
    assert_eq!(dispatcher.buffered(), 0);
    let ids = delivered(&broker);
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event was delivered twice");
    assert_eq!(ids.len(), THREADS * PER_THREAD, "an event was lost");
    assert_eq!(dispatcher.overflowed(), 0);
}
