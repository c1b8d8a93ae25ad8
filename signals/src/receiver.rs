//! Receivers: what a signal calls, and how a receiver is identified.
//!
//! # Identity
//!
//! Django identifies a receiver by `id(function)`. In Rust a receiver is identified
//! by what makes it distinct:
//!
//! - a function item or a closure that captures nothing is a zero-sized type, so
//!   every value of it is the same receiver: its identity is its type;
//! - anything else (a capturing closure, a function pointer, an `Arc`-held
//!   receiver) is identified by its allocation, so clones of one [`Receiver`] are
//!   the same receiver and two separately built ones are not.
//!
//! Pass a `dispatch_uid` (see [`ConnectOptions`](crate::ConnectOptions)) where you
//! want a different notion of "the same receiver".

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{AwaitRequired, BoxError};
use crate::retry::{AsyncRetrying, RetryPolicy, Retrying};

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

/// What makes two receivers "the same" for deduplication and `disconnect`: the
/// `dispatch_uid` if given, otherwise the receiver's identity (its type for a
/// zero-sized function or closure, its allocation otherwise). Opaque: get one from [`IdentifyReceiver`](crate::IdentifyReceiver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReceiverKey(pub(crate) Identity);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Identity {
    /// A zero-sized function type: every value is the same function.
    Type(TypeId),
    /// The address of the receiver's allocation.
    Alloc(usize),
}

impl Identity {
    /// The identity of a receiver of type `F` (see the module docs): its type if
    /// `F` is zero-sized, otherwise the allocation at `alloc`.
    pub(crate) fn of<F: 'static>(alloc: usize) -> Self {
        if std::mem::size_of::<F>() == 0 {
            Identity::Type(TypeId::of::<F>())
        } else {
            Identity::Alloc(alloc)
        }
    }
}

/// A receiver ready to connect: a function of the sender and the arguments.
///
/// Build one from a closure or a function with [`Receiver::new`] (or just pass the
/// function to [`Signal::connect`](crate::Signal::connect)), or from an `Arc` you
/// keep with [`Receiver::from_arc`]. A `Receiver` is cheap to clone, and clones
/// are the same receiver: keep one to [`disconnect`](crate::Signal::disconnect)
/// later, or to keep a weakly connected receiver alive.
///
/// ```
/// use signals::{Receiver, Signal};
///
/// let sig: Signal<u32, &'static str, u32> = Signal::new("double");
/// let double = Receiver::new(|_: &&str, n: &u32| n * 2);
/// assert!(sig.connect(double.clone()).is_added());
/// assert!(!sig.connect(double.clone()).is_added()); // the same receiver
/// assert_eq!(sig.send("app", &21).unwrap()[0], 42);
/// assert!(sig.disconnect(&double, None));
/// ```
pub struct Receiver<A, S = &'static str, R = ()> {
    pub(crate) target: Arc<dyn Invoke<A, S, R>>,
    pub(crate) identity: Identity,
    pub(crate) name: &'static str,
    /// Wraps `target` for a retry policy: the sync or the async retry loop,
    /// chosen by the constructor, which knows which the receiver is.
    pub(crate) retrying: WrapRetry<A, S, R>,
}

