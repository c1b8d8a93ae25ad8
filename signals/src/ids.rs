//! Receivers' ids: one connection's [`ReceiverId`], and the ids of a list of
//! receivers, shared by the responses of every send that
//! calls them all, without a cache line that every thread writes.
//!
//! A response list of two or more receivers shares the snapshot's ids rather
//! than copying them (which would allocate on every send). Sharing one `Arc`
//! from every thread, though, makes its reference count a line that bounces
//! between cores on two atomic updates per send: measured, two threads sending
//! to ten receivers got 0.94 times the throughput of one. So the ids are kept
//! in a few identical copies (*stripes*), each with its own count, and each
//! thread shares the copy of its stripe. Threads sharing a stripe contend only
//! when they run at the same moment, which a stripe count of twice the cores
//! makes rare. The cost is memory: the ids of a snapshot (or cached route)
//! with two or more receivers are held once per stripe.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A receiver's identity in responses and logs: its name and its connection number.
///
/// The name defaults to the Rust type name of the function (for closures, the path
/// of the function that defines them, ending in `{{closure}}`); the number is unique
/// to one connection for the life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReceiverId {
    name: &'static str,
    id: u64,
}

impl ReceiverId {
    pub(crate) fn new(name: &'static str, id: u64) -> Self {
        Self { name, id }
    }

    /// The receiver's name.
    ///
    /// ```
    /// use signals::Signal;
    /// fn audit(_: &&str, _: &()) {}
    /// let sig: Signal<()> = Signal::new("ping");
    /// let conn = sig.connect(audit);
    /// assert!(conn.id().name().ends_with("audit"));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The connection number, unique within the process.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Display for ReceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.name, self.id)
    }
}

/// At most this many stripes, whatever the core count.
const MAX_STRIPES: usize = 64;

/// Receivers' ids, in a copy per stripe (one copy for one id or none, which
/// no send shares).
pub(crate) struct SharedIds {
    /// The first id, held inline: a send to one receiver copies it from here,
    /// one load fewer than from a stripe.
    pub(crate) first: Option<ReceiverId>,
    /// A power of two of identical lists.
    stripes: Box<[Arc<[ReceiverId]>]>,
}

impl SharedIds {
    pub(crate) fn new(ids: Vec<ReceiverId>) -> Self {
        let copies = if ids.len() < 2 { 1 } else { stripe_count() };
        let first = ids.first().copied();
        let ids: Arc<[ReceiverId]> = ids.into();
        let mut stripes = Vec::with_capacity(copies);
        stripes.extend((1..copies).map(|_| Arc::from(&ids[..])));
        stripes.push(ids);
        Self {
            first,
            stripes: stripes.into_boxed_slice(),
        }
    }

    /// The copy this thread shares.
    #[inline(always)]
    pub(crate) fn local(&self) -> &Arc<[ReceiverId]> {
        let mask = self.stripes.len() - 1;
        if mask == 0 {
            &self.stripes[0]
        } else {
            &self.stripes[thread_stripe() & mask]
        }
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.stripes[0].len()
    }
}

/// Twice the cores, rounded up to a power of two: found once.
pub(crate) fn stripe_count() -> usize {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    match COUNT.load(Ordering::Relaxed) {
        0 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let count = (cores * 2).next_power_of_two().min(MAX_STRIPES);
            COUNT.store(count, Ordering::Relaxed);
            count
        }
        count => count,
    }
}

thread_local! {
    /// This thread's stripe, or `usize::MAX` before its first shared send.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe number (to be masked): threads are numbered in the
/// order of their first shared send, so that consecutive ones differ.
#[inline(always)]
pub(crate) fn thread_stripe() -> usize {
    STRIPE.with(|stripe| match stripe.get() {
        usize::MAX => assign_stripe(stripe),
        assigned => assigned,
    })
}

#[cold]
#[inline(never)]
fn assign_stripe(stripe: &Cell<usize>) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let assigned = NEXT.fetch_add(1, Ordering::Relaxed) % MAX_STRIPES;
    stripe.set(assigned);
    assigned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_copies_of_the_same_ids() {
        let ids: Vec<_> = (0..3).map(|n| ReceiverId::new("r", n)).collect();
        let shared = SharedIds::new(ids.clone());
        let here = Arc::as_ptr(shared.local()).cast::<ReceiverId>() as usize;
        let there = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    assert_eq!(&shared.local()[..], &ids[..]);
                    Arc::as_ptr(shared.local()).cast::<ReceiverId>() as usize
                })
                .join()
                .unwrap()
        });
        assert_eq!(shared.len(), 3);
        if stripe_count() > 1 {
            assert_ne!(
                here, there,
                "two threads numbered in turn share different copies"
            );
        }
        let one = SharedIds::new(vec![ids[0]]);
        assert_eq!(
            one.stripes.len(),
            1,
            "one id is copied by sends, never shared"
        );
    }
}
