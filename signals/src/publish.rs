//! Lock-free publication of immutable values (a signal's snapshots and its
//! route maps), each freed as soon as its last reader is done with it.
//!
//! # Why `arc-swap`
//!
//! A send must read the current value without a lock and without a shared
//! write: a counter that every send bumps bounces its cache line between cores,
//! and two threads then send slower than one. It must also not hold back the
//! freeing of anything but the one value it reads: a receiver may block for
//! seconds, and a server sends from more threads than it has cores, so read
//! sections overlap all the time. Schemes that free by epoch or by "a moment
//! with no reader" (ours before, `crossbeam-epoch`, `seize`'s batches) let any
//! reader in progress hold back every value retired meanwhile.
//!
//! `arc_swap::ArcSwapOption::load` does both: a reader records the pointer it
//! reads in a slot of its own thread (no shared write), and a writer that swaps
//! a value out turns each such record into a real reference count on that
//! value alone. A value is therefore freed by whoever drops its last
//! reference: the writer, at once, when no send is reading it; else the last
//! reader, when it leaves. What is retired but not freed is at most what the
//! sends in progress read: one value per nested read section of a thread.
//!
//! # Destructors
//!
//! Freeing a snapshot may drop a disconnected receiver, which runs user code,
//! possibly in a sender's thread. Values are wrapped in [`Reclaimed`], whose drop
//! catches a panic and logs it, so that a send never unwinds because of a
//! receiver it did not call. Writers drop what they replaced after releasing
//! their lock, since a destructor may call back into the signal.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

#[cfg(not(loom))]
use arc_swap::{ArcSwapOption as Slot, Guard};
#[cfg(not(loom))]
use std::sync::Arc;

#[cfg(loom)]
use self::model::{Arc, Guard, Slot};

/// The value a read guard protects, as a reference count of its own.
#[cfg(not(loom))]
fn guard_into_inner<T: arc_swap::RefCnt>(guard: Guard<T>) -> T {
    Guard::into_inner(guard)
}
#[cfg(loom)]
use self::model::guard_into_inner;

/// An atomically replaceable `Option<T>` that sends read without a lock.
pub(crate) struct Published<T> {
    slot: Slot<Reclaimed<T>>,
}

/// A read of a [`Published`] value: the value stays alive while this does.
/// Dropping the last read of a replaced value frees it.
pub(crate) struct Pin<T> {
    /// Dropped by [`release`], which never unwinds.
    guard: ManuallyDrop<Guard<Option<Arc<Reclaimed<T>>>>>,
}

impl<T> Drop for Pin<T> {
    #[inline(always)]
    fn drop(&mut self) {
        release(&mut self.guard);
    }
}

/// Ends a read. It may free the value (the last read of a replaced one),
/// whose destructor never unwinds ([`Reclaimed`]); this function says so with
/// its ABI, so that a send need not hold its response list aside across it in
/// case it unwinds: the list is then written straight to the caller.
#[inline(always)]
extern "C" fn release<G>(guard: &mut ManuallyDrop<G>) {
    // SAFETY: called once, from `Pin::drop`; the guard is not used again.
    unsafe { ManuallyDrop::drop(guard) }
}

impl<T> Pin<T> {
    /// The value read, if one was published.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<&T> {
        self.guard.as_deref().map(|value| &**value)
    }
}

impl<T> Pin<T> {
    /// The same read, held by a reference count of its own: a shared write
    /// on the value's count (unless a writer already took one for this
    /// read), and no read slot of this thread kept busy.
    fn into_owned(self) -> Option<Owned<T>> {
        let mut pin = ManuallyDrop::new(self);
        // SAFETY: the guard is taken out once, and `pin`, which is never
        // dropped, does not use it again.
        let guard = unsafe { ManuallyDrop::take(&mut pin.guard) };
        guard_into_inner(guard).map(Owned)
    }
}

