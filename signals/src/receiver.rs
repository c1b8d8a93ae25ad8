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
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::BoxError;

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

/// The call interface every stored receiver has, whatever it returns.
///
/// Implemented for every `Fn(&S, &A) -> O` with `O:` [`IntoOutcome<R>`], so a
/// user's `Arc<F>` unsizes to `Arc<dyn Invoke>` (and its `Weak` to a
/// `Weak<dyn Invoke>`) with no wrapper allocation.
pub(crate) trait Invoke<A, S, R>: Send + Sync {
    fn invoke(&self, sender: &S, args: &A) -> Result<R, BoxError>;
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
}

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
        }
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
