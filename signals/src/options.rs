//! Options for [`Signal::connect_with`](crate::Signal::connect_with).

use std::borrow::Cow;

use crate::retry::RetryPolicy;

/// How a receiver is connected: Django's and Celery's `connect` keywords.
///
/// ```
/// use std::time::Duration;
/// use signals::{ConnectOptions, RetryPolicy, Signal};
///
/// static TASK_SENT: Signal<u64> = Signal::new("task_sent");
/// let first = TASK_SENT.connect_with(
///     |_: &&str, id: &u64| println!("sent {id}"),
///     ConnectOptions::new().sender("tasks.add").dispatch_uid("audit"),
/// );
/// let again = TASK_SENT.connect_with(
///     |_: &&str, _: &u64| -> () { unreachable!("never connected") },
///     ConnectOptions::new().sender("tasks.add").dispatch_uid("audit"),
/// );
/// assert!(first.is_added() && !again.is_added());
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions<S> {
    pub(crate) sender: Option<S>,
    pub(crate) weak: bool,
    pub(crate) dispatch_uid: Option<Cow<'static, str>>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) priority: i32,
}

impl<S> Default for ConnectOptions<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> ConnectOptions<S> {
    /// Any sender, a strong reference, no dispatch_uid, no retry.
    pub const fn new() -> Self {
        Self {
            sender: None,
            weak: false,
            dispatch_uid: None,
            retry: None,
            priority: 0,
        }
    }

    /// Only call the receiver for this sender (by equality).
    pub fn sender(mut self, sender: S) -> Self {
        self.sender = Some(sender);
        self
    }

    /// Hold the receiver through a weak reference: it is removed once every
    /// [`Receiver`](crate::Receiver) handle (or `Arc`) the caller holds is dropped.
    ///
    /// Unlike Django, the default is a strong reference: a closure passed by value
    /// has no other owner and would vanish at once. Ignored with [`retry`](Self::retry),
    /// as in Celery.
    pub fn weak(mut self, weak: bool) -> Self {
        self.weak = weak;
        self
    }

    /// Identify the receiver by this string (with the sender) instead of by its
    /// identity: a second connect with the same uid and sender is ignored.
    pub fn dispatch_uid(mut self, uid: impl Into<Cow<'static, str>>) -> Self {
        self.dispatch_uid = Some(uid.into());
        self
    }

    /// Re-run the receiver when it fails, as the policy says. Forces a strong
    /// reference.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Call the receiver before every receiver of a lower priority, and after
    /// every one of a higher priority (the default is 0). Receivers of equal
    /// priority are called in connection order, and responses follow call
    /// order.
    ///
    /// ```
    /// use signals::{ConnectOptions, Signal};
    /// let sig: Signal<(), &'static str, &'static str> = Signal::new("saved");
    /// let _ = sig.connect(|_: &&str, _: &()| "plain");
    /// let _ = sig.connect_with(|_: &&str, _: &()| "audit", ConnectOptions::new().priority(10));
    /// let _ = sig.connect_with(|_: &&str, _: &()| "cleanup", ConnectOptions::new().priority(-10));
    /// let responses = sig.send("users", &()).unwrap();
    /// assert_eq!(responses.values(), ["audit", "plain", "cleanup"]);
    /// ```
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }
}

/// What [`Signal::connect`](crate::Signal::connect) did.
///
/// A second connect with the same key (dispatch_uid or receiver identity, plus the
/// sender) is ignored and the first connection wins, as in Django; `Connection`
/// says which happened and names the connection that is in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a Connection says whether the receiver was added"]
pub struct Connection {
    pub(crate) id: crate::ids::ReceiverId,
    pub(crate) added: bool,
}

impl Connection {
    /// Whether this call added the receiver (false: an equal one was connected
    /// already).
    pub fn is_added(&self) -> bool {
        self.added
    }

    /// The connection in place: the new one, or the earlier one that won.
    pub fn id(&self) -> crate::ids::ReceiverId {
        self.id
    }
}
