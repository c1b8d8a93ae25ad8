//! Connections that last as long as a guard: blinker's `connected_to`, the
//! Rust way.

use std::fmt;
use std::hash::Hash;

use crate::options::{ConnectOptions, Connection};
use crate::receiver::Receiver;
use crate::signal::Signal;

impl<A, S, R> Signal<A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    /// Connects a receiver for any sender until the returned guard is dropped,
    /// also when a panic unwinds through its scope (blinker's
    /// `connected_to`).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use signals::Signal;
    /// static SEEN: AtomicUsize = AtomicUsize::new(0);
    /// let sig: Signal<()> = Signal::new("saved");
    /// {
    ///     let _scope = sig.connect_scoped(|_: &&str, _: &()| {
    ///         SEEN.fetch_add(1, Ordering::Relaxed);
    ///     });
    ///     sig.send("users", &()).unwrap();
    /// }
    /// sig.send("users", &()).unwrap(); // nobody listens any more
    /// assert_eq!(SEEN.load(Ordering::Relaxed), 1);
    /// ```
    pub fn connect_scoped(
        &self,
        receiver: impl Into<Receiver<A, S, R>>,
    ) -> ScopedConnection<'_, A, S, R> {
        self.connect_scoped_with(receiver, ConnectOptions::new())
    }

    /// [`connect_scoped`](Self::connect_scoped) with options (a sender
    /// filter, a weak reference, a `dispatch_uid`, a retry policy).
    pub fn connect_scoped_with(
        &self,
        receiver: impl Into<Receiver<A, S, R>>,
        options: ConnectOptions<S>,
    ) -> ScopedConnection<'_, A, S, R> {
        ScopedConnection::new(self, self.connect_with(receiver, options))
    }
}

/// A receiver connected until this guard is dropped: at the end of the block,
/// on an early return, or while a panic unwinds (a test that fails leaves no
/// receiver behind). Made by [`Signal::connect_scoped`] and
/// [`Signal::connect_scoped_with`].
///
/// If an equal receiver was connected already (same receiver or
/// `dispatch_uid`, same sender), the connect was ignored and dropping the
/// guard leaves that earlier connection alone.
///
/// ```
/// use signals::Signal;
/// let sig: Signal<i32> = Signal::new("numbers");
/// {
///     let _scope = sig.connect_scoped(|_: &&str, n: &i32| println!("{n}"));
///     assert_eq!(sig.receiver_count(), 1);
/// }
/// assert_eq!(sig.receiver_count(), 0);
/// ```
#[must_use = "the receiver is disconnected as soon as the guard is dropped"]
pub struct ScopedConnection<'s, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    signal: &'s Signal<A, S, R>,
    connection: Connection,
    /// Whether the guard still owns a connection to remove.
    armed: bool,
}

impl<'s, A, S, R> ScopedConnection<'s, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    pub(crate) fn new(signal: &'s Signal<A, S, R>, connection: Connection) -> Self {
        Self {
            signal,
            connection,
            armed: connection.is_added(),
        }
    }

    /// What the connect did: whether it added the receiver, and its id.
    pub fn connection(&self) -> Connection {
        self.connection
    }

    /// Disconnects now rather than at the end of the scope; returns whether
    /// anything was removed (not if the receiver was not added by this guard,
    /// or was disconnected meanwhile).
    pub fn disconnect(mut self) -> bool {
        self.take()
    }

    fn take(&mut self) -> bool {
        std::mem::take(&mut self.armed) && self.signal.disconnect_id(self.connection.id())
    }
}

impl<A, S, R> Drop for ScopedConnection<'_, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    fn drop(&mut self) {
        self.take();
    }
}

impl<A, S, R> fmt::Debug for ScopedConnection<'_, A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedConnection")
            .field("signal", &self.signal.name())
            .field("connection", &self.connection)
            .field("armed", &self.armed)
            .finish()
    }
}
