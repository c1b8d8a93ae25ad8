//! The per-sender route cache of a `use_caching` signal, filled with many
//! distinct senders from more threads than cores while connections churn:
//! the heap it holds stays bounded (a global allocator counts the live bytes).
//! Its own test binary: the allocator is process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use signals::{ConnectOptions, Signal};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SENDERS: usize = 8;
const RUN_FOR: Duration = Duration::from_millis(1500);
/// Far above what the signal needs (a few snapshots and route maps of at most
/// 1024 senders: well under 1 MiB each), far below what retired maps pile up
/// to when they are freed only once no send is in progress.
const BOUND: usize = 32 << 20;

#[test]
fn a_cache_filled_by_many_senders_under_churn_stays_bounded() {
    let sig: Arc<Signal<u64, u64, ()>> = Arc::new(Signal::new("many_senders").with_caching());
    for sender in 0..64u64 {
        let _ = sig.connect_with(
            move |_: &u64, n: &u64| {
                std::hint::black_box(n + sender);
            },
            ConnectOptions::new().sender(sender),
        );
    }
    let _ = sig.connect(|_: &u64, _: &u64| {});
    let baseline = LIVE.load(Ordering::SeqCst);
    let next_sender = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(SENDERS + 1));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (sig, stop, barrier, next_sender) = (
                sig.clone(),
                stop.clone(),
                barrier.clone(),
                next_sender.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                let mut sends = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Mostly new senders, each a cache miss that adds a route.
                    let sender = next_sender.fetch_add(1, Ordering::Relaxed);
                    sig.send(sender % 4096, &sends).unwrap();
                    sends += 1;
                }
                sends
            })
        })
        .collect();

    barrier.wait();
    let start = Instant::now();
    let mut peak = 0;
    let mut cycles = 0u64;
    while start.elapsed() < RUN_FOR {
        // A connect and a disconnect: a new snapshot, whose cache starts empty.
        let uid = format!("churn-{}", cycles % 2);
        let _ = sig.connect_with(
            |_: &u64, _: &u64| {},
            ConnectOptions::new().sender(1).dispatch_uid(uid.clone()),
        );
        assert!(sig.disconnect_uid(&uid, Some(1)));
        cycles += 1;
        for _ in 0..20 {
            peak = peak.max(LIVE.load(Ordering::SeqCst).saturating_sub(baseline));
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sends: u64 = senders.into_iter().map(|h| h.join().unwrap()).sum();
    println!(
        "peak {} KiB above the start, {cycles} churn cycles, {sends} sends",
        peak >> 10
    );
    assert!(sends > 10_000, "too little work: {sends} sends");
    assert!(
        peak <= BOUND,
        "the signal held {} MiB above its starting point ({cycles} churn cycles, {sends} sends)",
        peak >> 20
    );
}
