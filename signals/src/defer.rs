//! Dispatch on commit: a scope whose sends wait for `commit()`, Django's
//! `transaction.on_commit` for signals ("send `post_save` only once the
//! transaction has committed").
//!
//! ```
//! use signals::Signal;
//!
//! pub struct Saved { pub id: u64 }
//! static SAVED: Signal<Saved> = Signal::new("saved");
//! # use std::sync::atomic::{AtomicU64, Ordering};
//! # static SEEN: AtomicU64 = AtomicU64::new(0);
//! # let _ = SAVED.connect(|_: &&str, saved: &Saved| { SEEN.fetch_add(saved.id, Ordering::SeqCst); });
//!
//! let tx = signals::defer();
//! SAVED.send_on_commit("users", Saved { id: 7 }); // queued
//! # assert_eq!(SEEN.load(Ordering::SeqCst), 0);
//! // ... the transaction commits ...
//! let committed = tx.commit(); // sent now, in order
//! assert_eq!(committed.sent(), 1);
//! # assert_eq!(SEEN.load(Ordering::SeqCst), 7);
//! ```
//!
//! Which sends may wait is explicit: only [`Signal::send_on_commit`](crate::Signal::send_on_commit) is
//! deferred, and it takes its arguments by value (owned, `'static`), since
//! they outlive the call. A plain `send` inside a scope is sent at once.
//!
//! A scope belongs to the thread that opened it: [`Deferral`] is not `Send`,
//! so an async task cannot hold one across an `.await` on a multi-thread
//! runtime (the compiler refuses the future), where the task could resume on
//! another thread.

use std::cell::RefCell;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::responses::RobustResponses;
use crate::signal::Signal;

/// A deferred send, ready to run: returns how many receivers failed.
type Queued = Box<dyn FnOnce() -> usize>;

/// One open scope on this thread.
struct Scope {
    id: u64,
    queue: Vec<Queued>,
}

thread_local! {
    /// The open scopes, innermost last.
    static SCOPES: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
}

/// Scope numbers, unique in the process.
static NEXT_SCOPE: AtomicU64 = AtomicU64::new(1);

/// Sends discarded by scopes dropped without a commit, in the process.
static DISCARDED: AtomicU64 = AtomicU64::new(0);

/// Opens a deferral scope on this thread: from now until the returned guard
/// commits or drops, [`Signal::send_on_commit`](crate::Signal::send_on_commit)
/// on this thread queues its send instead of sending it.
///
/// [`Deferral::commit`] sends the queue in order (into the enclosing scope's
/// queue, if scopes are nested); dropping the guard without committing
/// discards it, logs a warning and counts the sends in [`discarded_total`].
pub fn defer() -> Deferral {
    let id = NEXT_SCOPE.fetch_add(1, Ordering::Relaxed);
    SCOPES.with_borrow_mut(|scopes| {
        scopes.push(Scope {
            id,
            queue: Vec::new(),
        })
    });
    Deferral {
        id,
        _thread: PhantomData,
    }
}

/// How many deferred sends were discarded, in this process, by scopes dropped
/// without a commit.
pub fn discarded_total() -> u64 {
    DISCARDED.load(Ordering::Relaxed)
}

/// Whether a scope is open on this thread.
pub(crate) fn is_open() -> bool {
    SCOPES.with_borrow(|scopes| !scopes.is_empty())
}

/// Queues `send` in this thread's innermost scope (the caller checked that
/// one is open).
pub(crate) fn enqueue(send: Queued) {
    SCOPES.with_borrow_mut(|scopes| {
        if let Some(scope) = scopes.last_mut() {
            scope.queue.push(send);
        }
    });
}

/// What [`Signal::send_on_commit`](crate::Signal::send_on_commit) did.
#[derive(Debug)]
#[must_use = "the send may have been queued rather than sent"]
pub enum SentOrQueued<R> {
    /// No scope was open: sent at once, with these outcomes.
    Sent(RobustResponses<R>),
    /// Queued in this thread's innermost scope, to be sent when it commits.
    Queued,
}

