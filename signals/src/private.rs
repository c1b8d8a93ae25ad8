//! Not public API. Used by code that `#[signal]` and `#[receiver]` generate, so
//! that users depend on `signals` alone (not on `inventory`).

use std::any::Any;
use std::borrow::Cow;
use std::cmp::Reverse;
use std::fmt;
use std::hash::Hash;
use std::path::{Path, PathBuf};

pub use crate::signal::Registrar;
pub use crate::{ConnectionInfo, Receiver, RetryPolicy, Signal};
pub use inventory;

use crate::introspect::{ArgInfo, SignalInfo};
use crate::{BoxError, ConnectOptions, IntoOutcome};

/// What a receiver adapter returns.
pub type Outcome<R> = Result<R, BoxError>;

/// The types of a signal declared with `#[signal]`, implemented by the hidden
/// type that shares the signal's name.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a signal declared with `#[signal]`",
    label = "not a `#[signal]`",
    note = "a receiver names a signal declared as `#[signal(...)] static name: Signal;`, e.g. `signals_celery::signals::task_sent`"
)]
pub trait Declared: 'static {
    /// The argument struct.
    type Args: 'static;
    /// The sender type.
    type Sender: Eq + Hash + Clone + Send + Sync + 'static;
    /// What each receiver returns.
    type Response: 'static;
}

/// How a receiver parameter takes a signal argument of type `T`: by reference
/// (`&T`), as a borrowed form (`&str` for a `String`, a `Cow<str>` or a `&str`;
/// `&[U]` for a `Vec<U>`; `&Path` for a `PathBuf`), or, for an `Option<U>`
/// argument, as `Option<&U>`.
#[diagnostic::on_unimplemented(
    message = "a receiver parameter of type `{Self}` cannot take this signal argument, which is a `{T}`",
    label = "the argument is a `{T}`",
    note = "take it as `&{T}`, or as a borrowed form (`&str` for a `String`, `&[U]` for a `Vec<U>`, `&Path` for a `PathBuf`); an `Option<U>` argument can also be taken as `Option<&U>`"
)]
pub trait Argument<'a, T: ?Sized>: Sized {
    /// Borrows the argument.
    fn from_argument(value: &'a T) -> Self;
}

impl<'a, T: ?Sized> Argument<'a, T> for &'a T {
    #[inline(always)]
    fn from_argument(value: &'a T) -> Self {
        value
    }
}

impl<'a, T> Argument<'a, Option<T>> for Option<&'a T> {
    #[inline(always)]
    fn from_argument(value: &'a Option<T>) -> Self {
        value.as_ref()
    }
}

impl<'a> Argument<'a, String> for &'a str {
    #[inline(always)]
    fn from_argument(value: &'a String) -> Self {
        value
    }
}

impl<'a> Argument<'a, Cow<'_, str>> for &'a str {
    #[inline(always)]
    fn from_argument(value: &'a Cow<'_, str>) -> Self {
        value
    }
}

impl<'a, 'b> Argument<'a, &'b str> for &'a str {
    #[inline(always)]
    fn from_argument(value: &'a &'b str) -> Self {
        value
    }
}

impl<'a, T> Argument<'a, Vec<T>> for &'a [T] {
    #[inline(always)]
    fn from_argument(value: &'a Vec<T>) -> Self {
        value
    }
}

impl<'a> Argument<'a, PathBuf> for &'a Path {
    #[inline(always)]
    fn from_argument(value: &'a PathBuf) -> Self {
        value
    }
}

/// Hands a signal argument to a receiver parameter.
#[inline(always)]
pub fn argument<'a, T: ?Sized, P: Argument<'a, T>>(value: &'a T) -> P {
    P::from_argument(value)
}

/// Turns what a receiver returned into its outcome.
#[inline(always)]
pub fn outcome<R, O: IntoOutcome<R>>(returned: O) -> Outcome<R> {
    returned.into_outcome()
}

/// A value that can filter a signal whose senders are `S`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a sender of this signal, whose senders are `{S}`",
    label = "expected a `{S}`",
    note = "give a value of the signal's sender type (a `&str` literal also works for a `String` or `Cow<str>` sender)"
)]
pub trait IntoSender<S> {
    /// The sender.
    fn into_sender(self) -> S;
}

impl<S> IntoSender<S> for S {
    fn into_sender(self) -> S {
        self
    }
}

impl IntoSender<String> for &str {
    fn into_sender(self) -> String {
        self.to_owned()
    }
}

impl IntoSender<Cow<'static, str>> for &'static str {
    fn into_sender(self) -> Cow<'static, str> {
        Cow::Borrowed(self)
    }
}

/// The sender a `#[receiver(..., sender = value)]` filters on.
pub fn sender<S, T: IntoSender<S>>(value: T) -> S {
    value.into_sender()
}

/// A `#[receiver]` function's adapter and options for one signal.
pub struct ReceiverEntry<A, S, R> {
    /// The function's path, for logs and `Debug`.
    pub name: &'static str,
    /// The dispatch uid (by default the function's path).
    pub dispatch_uid: &'static str,
    /// The sender filter, if any.
    pub sender: Option<fn() -> S>,
    /// The retry policy, if any.
    pub retry: Option<fn() -> RetryPolicy>,
    /// Higher is called first (0 unless given).
    pub priority: i32,
    /// Makes the receiver: an adapter that calls the function with the
    /// arguments it asks for. A function item rather than a pointer, so a send
    /// costs one indirect call per receiver, as for a hand-connected one.
    pub receiver: fn() -> Receiver<A, S, R>,
}

