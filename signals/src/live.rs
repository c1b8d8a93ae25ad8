//! One connection as a send sees it: its id, its sender filter and how its
//! receiver is held. The registry builds these into snapshots; the route cache
//! and the snapshot's selection read them.

use std::sync::{Arc, Weak};

use crate::ids::ReceiverId;
use crate::invoke::{Callee, Invoke};

/// How a connection holds its receiver.
pub(crate) enum Target<A, S, R> {
    Strong(Arc<dyn Invoke<A, S, R>>),
    Weak(Weak<dyn Invoke<A, S, R>>),
}

impl<A, S, R> Clone for Target<A, S, R> {
    fn clone(&self) -> Self {
        match self {
            Target::Strong(target) => Target::Strong(Arc::clone(target)),
            Target::Weak(target) => Target::Weak(Weak::clone(target)),
        }
    }
}

impl<A, S, R> Target<A, S, R> {
    /// The receiver, ready for the send loop, when it is held strongly (a
    /// weak one must be upgraded on each send).
    pub(crate) fn callee(&self) -> Option<Callee<A, S, R>> {
        match self {
            Target::Strong(target) => Some(Callee::new(Arc::clone(target))),
            Target::Weak(_) => None,
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        match self {
            Target::Strong(_) => true,
            Target::Weak(target) => target.strong_count() > 0,
        }
    }
}

/// One connection, as `send` sees it.
pub(crate) struct Live<A, S, R> {
    pub(crate) id: ReceiverId,
    /// The sender's summary bit (every bit for any sender): entries for other
    /// senders are mostly told apart by it, without comparing senders.
    pub(crate) sender_bit: u64,
    /// The sender's key in the route cache (with `use_caching`; else 0).
    pub(crate) route_key: u64,
    pub(crate) sender: Option<S>,
    pub(crate) target: Target<A, S, R>,
}

impl<A, S: Eq, R> Live<A, S, R> {
    /// Django's rule: a receiver connected for no sender gets every sender.
    /// `bit` is `sender`'s summary bit.
    #[inline]
    pub(crate) fn accepts(&self, sender: &S, bit: u64) -> bool {
        self.sender_bit & bit != 0
            && match &self.sender {
                None => true,
                Some(wanted) => wanted == sender,
            }
    }
}
