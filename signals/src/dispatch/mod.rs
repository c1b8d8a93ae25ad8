//! Where receivers are called: the loops of every send, sync and async, plain
//! and traced. Nothing else in the crate calls a receiver from a send.
//!
//! The send variants differ in one thing, their [`Mode`]: what a receiver's
//! error does and what is kept of each outcome. [`Strict`] is `send` (the
//! first error stops the send, a panic propagates); [`Robust`] is
//! `send_robust` (every receiver runs, each error or panic is logged and kept
//! as that receiver's outcome). Each loop here is written once, generic over
//! the mode:
//!
//! - [`call_direct`]: every receiver of the snapshot, each held strongly, in
//!   one tight loop (the fast path);
//! - [`call_selected`]: the receivers a sender filter or the route cache
//!   chose, weak ones upgraded as they come, optionally each in a span;
//! - [`call_awaited`]: the sync receivers in order, then the async ones
//!   driven together in the caller's task.

mod awaited;
#[cfg(feature = "tracing-spans")]
mod traced;

use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin as StdPin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use smallvec::SmallVec;

use crate::error::{BoxError, ReceiverError, SendError};
use crate::ids::ReceiverId;
use crate::invoke::{BoxFuture, Callee, Invoke};
use crate::panic;
use crate::responses::{Collect, Reserved, Responses, Sink, Values, INLINE};
use crate::snapshot::{Direct, Selection, Walk};

pub(crate) use awaited::call_awaited;

/// A receiver's outcome, with its panic if one was caught.
pub(crate) type Caught<R> = std::thread::Result<Result<R, BoxError>>;

/// What a send does with its receivers' outcomes: the one thing in which
/// `send` and `send_robust` (and their async forms) differ.
pub(crate) trait Mode<R> {
    /// What is kept of one receiver's outcome.
    type Item;
    /// What the send returns.
    type Output;
    /// One receiver call's outcome, as [`call`](Self::call) makes it: with
    /// its panic, if the mode catches panics.
    type Outcome;
    /// Whether a receiver's panic is caught (and kept as its outcome) rather
    /// than propagated.
    const CATCHES: bool;

    /// The name of the sync send, in its span.
    #[cfg(feature = "tracing-spans")]
    const SYNC: &'static str;
    /// The name of the async send, in its span.
    #[cfg(feature = "tracing-spans")]
    const ASYNC: &'static str;

    /// What a send that calls no receiver returns.
    #[inline(always)]
    fn nobody() -> Self::Output {
        Self::done(Responses::new())
    }

    /// What a send that ran to its end returns.
    fn done(responses: Responses<Self::Item>) -> Self::Output;

    /// What a send stopped by `failure` returns.
    fn stopped(failure: SendError) -> Self::Output;

    /// What the send returns, from the outcomes kept and the error that
    /// stopped it, if one did.
    #[inline(always)]
    fn output(responses: Responses<Self::Item>, failure: Option<SendError>) -> Self::Output {
        match failure {
            None => Self::done(responses),
            Some(failure) => Self::stopped(failure),
        }
    }

    /// What a send to one receiver returns, from its outcome: built once the
    /// read of the snapshot has ended, in place rather than copied out.
    fn finish_one(id: ReceiverId, outcome: Self::Outcome) -> Self::Output;

    /// What is kept of a receiver's outcome, or the error that stops the
    /// send. `id` names the receiver, read only on a failure.
    fn keep(
        outcome: Result<R, BoxError>,
        id: impl FnOnce() -> ReceiverId,
    ) -> ControlFlow<BoxError, Self::Item>;

    /// Makes one receiver call, catching its panic if the mode does.
    fn call(call: impl FnOnce() -> Result<R, BoxError>) -> Self::Outcome;

    /// An async receiver's outcome, from its future's (see [`Guarded`]).
    fn caught(outcome: Caught<R>) -> Self::Outcome;

    /// Keeps what [`call`](Self::call) made, as [`keep`](Self::keep) keeps
    /// an outcome (a caught panic included).
    fn settle(
        outcome: Self::Outcome,
        id: impl FnOnce() -> ReceiverId,
    ) -> ControlFlow<BoxError, Self::Item>;

    /// Runs `run`, a loop that calls the receivers from the
    /// `values.len()`-th on and keeps their outcomes, until `total` are
    /// kept or it breaks; [`Robust`] resumes it past a receiver that
    /// panicked. `id_at` names the receiver at a position.
    fn guard<V: Values<Self::Item>>(
        values: &mut V,
        total: usize,
        run: impl FnMut(&mut V) -> ControlFlow<BoxError>,
        id_at: impl Fn(usize) -> ReceiverId,
    ) -> ControlFlow<BoxError>;

