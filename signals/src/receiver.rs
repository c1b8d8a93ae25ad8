//! Receivers: what a signal calls, built from a function, and how a receiver is
//! identified.
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
use std::sync::Arc;

use crate::invoke::{AsyncCall, AsyncFn, IntoOutcome, Invoke};
use crate::retry::{AsyncRetrying, RetryPolicy, Retrying};

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
    /// [`send`](crate::Signal::send) cannot, and reports [`AwaitRequired`](crate::AwaitRequired) as
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
        let target: Arc<dyn Invoke<A, S, R>> = Arc::new(AsyncFn::new(receiver));
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

/// Names a connected receiver for [`Signal::disconnect`](crate::Signal::disconnect): a [`Receiver`] handle
/// (or a reference to one), or the function itself when it is a function item or
/// a closure that captures nothing.
pub trait IdentifyReceiver<A, S, R> {
    /// The identity the receiver was connected under.
    fn key(&self) -> ReceiverKey;
}

impl<A, S, R> IdentifyReceiver<A, S, R> for &Receiver<A, S, R> {
    fn key(&self) -> ReceiverKey {
        ReceiverKey(self.identity)
    }
}

impl<A, S, R> IdentifyReceiver<A, S, R> for Receiver<A, S, R> {
    fn key(&self) -> ReceiverKey {
        ReceiverKey(self.identity)
    }
}

impl<F, O, A, S, R> IdentifyReceiver<A, S, R> for F
where
    F: Fn(&S, &A) -> O + 'static,
    O: IntoOutcome<R>,
{
    fn key(&self) -> ReceiverKey {
        // A value with state has no identity apart from its allocation, which a
        // by-value argument does not have: address 0 matches nothing.
        ReceiverKey(Identity::of::<F>(0))
    }
}
