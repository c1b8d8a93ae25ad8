//! The call interface of a stored receiver ([`Invoke`]), what a receiver may
//! return ([`IntoOutcome`]), and the async form ([`AsyncCall`]).
//!
//! This is the one thing every layer above agrees on: the registry stores
//! `Arc<dyn Invoke>`, retry wraps one in another, and dispatch calls them.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{AwaitRequired, BoxError};

/// Turns what a receiver returns into its outcome: a plain value is a success, a
/// `Result` is taken as it is.
///
/// This is what lets one signal accept both infallible receivers (`-> R`) and
/// fallible ones (`-> Result<R, E>`, any `E: Into<BoxError>`).
///
/// ```
/// use signals::IntoOutcome;
/// assert_eq!(7.into_outcome().unwrap(), 7);
/// let failed: Result<u8, std::io::Error> = Err(std::io::Error::other("no"));
/// assert!(IntoOutcome::<u8>::into_outcome(failed).is_err());
/// ```
#[diagnostic::on_unimplemented(
    message = "this receiver returns `{Self}`, which the signal cannot collect",
    label = "the signal's receivers return `{R}`",
    note = "return `{R}`, or `Result<{R}, E>` for a receiver that can fail"
)]
pub trait IntoOutcome<R> {
    /// The outcome as the dispatcher sees it.
    fn into_outcome(self) -> Result<R, BoxError>;
}

impl<R> IntoOutcome<R> for R {
    #[inline]
    fn into_outcome(self) -> Result<R, BoxError> {
        Ok(self)
    }
}

impl<R, E: Into<BoxError>> IntoOutcome<R> for Result<R, E> {
    #[inline]
    fn into_outcome(self) -> Result<R, BoxError> {
        self.map_err(Into::into)
    }
}

/// A receiver's future, boxed: what an async receiver returns through `dyn`.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An async receiver: a function of the sender and the arguments that returns a
/// `Send` future of `O`, which may borrow both.
///
/// Implemented for every `Fn(&S, &A) -> impl Future<Output = O> + Send`: an
/// `async fn`, an async closure (`async |sender: &S, args: &A| ...`), or a
/// closure that returns a future (`|_: &S, args: &A| { let id = args.id; async
/// move { ... } }`). Not implemented by hand; it names, for each lifetime of
/// the borrows, the future's type, which `Fn`'s own bound cannot.
///
/// ```
/// use signals::{AsyncCall, Signal};
/// fn takes<F: for<'a> AsyncCall<'a, &'static str, u32, u32>>(_: F) {}
/// async fn double(_: &&'static str, n: &u32) -> u32 { n * 2 }
/// takes(double);
/// takes(async |_: &&'static str, n: &u32| n + 1);
/// ```
///
/// A future that is not `Send` is refused, since `asend` must work on a
/// multi-thread runtime:
///
/// ```compile_fail
/// use signals::AsyncCall;
/// fn takes<F: for<'a> AsyncCall<'a, &'static str, u32, u32>>(_: F) {}
/// async fn local(_: &&'static str, n: &u32) -> u32 {
///     let counter = std::rc::Rc::new(*n);
///     std::future::ready(()).await;
///     *counter
/// }
/// takes(local);
/// ```
pub trait AsyncCall<'a, S: 'a, A: 'a, O>: Send + Sync {
    /// The future of one call.
    type Future: Future<Output = O> + Send + 'a;
    /// Starts the receiver (a future does nothing until polled).
    fn call(&self, sender: &'a S, args: &'a A) -> Self::Future;
}

impl<'a, F, Fut, S: 'a, A: 'a, O> AsyncCall<'a, S, A, O> for F
where
    F: Fn(&'a S, &'a A) -> Fut + Send + Sync,
    Fut: Future<Output = O> + Send + 'a,
{
    type Future = Fut;
    #[inline]
    fn call(&self, sender: &'a S, args: &'a A) -> Fut {
        self(sender, args)
    }
}

