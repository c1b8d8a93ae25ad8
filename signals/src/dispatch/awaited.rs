//! The loop of async sends ([`Signal::asend`](crate::Signal::asend) and
//! [`asend_robust`](crate::Signal::asend_robust)) once the snapshot holds a
//! receiver to await: the sync receivers called first, then the async ones
//! driven together in the caller's task.
//!
//! # Order
//!
//! Django 5.0 to 6.0 ran the sync receivers in a thread while the async ones
//! ran; Django 6.1 finishes the sync receivers before any async one starts. We
//! follow 6.1: with no thread to hand the sync receivers to (no runtime is
//! assumed), running them "beside" the async ones would only mean running them
//! between polls, and a sync receiver that fails then stops `asend` before any
//! async work has begun, so nothing is left half done. Responses come back in
//! connection order whatever the kinds, where Django puts the sync ones first.
//!
//! # Concurrency without a runtime
//!
//! The async receivers' futures are polled by the `asend` future itself, never
//! spawned: each is polled once, in connection order, and those still pending
//! move to a `FuturesUnordered`, which polls only the ones woken. The common
//! case, a receiver that finishes at once (a channel send, a cache write), costs
//! a poll and no allocation beyond the receiver's boxed future.
//!
//! # The snapshot across awaits
//!
//! The send reads the snapshot as a sync send does, with no shared write, and
//! keeps that read while it runs without suspending. Only before it first
//! returns pending does it take a reference count of its own on the snapshot
//! (see `publish::Kept`): a send that suspends waits on something far slower
//! than that count, and a send that does not stays free of the cache line every
//! thread's count would share (measured: one shared count per `asend` made
//! eight threads no faster than one).

use std::future::{poll_fn, Future};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use smallvec::SmallVec;

use super::{Guarded, Mode};
use crate::error::SendError;
use crate::responses::{Responses, INLINE};
use crate::snapshot::Planned;

/// One receiver's place in an async send, in call order.
enum Slot<T, F> {
    /// Its kept outcome.
    Done(T),
    /// Its future, not polled yet.
    Waiting(F),
    /// Neither: an async receiver not started yet, or one whose future is
    /// being polled elsewhere, or was dropped by a failure.
    Empty,
}

/// The slots of one send: inline for the one or two receivers most signals
/// have.
type Slots<T, F> = SmallVec<[Slot<T, F>; INLINE]>;

/// Calls the receivers of `planned`: the sync ones in order, then the async
/// ones together. The mode decides what an error does: [`Strict`](super::Strict)
/// stops at the first (a sync receiver's stops the send before any async one
/// has started; an async one's drops, so cancels, the futures still
/// running), [`Robust`](super::Robust) runs every receiver to its end.
/// Returns the outcomes kept, in call order, and the error that stopped the
/// send, if one did.
pub(crate) async fn call_awaited<M: Mode<R>, A, S, R>(
    planned: &Planned<'_, A, S, R>,
    sender: &S,
    args: &A,
    on_suspend: impl FnMut(),
) -> (Responses<M::Item>, Option<SendError>) {
    let mut slots: Slots<M::Item, Guarded<'_, R>> = SmallVec::with_capacity(planned.len());
    for position in 0..planned.len() {
        let receiver = planned.receiver(position);
        let mut slot = Slot::Empty;
        if !receiver.is_async() {
            let outcome = M::call(|| receiver.invoke(sender, args));
            match M::settle(outcome, || planned.id(position)) {
                ControlFlow::Continue(item) => slot = Slot::Done(item),
                ControlFlow::Break(source) => {
                    let failure = SendError {
                        receiver: planned.id(position),
                        source,
                    };
                    return (gather(planned, slots), Some(failure));
                }
            }
        }
        slots.push(slot);
    }
    // The futures are made only once every sync receiver has returned: a
    // closure that returns a future runs its code up to the future when
    // called.
    for (position, slot) in slots.iter_mut().enumerate() {
        if let Some(future) = planned.receiver(position).invoke_async(sender, args) {
            *slot = Slot::Waiting(Guarded::new(future, M::CATCHES));
        }
    }
    let mut failure = None;
    join(
        &mut slots,
        on_suspend,
        |position, outcome, slot| match M::settle(M::caught(outcome), || planned.id(position)) {
            ControlFlow::Continue(item) => {
                *slot = Slot::Done(item);
                ControlFlow::Continue(())
            }
            ControlFlow::Break(source) => {
                failure = Some(SendError {
                    receiver: planned.id(position),
                    source,
                });
                ControlFlow::Break(())
            }
        },
    )
    .await;
    (gather(planned, slots), failure)
}