    /// How many of the outcomes kept are failures (for a span).
    #[cfg(feature = "tracing-spans")]
    fn failures(responses: &Responses<Self::Item>) -> usize;
}

/// `send`: the first error stops the send and is returned, a panic
/// propagates (Django's `send`).
pub(crate) struct Strict;

impl<R> Mode<R> for Strict {
    type Item = R;
    type Output = Result<Responses<R>, SendError>;
    type Outcome = Result<R, BoxError>;
    const CATCHES: bool = false;

    #[cfg(feature = "tracing-spans")]
    const SYNC: &'static str = "send";
    #[cfg(feature = "tracing-spans")]
    const ASYNC: &'static str = "asend";

    #[inline(always)]
    fn done(responses: Responses<R>) -> Self::Output {
        Ok(responses)
    }

    #[inline(always)]
    fn stopped(failure: SendError) -> Self::Output {
        Err(failure)
    }

    #[inline(always)]
    fn finish_one(id: ReceiverId, outcome: Self::Outcome) -> Self::Output {
        match outcome {
            Ok(response) => Ok(Responses::one(id, response)),
            Err(source) => Err(SendError {
                receiver: id,
                source,
            }),
        }
    }

    #[inline(always)]
    fn keep(
        outcome: Result<R, BoxError>,
        _id: impl FnOnce() -> ReceiverId,
    ) -> ControlFlow<BoxError, R> {
        match outcome {
            Ok(response) => ControlFlow::Continue(response),
            Err(source) => ControlFlow::Break(source),
        }
    }

    #[inline(always)]
    fn call(call: impl FnOnce() -> Result<R, BoxError>) -> Self::Outcome {
        call()
    }