/// Wraps a receiver in the retry loop of its kind (see [`Receiver::retrying`]).
pub(crate) type WrapRetry<A, S, R> =
    fn(Arc<dyn Invoke<A, S, R>>, RetryPolicy, &'static str) -> Arc<dyn Invoke<A, S, R>>;

impl<A, S, R> Receiver<A, S, R> {
    /// A receiver from a function or closure taking the sender and the arguments.
    ///
    /// It may return a value (collected by `send`) or a `Result` whose error stops
    /// `send` and is reported by `send_robust`.
    pub fn new<F, O>(receiver: F) -> Self
    where
        F: Fn(&S, &A) -> O + Send + Sync + 'static,
        O: IntoOutcome<R>,
        A: 'static,
        S: 'static,
        R: 'static,
    {
        let target: Arc<dyn Invoke<A, S, R>> = Arc::new(receiver);
        let identity = Identity::of::<F>(Arc::as_ptr(&target) as *const () as usize);
        Self {
            target,
            identity,
            name: std::any::type_name::<F>(),
            retrying: Retrying::wrap,
        }
    }

    /// An async receiver: an `async fn`, an async closure, or a closure that
    /// returns a `Send` future (see [`AsyncCall`]). Its future may return a
    /// value or a `Result`, as a sync receiver may.
    ///
    /// [`Signal::asend`](crate::Signal::asend) and
    /// [`asend_robust`](crate::Signal::asend_robust) await it; a sync
    /// [`send`](crate::Signal::send) cannot, and reports [`AwaitRequired`] as
    /// its outcome instead. Its identity is that of the function, as for
    /// [`Receiver::new`]: connecting the same `async fn` twice is one receiver.
    ///
    /// ```
    /// use signals::{Receiver, Signal};
    ///
    /// async fn double(_: &&'static str, n: &u32) -> u32 {
    ///     n * 2
    /// }
    /// let sig: Signal<u32, &'static str, u32> = Signal::new("double");
    /// let receiver = Receiver::new_async(double);
    /// assert!(sig.connect(receiver.clone()).is_added());
    /// assert!(!sig.connect(Receiver::new_async(double)).is_added());
    /// let responses = futures_executor::block_on(sig.asend("app", &21)).unwrap();
    /// assert_eq!(responses.values(), [42]);
    /// assert!(sig.disconnect(&receiver, None));
    /// ```
    pub fn new_async<F, O>(receiver: F) -> Self
    where
        F: for<'a> AsyncCall<'a, S, A, O> + 'static,
        O: IntoOutcome<R> + 'static,
        A: Sync + 'static,
        S: Sync + 'static,
        R: 'static,
    {
        let target: Arc<dyn Invoke<A, S, R>> = Arc::new(AsyncFn {
            function: receiver,
            output: PhantomData,
        });
        let identity = Identity::of::<F>(Arc::as_ptr(&target) as *const () as usize);
        Self {
            target,
            identity,
            name: std::any::type_name::<F>(),
            retrying: AsyncRetrying::wrap,
        }
    }

    /// Whether this is an async receiver ([`Receiver::new_async`]).
    ///
    /// ```
    /// use signals::Receiver;
    /// let sync: Receiver<()> = Receiver::new(|_: &&str, _: &()| {});
    /// let not_sync: Receiver<()> = Receiver::new_async(async |_: &&str, _: &()| {});
    /// assert!(!sync.is_async() && not_sync.is_async());
    /// ```
    pub fn is_async(&self) -> bool {
        self.target.is_async()
    }

    /// A receiver from an `Arc` you keep: its identity is that allocation, so the
    /// same `Arc` connected twice is one receiver, and a weak connection of it lives
    /// as long as your `Arc` does.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use signals::{ConnectOptions, Receiver, Signal};
    ///
    /// let sig: Signal<()> = Signal::new("tick");
    /// let handler = Arc::new(|_: &&str, _: &()| {});
    /// sig.connect_with(Receiver::from_arc(handler.clone()), ConnectOptions::new().weak(true));
    /// assert!(sig.has_listeners("clock"));
    /// drop(handler);
    /// assert!(!sig.has_listeners("clock"));
    /// ```
    pub fn from_arc<F, O>(receiver: Arc<F>) -> Self
    where
        F: Fn(&S, &A) -> O + Send + Sync + 'static,
        O: IntoOutcome<R>,
        A: 'static,
        S: 'static,
        R: 'static,
    {
        let identity = Identity::Alloc(Arc::as_ptr(&receiver) as *const () as usize);
        Self {
            target: receiver,
            identity,
            name: std::any::type_name::<F>(),
            retrying: Retrying::wrap,
        }
    }

    /// Gives the receiver a name for responses and logs, in place of its type name.
    ///
    /// ```
    /// use signals::Receiver;
    /// let r: Receiver<()> = Receiver::new(|_: &&str, _: &()| {}).named("audit");
    /// assert_eq!(r.name(), "audit");
    /// ```
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The receiver's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<A, S, R> Clone for Receiver<A, S, R> {
    fn clone(&self) -> Self {
        Self {
            target: Arc::clone(&self.target),
            identity: self.identity,
            name: self.name,
            retrying: self.retrying,
        }
    }
}

impl<A, S, R> fmt::Debug for Receiver<A, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .finish()
    }
}

impl<F, O, A, S, R> From<F> for Receiver<A, S, R>
where
    F: Fn(&S, &A) -> O + Send + Sync + 'static,
    O: IntoOutcome<R>,
    A: 'static,
    S: 'static,
    R: 'static,
{
    fn from(receiver: F) -> Self {
        Receiver::new(receiver)
    }
}