/// Drives the futures in `slots` together, from the task that awaits this:
/// each polled once in order, then those still pending polled as they are
/// woken. `on_ready` keeps each output in its slot, or breaks, which ends the
/// join at once; the futures left are dropped with it. `on_suspend` runs each
/// time the join is about to return pending (the send then holds its
/// snapshot by a count of its own).
async fn join<T, F: Future + Unpin>(
    slots: &mut Slots<T, F>,
    mut on_suspend: impl FnMut(),
    mut on_ready: impl FnMut(usize, F::Output, &mut Slot<T, F>) -> ControlFlow<()>,
) {
    // Created only if a future is pending after its first poll: most
    // receivers finish at once, and this costs two allocations.
    let mut pending: Option<FuturesUnordered<Positioned<F>>> = None;
    let mut first_round = true;
    poll_fn(|cx| {
        if std::mem::take(&mut first_round) {
            for (position, slot) in slots.iter_mut().enumerate() {
                if !matches!(slot, Slot::Waiting(_)) {
                    continue;
                }
                let Slot::Waiting(mut future) = std::mem::replace(slot, Slot::Empty) else {
                    continue;
                };
                match future.poll_unpin(cx) {
                    Poll::Ready(output) => {
                        if on_ready(position, output, slot).is_break() {
                            return Poll::Ready(());
                        }
                    }
                    Poll::Pending => pending
                        .get_or_insert_with(FuturesUnordered::new)
                        .push(Positioned { position, future }),
                }
            }
        }
        let Some(pending) = pending.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            match pending.poll_next_unpin(cx) {
                Poll::Ready(Some((position, output))) => {
                    if on_ready(position, output, &mut slots[position]).is_break() {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => {
                    on_suspend();
                    return Poll::Pending;
                }
            }
        }
    })
    .await
}

/// The responses in call order. An id is kept only with its value, so the two
/// lists cannot disagree; when every receiver responded and their ids are the
/// snapshot's, those are shared rather than copied.
fn gather<A, S, R, T, F>(planned: &Planned<'_, A, S, R>, slots: Slots<T, F>) -> Responses<T> {
    let complete = slots.iter().all(|slot| matches!(slot, Slot::Done(_)));
    match planned.shared_ids() {
        Some(ids) if complete => {
            let values = slots
                .into_iter()
                .filter_map(|slot| match slot {
                    Slot::Done(value) => Some(value),
                    _ => None,
                })
                .collect();
            Responses::complete(ids, values)
        }
        _ => {
            let mut ids = SmallVec::with_capacity(slots.len());
            let mut values = SmallVec::with_capacity(slots.len());
            for (position, slot) in slots.into_iter().enumerate() {
                if let Slot::Done(value) = slot {
                    ids.push(planned.id(position));
                    values.push(value);
                }
            }
            Responses::from_parts(ids, values)
        }
    }
}

/// A future with the position of its receiver, which its output carries.
struct Positioned<F> {
    position: usize,
    future: F,
}

impl<F: Future + Unpin> Future for Positioned<F> {
    type Output = (usize, F::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let position = self.position;
        self.future.poll_unpin(cx).map(|output| (position, output))
    }
}