/// The call interface every stored receiver has, whatever it returns.
///
/// Implemented for every `Fn(&S, &A) -> O` with `O:` [`IntoOutcome<R>`], so a
/// user's `Arc<F>` unsizes to `Arc<dyn Invoke>` (and its `Weak` to a
/// `Weak<dyn Invoke>`) with no wrapper allocation. Async receivers
/// ([`AsyncFn`], and their retrying wrapper) implement the async half too.
pub(crate) trait Invoke<A, S, R>: Send + Sync {
    /// Calls the receiver in place: what a sync send does. An async receiver
    /// answers [`AwaitRequired`].
    fn invoke(&self, sender: &S, args: &A) -> Result<R, BoxError>;

    /// Whether the receiver can only be awaited (an async receiver, retried
    /// or not): a sync send cannot run it.
    fn is_async(&self) -> bool {
        false
    }

    /// The receiver's future, for an async receiver (retried or not); `None`
    /// for a sync one, which `asend` calls in place.
    fn invoke_async<'a>(
        &'a self,
        _sender: &'a S,
        _args: &'a A,
    ) -> Option<BoxFuture<'a, Result<R, BoxError>>> {
        None
    }
}

impl<F, O, A, S, R> Invoke<A, S, R> for F
where
    F: Fn(&S, &A) -> O + Send + Sync,
    O: IntoOutcome<R>,
{
    #[inline]
    fn invoke(&self, sender: &S, args: &A) -> Result<R, BoxError> {
        self(sender, args).into_outcome()
    }
}

/// An async receiver as the dispatcher stores it. `O` is what the future
/// yields, turned into the receiver's outcome when it completes.
pub(crate) struct AsyncFn<F, O> {
    function: F,
    /// `fn() -> O` keeps the wrapper `Send + Sync` whatever `O` is: no `O` is
    /// stored.
    output: PhantomData<fn() -> O>,
}

impl<F, O> AsyncFn<F, O> {
    /// Stores `function` as an async receiver.
    pub(crate) fn new(function: F) -> Self {
        Self {
            function,
            output: PhantomData,
        }
    }
}

impl<F, O, A, S, R> Invoke<A, S, R> for AsyncFn<F, O>
where
    F: for<'a> AsyncCall<'a, S, A, O>,
    O: IntoOutcome<R>,
{
    #[cold]
    fn invoke(&self, _sender: &S, _args: &A) -> Result<R, BoxError> {
        Err(Box::new(AwaitRequired))
    }

    fn is_async(&self) -> bool {
        true
    }

    fn invoke_async<'a>(
        &'a self,
        sender: &'a S,
        args: &'a A,
    ) -> Option<BoxFuture<'a, Result<R, BoxError>>> {
        let future = self.function.call(sender, args);
        Some(Box::pin(async move { future.await.into_outcome() }))
    }
}

/// A receiver held strongly, with its address taken once: what the send loop
/// calls. Calling through an `Arc<dyn Invoke>` recomputes the value's offset in
/// its allocation from the vtable's alignment on every call, five instructions
/// of a loop that is otherwise twelve.
pub(crate) struct Callee<A, S, R> {
    /// The value inside `owner`'s allocation.
    address: NonNull<dyn Invoke<A, S, R>>,
    /// Keeps `address` valid: an `Arc`'s value neither moves nor dies while a
    /// strong reference to it lives.
    _owner: Arc<dyn Invoke<A, S, R>>,
}

// SAFETY: a `Callee` is an `Arc<dyn Invoke>` (`Send + Sync`, as `Invoke`
// requires) plus a shared reference into it, which may be sent or shared as
// the `Arc` may.
unsafe impl<A, S, R> Send for Callee<A, S, R> {}
// SAFETY: as for `Send`.
unsafe impl<A, S, R> Sync for Callee<A, S, R> {}

impl<A, S, R> Callee<A, S, R> {
    pub(crate) fn new(owner: Arc<dyn Invoke<A, S, R>>) -> Self {
        Self {
            address: NonNull::from(&*owner),
            _owner: owner,
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> &dyn Invoke<A, S, R> {
        // SAFETY: `address` points into `_owner`'s allocation, which it
        // keeps alive and in place for as long as `self` (and so the returned
        // borrow) lives.
        unsafe { self.address.as_ref() }
    }
}
