//! Async sends ([`Signal::asend`](crate::Signal::asend) and
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

use std::future::{poll_fn, Future};
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;

use crate::error::{BoxError, ReceiverError, SendError};
use crate::panic;
use crate::receiver::{BoxFuture, ReceiverId};
use crate::registry::Planned;
use crate::responses::{Responses, RobustResponses};

/// The body of `asend` past its snapshot: sync receivers in order, stopping at
/// the first error; then the async ones together, the first to fail stopping
/// the send and cancelling (dropping) the others.
pub(crate) async fn send<A, S, R>(
    planned: &Planned<'_, A, S, R>,
    sender: &S,
    args: &A,
) -> Result<Responses<R>, SendError> {
    let mut values: Vec<Option<R>> = Vec::with_capacity(planned.receivers.len());
    for (id, held) in &planned.receivers {
        let receiver = held.get();
        if receiver.awaits() {
            values.push(None);
            continue;
        }
        match receiver.invoke(sender, args) {
            Ok(value) => values.push(Some(value)),
            Err(source) => {
                return Err(SendError {
                    receiver: *id,
                    source,
                })
            }
        }
    }
    let mut join = Join::new(start(planned, sender, args, |future| future));
    let mut failure = None;
    poll_fn(|cx| {
        join.poll_each(
            cx,
            &mut |position, outcome: Result<R, BoxError>| match outcome {
                Ok(value) => {
                    values[position] = Some(value);
                    ControlFlow::Continue(())
                }
                Err(source) => {
                    failure = Some(SendError {
                        receiver: planned.receivers[position].0,
                        source,
                    });
                    ControlFlow::Break(())
                }
            },
        )
    })
    .await;
    drop(join);
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(gather(planned, values))
}

/// The body of `asend_robust` past its snapshot: every receiver runs, sync
/// ones first, and each failure or panic is logged and kept as its outcome.
pub(crate) async fn send_robust<A, S, R>(
    planned: &Planned<'_, A, S, R>,
    sender: &S,
    args: &A,
) -> RobustResponses<R> {
    let mut values: Vec<Option<Result<R, ReceiverError>>> =
        Vec::with_capacity(planned.receivers.len());
    for (id, held) in &planned.receivers {
        let receiver = held.get();
        if receiver.awaits() {
            values.push(None);
            continue;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| receiver.invoke(sender, args)));
        values.push(Some(robust_outcome(*id, outcome)));
    }
    let mut join = Join::new(start(planned, sender, args, |future| {
        AssertUnwindSafe(future).catch_unwind()
    }));
    poll_fn(|cx| {
        join.poll_each(cx, &mut |position, outcome| {
            let id = planned.receivers[position].0;
            values[position] = Some(robust_outcome(id, outcome));
            ControlFlow::Continue(())
        })
    })
    .await;
    drop(join);
    gather(planned, values)
}

/// The futures of the receivers to await, each with its position, wrapped by
/// `wrap`. Made only once every sync receiver has returned: a closure that
/// returns a future runs its code up to the future when called.
fn start<'a, A, S, R, F>(
    planned: &'a Planned<'_, A, S, R>,
    sender: &'a S,
    args: &'a A,
    wrap: impl Fn(BoxFuture<'a, Result<R, BoxError>>) -> F,
) -> Vec<(usize, F)> {
    planned
        .receivers
        .iter()
        .enumerate()
        .filter_map(|(position, (_, held))| {
            let future = held.get().invoke_async(sender, args)?;
            Some((position, wrap(future)))
        })
        .collect()
}

/// The responses in call order: every slot is filled once the join ended
/// without a failure. An id is kept only with its value, so the two lists
/// cannot disagree.
fn gather<A, S, R, T>(planned: &Planned<'_, A, S, R>, values: Vec<Option<T>>) -> Responses<T> {
    let (ids, values) = planned
        .receivers
        .iter()
        .zip(values)
        .filter_map(|((id, _), value)| Some((*id, value?)))
        .unzip();
    Responses::from_parts(ids, values)
}

/// One receiver's outcome under `asend_robust`, logged if it failed.
fn robust_outcome<R>(
    id: ReceiverId,
    outcome: std::thread::Result<Result<R, BoxError>>,
) -> Result<R, ReceiverError> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(crate::signal::robust_failure(
            id,
            ReceiverError::Failed(error),
        )),
        Err(payload) => Err(crate::signal::robust_failure(
            id,
            ReceiverError::Panicked(panic::message(payload.as_ref())),
        )),
    }
}

/// Futures driven together by the future that polls this: each polled once in
/// order, then those still pending polled as they are woken.
struct Join<F> {
    /// Not polled yet, with their positions.
    first: Vec<(usize, F)>,
    /// Polled once and still pending.
    rest: FuturesUnordered<Positioned<F>>,
}

impl<F: Future + Unpin> Join<F> {
    fn new(futures: Vec<(usize, F)>) -> Self {
        Self {
            first: futures,
            rest: FuturesUnordered::new(),
        }
    }

    /// Polls what can make progress, handing each output to `on_ready` with
    /// its position. Ready once every future is done or `on_ready` breaks;
    /// the futures left are dropped with the `Join`.
    fn poll_each(
        &mut self,
        cx: &mut Context<'_>,
        on_ready: &mut impl FnMut(usize, F::Output) -> ControlFlow<()>,
    ) -> Poll<()> {
        let mut first = std::mem::take(&mut self.first).into_iter();
        for (position, mut future) in first.by_ref() {
            match future.poll_unpin(cx) {
                Poll::Ready(output) => {
                    if on_ready(position, output).is_break() {
                        return Poll::Ready(());
                    }
                }
                Poll::Pending => self.rest.push(Positioned { position, future }),
            }
        }
        loop {
            match self.rest.poll_next_unpin(cx) {
                Poll::Ready(Some((position, output))) => {
                    if on_ready(position, output).is_break() {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
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
