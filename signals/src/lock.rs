//! Locking a `std::sync::Mutex` whose data stays valid if a holder panicked.
//!
//! Every lock of this crate guards data that a panic cannot leave half
//! written (a registry is replaced whole, a record is pushed whole), so a
//! poisoned lock is taken as it is: one panicking receiver does not make
//! every later connect or capture panic too.

use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Locks `mutex`, whether or not it is poisoned.
#[inline]
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `mutex` if no other thread holds it, whether or not it is poisoned.
#[inline]
pub(crate) fn try_lock<T: ?Sized>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
