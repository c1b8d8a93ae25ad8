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

use crate::ids::ReceiverId;
use crate::registry::MuteTarget;
use crate::signal::Signal;

impl<A, S, R> Signal<A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    /// Mutes the signal until the guard drops: sends call no receiver and
    /// return no responses, and [`has_listeners`](Self::has_listeners) is
    /// false. Mutes nest: the signal is muted while any guard lives. It is
    /// muted for every thread, and no other signal is.
    ///
    /// A send takes no new step for this: a mute publishes a snapshot
    /// without receivers, so a signal that was never muted pays nothing, and
    /// a muted one takes the no-receiver path. A send already running when
    /// the mute starts finishes with the receivers it read.
    ///
    /// ```
    /// use signals::Signal;
    /// let sig: Signal<(), &'static str, u8> = Signal::new("saved");
    /// let _ = sig.connect(|_: &&str, _: &()| 1);
    /// let muted = sig.mute();
    /// assert!(sig.send("users", &()).unwrap().is_empty());
    /// drop(muted);
    /// assert_eq!(sig.send("users", &()).unwrap().len(), 1);
    /// ```
    pub fn mute(&self) -> Muted<'_, A, S, R> {
        self.mute_target(None)
    }

    /// Mutes one connection, by its id (from [`Connection::id`](crate::Connection::id), a response
    /// or [`connections`](Self::connections)), until the guard drops; the
    /// other receivers are still called. Counted as [`mute`](Self::mute) is.
    ///
    /// ```
    /// use signals::Signal;
    /// let sig: Signal<(), &'static str, u8> = Signal::new("saved");
    /// let noisy = sig.connect(|_: &&str, _: &()| 1).id();
    /// let _ = sig.connect(|_: &&str, _: &()| 2);
    /// let _quiet = sig.mute_receiver(noisy);
    /// assert_eq!(sig.send("users", &()).unwrap().values(), [2]);
    /// ```
    pub fn mute_receiver(&self, id: ReceiverId) -> Muted<'_, A, S, R> {
        self.mute_target(Some(MuteTarget::Id(id)))
    }

    /// Mutes every connection made under this `dispatch_uid` (for any
    /// sender), until the guard drops; also one connected while the guard
    /// lives. A `#[receiver]`'s uid is its function path unless it gives one.
    ///
    /// ```
    /// use signals::{ConnectOptions, Signal};
    /// let sig: Signal<(), &'static str, u8> = Signal::new("saved");
    /// let _ = sig.connect_with(|_: &&str, _: &()| 1, ConnectOptions::new().dispatch_uid("search.reindex"));
    /// let _ = sig.connect(|_: &&str, _: &()| 2);
    /// let _quiet = sig.mute_uid("search.reindex");
    /// assert_eq!(sig.send("users", &()).unwrap().values(), [2]);
    /// ```
    pub fn mute_uid(&self, dispatch_uid: impl Into<Cow<'static, str>>) -> Muted<'_, A, S, R> {
        self.mute_target(Some(MuteTarget::Uid(dispatch_uid.into())))
    }

    /// Whether a [`mute`](Self::mute) guard of the whole signal is alive.
    pub fn is_muted(&self) -> bool {
        self.lock_initialized().is_muted()
    }

    fn mute_target(&self, target: Option<MuteTarget>) -> Muted<'_, A, S, R> {
        self.change(|registry| {
            registry.mute(target.clone());
            ((), true)
        });
        Muted::new(self, target)
    }

    /// Ends one mute of `target` (a guard dropped).
    pub(crate) fn unmute(&self, target: Option<&MuteTarget>) {
        self.change(|registry| {
            registry.unmute(target);
            ((), true)
        });
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