    #[inline(always)]
    fn caught(outcome: Caught<R>) -> Self::Outcome {
        match outcome {
            Ok(outcome) => outcome,
            // Not caught (`CATCHES` is false): never here.
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Nothing is caught: the outcome is the receiver's own.
    #[inline(always)]
    fn settle(outcome: Self::Outcome, id: impl FnOnce() -> ReceiverId) -> ControlFlow<BoxError, R> {
        Self::keep(outcome, id)
    }

    #[inline(always)]
    fn guard<V: Values<R>>(
        values: &mut V,
        _total: usize,
        mut run: impl FnMut(&mut V) -> ControlFlow<BoxError>,
        _id_at: impl Fn(usize) -> ReceiverId,
    ) -> ControlFlow<BoxError> {
        run(values)
    }

    #[cfg(feature = "tracing-spans")]
    fn failures(_: &Responses<R>) -> usize {
        0
    }
}

/// `send_robust`: every receiver runs; an error or a panic is logged and
/// kept as that receiver's outcome.
pub(crate) struct Robust;

impl Robust {
    /// A panic as the receiver's outcome, logged.
    #[inline(always)]
    fn keep_panic<R>(
        payload: Box<dyn std::any::Any + Send>,
        id: impl FnOnce() -> ReceiverId,
    ) -> Result<R, ReceiverError> {
        let message = panic::message(payload.as_ref());
        Err(robust_failure(id(), ReceiverError::Panicked(message)))
    }
}

impl<R> Mode<R> for Robust {
    type Item = Result<R, ReceiverError>;
    type Output = Responses<Result<R, ReceiverError>>;
    type Outcome = Caught<R>;
    const CATCHES: bool = true;

    #[cfg(feature = "tracing-spans")]
    const SYNC: &'static str = "send_robust";
    #[cfg(feature = "tracing-spans")]
    const ASYNC: &'static str = "asend_robust";

    #[inline(always)]
    fn done(responses: Self::Output) -> Self::Output {
        responses
    }

    /// Never: a robust send does not stop.
    #[inline(always)]
    fn stopped(_failure: SendError) -> Self::Output {
        Responses::new()
    }

    #[inline(always)]
    fn finish_one(id: ReceiverId, outcome: Self::Outcome) -> Self::Output {
        match Self::settle(outcome, || id) {
            ControlFlow::Continue(item) => Responses::one(id, item),
            // Never: a robust send does not stop.
            ControlFlow::Break(_) => Responses::new(),
        }
    }

    #[inline(always)]
    fn keep(
        outcome: Result<R, BoxError>,
        id: impl FnOnce() -> ReceiverId,
    ) -> ControlFlow<BoxError, Self::Item> {
        ControlFlow::Continue(match outcome {
            Ok(response) => Ok(response),
            Err(error) => Err(robust_failure(id(), ReceiverError::Failed(error))),
        })
    }

    #[inline(always)]
    fn call(call: impl FnOnce() -> Result<R, BoxError>) -> Self::Outcome {
        catch_unwind(AssertUnwindSafe(call))
    }

    #[inline(always)]
    fn caught(outcome: Caught<R>) -> Self::Outcome {
        outcome
    }

    #[inline(always)]
    fn settle(
        outcome: Self::Outcome,
        id: impl FnOnce() -> ReceiverId,
    ) -> ControlFlow<BoxError, Self::Item> {
        match outcome {
            Ok(outcome) => Self::keep(outcome, id),
            Err(payload) => ControlFlow::Continue(Self::keep_panic(payload, id)),
        }
    }

    /// One `catch_unwind` covers the whole loop (one per receiver cost more
    /// than the call itself); after a panic, a new one covers the receivers
    /// left.
    #[inline(always)]
    fn guard<V: Values<Self::Item>>(
        values: &mut V,
        total: usize,
        mut run: impl FnMut(&mut V) -> ControlFlow<BoxError>,
        id_at: impl Fn(usize) -> ReceiverId,
    ) -> ControlFlow<BoxError> {
        while values.len() < total {
            let ran = catch_unwind(AssertUnwindSafe(|| run(&mut *values)));
            if let Err(payload) = ran {
                // The receiver whose outcome was next panicked.
                let position = values.len();
                let outcome = Self::keep_panic(payload, || id_at(position));
                // SAFETY: the receiver that panicked pushed nothing, so this
                // is its one outcome.
                unsafe { values.push(outcome) };
            }
        }
        ControlFlow::Continue(())
    }

    #[cfg(feature = "tracing-spans")]
    fn failures(responses: &Self::Output) -> usize {
        responses
            .iter()
            .filter(|(_, outcome)| outcome.is_err())
            .count()
    }
}

/// Logs a robust send's failure, as Django logs "Error calling \<receiver\>
/// in Signal.send_robust() (\<error\>)".
#[cold]
#[inline(never)]
fn robust_failure(id: ReceiverId, error: ReceiverError) -> ReceiverError {
    tracing::error!(
        receiver = %id,
        "Error calling {} in Signal.send_robust() ({})",
        id.name(),
        error
    );
    error
}

/// An async receiver's future as a send awaits it: its output as a caught
/// outcome, its panic caught if the mode catches panics (else propagated).
///
/// One type for both modes, chosen by a flag rather than by the mode's own
/// wrapper type: a wrapper named through the mode, with the future's
/// lifetime, made the compiler unable to show `asend`'s future `Send` for
/// a response type that borrows.
pub(crate) struct Guarded<'a, T> {
    future: BoxFuture<'a, Result<T, BoxError>>,
    catches: bool,
}

impl<'a, T> Guarded<'a, T> {
    pub(crate) fn new(future: BoxFuture<'a, Result<T, BoxError>>, catches: bool) -> Self {
        Self { future, catches }
    }
}

impl<T> Future for Guarded<'_, T> {
    type Output = Caught<T>;