/// A read that an async send keeps until it ends: a [`Pin`] for as long as
/// the send runs without suspending (most sends end within their first
/// poll), turned into an [`Owned`] read by [`own`](Self::own) before the
/// send first suspends.
///
/// A pinned read occupies one of its thread's few read slots, and its value's
/// shared count is untouched; held across a suspension, it would keep that
/// slot busy for as long as a receiver waits on I/O, and move with the task to
/// another thread. An owned read costs a write on the value's shared count, a
/// cache line all threads' async sends would then share: so it is paid only
/// by a send that suspends.
pub(crate) struct Kept<T> {
    read: Read<T>,
    /// The value, in the allocation both forms of the read keep alive.
    value: NonNull<T>,
}

enum Read<T> {
    Pinned(Pin<T>),
    /// Held for its count only: the value is read through `Kept::value`.
    Owned(#[allow(dead_code)] Owned<T>),
    /// Between the two, only while [`Kept::own`] runs.
    Moving,
}

// SAFETY: `value` points into the allocation that `read` keeps alive, and is
// only read through; `Kept` is a `Pin` or an `Owned` of `T` plus a shared
// reference to `T`, so it may be sent or shared when those may.
unsafe impl<T: Send + Sync> Send for Kept<T> where Pin<T>: Send {}
// SAFETY: as for `Send`.
unsafe impl<T: Send + Sync> Sync for Kept<T> where Pin<T>: Sync {}

impl<T> Published<T> {
    /// The current value, read for an async send (see [`Kept`]).
    pub(crate) fn keep(&self) -> Option<Kept<T>> {
        let pin = self.load();
        let value = NonNull::from(pin.get()?);
        Some(Kept {
            read: Read::Pinned(pin),
            value,
        })
    }
}

impl<T> Kept<T> {
    /// The value read.
    ///
    /// # Safety
    ///
    /// The reference must not be used once `self` is dropped. It stays valid
    /// across [`own`](Self::own), which neither moves nor frees the value:
    /// that is why it is not tied to a borrow of `self`.
    pub(crate) unsafe fn value<'a>(&self) -> &'a T {
        // SAFETY: `value` points into the allocation `read` keeps alive, and
        // the caller does not outlive `self` with the reference.
        unsafe { self.value.as_ref() }
    }

    /// Holds the value by a reference count of its own from now on, so that
    /// the read may be kept across a suspension. Does nothing if it already
    /// is. The value stays where it is.
    pub(crate) fn own(&mut self) {
        if let Read::Pinned(_) = self.read {
            if let Read::Pinned(pin) = std::mem::replace(&mut self.read, Read::Moving) {
                // The allocation is kept alive by the pin until the owned
                // read exists: `into_owned` takes a count before releasing
                // the guard's claim.
                if let Some(owned) = pin.into_owned() {
                    self.read = Read::Owned(owned);
                }
            }
        }
    }

    /// Whether [`own`](Self::own) has run (for tests).
    #[cfg(test)]
    pub(crate) fn is_owned(&self) -> bool {
        matches!(self.read, Read::Owned(_))
    }
}

/// A value swapped out of a [`Published`]: dropping it frees the value unless a
/// read of it is still in progress (then the last such read frees it).
#[must_use = "drop it once no lock is held: freeing runs receivers' destructors"]
pub(crate) struct Replaced<T>(#[allow(dead_code)] Option<Arc<Reclaimed<T>>>);

impl<T> Published<T> {
    /// Nothing published yet.
    pub(crate) const fn empty() -> Self {
        Self {
            slot: Slot::const_empty(),
        }
    }

    pub(crate) fn new(value: T) -> Self {
        let published = Self::empty();
        drop(published.replace(value));
        published
    }

    /// The current value, valid while the returned [`Pin`] is.
    #[inline(always)]
    pub(crate) fn load(&self) -> Pin<T> {
        Pin {
            guard: ManuallyDrop::new(self.slot.load()),
        }
    }

    /// Whether a value was ever published.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.slot.load().is_some()
    }

    /// Publishes `value`, and hands back the one it replaces. Writers must be
    /// serialized by the caller.
    pub(crate) fn replace(&self, value: T) -> Replaced<T> {
        Replaced(
            self.slot
                .swap(Some(Arc::new(Reclaimed(ManuallyDrop::new(value))))),
        )
    }
}

/// A published value held by its own reference count (a [`Kept`] read after
/// [`Kept::own`]): it may be sent to another thread, and frees the value if it
/// is the last holder of a replaced one.
pub(crate) struct Owned<T>(#[allow(dead_code)] Arc<Reclaimed<T>>);

/// A published value, whose destructor never unwinds (see the module docs).
pub(crate) struct Reclaimed<T>(ManuallyDrop<T>);

impl<T> Deref for Reclaimed<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Drop for Reclaimed<T> {
    fn drop(&mut self) {
        // SAFETY: the value is dropped here once, and never used again.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            ManuallyDrop::drop(&mut self.0)
        }));
        if let Err(payload) = dropped {
            tracing::error!(
                "a value retired by a signal panicked when dropped: {}",
                crate::panic::message(payload.as_ref())
            );
        }
    }
}

