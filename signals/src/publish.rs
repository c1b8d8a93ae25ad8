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

#[cfg(not(loom))]
use arc_swap::{ArcSwapOption as Slot, Guard};
#[cfg(not(loom))]
use std::sync::Arc;

#[cfg(loom)]
use self::model::{Arc, Guard, Slot};

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

    /// The current value, held by a reference count of its own rather than a
    /// read slot of this thread: for a read that must outlive the thread's
    /// turn, such as an async send, which may resume on another thread and
    /// keeps its snapshot across awaits. It costs two atomic updates on the
    /// value's shared count, where [`load`](Self::load) costs none.
    pub(crate) fn load_owned(&self) -> Option<Owned<T>> {
        self.slot.load_full().map(Owned)
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

/// A published value held by its own reference count ([`Published::load_owned`]):
/// it may be sent to another thread, and frees the value if it is the last
/// holder of a replaced one.
pub(crate) struct Owned<T>(Arc<Reclaimed<T>>);

impl<T> Deref for Owned<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

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
        pub(crate) fn load_full(&self) -> Option<Arc<T>> {
            self.load()
        }
        pub(crate) fn swap(&self, new: Option<Arc<T>>) -> Option<Arc<T>> {
            std::mem::replace(&mut *self.current().lock().unwrap(), new)
        }
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
    fn an_owned_read_keeps_its_value_on_another_thread() {
        let dropped = AtomicUsize::new(0);
        let published = Published::new(Counted(&dropped));
        let owned = published.load_owned().expect("published");
        drop(published.replace(Counted(&dropped)));
        let dropped = &dropped;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                assert_eq!(dropped.load(Ordering::SeqCst), 0, "still held");
                drop(owned);
                assert_eq!(
                    dropped.load(Ordering::SeqCst),
                    1,
                    "its last holder freed it"
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
