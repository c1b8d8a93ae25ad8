//! The dispatcher's close gate: `close` waits for the publishes in flight, and
//! a publish that starts after `close` finds it closed (Celery 5.7's guarantee),
//! without making concurrent sends touch one shared cache line.
//!
//! Each publish counts itself in by its thread's *stripe* (a padded counter of
//! its own for the few threads that share it), then reads the closed flag;
//! `close` sets the flag, then waits for each stripe's count to be seen at zero
//! once. Both sides write, issue a `SeqCst` fence, then read the other's
//! location (Dekker's pattern): of the two fences one comes first in their
//! single total order, so either the publish sees the flag (and backs out) or
//! `close` sees its count (and waits for it). A publish counts itself out with
//! `Release` and `close` reads the counts with `Acquire`, so the publish's
//! work happens before `close` returns. A stripe seen at zero after the flag
//! is set stays clear of publishes: any later one sees the flag.
//!
//! Fences rather than `SeqCst` accesses: the two are equivalent here, and loom
//! (which checks this module, `tests/loom`) models `SeqCst` fences but treats
//! `SeqCst` accesses as acquire-release.
//!
//! Why not a lock: a read-write lock's shared count is one cache line written
//! by every send on every thread, and a mutex serializes them (the dispatcher
//! had one, for the flag alone).

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicBool, AtomicUsize};

/// At most this many stripes, whatever the core count.
const MAX_STRIPES: usize = 64;

/// The stripe count of a new gate: twice the cores, rounded up to a power of
/// two, so that two threads rarely share a stripe at the same moment.
pub(crate) fn stripe_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 2).next_power_of_two().min(MAX_STRIPES)
}

std::thread_local! {
    /// This thread's stripe number (masked by the gate), given out in the
    /// order of each thread's first publish, so that consecutive threads differ.
    static THREAD_STRIPE: usize = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        NEXT.fetch_add(1, Relaxed)
    };
}

/// This thread's stripe number, to be masked by [`Gate::enter`].
#[inline]
pub(crate) fn thread_stripe() -> usize {
    THREAD_STRIPE.with(|stripe| *stripe)
}

/// One stripe's count of publishes in flight, on a cache line of its own.
#[repr(align(128))]
struct Stripe(AtomicUsize);

/// The closed flag and the publishes in flight.
pub(crate) struct Gate {
    closed: AtomicBool,
    in_flight: Box<[Stripe]>,
}

/// A publish in flight: `close` waits until it is dropped.
#[must_use = "the publish is in flight only while the pass is held"]
pub(crate) struct Pass<'a>(&'a AtomicUsize);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Release);
    }
}

impl Gate {
    /// An open gate with `stripes` counters (a power of two).
    pub(crate) fn new(stripes: usize) -> Self {
        debug_assert!(stripes.is_power_of_two());
        Self {
            closed: AtomicBool::new(false),
            in_flight: (0..stripes).map(|_| Stripe(AtomicUsize::new(0))).collect(),
        }
    }

    /// Counts a publish in on `stripe` (any number; it is masked) unless the
    /// gate is closed.
    #[inline]
    pub(crate) fn enter(&self, stripe: usize) -> Option<Pass<'_>> {
        let pass = self.enter_always(stripe);
        if self.closed.load(Relaxed) {
            // Dropping the pass counts the publish out again.
            return None;
        }
        Some(pass)
    }

    /// Counts a publish in on `stripe` whether or not the gate is closed (an
    /// explicit publish with a caller's producer ignores `close`, as Celery's
    /// does, yet `close` still waits for it).
    #[inline]
    pub(crate) fn enter_always(&self, stripe: usize) -> Pass<'_> {
        let count = &self.in_flight[stripe & (self.in_flight.len() - 1)].0;
        count.fetch_add(1, Relaxed);
        fence(SeqCst);
        Pass(count)
    }

    /// Closes the gate, then waits until every publish that entered before
    /// has ended.
    pub(crate) fn close(&self) {
        self.closed.store(true, Relaxed);
        fence(SeqCst);
        for stripe in self.in_flight.iter() {
            let mut spins = 0u32;
            while stripe.0.load(Acquire) != 0 {
                wait_a_little(&mut spins);
            }
        }
    }

    /// Opens the gate again.
    pub(crate) fn open(&self) {
        self.closed.store(false, Release);
    }

    /// Whether the gate is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Acquire)
    }
}

/// `close` is rare and a publish in flight short (or sleeping between
/// retries): spin briefly, then yield, then sleep.
#[cold]
fn wait_a_little(spins: &mut u32) {
    *spins += 1;
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    match *spins {
        0..=64 => std::hint::spin_loop(),
        65..=256 => std::thread::yield_now(),
        _ => std::thread::sleep(std::time::Duration::from_micros(200)),
    }
}