impl<A, S, R> Signal<A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    /// Sends now, or, inside a [`defer`](crate::defer()) scope on this thread,
    /// when the scope commits: Django's `transaction.on_commit(lambda:
    /// signal.send(...))`. The arguments are moved in, since a queued send
    /// outlives the call.
    ///
    /// Either way the send is [`send_robust`](Self::send_robust): a queued
    /// send has no caller left to stop, so every receiver runs and each
    /// failure is logged (and counted by [`Committed::failed`](crate::defer::Committed::failed)).
    ///
    /// ```
    /// use signals::defer::SentOrQueued;
    /// use signals::Signal;
    /// static PAID: Signal<u64, &'static str, u64> = Signal::new("paid");
    /// let _ = PAID.connect(|_: &&str, order: &u64| *order);
    ///
    /// assert!(matches!(PAID.send_on_commit("shop", 1), SentOrQueued::Sent(r) if r.len() == 1));
    /// let tx = signals::defer();
    /// assert!(matches!(PAID.send_on_commit("shop", 2), SentOrQueued::Queued));
    /// assert_eq!(tx.commit().sent(), 1);
    /// ```
    pub fn send_on_commit(&'static self, sender: S, args: A) -> SentOrQueued<R> {
        if !is_open() {
            return SentOrQueued::Sent(self.send_robust(&sender, &args));
        }
        enqueue(Box::new(move || {
            self.send_robust(&sender, &args)
                .iter()
                .filter(|(_, outcome)| outcome.is_err())
                .count()
        }));
        SentOrQueued::Queued
    }
}

/// A deferral scope, open until committed or dropped (see [`defer`]).
#[must_use = "dropping the scope discards its sends; call commit()"]
pub struct Deferral {
    id: u64,
    /// Not `Send`: the scope lives in its thread's list.
    _thread: PhantomData<*const ()>,
}

impl Deferral {
    /// Sends what the scope queued, in order, each as
    /// [`send_robust`](crate::Signal::send_robust) does: a receiver that
    /// fails or panics is logged and counted, and the other sends still run.
    /// In a nested scope, the queue moves to the enclosing scope instead, to
    /// be sent when that one commits.
    ///
    /// The scope is closed before the sends run, so a receiver that calls
    /// `send_on_commit` queues into the enclosing scope, or sends at once.
    pub fn commit(self) -> Committed {
        let queue = self.close();
        let moved = SCOPES.with_borrow_mut(|scopes| match scopes.last_mut() {
            Some(outer) => {
                let moved = queue.len();
                outer.queue.extend(queue);
                Ok(moved)
            }
            None => Err(queue),
        });
        match moved {
            Ok(moved) => Committed {
                sent: 0,
                failed: 0,
                moved,
            },
            Err(queue) => {
                let sent = queue.len();
                let failed = queue.into_iter().map(|send| send()).sum();
                Committed {
                    sent,
                    failed,
                    moved: 0,
                }
            }
        }
    }

    /// Discards what the scope queued, as dropping it does; returns how many
    /// sends that was.
    pub fn discard(self) -> usize {
        let queue = self.close();
        discarded(queue.len());
        queue.len()
    }

    /// How many sends the scope holds.
    pub fn len(&self) -> usize {
        SCOPES.with_borrow(|scopes| {
            scopes
                .iter()
                .find(|scope| scope.id == self.id)
                .map_or(0, |scope| scope.queue.len())
        })
    }

    /// Whether the scope holds no send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes the scope from the thread's list (wherever it is: guards
    /// dropped out of order leave the others in place) and returns its queue.
    fn close(&self) -> Vec<Queued> {
        let queue = SCOPES.with_borrow_mut(|scopes| {
            let index = scopes.iter().rposition(|scope| scope.id == self.id)?;
            Some(scopes.remove(index).queue)
        });
        // Forget is not needed: `Drop` finds nothing left to discard.
        queue.unwrap_or_default()
    }
}

impl Drop for Deferral {
    fn drop(&mut self) {
        // A thread being torn down may have dropped its scopes already.
        let queue = SCOPES
            .try_with(|scopes| {
                let mut scopes = scopes.borrow_mut();
                let index = scopes.iter().rposition(|scope| scope.id == self.id)?;
                Some(scopes.remove(index).queue)
            })
            .ok()
            .flatten();
        if let Some(queue) = queue {
            discarded(queue.len());
            // Dropped here, outside the borrow: dropping the arguments runs
            // user code, which may open a scope of its own.
            drop(queue);
        }
    }
}

impl fmt::Debug for Deferral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferral")
            .field("id", &self.id)
            .field("queued", &self.len())
            .finish()
    }
}

/// Counts and logs sends discarded by a scope.
fn discarded(count: usize) {
    if count > 0 {
        DISCARDED.fetch_add(count as u64, Ordering::Relaxed);
        tracing::warn!(
            discarded = count,
            "a deferral scope was dropped without commit(); its {count} deferred sends were discarded"
        );
    }
}

/// What [`Deferral::commit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    sent: usize,
    failed: usize,
    moved: usize,
}

impl Committed {
    /// How many sends were made.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// How many receivers failed or panicked in those sends (each was logged).
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// How many sends moved to the enclosing scope (a nested commit).
    pub fn moved(&self) -> usize {
        self.moved
    }
}
