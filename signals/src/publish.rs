//! Lock-free publication of immutable values (the signal's snapshots and sender
//! caches), with reclamation by reader counting.
//!
//! `arc-swap` costs about 16 ns a load on our 2-core machines; a send needs only
//! "the snapshot may not be freed while I read it". Readers therefore bump one
//! counter around their read; a replaced value is *retired*, and retired values
//! are freed once a moment is seen with no reader inside. Every operation on the
//! counter and the pointers is `SeqCst`, which is what makes the argument below
//! hold.
//!
//! # Why a retired value is never freed under a reader
//!
//! A reader that can hold value `X` loaded the pointer before `X` was swapped
//! out, so its increment precedes that swap, which precedes `X`'s retirement,
//! which precedes any check of the counter made while holding the retired list.
//! If that check reads zero, the reader's decrement came first: it is done with
//! `X`. Values are only freed by a holder of the retired list after such a check.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};

use parking_lot::Mutex;

/// Values retired but possibly still read.
pub(crate) type Garbage = Vec<Box<dyn Any + Send>>;

/// The readers of one signal and what they might still be reading.
pub(crate) struct Domain {
    readers: AtomicUsize,
    pending: AtomicBool,
    retired: Mutex<Garbage>,
}

impl Domain {
    pub(crate) const fn new() -> Self {
        Self {
            readers: AtomicUsize::new(0),
            pending: AtomicBool::new(false),
            retired: Mutex::new(Vec::new()),
        }
    }

    /// Enters a read section: no value published in this domain is freed until
    /// the guard is dropped.
    #[inline]
    pub(crate) fn read(&self) -> ReadGuard<'_> {
        self.readers.fetch_add(1, SeqCst);
        ReadGuard { domain: self }
    }

    /// Hands a replaced value over for freeing. Returns whatever may be freed now;
    /// the caller drops it once it holds no lock (a receiver's destructor may
    /// call back into the signal).
    #[must_use]
    pub(crate) fn retire(&self, value: Box<dyn Any + Send>) -> Garbage {
        let mut retired = self.retired.lock();
        retired.push(value);
        self.pending.store(true, SeqCst);
        Self::collect(&self.readers, &self.pending, &mut retired)
    }

    fn collect(readers: &AtomicUsize, pending: &AtomicBool, retired: &mut Garbage) -> Garbage {
        if readers.load(SeqCst) == 0 {
            pending.store(false, SeqCst);
            std::mem::take(retired)
        } else {
            Vec::new()
        }
    }

    /// The last reader out frees what was retired while it read, unless a writer
    /// holds the list (that writer, or a later reader, will).
    ///
    /// It never unwinds (a panicking destructor of a retired value is caught
    /// and logged), and says so with its ABI: a send's response list may then
    /// be written straight to the caller, not held aside across this call.
    #[cold]
    #[inline(never)]
    extern "C" fn reclaim(&self) {
        let garbage = match self.retired.try_lock() {
            Some(mut retired) => Self::collect(&self.readers, &self.pending, &mut retired),
            None => return,
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(garbage))) {
            tracing::error!(
                "a value retired by a signal panicked when dropped: {}",
                crate::signal::panic_message(payload.as_ref())
            );
        }
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        // `&mut self`: no reader is left.
        self.retired.get_mut().clear();
    }
}

/// A read section of a [`Domain`].
pub(crate) struct ReadGuard<'a> {
    domain: &'a Domain,
}

impl Drop for ReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.domain.readers.fetch_sub(1, SeqCst) == 1 && self.domain.pending.load(SeqCst) {
            self.domain.reclaim();
        }
    }
}

/// An atomically replaceable `Option<Box<T>>` whose readers are counted by a
/// [`Domain`].
pub(crate) struct Cell<T> {
    value: AtomicPtr<T>,
    /// The cell owns a `Box<T>`: `Send`/`Sync` must follow `T`'s, which a bare
    /// `AtomicPtr<T>` (always both) would not.
    _owns: PhantomData<Box<T>>,
}

impl<T> Cell<T> {
    pub(crate) const fn empty() -> Self {
        Self {
            value: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    pub(crate) fn new(value: T) -> Self {
        Self {
            value: AtomicPtr::new(Box::into_raw(Box::new(value))),
            _owns: PhantomData,
        }
    }

    /// The current value, valid while `guard` is.
    #[inline]
    pub(crate) fn load<'g>(&self, _guard: &'g ReadGuard<'_>) -> Option<&'g T> {
        let value = self.value.load(SeqCst);
        // SAFETY: a non-null pointer came from `Box::into_raw` in `new`/`replace`
        // and is freed only after being retired and seen with no reader (module
        // docs); `_guard` counts us as a reader for its whole lifetime.
        unsafe { value.as_ref() }
    }

    /// Whether a value was ever published.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        !self.value.load(SeqCst).is_null()
    }
}

impl<T: Send + 'static> Cell<T> {
    /// Publishes `value`; the previous one is retired in `domain`. Writers must
    /// be serialized by the caller.
    #[must_use]
    pub(crate) fn replace(&self, domain: &Domain, value: T) -> Garbage {
        let old = self.value.swap(Box::into_raw(Box::new(value)), SeqCst);
        if old.is_null() {
            return Vec::new();
        }
        // SAFETY: `old` came from `Box::into_raw` and, swapped out, is owned here.
        domain.retire(unsafe { Box::from_raw(old) })
    }
}

impl<T> Drop for Cell<T> {
    fn drop(&mut self) {
        let value = *self.value.get_mut();
        if !value.is_null() {
            // SAFETY: `&mut self`: no reader is left, and the pointer is ours.
            drop(unsafe { Box::from_raw(value) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn retired_values_are_freed_once_no_reader_is_inside() {
        let domain = Domain::new();
        let cell = Cell::new(Arc::new(1));
        let first = Arc::clone(cell.load(&domain.read()).unwrap());
        {
            let guard = domain.read();
            let seen = cell.load(&guard).unwrap();
            let garbage = cell.replace(&domain, Arc::new(2));
            assert!(garbage.is_empty(), "a reader is inside");
            assert_eq!(**seen, 1, "still readable");
            assert_eq!(Arc::strong_count(&first), 2);
        }
        // The last reader out freed the retired value.
        assert_eq!(Arc::strong_count(&first), 1);
        assert_eq!(**cell.load(&domain.read()).unwrap(), 2);
        // With no reader, retiring frees at once.
        let garbage = cell.replace(&domain, Arc::new(3));
        assert_eq!(garbage.len(), 1);
    }
}