/// One `#[receiver]` registration, collected at link time.
pub struct Registration {
    /// The signal's address, compared only, never dereferenced.
    signal: *const (),
    /// A `ReceiverEntry` of the signal's types.
    entry: &'static (dyn Any + Send + Sync),
}

// SAFETY: `signal` is only compared with other addresses, never dereferenced, so
// sharing it between threads cannot race; `entry` is `Sync` itself.
unsafe impl Sync for Registration {}

impl Registration {
    /// A registration of `entry` on the signal `signal`, whose hidden type is `D`.
    pub const fn new<D: Declared>(
        signal: &'static Signal<D::Args, D::Sender, D::Response>,
        entry: &'static ReceiverEntry<D::Args, D::Sender, D::Response>,
    ) -> Self {
        Self {
            signal: signal as *const Signal<D::Args, D::Sender, D::Response> as *const (),
            entry,
        }
    }
}

inventory::collect!(Registration);

/// A link-time entry with its sort keys: uid, then priority, highest first.
type Sortable<'e, A, S, R> = (&'static str, Reverse<i32>, &'e ReceiverEntry<A, S, R>);

/// Connects every `#[receiver]` of `signal`: the initializer of a `#[signal]`.
///
/// Link order is not stable from one build to the next, so receivers are
/// connected by priority (highest first), then in the order of their dispatch
/// uids (by default, their function paths), which is stable.
pub fn connect_registered<A, S, R>(
    signal: &'static Signal<A, S, R>,
    registrar: &mut Registrar<'_, A, S, R>,
) where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    let address = signal as *const Signal<A, S, R> as *const ();
    // The uid and priority sit next to their entry so that sorting compares
    // them without chasing a pointer first.
    let mut entries: Vec<Sortable<'_, A, S, R>> = inventory::iter::<Registration>
        .into_iter()
        .filter(|registration| registration.signal == address)
        .filter_map(|registration| registration.entry.downcast_ref())
        .map(|entry: &ReceiverEntry<A, S, R>| (entry.dispatch_uid, Reverse(entry.priority), entry))
        .collect();
    entries.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| a.2.name.cmp(b.2.name))
    });
    // The first use runs this before anything else is connected (the
    // initializer is the signal's first lock), so the only duplicates are among
    // the entries, and sorting made them neighbours: they are dropped here
    // instead of letting every connect scan all the others (quadratic for
    // 10,000 receivers). Of two entries with one uid and sender, the higher
    // priority wins.
    debug_assert!(registrar.is_empty(), "link-time receivers connect first");
    let mut kept = Vec::with_capacity(entries.len());
    let mut same_uid: Vec<Option<S>> = Vec::new();
    let mut previous_uid = None;
    for (uid, priority, entry) in entries {
        let sender = entry.sender.map(|sender| sender());
        if previous_uid != Some(uid) {
            previous_uid = Some(uid);
            same_uid.clear();
        } else if same_uid.contains(&sender) {
            continue;
        }
        same_uid.push(sender.clone());
        kept.push((priority, uid, entry, sender));
    }
    // Stable: equal priorities stay in uid order, so each is pushed after
    // every connection of its priority or higher at once.
    kept.sort_by_key(|&(priority, ..)| priority);
    registrar.reserve(kept.len());
    for (_, uid, entry, sender) in kept {
        let mut options = ConnectOptions::new()
            .dispatch_uid(uid)
            .priority(entry.priority);
        if let Some(sender) = sender {
            options = options.sender(sender);
        }
        if let Some(retry) = entry.retry {
            options = options.retry(retry());
        }
        registrar.connect_new((entry.receiver)().named(entry.name), options);
    }
}

/// Shows a sender by its `Debug` if it has one: `#[signal]` calls `describe`
/// on `&&Described(sender)`, which finds [`DescribeDebug`] when the sender
/// type is `Debug` and [`DescribeOpaque`] otherwise (autoref specialization:
/// the generated code names a concrete type, so the choice is made there).
pub struct Described<'a, T>(pub &'a T);

/// `Described` of a `Debug` sender.
pub trait DescribeDebug {
    /// Writes the sender's `Debug`.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T: fmt::Debug> DescribeDebug for &Described<'_, T> {
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// `Described` of a sender with no `Debug`.
pub trait DescribeOpaque {
    /// Writes a placeholder.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl<T> DescribeOpaque for Described<'_, T> {
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<no Debug>")
    }
}

/// The signal `#[signal]` declares, showing senders with `describe`.
pub const fn describe_senders<A, S, R>(
    signal: Signal<A, S, R>,
    describe: fn(&S, &mut fmt::Formatter<'_>) -> fmt::Result,
) -> Signal<A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    signal.with_sender_description(describe)
}

/// One argument of a `#[signal]`, for [`declared_signals`](crate::declared_signals).
pub const fn arg_info(name: &'static str, ty: &'static str) -> ArgInfo {
    ArgInfo { name, ty }
}

/// A `#[signal]`'s entry in the link-time list of declared signals.
pub const fn signal_info(
    name: &'static str,
    path: &'static str,
    args: &'static [ArgInfo],
    sender: &'static str,
    response: &'static str,
    connections: fn() -> Vec<ConnectionInfo<String>>,
) -> SignalInfo {
    SignalInfo {
        name,
        path,
        args,
        sender,
        response,
        connections,
    }
}

/// A `#[signal]`'s connections, for [`SignalInfo::connections`].
pub fn described_connections<A, S, R>(
    signal: &'static Signal<A, S, R>,
) -> Vec<ConnectionInfo<String>>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    signal.described_connections()
}
