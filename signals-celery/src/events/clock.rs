//! The Lamport clock Celery stamps on every event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A Lamport logical clock, as `kombu.clocks.LamportClock`: [`forward`] before each
/// event sent, [`adjust`] on each event received.
///
/// The dispatchers of one application share one clock (Celery's `app.clock`);
/// [`LamportClock::global`] is that clock for a process that does not build its
/// own.
///
/// ```
/// use signals_celery::events::LamportClock;
/// let clock = LamportClock::new();
/// assert_eq!(clock.forward(), 1);
/// assert_eq!(clock.forward(), 2);
/// assert_eq!(clock.adjust(10), 11);
/// assert_eq!(clock.adjust(3), 12);
/// ```
///
/// [`forward`]: LamportClock::forward
/// [`adjust`]: LamportClock::adjust
#[derive(Debug, Default)]
pub struct LamportClock {
    value: AtomicU64,
}

impl LamportClock {
    /// A clock at 0.
    pub const fn new() -> Self {
        Self {
            value: AtomicU64::new(0),
        }
    }

    /// The process-wide clock, shared by every dispatcher built without one.
    pub fn global() -> Arc<LamportClock> {
        static GLOBAL: OnceLock<Arc<LamportClock>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| Arc::new(LamportClock::new())))
    }

    /// Advances the clock for a local event; returns the new value.
    #[inline]
    pub fn forward(&self) -> u64 {
        self.value.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Merges a remote event's clock: the value becomes `max(value, other) + 1`,
    /// which is returned.
    pub fn adjust(&self, other: u64) -> u64 {
        let mut current = self.value.load(Ordering::Acquire);
        loop {
            let next = current.max(other) + 1;
            match self.value.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return next,
                Err(seen) => current = seen,
            }
        }
    }

    /// The current value.
    pub fn value(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }
}
