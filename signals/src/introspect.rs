//! Introspection: what a signal's connections are, and which signals the
//! program declares with `#[signal]`. What debug toolbars and `list_signals`
//! commands show.

use std::borrow::Cow;
use std::fmt;

use crate::ids::ReceiverId;
use crate::retry::RetryPolicy;

/// Writes a sender as text, for introspection and tracing.
pub(crate) type DescribeSender<S> = fn(&S, &mut fmt::Formatter<'_>) -> fmt::Result;

/// A sender shown by the signal's description of senders.
pub(crate) struct Describe<'a, S>(pub(crate) &'a S, pub(crate) DescribeSender<S>);

impl<S> fmt::Display for Describe<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.1)(self.0, f)
    }
}

/// How a connection was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// By a `#[receiver]` function, registered at link time and connected on
    /// the signal's first use.
    LinkTime,
    /// By a signal's initializer, through its
    /// [`Registrar`](crate::Registrar) (see
    /// [`Signal::with_initializer`](crate::Signal::with_initializer)).
    Initializer,
    /// By a `connect` call while the program runs.
    Runtime,
}

/// One connection of a signal, as [`Signal::connections`](crate::Signal::connections)
/// lists it. `T` is the sender filter: the sender itself, or its `Debug` text
/// in [`SignalInfo::connections`].
///
/// ```
/// use signals::{ConnectOptions, Origin, Signal};
/// fn audit(_: &&str, _: &()) {}
/// let sig: Signal<()> = Signal::new("saved");
/// let _ = sig.connect_with(audit, ConnectOptions::new().sender("users").dispatch_uid("audit"));
/// let connections = sig.connections();
/// assert_eq!(connections[0].id.name(), std::any::type_name_of_val(&audit));
/// assert_eq!(connections[0].dispatch_uid.as_deref(), Some("audit"));
/// assert_eq!(connections[0].sender, Some("users"));
/// assert_eq!(connections[0].origin, Origin::Runtime);
/// assert!(!connections[0].weak && !connections[0].is_async);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionInfo<T> {
    /// The connection's id; [`ReceiverId::name`] is the receiver's name.
    pub id: ReceiverId,
    /// The `dispatch_uid` it was connected under, if any (a `#[receiver]`'s
    /// is its function path unless given).
    pub dispatch_uid: Option<Cow<'static, str>>,
    /// The sender it listens to; `None` for every sender.
    pub sender: Option<T>,
    /// Whether the receiver is held through a weak reference.
    pub weak: bool,
    /// Whether the receiver is still there (a weak one may be gone and not
    /// purged yet).
    pub alive: bool,
    /// The retry policy, if any.
    pub retry: Option<RetryPolicy>,
    /// Whether it is an async receiver (awaited by `asend`).
    pub is_async: bool,
    /// Its priority: higher is called first.
    pub priority: i32,
    /// Whether it was connected at link time, by an initializer, or at run
    /// time.
    pub origin: Origin,
    /// Whether sends skip it now, because it or its signal is muted.
    pub muted: bool,
}

/// One argument of a signal declared with `#[signal]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgInfo {
    pub(crate) name: &'static str,
    pub(crate) ty: &'static str,
}

impl ArgInfo {
    /// The argument's name (its field in the argument struct).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its type, as written in the declaration.
    pub fn ty(&self) -> &'static str {
        self.ty
    }
}

/// A signal declared with `#[signal]`, from the registry every declaration
/// joins at link time (see [`declared_signals`]).
pub struct SignalInfo {
    pub(crate) name: &'static str,
    pub(crate) path: &'static str,
    pub(crate) args: &'static [ArgInfo],
    pub(crate) sender: &'static str,
    pub(crate) response: &'static str,
    pub(crate) connections: fn() -> Vec<ConnectionInfo<String>>,
}

impl SignalInfo {
    /// The signal's name (its `name = "..."`, else the static's name).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The static's path: `module::path::name`.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The arguments, in declaration order.
    pub fn args(&self) -> &'static [ArgInfo] {
        self.args
    }

    /// The sender type, as text.
    pub fn sender_type(&self) -> &'static str {
        self.sender
    }

    /// The response type, as text.
    pub fn response_type(&self) -> &'static str {
        self.response
    }

    /// The signal's connections now, in call order, each sender filter as its
    /// `Debug` text (`"<no Debug>"` when the sender type has none). Connects
    /// the link-time receivers first, if the signal was not used yet.
    pub fn connections(&self) -> Vec<ConnectionInfo<String>> {
        (self.connections)()
    }
}

impl fmt::Debug for SignalInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalInfo")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("args", &self.args)
            .field("sender", &self.sender)
            .field("response", &self.response)
            .finish()
    }
}

inventory::collect!(SignalInfo);

/// Every signal declared with `#[signal]` in the program (its crates
/// included), ordered by path.
///
/// ```
/// use signals::signal;
///
/// #[signal(providing_args = [task_id: String, retries: u32])]
/// pub static task_sent: Signal;
///
/// let tasks: Vec<_> = signals::declared_signals()
///     .into_iter()
///     .filter(|signal| signal.name() == "task_sent")
///     .collect();
/// assert_eq!(tasks.len(), 1);
/// assert!(tasks[0].args().iter().any(|arg| arg.name() == "task_id"));
/// ```
pub fn declared_signals() -> Vec<&'static SignalInfo> {
    let mut signals: Vec<&'static SignalInfo> = inventory::iter::<SignalInfo>.into_iter().collect();
    signals.sort_unstable_by_key(|signal| signal.path);
    signals
}
