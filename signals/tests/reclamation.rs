//! What a signal keeps after it replaces its connections: bounded by the read
//! sections in progress, whatever the readers do (more sending threads than
//! cores, a receiver that blocks), and never a sender of a cached route.
//!
//! The retired values are counted by receivers whose captured state counts its
//! own drop: a snapshot that is freed drops its clones of the receivers it
//! held, so a receiver disconnected long ago and still alive means a snapshot
//! that was never freed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use signals::{ConnectOptions, Receiver, Signal};

/// More sending threads than the machine's cores, as a server's pool has.
const SENDERS: usize = 8;
const RUN_FOR: Duration = Duration::from_millis(1500);

type Sig = Signal<u64, &'static str, ()>;

/// Counts the receivers built and dropped.
#[derive(Default)]
struct Tally {
    built: AtomicUsize,
    dropped: AtomicUsize,
}

impl Tally {
    /// Receivers built and not yet dropped.
    fn alive(&self) -> usize {
        self.built.load(Ordering::SeqCst) - self.dropped.load(Ordering::SeqCst)
    }

    /// A receiver whose drop is counted here.
    fn receiver(self: &Arc<Self>) -> Receiver<u64, &'static str, ()> {
        self.built.fetch_add(1, Ordering::SeqCst);
        let token = Counted(Arc::clone(self));
        Receiver::new(move |_: &&str, n: &u64| {
            std::hint::black_box((&token, n));
        })
    }
}

struct Counted(Arc<Tally>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// `n` receivers that stay connected, each a distinct closure.
fn connect_stable(sig: &Sig, n: u64) {
    for i in 0..n {
        let _ = sig.connect(move |_: &&str, x: &u64| {
            std::hint::black_box(x + i);
        });
    }
}

/// Connects a new counted receiver, then disconnects the previous one, so that
/// every snapshot published holds at least one counted receiver: a snapshot
/// left unfreed keeps one alive.
fn churn_once(
    sig: &Sig,
    tally: &Arc<Tally>,
    previous: &mut Option<Receiver<u64, &'static str, ()>>,
) {
    let next = tally.receiver();
    assert!(sig.connect(next.clone()).is_added());
    if let Some(previous) = previous.take() {
        assert!(sig.disconnect(&previous, None));
    }
    *previous = Some(next);
}

#[test]
fn churn_under_more_sending_threads_than_cores_keeps_retired_snapshots_bounded() {
    for caching in [false, true] {
        let sig: Arc<Sig> = Arc::new(if caching {
            Signal::new("churn").with_caching()
        } else {
            Signal::new("churn")
        });
        connect_stable(&sig, 100);
        let stop = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(Barrier::new(SENDERS + 1));
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| {
                let (sig, stop, barrier) = (sig.clone(), stop.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut sends = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        sig.send("app", &sends).unwrap();
                        sends += 1;
                    }
                    sends
                })
            })
            .collect();

        let tally = Arc::new(Tally::default());
        let mut previous = None;
        let mut most_alive = 0;
        let mut cycles = 0u64;
        barrier.wait();
        let start = Instant::now();
        while start.elapsed() < RUN_FOR {
            churn_once(&sig, &tally, &mut previous);
            most_alive = most_alive.max(tally.alive());
            cycles += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let sends: u64 = senders.into_iter().map(|h| h.join().unwrap()).sum();

        println!(
            "caching={caching}: at most {most_alive} counted receivers alive, \
             {cycles} churn cycles, {sends} sends"
        );
        // Each snapshot holds at most two counted receivers (the one just
        // connected and the one about to go), and each sending thread reads
        // at most one snapshot at a time; the signal's own current snapshot
        // and the one being replaced add two more.
        let bound = 2 * (SENDERS + 2);
        assert!(
            most_alive <= bound,
            "caching={caching}: {most_alive} disconnected receivers were alive at once \
             (bound {bound}) after {cycles} churn cycles and {sends} sends"
        );
        assert!(
            cycles > 100 && sends > 1000,
            "too little work: {cycles} cycles, {sends} sends"
        );
        // With no reader left, only the connected receiver remains.
        assert_eq!(tally.alive(), 1, "caching={caching}");
        drop(previous);
    }
}

#[test]
fn a_blocked_receiver_pins_only_the_snapshot_it_reads() {
    let sig: Arc<Sig> = Arc::new(Signal::new("blocking"));
    let tally = Arc::new(Tally::default());
    // The counted receiver in the snapshot the blocked send reads.
    let mut previous = None;
    churn_once(&sig, &tally, &mut previous);
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let _ = sig.connect_with(
        move |_: &&str, _: &u64| {
            entered_tx.send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        },
        ConnectOptions::new().sender("slow").dispatch_uid("blocker"),
    );
    let blocked = {
        let sig = sig.clone();
        std::thread::spawn(move || sig.send("slow", &0).unwrap().len())
    };
    entered.recv().unwrap();

    // Other threads keep sending, so read sections overlap all along.
    let stop = Arc::new(AtomicBool::new(false));
    let others: Vec<_> = (0..2)
        .map(|_| {
            let (sig, stop) = (sig.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    sig.send("fast", &1).unwrap();
                }
            })
        })
        .collect();
    let mut most_alive = 0;
    for _ in 0..5_000 {
        churn_once(&sig, &tally, &mut previous);
        most_alive = most_alive.max(tally.alive());
    }
    stop.store(true, Ordering::Relaxed);
    for other in others {
        other.join().unwrap();
    }
    // Alive now: the blocked send's snapshot's receiver (the first one) and
    // the connected one; nothing retired after the blocked send started.
    assert_eq!(
        tally.alive(),
        2,
        "snapshots retired while a receiver blocked were kept"
    );
    assert!(most_alive <= 2 * (2 + 2), "{most_alive} alive at once");
    assert_eq!(tally.dropped.load(Ordering::SeqCst), 5_000 - 1);

    release.send(()).unwrap();
    assert_eq!(
        blocked.join().unwrap(),
        2,
        "the counted receiver and the blocker"
    );
    // The blocked send was the last reader of its snapshot: leaving frees it.
    assert_eq!(tally.alive(), 1);
}

#[test]
fn the_route_cache_does_not_keep_a_sender_alive() {
    let sig: Signal<(), Arc<str>, ()> = Signal::new("cached_senders").with_caching();
    let connected: Arc<str> = Arc::from("users");
    let _ = sig.connect_with(
        |_: &Arc<str>, _: &()| {},
        ConnectOptions::new().sender(connected.clone()),
    );
    let _ = sig.connect(|_: &Arc<str>, _: &()| {});

    // A sender with no receiver of its own, then one equal to the connected one.
    let visitor: Arc<str> = Arc::from("groups");
    assert_eq!(sig.send(&visitor, &()).unwrap().len(), 1);
    assert_eq!(sig.send(&visitor, &()).unwrap().len(), 1, "cached");
    let same: Arc<str> = Arc::from("users");
    assert_eq!(sig.send(&same, &()).unwrap().len(), 2);
    assert_eq!(sig.send(&same, &()).unwrap().len(), 2, "cached");
    assert_eq!(sig.send_robust(&same, &()).len(), 2);
    assert!(sig.has_listeners(&same));

    assert_eq!(Arc::strong_count(&visitor), 1, "the cache kept the sender");
    assert_eq!(Arc::strong_count(&same), 1, "the cache kept the sender");
    let released = [Arc::downgrade(&visitor), Arc::downgrade(&same)];
    drop((visitor, same));
    assert!(released.iter().all(|sender| sender.upgrade().is_none()));
}
