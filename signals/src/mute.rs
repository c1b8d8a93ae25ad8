//! Muting: a guard during whose life sends skip a signal, or one of its
//! receivers.
//!
//! A mute does not touch the send path. It republishes the signal's snapshot
//! without the muted receivers (none at all when the whole signal is muted),
//! so a send reads the same summary and snapshot it always does, and a signal
//! that was never muted pays nothing.

use std::borrow::Cow;
use std::fmt;
use std::hash::Hash;

use crate::receiver::ReceiverId;
use crate::registry::Key;
use crate::signal::Signal;

/// What a [`Muted`] guard mutes besides the whole signal: one connection, or
/// every connection made under one `dispatch_uid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MuteTarget {
    Id(ReceiverId),
    Uid(Cow<'static, str>),
}

impl MuteTarget {
    /// Whether this mutes the connection `id`, made under `key`.
    pub(crate) fn matches(&self, id: ReceiverId, key: &Key) -> bool {
        match (self, key) {
            (MuteTarget::Id(muted), _) => *muted == id,
            (MuteTarget::Uid(muted), Key::Uid(uid)) => muted == uid,
            (MuteTarget::Uid(_), Key::Receiver(_)) => false,
        }
    }
}

/// Sends skip a signal, or one of its receivers, while this guard lives. Made
/// by [`Signal::mute`], [`Signal::mute_receiver`] and [`Signal::mute_uid`].
///
/// Mutes are counted: with two guards alive, dropping one leaves the signal
/// muted, and only dropping both unmutes it (blinker's `muted()` does not
/// nest). A mute covers every thread that sends the signal, and no other
/// signal.
///
/// ```
/// use signals::Signal;
/// let sig: Signal<(), &'static str, u8> = Signal::new("saved");
/// let _ = sig.connect(|_: &&str, _: &()| 1);
/// {
///     let _outer = sig.mute();
///     {
///         let _inner = sig.mute();
///     }
///     assert!(sig.send("users", &()).unwrap().is_empty(), "still muted");
/// }
/// assert_eq!(sig.send("users", &()).unwrap().values(), [1]);
/// ```
#[must_use = "the mute ends as soon as the guard is dropped"]
pub struct Muted<'s, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    signal: &'s Signal<A, S, R>,
    /// `None`: the whole signal.
    target: Option<MuteTarget>,
}

impl<'s, A, S, R> Muted<'s, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    pub(crate) fn new(signal: &'s Signal<A, S, R>, target: Option<MuteTarget>) -> Self {
        Self { signal, target }
    }
}

impl<A, S, R> Drop for Muted<'_, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    fn drop(&mut self) {
        self.signal.unmute(self.target.as_ref());
    }
}

impl<A, S, R> fmt::Debug for Muted<'_, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Muted");
        debug.field("signal", &self.signal.name());
        match &self.target {
            None => debug.field("receivers", &"all"),
            Some(MuteTarget::Id(id)) => debug.field("receiver", id),
            Some(MuteTarget::Uid(uid)) => debug.field("dispatch_uid", uid),
        };
        debug.finish()
    }
}