/// What [`Published`] needs of `arc-swap`, built on loom's primitives so that
/// the model tests in `tests/loom` explore every interleaving of the protocol
/// built on it: readers pinning, writers replacing, the last holder freeing.
///
/// The model's slot is a lock around the current `Arc`, which gives exactly
/// the contract `arc-swap` documents (a load returns a value that stays alive
/// while its guard does; a swap returns the previous value, which is freed by
/// whoever drops its last reference). `arc-swap`'s own lock-free
/// implementation of that contract is tested by its authors; ours is what is
/// layered on it, and run against the real crate by `tests/reclamation.rs`.
#[cfg(loom)]
mod model {
    pub(crate) use loom::sync::Arc;
    use loom::sync::Mutex;
    use std::sync::OnceLock;

    /// Created on first use, so that `const_empty` stays `const` as
    /// `arc-swap`'s is (loom's lock is made inside the model's execution).
    pub(crate) struct Slot<T>(OnceLock<Mutex<Option<Arc<T>>>>);
    pub(crate) type Guard<T> = T;

    impl<T> Slot<T> {
        pub(crate) const fn const_empty() -> Self {
            Self(OnceLock::new())
        }
        fn current(&self) -> &Mutex<Option<Arc<T>>> {
            self.0.get_or_init(|| Mutex::new(None))
        }
        pub(crate) fn load(&self) -> Option<Arc<T>> {
            self.current().lock().unwrap().clone()
        }
        pub(crate) fn swap(&self, new: Option<Arc<T>>) -> Option<Arc<T>> {
            std::mem::replace(&mut *self.current().lock().unwrap(), new)
        }
    }

    /// The model's guard is the reference count itself.
    pub(crate) fn guard_into_inner<T>(guard: Guard<T>) -> T {
        guard
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_replaced_value_is_freed_by_its_last_reader() {
        let dropped = AtomicUsize::new(0);
        let published = Published::new(Counted(&dropped));
        let pin = published.load();
        drop(published.replace(Counted(&dropped)));
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "a reader is inside");
        assert!(pin.get().is_some(), "still readable");
        drop(pin);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "the last reader freed it"
        );
        // With no reader, the writer frees what it replaced.
        drop(published.replace(Counted(&dropped)));
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_reader_pins_only_the_value_it_reads() {
        let dropped = AtomicUsize::new(0);
        let published = Published::new(Counted(&dropped));
        let pin = published.load();
        for _ in 0..100 {
            drop(published.replace(Counted(&dropped)));
        }
        // Everything replaced after the read began is freed: 99 of 100.
        assert_eq!(dropped.load(Ordering::SeqCst), 99);
        drop(pin);
        assert_eq!(dropped.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn a_kept_read_owned_midway_frees_its_value_once_dropped() {
        let dropped = AtomicUsize::new(0);
        let published = Published::new(Counted(&dropped));
        let mut kept = published.keep().expect("published");
        // SAFETY: `value` is not used after `kept` is dropped.
        let value = unsafe { kept.value() };
        drop(published.replace(Counted(&dropped)));
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        kept.own();
        assert!(kept.is_owned());
        kept.own();
        assert_eq!(
            value.0.load(Ordering::SeqCst),
            0,
            "still readable, in place"
        );
        let dropped = &dropped;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                drop(kept);
                assert_eq!(
                    dropped.load(Ordering::SeqCst),
                    1,
                    "freed by its last holder"
                );
            });
        });
    }

    #[test]
    fn a_panicking_destructor_is_caught() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let published = Published::new(Bomb);
        drop(published.replace(Bomb));
        drop(published);
    }
}
