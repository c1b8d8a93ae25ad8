//! A stream of numbered events cut by a fault (a broker killed, a master
//! failed over, a cluster node lost) and counted at the receiver: how many
//! times each event was handled, so that a test can say that every one
//! arrived exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use signals_celery::events::{CeleryEvent, EventDispatcher, EventReceiverBuilder};

/// How many times each numbered event was handled, and how many events
/// were handled in all.
#[derive(Clone, Default)]
pub(crate) struct Tally {
    seen: Arc<Mutex<BTreeMap<usize, usize>>>,
    heard: Arc<AtomicUsize>,
}

#[allow(dead_code)] // not every test binary waits the same ways
impl Tally {
    /// `builder` with a handler that counts each `kind` event by its
    /// `uuid`, which is the event's number.
    pub(crate) fn count(&self, builder: EventReceiverBuilder, kind: &str) -> EventReceiverBuilder {
        let tally = self.clone();
        builder.handler(kind, move |event| {
            let uuid = event.fields()["uuid"]
                .as_str()
                .and_then(|uuid| uuid.parse().ok())
                .expect("a numbered event");
            *tally.seen.lock().unwrap().entry(uuid).or_default() += 1;
            tally.heard.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// Events handled, copies included.
    pub(crate) fn heard(&self) -> usize {
        self.heard.load(Ordering::SeqCst)
    }

    /// Distinct events handled.
    pub(crate) fn distinct(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Waits until `count` events were handled; fails the test after
    /// `timeout`.
    pub(crate) fn wait_heard(&self, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.heard() < count {
            assert!(Instant::now() < deadline, "the stream did not start");
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits up to `timeout` until `count` distinct events were handled,
    /// then half a second more, so that a late copy would be counted.
    pub(crate) fn settle(&self, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.distinct() < count && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(500));
    }

    /// Asserts that each of the events `0..count` was handled exactly once.
    pub(crate) fn assert_each_once(&self, count: usize) {
        let seen = self.seen.lock().unwrap();
        let missing: Vec<usize> = (0..count).filter(|uuid| !seen.contains_key(uuid)).collect();
        assert!(
            missing.is_empty(),
            "{} of {count} lost, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        let twice: Vec<_> = seen.iter().filter(|(_, &times)| times != 1).collect();
        assert!(twice.is_empty(), "handled more than once: {twice:?}");
        assert_eq!(seen.len(), count);
    }
}

/// Sends the events `0..count` (`event(n)` the `n`-th) on a thread of its
/// own, pausing every 20th event for `pause` so that a fault lands
/// mid-stream.
#[allow(dead_code)] // the broker-restart test sends in phases of its own
pub(crate) fn send_numbered<E: CeleryEvent + 'static>(
    dispatcher: &Arc<EventDispatcher>,
    count: usize,
    event: fn(usize) -> E,
    pause: Duration,
) -> JoinHandle<()> {
    let dispatcher = dispatcher.clone();
    thread::spawn(move || {
        for n in 0..count {
            dispatcher.send_event(&event(n)).expect("accepted");
            if n % 20 == 0 {
                thread::sleep(pause);
            }
        }
    })
}