    #[inline]
    fn poll(mut self: StdPin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.catches {
            return self.future.poll_unpin(cx).map(Ok);
        }
        match catch_unwind(AssertUnwindSafe(|| self.future.poll_unpin(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Calls the one receiver of a send; what it returns is finished by
/// [`Mode::finish_one`] once the read of the snapshot has ended.
#[inline(always)]
pub(crate) fn call_one<M: Mode<R>, A, S, R>(
    receiver: &Callee<A, S, R>,
    sender: &S,
    args: &A,
) -> M::Outcome {
    M::call(|| receiver.get().invoke(sender, args))
}

/// Calls every receiver of `direct`, in order (two or more, or none): the
/// send's fast path, one tight loop with the ids shared once at the end.
#[inline(always)]
pub(crate) fn call_direct<M: Mode<R>, A, S, R>(
    direct: Direct<'_, A, S, R>,
    sender: &S,
    args: &A,
) -> M::Output {
    let Direct { receivers, ids } = direct;
    let ids = ids.local();
    if receivers.len() <= INLINE {
        let mut values = SmallVec::new();
        match call_each::<M, _, _, _, _>(&mut values, receivers, ids, sender, args) {
            ControlFlow::Continue(()) => M::done(Responses::shared(ids, values)),
            ControlFlow::Break(source) => M::stopped(failed(ids, values.len(), source)),
        }
    } else {
        let mut values = Reserved::with_capacity(receivers.len());
        match call_each::<M, _, _, _, _>(&mut values, receivers, ids, sender, args) {
            ControlFlow::Continue(()) => M::done(Responses::shared(ids, values.into_values())),
            ControlFlow::Break(source) => M::stopped(failed(ids, values.len(), source)),
        }
    }
}

/// The loop of [`call_direct`]: calls each receiver from the `values.len()`-th
/// on, keeping its outcome in `values`, which has room for them all.
#[inline(always)]
fn call_each<M: Mode<R>, V: Values<M::Item>, A, S, R>(
    values: &mut V,
    receivers: &[Callee<A, S, R>],
    // The `Arc`, not its slice: the ids are read only on a failure, and
    // taking the slice up front loaded it on every send.
    ids: &Arc<[ReceiverId]>,
    sender: &S,
    args: &A,
) -> ControlFlow<BoxError> {
    M::guard(
        values,
        receivers.len(),
        |values| {
            for receiver in &receivers[values.len()..] {
                let outcome = receiver.get().invoke(sender, args);
                let position = values.len();
                let item = M::keep(outcome, || ids[position])?;
                // SAFETY: one outcome per receiver, into a list with room
                // for every receiver.
                unsafe { values.push(item) };
            }
            ControlFlow::Continue(())
        },
        |position| ids[position],
    )
}

/// The error of a send stopped by the receiver at `position`.
#[cold]
#[inline(never)]
fn failed(ids: &Arc<[ReceiverId]>, position: usize, source: BoxError) -> SendError {
    SendError {
        receiver: ids[position],
        source,
    }
}

/// Calls the receivers of `selection` in order; returns the outcomes kept,
/// the error that stopped the send if one did, and whether a dead weak
/// receiver was met. `TRACED` calls each receiver inside its own span
/// (feature `tracing-spans`).
#[inline(always)]
pub(crate) fn call_selected<M: Mode<R>, A, S, R, const TRACED: bool>(
    selection: &Selection<'_, A, S, R>,
    sender: &S,
    args: &A,
) -> (Responses<M::Item>, Option<SendError>, bool)
where
    S: Eq + std::hash::Hash,
{
    let mut failure = None;
    let mut saw_dead = false;
    let responses = Responses::collect(
        selection.expected(),
        selection.ids(),
        Selected::<M, A, S, R, TRACED> {
            selection,
            sender,
            args,
            failure: &mut failure,
            saw_dead: &mut saw_dead,
            mode: PhantomData,
        },
    );
    (responses, failure, saw_dead)
}

/// The body of [`call_selected`], run once for the sink its size chose.
struct Selected<'a, M, A, S, R, const TRACED: bool> {
    selection: &'a Selection<'a, A, S, R>,
    sender: &'a S,
    args: &'a A,
    failure: &'a mut Option<SendError>,
    saw_dead: &'a mut bool,
    mode: PhantomData<M>,
}

impl<M: Mode<R>, A, S: Eq + std::hash::Hash, R, const TRACED: bool> Collect<M::Item>
    for Selected<'_, M, A, S, R, TRACED>
{
    #[inline(always)]
    fn collect<K: Sink<M::Item>>(self, sink: &mut K) {
        let mut each = Each::<M, A, S, K, TRACED> {
            sender: self.sender,
            args: self.args,
            sink,
            failure: self.failure,
            mode: PhantomData,
        };
        *self.saw_dead = self.selection.walk(self.sender, &mut each);
    }
}

/// Calls each receiver the selection walks to, until the mode stops.
struct Each<'a, M, A, S, K, const TRACED: bool> {
    sender: &'a S,
    args: &'a A,
    sink: &'a mut K,
    failure: &'a mut Option<SendError>,
    mode: PhantomData<M>,
}

impl<M: Mode<R>, A, S, R, K: Sink<M::Item>, const TRACED: bool> Walk<A, S, R>
    for Each<'_, M, A, S, K, TRACED>
{
    #[inline(always)]
    fn visit(
        &mut self,
        position: usize,
        id: ReceiverId,
        receiver: &dyn Invoke<A, S, R>,
    ) -> ControlFlow<()> {
        let (sender, args) = (self.sender, self.args);
        #[cfg(feature = "tracing-spans")]
        let outcome = if TRACED {
            M::call(|| traced::invoke(receiver, id, sender, args))
        } else {
            M::call(|| receiver.invoke(sender, args))
        };
        #[cfg(not(feature = "tracing-spans"))]
        let outcome = M::call(|| receiver.invoke(sender, args));
        match M::settle(outcome, move || id) {
            ControlFlow::Continue(item) => {
                self.sink.push(position, id, item);
                ControlFlow::Continue(())
            }
            ControlFlow::Break(source) => {
                *self.failure = Some(SendError {
                    receiver: id,
                    source,
                });
                ControlFlow::Break(())
            }
        }
    }
}
