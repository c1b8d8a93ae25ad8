//! The [`Signal`] type: connect receivers, send to them.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use smallvec::SmallVec;
use std::sync::{Mutex, MutexGuard};

use crate::awaited;
use crate::defer::SentOrQueued;
use crate::error::{BoxError, ReceiverError, SendError};
use crate::introspect::{ConnectionInfo, Origin};
use crate::mute::{MuteTarget, Muted};
use crate::options::{ConnectOptions, Connection};
use crate::panic;
use crate::publish::{Kept, Pin, Published, Replaced};
use crate::receiver::{
    AsyncCall, Callee, Identity, IntoOutcome, Invoke, Receiver, ReceiverId, ReceiverKey,
};
use crate::registry::{Direct, Key, Registry, Selection, Snapshot, Visit};
use crate::responses::{Collect, Responses, RobustResponses, Sink, Values, INLINE};
use crate::scoped::ScopedConnection;
use crate::summary::{sender_bit, ANY_SENDER};

/// Connects receivers registered before the signal's first use (see
/// [`Signal::with_initializer`]).
///
/// ```
/// use signals::{ConnectOptions, Registrar, Signal};
///
/// fn builtin(registrar: &mut Registrar<'_, u8>) {
///     let _ = registrar.connect(|_: &&str, n: &u8| println!("{n}"), ConnectOptions::new());
/// }
/// static BOOTED: Signal<u8> = Signal::new("booted").with_initializer(builtin);
/// assert!(BOOTED.has_listeners("kernel"));
/// ```
pub struct Registrar<'a, A, S = &'static str, R = ()> {
    registry: &'a mut Registry<A, S, R>,
}

impl<A: 'static, S: Eq + 'static, R: 'static> Registrar<'_, A, S, R> {
    /// Connects a receiver, exactly as [`Signal::connect_with`] would.
    pub fn connect(
        &mut self,
        receiver: impl Into<Receiver<A, S, R>>,
        options: ConnectOptions<S>,
    ) -> Connection {
        self.registry
            .connect(receiver.into(), options, Origin::Initializer)
    }

    /// Connects a receiver the caller knows is not connected yet, skipping the
    /// duplicate check (linear in the connections). Only for the link-time
    /// registration, which deduplicates its own entries first.
    pub(crate) fn connect_new(&mut self, receiver: Receiver<A, S, R>, options: ConnectOptions<S>) {
        let _ = self.registry.connect_new(receiver, options);
    }

    /// Makes room for `additional` more connections.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.registry.reserve(additional);
    }

    /// Whether nothing is connected yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.registry.is_empty()
    }
}

/// Connects a signal's receivers before its first use.
type Initializer<A, S, R> = fn(&mut Registrar<'_, A, S, R>);

/// Writes a sender as text, for introspection and tracing.
pub(crate) type DescribeSender<S> = fn(&S, &mut fmt::Formatter<'_>) -> fmt::Result;

/// A signal: named, typed notifications from senders to any number of receivers.
///
/// - `A`: the arguments every receiver gets (a struct for named arguments);
/// - `S`: the sender type (`&'static str` by default, e.g. a task name; any
///   `Eq + Hash + Clone` value, such as a `TypeId` or a hostname);
/// - `R`: what each receiver returns (`()` by default).
///
/// A `Signal` is `Send + Sync` and has a `const` constructor, so it can be a
/// `static`. Sending takes no lock: it reads an atomically swapped snapshot of the
/// connections, which connecting and disconnecting replace.
///
/// # Examples
///
/// ```
/// use signals::{ConnectOptions, Signal};
///
/// pub struct TaskSent { pub task_id: u64 }
/// pub static TASK_SENT: Signal<TaskSent> = Signal::new("task_sent");
///
/// TASK_SENT.connect_with(
///     |task: &&str, args: &TaskSent| println!("{task} sent as {}", args.task_id),
///     ConnectOptions::new().sender("tasks.add"),
/// );
/// let responses = TASK_SENT.send("tasks.add", &TaskSent { task_id: 7 }).unwrap();
/// assert_eq!(responses.len(), 1);
/// // Filtered out: the receiver only listens to "tasks.add".
/// assert!(TASK_SENT.send("tasks.mul", &TaskSent { task_id: 8 }).unwrap().is_empty());
/// ```
pub struct Signal<A, S = &'static str, R = ()> {
    name: &'static str,
    use_caching: bool,
    initializer: Option<Initializer<A, S, R>>,
    /// How to show a sender (its `Debug`), if the declaration said.
    describe_sender: Option<DescribeSender<S>>,
    /// The snapshot's sender summary, read first by every send: a miss is one
    /// atomic load (and a hash, if receivers are all sender-specific).
    /// [`ANY_SENDER`] until the signal is initialized.
    summary: AtomicU64,
    /// Whether some receiver of every sender is held strongly: then every
    /// sender has a live listener, and `has_listeners` reads only this.
    listened_by_all: AtomicBool,
    registry: Mutex<Registry<A, S, R>>,
    /// Empty until first use (then the initializer has run).
    snapshot: Published<Snapshot<A, S, R>>,
}

impl<A, S, R> Signal<A, S, R>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    /// A signal with no receivers. The name is used in `Debug` output and logs.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            use_caching: false,
            initializer: None,
            describe_sender: None,
            summary: AtomicU64::new(ANY_SENDER),
            listened_by_all: AtomicBool::new(false),
            registry: Mutex::new(Registry::new()),
            snapshot: Published::empty(),
        }
    }

    /// Enables the per-sender receiver cache: each sender's matching receivers are
    /// resolved once and reused until the connections change. Worth it when many
    /// receivers are connected for specific senders.
    ///
    /// ```
    /// use signals::Signal;
    /// static PRE_SAVE: Signal<()> = Signal::new("pre_save").with_caching();
    /// assert!(PRE_SAVE.uses_caching());
    /// ```
    pub const fn with_caching(mut self) -> Self {
        self.use_caching = true;
        self
    }

    /// Runs `initializer` once, before the signal's first use (connect, send or
    /// query), to connect receivers registered ahead of time; this is how
    /// `#[receiver]` functions become live with no set-up call in `main`.
    ///
    /// The initializer connects through the [`Registrar`]; it must not use this
    /// signal itself.
    pub const fn with_initializer(mut self, initializer: fn(&mut Registrar<'_, A, S, R>)) -> Self {
        self.initializer = Some(initializer);
        self
    }

    /// Shows senders by their `Debug` in introspection
    /// ([`SignalInfo::connections`](crate::SignalInfo::connections)) and, with
    /// the `tracing` feature, in send spans. `#[signal]` does this for every
    /// sender type that is `Debug`.
    ///
    /// ```
    /// use signals::Signal;
    /// static SAVED: Signal<()> = Signal::new("saved").with_sender_debug();
    /// # let _ = &SAVED;
    /// ```
    pub const fn with_sender_debug(self) -> Self
    where
        S: fmt::Debug,
    {
        self.with_sender_description(<S as fmt::Debug>::fmt)
    }

    /// Shows senders with `describe` (see [`with_sender_debug`](Self::with_sender_debug)).
    pub(crate) const fn with_sender_description(mut self, describe: DescribeSender<S>) -> Self {
        self.describe_sender = Some(describe);
        self
    }

    /// The signal's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the per-sender cache is on.
    pub fn uses_caching(&self) -> bool {
        self.use_caching
    }

    /// Connects a receiver for any sender, held strongly.
    ///
    /// Returns whether it was added: connecting the same receiver again is ignored.
    ///
    /// ```
    /// use signals::Signal;
    /// fn log_it(_: &&str, n: &i32) {}
    /// let sig: Signal<i32> = Signal::new("numbers");
    /// assert!(sig.connect(log_it).is_added());
    /// assert!(!sig.connect(log_it).is_added());
    /// ```
    pub fn connect(&self, receiver: impl Into<Receiver<A, S, R>>) -> Connection {
        self.connect_with(receiver, ConnectOptions::new())
    }

    /// Connects a receiver with options: a sender filter, a weak reference, a
    /// dispatch_uid, a retry policy.
    pub fn connect_with(
        &self,
        receiver: impl Into<Receiver<A, S, R>>,
        options: ConnectOptions<S>,
    ) -> Connection {
        self.change(|registry| {
            let connection = registry.connect(receiver.into(), options, Origin::Runtime);
            (connection, connection.added)
        })
    }

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

    /// Connects an async receiver for any sender, held strongly: an `async fn`,
    /// an async closure, or a closure returning a `Send` future (see
    /// [`AsyncCall`]). The same as `connect(Receiver::new_async(receiver))`;
    /// for options, pass that [`Receiver`] to [`connect_with`](Self::connect_with).
    ///
    /// [`asend`](Self::asend) and [`asend_robust`](Self::asend_robust) await
    /// it; a sync [`send`](Self::send) reports
    /// [`AwaitRequired`](crate::AwaitRequired) as its outcome.
    ///
    /// ```
    /// use signals::Signal;
    /// async fn audit(site: &&'static str, user: &String) -> String {
    ///     format!("{site}: {user}")
    /// }
    /// let sig: Signal<String, &'static str, String> = Signal::new("signed_up");
    /// assert!(sig.connect_async(audit).is_added());
    /// let responses = futures_executor::block_on(sig.asend("shop", &"ada".to_string())).unwrap();
    /// assert_eq!(responses.values(), ["shop: ada"]);
    /// ```
    pub fn connect_async<F, O>(&self, receiver: F) -> Connection
    where
        F: for<'a> AsyncCall<'a, S, A, O> + 'static,
        O: IntoOutcome<R> + 'static,
        A: Sync,
    {
        self.connect(Receiver::new_async(receiver))
    }

    /// Disconnects `receiver` from `sender` (`None`: the connection made for any
    /// sender). Returns whether anything was removed.
    ///
    /// ```
    /// use signals::{ConnectOptions, Signal};
    /// fn on_save(_: &&str, _: &()) {}
    /// let sig: Signal<()> = Signal::new("saved");
    /// let _ = sig.connect_with(on_save, ConnectOptions::new().sender("users"));
    /// assert!(!sig.disconnect(on_save, None)); // connected for "users" only
    /// assert!(sig.disconnect(on_save, Some("users")));
    /// assert!(!sig.disconnect(on_save, Some("users")));
    /// ```
    pub fn disconnect(&self, receiver: impl IdentifyReceiver<A, S, R>, sender: Option<S>) -> bool {
        let key = Key::Receiver(receiver.key().0);
        self.change(|registry| {
            let removed = registry.disconnect(&key, sender.as_ref());
            (removed, removed)
        })
    }

    /// Disconnects the receiver connected with this `dispatch_uid` for `sender`.
    /// Returns whether anything was removed.
    ///
    /// ```
    /// use signals::{ConnectOptions, Signal};
    /// let sig: Signal<()> = Signal::new("saved");
    /// let _ = sig.connect_with(|_: &&str, _: &()| {}, ConnectOptions::new().dispatch_uid("audit"));
    /// assert!(sig.disconnect_uid("audit", None));
    /// assert!(!sig.has_listeners("anyone"));
    /// ```
    pub fn disconnect_uid(&self, dispatch_uid: &str, sender: Option<S>) -> bool {
        let key = Key::Uid(dispatch_uid.to_owned().into());
        self.change(|registry| {
            let removed = registry.disconnect(&key, sender.as_ref());
            (removed, removed)
        })
    }

    /// Disconnects the connection with this id (from [`Connection::id`] or a
    /// response). Returns whether anything was removed.
    pub fn disconnect_id(&self, id: ReceiverId) -> bool {
        self.change(|registry| {
            let removed = registry.disconnect_id(id);
            (removed, removed)
        })
    }

    /// Whether any live receiver would get a send from `sender`.
    ///
    /// ```
    /// use signals::{ConnectOptions, Signal};
    /// let sig: Signal<()> = Signal::new("saved");
    /// assert!(!sig.has_listeners("users"));
    /// let _ = sig.connect_with(|_: &&str, _: &()| {}, ConnectOptions::new().sender("users"));
    /// assert!(sig.has_listeners("users"));
    /// assert!(!sig.has_listeners("groups"));
    /// ```
    #[inline]
    pub fn has_listeners(&self, sender: impl Borrow<S>) -> bool {
        let sender = sender.borrow();
        if self.listened_by_all.load(Ordering::Acquire) {
            return true;
        }
        // Only the summary check is inlined into the caller: with the snapshot
        // walk in the same function, a miss paid for its prologue.
        self.may_have_receivers(sender) && self.has_live_receiver(sender)
    }

    /// Whether a send from `sender` would call a live receiver: the part of
    /// [`has_listeners`](Self::has_listeners) past the summary.
    #[inline(never)]
    fn has_live_receiver(&self, sender: &S) -> bool {
        let pin = self.snapshot.load();
        let Some(snapshot) = pin.get() else {
            drop(pin);
            self.initialize();
            return self.has_listeners(sender);
        };
        let mut found = AnyLive(false);
        let mut map_pin = None;
        let saw_dead = snapshot
            .select(sender, &mut map_pin)
            .for_each(sender, &mut found);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        found.0
    }

    /// How many receivers are connected, muted ones included and weak ones
    /// that are gone left out.
    pub fn receiver_count(&self) -> usize {
        self.change(|registry| {
            let purged = registry.purge_dead();
            (registry.len(), purged)
        })
    }

    /// Every connection, in call order: receiver name and id,
    /// `dispatch_uid`, sender filter, weak or strong, retry policy, sync or
    /// async, priority, origin, and whether it is muted (see
    /// [`ConnectionInfo`]).
    pub fn connections(&self) -> Vec<ConnectionInfo<S>> {
        self.lock_initialized().connections(S::clone)
    }

    /// [`connections`](Self::connections) with each sender filter as text:
    /// what [`SignalInfo::connections`](crate::SignalInfo::connections) shows.
    pub(crate) fn described_connections(&self) -> Vec<ConnectionInfo<String>> {
        let describe = self.describe_sender;
        self.lock_initialized()
            .connections(|sender| match describe {
                Some(describe) => format!("{}", Describe(sender, describe)),
                None => "<no Debug>".to_owned(),
            })
    }

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

    /// Mutes one connection, by its id (from [`Connection::id`], a response
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
    pub fn mute_uid(
        &self,
        dispatch_uid: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Muted<'_, A, S, R> {
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

    /// Whether the sender summary lets `sender` through (false: certainly no
    /// receiver).
    #[inline]
    fn may_have_receivers(&self, sender: &S) -> bool {
        let summary = self.summary.load(Ordering::Acquire);
        summary == ANY_SENDER || (summary != 0 && summary & sender_bit(sender) != 0)
    }

    /// Sends to every live receiver for `sender`, in connection order, and returns
    /// their responses. The first receiver that returns an error stops dispatch and
    /// its error is returned (Django's `send`); a panic propagates.
    ///
    /// With no receiver or one, this allocates nothing; with more, see
    /// [`Responses`].
    #[inline]
    pub fn send(&self, sender: impl Borrow<S>, args: &A) -> Result<Responses<R>, SendError> {
        let sender = sender.borrow();
        if !self.may_have_receivers(sender) {
            return Ok(Responses::new());
        }
        #[cfg(feature = "tracing-spans")]
        if crate::trace::enabled() {
            return self.send_traced("send", sender, args);
        }
        self.send_read(self.snapshot.load(), sender, args)
    }

    /// `send` past the summary, on the snapshot `pin` read: `asend` with no
    /// receiver to await runs it too.
    #[inline(always)]
    fn send_read(
        &self,
        pin: Pin<Snapshot<A, S, R>>,
        sender: &S,
        args: &A,
    ) -> Result<Responses<R>, SendError> {
        // The fast path: every receiver, each held strongly, called in one loop.
        if let Some(direct) = pin.get().and_then(Snapshot::direct) {
            let called = Responses::call(direct, sender, args);
            drop(pin);
            return called.finish();
        }
        self.send_selected(pin, sender, args)
    }

    /// The rest of [`send`](Self::send), out of line so that the fast path stays
    /// small: a sender filter (cached or not), weak receivers, or the first use.
    #[inline(never)]
    fn send_selected(
        &self,
        pin: Pin<Snapshot<A, S, R>>,
        sender: &S,
        args: &A,
    ) -> Result<Responses<R>, SendError> {
        let Some(snapshot) = pin.get() else {
            drop(pin);
            self.initialize();
            return self.send(sender, args);
        };
        let mut map_pin = None;
        let selection = snapshot.select(sender, &mut map_pin);
        if let Some(direct) = selection.direct() {
            let called = Responses::call(direct, sender, args);
            drop(selection);
            drop(map_pin);
            drop(pin);
            return called.finish();
        }
        let (responses, failure, saw_dead) =
            collect_send::<_, _, _, false>(&selection, sender, args);
        drop(selection);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        match failure {
            None => Ok(responses),
            Some(error) => Err(error),
        }
    }

    /// Sends to every live receiver for `sender`, whatever some of them do: an error
    /// or a panic is caught, logged through `tracing` (as Django logs "Error calling
    /// \<receiver\> in Signal.send_robust() (\<error\>)") and returned as that
    /// receiver's outcome.
    ///
    /// ```
    /// use signals::{ReceiverError, Signal};
    /// let sig: Signal<()> = Signal::new("robust");
    /// sig.connect(|_: &&str, _: &()| -> Result<(), std::fmt::Error> { Err(std::fmt::Error) });
    /// sig.connect(|_: &&str, _: &()| -> () { panic!("boom") });
    /// sig.connect(|_: &&str, _: &()| {});
    /// let outcomes = sig.send_robust("app", &());
    /// assert!(matches!(outcomes[0], Err(ReceiverError::Failed(_))));
    /// assert!(matches!(&outcomes[1], Err(ReceiverError::Panicked(msg)) if msg == "boom"));
    /// assert!(outcomes[2].is_ok());
    /// ```
    pub fn send_robust(&self, sender: impl Borrow<S>, args: &A) -> RobustResponses<R> {
        let sender = sender.borrow();
        if !self.may_have_receivers(sender) {
            return Responses::new();
        }
        #[cfg(feature = "tracing-spans")]
        if crate::trace::enabled() {
            return self.send_robust_traced("send_robust", sender, args);
        }
        self.send_robust_read(self.snapshot.load(), sender, args)
    }

    /// `send_robust` past the summary, on the snapshot `pin` read (see
    /// [`send_read`](Self::send_read)).
    #[inline(always)]
    fn send_robust_read(
        &self,
        pin: Pin<Snapshot<A, S, R>>,
        sender: &S,
        args: &A,
    ) -> RobustResponses<R> {
        if let Some(direct) = pin.get().and_then(Snapshot::direct) {
            let responses = call_robust(direct, sender, args);
            drop(pin);
            return responses;
        }
        self.send_robust_selected(pin, sender, args)
    }

    /// The rest of [`send_robust`](Self::send_robust), as
    /// [`send_selected`](Self::send_selected) is of `send`.
    #[inline(never)]
    fn send_robust_selected(
        &self,
        pin: Pin<Snapshot<A, S, R>>,
        sender: &S,
        args: &A,
    ) -> RobustResponses<R> {
        let Some(snapshot) = pin.get() else {
            drop(pin);
            self.initialize();
            return self.send_robust(sender, args);
        };
        let mut map_pin = None;
        let selection = snapshot.select(sender, &mut map_pin);
        if let Some(direct) = selection.direct() {
            let responses = call_robust(direct, sender, args);
            drop(selection);
            drop(map_pin);
            drop(pin);
            return responses;
        }
        let (responses, saw_dead) = collect_robust::<_, _, _, false>(&selection, sender, args);
        drop(selection);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        responses
    }

    /// Sends now, or, inside a [`defer`](crate::defer()) scope on this thread,
    /// when the scope commits: Django's `transaction.on_commit(lambda:
    /// signal.send(...))`. The arguments are moved in, since a queued send
    /// outlives the call.
    ///
    /// Either way the send is [`send_robust`](Self::send_robust): a queued
    /// send has no caller left to stop, so every receiver runs and each
    /// failure is logged (and counted by [`Committed::failed`](crate::defer::Committed::failed)).
    ///
    /// ```
    /// use signals::defer::SentOrQueued;
    /// use signals::Signal;
    /// static PAID: Signal<u64, &'static str, u64> = Signal::new("paid");
    /// let _ = PAID.connect(|_: &&str, order: &u64| *order);
    ///
    /// assert!(matches!(PAID.send_on_commit("shop", 1), SentOrQueued::Sent(r) if r.len() == 1));
    /// let tx = signals::defer();
    /// assert!(matches!(PAID.send_on_commit("shop", 2), SentOrQueued::Queued));
    /// assert_eq!(tx.commit().sent(), 1);
    /// ```
    pub fn send_on_commit(&'static self, sender: S, args: A) -> SentOrQueued<R> {
        if !crate::defer::is_open() {
            return SentOrQueued::Sent(self.send_robust(&sender, &args));
        }
        crate::defer::enqueue(Box::new(move || {
            self.send_robust(&sender, &args)
                .iter()
                .filter(|(_, outcome)| outcome.is_err())
                .count()
        }));
        SentOrQueued::Queued
    }

    /// Sends to every live receiver for `sender`, awaiting the async ones, and
    /// returns the responses in connection order. The first error stops the
    /// send and is returned, the futures still running are dropped (cancelled);
    /// a panic propagates.
    ///
    /// The sync receivers are called first, in connection order, and the async
    /// ones then run concurrently with each other inside the caller's task: no
    /// task is spawned, so any executor will do. A sync receiver's error stops
    /// the send before any async receiver has started; after that, the first
    /// async receiver to fail stops it. This is Django 6.1's order (its 5.0 to
    /// 6.0 ran the two kinds side by side); the responses, unlike Django's,
    /// keep connection order across kinds.
    ///
    /// With no async receiver connected, this is [`send`](Self::send), with
    /// one more check.
    ///
    /// The future is `Send` when `A` is `Sync`, so it can be awaited on a
    /// multi-thread runtime. Dropping it midway cancels the receivers still
    /// running and leaves the signal as it was.
    ///
    /// ```
    /// use signals::Signal;
    ///
    /// pub struct Paid { pub order: u64 }
    /// static PAID: Signal<Paid, &'static str, String> = Signal::new("paid");
    ///
    /// async fn email(_: &&'static str, paid: &Paid) -> String {
    ///     format!("emailed {}", paid.order)
    /// }
    /// PAID.connect(|_: &&str, paid: &Paid| format!("logged {}", paid.order));
    /// PAID.connect_async(email);
    ///
    /// let responses = futures_executor::block_on(PAID.asend("shop", &Paid { order: 7 })).unwrap();
    /// assert_eq!(responses.values(), ["logged 7", "emailed 7"]);
    /// ```
    pub async fn asend(&self, sender: impl Borrow<S>, args: &A) -> Result<Responses<R>, SendError> {
        let sender = sender.borrow();
        #[cfg(feature = "tracing-spans")]
        if crate::trace::enabled() && self.may_have_receivers(sender) {
            return Box::pin(self.asend_traced(sender, args)).await;
        }
        if let Some(sent) = self.send_unless_awaited(sender, args) {
            return sent;
        }
        // Boxed, so that the `asend` future stays a few words: it is moved at
        // least once before it is polled, and most sends take the path above.
        Box::pin(self.asend_awaiting(sender, args)).await
    }

    /// The rest of [`asend`](Self::asend): a snapshot with a receiver to await.
    async fn asend_awaiting(&self, sender: &S, args: &A) -> Result<Responses<R>, SendError> {
        let Some(mut kept) = self.kept_snapshot() else {
            return Ok(Responses::new());
        };
        // SAFETY: the plan and the receivers' futures, which borrow the
        // snapshot, are dropped before `kept`, declared before them.
        let snapshot = unsafe { kept.value() };
        let planned = snapshot.plan_awaited(sender);
        if planned.saw_dead() {
            self.purge_dead();
        }
        awaited::send(&planned, sender, args, || kept.own()).await
    }

    /// Sends to every live receiver for `sender`, awaiting the async ones,
    /// whatever some of them do: each error or panic (in a sync receiver, or in
    /// an async one's future) is caught, logged as by
    /// [`send_robust`](Self::send_robust), and returned as that receiver's
    /// outcome, in connection order. Every receiver runs to its end.
    ///
    /// The order is [`asend`](Self::asend)'s: sync receivers first, then the
    /// async ones concurrently in the caller's task.
    ///
    /// ```
    /// use signals::{ReceiverError, Signal};
    /// let sig: Signal<()> = Signal::new("robust");
    /// sig.connect_async(async |_: &&str, _: &()| -> Result<(), std::fmt::Error> { Err(std::fmt::Error) });
    /// sig.connect_async(async |_: &&str, _: &()| -> () { panic!("boom") });
    /// sig.connect(|_: &&str, _: &()| {});
    /// let outcomes = futures_executor::block_on(sig.asend_robust("app", &()));
    /// assert!(matches!(outcomes[0], Err(ReceiverError::Failed(_))));
    /// assert!(matches!(&outcomes[1], Err(ReceiverError::Panicked(msg)) if msg == "boom"));
    /// assert!(outcomes[2].is_ok());
    /// ```
    pub async fn asend_robust(&self, sender: impl Borrow<S>, args: &A) -> RobustResponses<R> {
        let sender = sender.borrow();
        #[cfg(feature = "tracing-spans")]
        if crate::trace::enabled() && self.may_have_receivers(sender) {
            return Box::pin(self.asend_robust_traced(sender, args)).await;
        }
        if let Some(sent) = self.send_robust_unless_awaited(sender, args) {
            return sent;
        }
        Box::pin(self.asend_robust_awaiting(sender, args)).await
    }

    /// The rest of [`asend_robust`](Self::asend_robust), as
    /// [`asend_awaiting`](Self::asend_awaiting) is of `asend`.
    async fn asend_robust_awaiting(&self, sender: &S, args: &A) -> RobustResponses<R> {
        let Some(mut kept) = self.kept_snapshot() else {
            return Responses::new();
        };
        // SAFETY: as in `asend_awaiting`.
        let snapshot = unsafe { kept.value() };
        let planned = snapshot.plan_awaited(sender);
        if planned.saw_dead() {
            self.purge_dead();
        }
        awaited::send_robust(&planned, sender, args, || kept.own()).await
    }

    /// [`send`](Self::send), when the snapshot it reads has no receiver to
    /// await: `asend`'s path with only sync receivers. `None` otherwise, or
    /// before the first use.
    #[inline(always)]
    fn send_unless_awaited(&self, sender: &S, args: &A) -> Option<Result<Responses<R>, SendError>> {
        if !self.may_have_receivers(sender) {
            return Some(Ok(Responses::new()));
        }
        let pin = self.snapshot.load();
        match pin.get() {
            Some(snapshot) if !snapshot.awaits => Some(self.send_read(pin, sender, args)),
            _ => None,
        }
    }

    /// [`send_robust`](Self::send_robust), when the snapshot it reads has no
    /// receiver to await (see [`send_unless_awaited`](Self::send_unless_awaited)).
    #[inline(always)]
    fn send_robust_unless_awaited(&self, sender: &S, args: &A) -> Option<RobustResponses<R>> {
        if !self.may_have_receivers(sender) {
            return Some(Responses::new());
        }
        let pin = self.snapshot.load();
        match pin.get() {
            Some(snapshot) if !snapshot.awaits => Some(self.send_robust_read(pin, sender, args)),
            _ => None,
        }
    }

    /// `send` inside a `signal.send` span, each receiver in a
    /// `signal.receiver` span (see `trace`).
    #[cfg(feature = "tracing-spans")]
    #[inline(never)]
    fn send_traced(
        &self,
        kind: &'static str,
        sender: &S,
        args: &A,
    ) -> Result<Responses<R>, SendError> {
        if !self.snapshot.is_set() {
            self.initialize();
            if !self.may_have_receivers(sender) {
                return Ok(Responses::new());
            }
        }
        let span = crate::trace::send_span(self.name, kind, sender, self.describe_sender);
        let _entered = span.enter();
        let pin = self.snapshot.load();
        let Some(snapshot) = pin.get() else {
            return Ok(Responses::new());
        };
        let mut map_pin = None;
        let selection = snapshot.select(sender, &mut map_pin);
        let (responses, failure, saw_dead) =
            collect_send::<_, _, _, true>(&selection, sender, args);
        drop(selection);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        // A failed send called the receivers before the failure, and it.
        span.record(
            "receivers",
            responses.len() + usize::from(failure.is_some()),
        );
        span.record("failed", usize::from(failure.is_some()));
        match failure {
            None => Ok(responses),
            Some(error) => Err(error),
        }
    }

    /// `send_robust` traced as [`send_traced`](Self::send_traced) traces `send`.
    #[cfg(feature = "tracing-spans")]
    #[inline(never)]
    fn send_robust_traced(&self, kind: &'static str, sender: &S, args: &A) -> RobustResponses<R> {
        if !self.snapshot.is_set() {
            self.initialize();
            if !self.may_have_receivers(sender) {
                return Responses::new();
            }
        }
        let span = crate::trace::send_span(self.name, kind, sender, self.describe_sender);
        let _entered = span.enter();
        let pin = self.snapshot.load();
        let Some(snapshot) = pin.get() else {
            return Responses::new();
        };
        let mut map_pin = None;
        let selection = snapshot.select(sender, &mut map_pin);
        let (responses, saw_dead) = collect_robust::<_, _, _, true>(&selection, sender, args);
        drop(selection);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        crate::trace::record_robust(&span, &responses);
        responses
    }

    /// `asend` traced: with only sync receivers, [`send_traced`](Self::send_traced);
    /// else the whole send in one `signal.send` span.
    #[cfg(feature = "tracing-spans")]
    async fn asend_traced(&self, sender: &S, args: &A) -> Result<Responses<R>, SendError> {
        use tracing::Instrument;
        if !self.awaits_any() {
            return self.send_traced("asend", sender, args);
        }
        let span = crate::trace::send_span(self.name, "asend", sender, self.describe_sender);
        let sent = self
            .asend_awaiting(sender, args)
            .instrument(span.clone())
            .await;
        if let Ok(responses) = &sent {
            span.record("receivers", responses.len());
        }
        span.record("failed", usize::from(sent.is_err()));
        sent
    }

    /// `asend_robust` traced as [`asend_traced`](Self::asend_traced) traces `asend`.
    #[cfg(feature = "tracing-spans")]
    async fn asend_robust_traced(&self, sender: &S, args: &A) -> RobustResponses<R> {
        use tracing::Instrument;
        if !self.awaits_any() {
            return self.send_robust_traced("asend_robust", sender, args);
        }
        let span = crate::trace::send_span(self.name, "asend_robust", sender, self.describe_sender);
        let responses = self
            .asend_robust_awaiting(sender, args)
            .instrument(span.clone())
            .await;
        crate::trace::record_robust(&span, &responses);
        responses
    }

    /// Whether the snapshot holds a receiver to await (initializing first).
    #[cfg(feature = "tracing-spans")]
    fn awaits_any(&self) -> bool {
        if !self.snapshot.is_set() {
            self.initialize();
        }
        self.snapshot
            .load()
            .get()
            .is_some_and(|snapshot| snapshot.awaits)
    }

    /// The snapshot, read for an async send, which keeps it until it ends
    /// (see [`Kept`]); initializes the signal first.
    fn kept_snapshot(&self) -> Option<Kept<Snapshot<A, S, R>>> {
        if let Some(snapshot) = self.snapshot.keep() {
            return Some(snapshot);
        }
        self.initialize();
        self.snapshot.keep()
    }

    /// Applies a change to the connections under the lock and, if it changed
    /// anything, publishes a new snapshot (which also empties the sender cache).
    fn change<T>(&self, apply: impl FnOnce(&mut Registry<A, S, R>) -> (T, bool)) -> T {
        let mut registry = self.lock_initialized();
        let (result, changed) = apply(&mut registry);
        if changed || !self.snapshot.is_set() {
            self.publish_and_unlock(registry);
        }
        result
    }

    /// Publishes the registry, releases its lock, then drops the snapshot it
    /// replaced (freeing it unless a send still reads it): outside the lock,
    /// since dropping a receiver runs user code.
    fn publish_and_unlock(&self, registry: MutexGuard<'_, Registry<A, S, R>>) {
        let replaced = self.publish(&registry);
        drop(registry);
        drop(replaced);
    }

    /// Publishes the registry as the new snapshot; the caller holds the registry
    /// lock, which serializes publishers.
    fn publish(&self, registry: &Registry<A, S, R>) -> Replaced<Snapshot<A, S, R>> {
        let snapshot = registry.snapshot(self.use_caching);
        let summary = snapshot.sender_summary();
        let listened_by_all = snapshot.listened_by_all();
        let replaced = self.snapshot.replace(snapshot);
        self.summary.store(summary, Ordering::Release);
        self.listened_by_all
            .store(listened_by_all, Ordering::Release);
        replaced
    }

    /// The registry, with the link-time receivers connected.
    fn lock_initialized(&self) -> MutexGuard<'_, Registry<A, S, R>> {
        let mut registry = crate::lock::lock(&self.registry);
        if !registry.initialized {
            registry.initialized = true;
            if let Some(initializer) = self.initializer {
                initializer(&mut Registrar {
                    registry: &mut registry,
                });
            }
        }
        registry
    }

    /// First use: run the initializer and publish the first snapshot.
    #[cold]
    #[inline(never)]
    fn initialize(&self) {
        let registry = self.lock_initialized();
        if !self.snapshot.is_set() {
            self.publish_and_unlock(registry);
        }
    }

    /// A send met a dropped weak receiver: remove it, unless another thread holds
    /// the lock (then a later send or change will).
    #[cold]
    #[inline(never)]
    fn purge_dead(&self) {
        if let Some(mut registry) = crate::lock::try_lock(&self.registry) {
            if registry.purge_dead() {
                self.publish_and_unlock(registry);
            }
        }
    }
}

/// A sender shown by the signal's description of senders.
pub(crate) struct Describe<'a, S>(pub(crate) &'a S, pub(crate) DescribeSender<S>);

impl<S> fmt::Display for Describe<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.1)(self.0, f)
    }
}

/// Calls the selected receivers as `send` does (until one fails); returns the
/// responses before any failure, the failure, and whether a dead weak
/// receiver was seen. `TRACED` wraps each receiver in a span.
#[inline(always)]
fn collect_send<A, S, R, const TRACED: bool>(
    selection: &Selection<'_, A, S, R>,
    sender: &S,
    args: &A,
) -> (Responses<R>, Option<SendError>, bool)
where
    S: Eq + Hash + Clone + Send + 'static,
{
    let mut failure = None;
    let mut saw_dead = false;
    let responses = Responses::collect(
        selection.expected(),
        selection.ids(),
        SendBody::<_, _, _, TRACED> {
            selection,
            sender,
            args,
            failure: &mut failure,
            saw_dead: &mut saw_dead,
        },
    );
    (responses, failure, saw_dead)
}

/// Calls every selected receiver as `send_robust` does; returns the outcomes
/// and whether a dead weak receiver was seen.
#[inline(always)]
fn collect_robust<A, S, R, const TRACED: bool>(
    selection: &Selection<'_, A, S, R>,
    sender: &S,
    args: &A,
) -> (RobustResponses<R>, bool)
where
    S: Eq + Hash + Clone + Send + 'static,
{
    let mut saw_dead = false;
    let responses = Responses::collect(
        selection.expected(),
        selection.ids(),
        RobustBody::<_, _, _, TRACED> {
            selection,
            sender,
            args,
            saw_dead: &mut saw_dead,
        },
    );
    (responses, saw_dead)
}

/// The body of [`Signal::send`], run once the snapshot is loaded; `TRACED`
/// wraps each receiver in a span (feature `tracing-spans`).
struct SendBody<'a, A, S, R, const TRACED: bool> {
    selection: &'a Selection<'a, A, S, R>,
    sender: &'a S,
    args: &'a A,
    /// Where the first error goes.
    failure: &'a mut Option<SendError>,
    /// Set if a dead weak receiver was seen.
    saw_dead: &'a mut bool,
}

impl<A, S, R, const TRACED: bool> Collect<R> for SendBody<'_, A, S, R, TRACED>
where
    S: Eq + Hash + Clone + Send + 'static,
{
    #[inline(always)]
    fn collect<K: Sink<R>>(self, sink: &mut K) {
        let mut visit = SendVisit {
            sender: self.sender,
            args: self.args,
            sink,
            failure: self.failure,
        };
        #[cfg(feature = "tracing-spans")]
        if TRACED {
            let mut traced = crate::trace::Traced(&mut visit);
            *self.saw_dead = self.selection.for_each(self.sender, &mut traced);
            return;
        }
        *self.saw_dead = self.selection.for_each(self.sender, &mut visit);
    }
}

/// Calls each receiver of a send, until one fails.
struct SendVisit<'a, A, S, K> {
    sender: &'a S,
    args: &'a A,
    sink: &'a mut K,
    failure: &'a mut Option<SendError>,
}

impl<A, S, R, K: Sink<R>> Visit<A, S, R> for SendVisit<'_, A, S, K> {
    #[inline(always)]
    fn visit(
        &mut self,
        position: usize,
        id: ReceiverId,
        receiver: &dyn Invoke<A, S, R>,
    ) -> ControlFlow<()> {
        match receiver.invoke(self.sender, self.args) {
            Ok(response) => {
                self.sink.push(position, id, response);
                ControlFlow::Continue(())
            }
            Err(source) => {
                *self.failure = Some(SendError {
                    receiver: id,
                    source,
                });
                ControlFlow::Break(())
            }
        }
    }
}

/// The body of [`Signal::send_robust`], run once the snapshot is loaded
/// (`TRACED` as in [`SendBody`]).
struct RobustBody<'a, A, S, R, const TRACED: bool> {
    selection: &'a Selection<'a, A, S, R>,
    sender: &'a S,
    args: &'a A,
    /// Set if a dead weak receiver was seen.
    saw_dead: &'a mut bool,
}

impl<A, S, R, const TRACED: bool> Collect<Result<R, ReceiverError>>
    for RobustBody<'_, A, S, R, TRACED>
where
    S: Eq + Hash + Clone + Send + 'static,
{
    #[inline(always)]
    fn collect<K: Sink<Result<R, ReceiverError>>>(self, sink: &mut K) {
        let mut visit = RobustVisit {
            sender: self.sender,
            args: self.args,
            sink,
        };
        #[cfg(feature = "tracing-spans")]
        if TRACED {
            let mut traced = crate::trace::Traced(&mut visit);
            *self.saw_dead = self.selection.for_each(self.sender, &mut traced);
            return;
        }
        *self.saw_dead = self.selection.for_each(self.sender, &mut visit);
    }
}

/// Calls every receiver of a send, catching errors and panics.
struct RobustVisit<'a, A, S, K> {
    sender: &'a S,
    args: &'a A,
    sink: &'a mut K,
}

impl<A, S, R, K: Sink<Result<R, ReceiverError>>> Visit<A, S, R> for RobustVisit<'_, A, S, K> {
    #[inline(always)]
    fn visit(
        &mut self,
        position: usize,
        id: ReceiverId,
        receiver: &dyn Invoke<A, S, R>,
    ) -> ControlFlow<()> {
        let (sender, args) = (self.sender, self.args);
        let outcome = robust_outcome(
            catch_unwind(AssertUnwindSafe(|| receiver.invoke(sender, args))),
            || id,
        );
        self.sink.push(position, id, outcome);
        ControlFlow::Continue(())
    }
}

/// Calls every receiver of `direct`, catching errors and panics: the fast path
/// of [`Signal::send_robust`]. One `catch_unwind` covers the whole loop (one per
/// receiver cost more than the call itself); after a panic, a new one covers the
/// receivers left.
#[inline(always)]
fn call_robust<A, S, R>(direct: Direct<'_, A, S, R>, sender: &S, args: &A) -> RobustResponses<R> {
    let Direct { receivers, ids } = direct;
    let ids = ids.local();
    if receivers.len() <= INLINE {
        let mut values = SmallVec::new();
        call_robust_into(&mut values, receivers, ids, sender, args);
        Responses::complete(ids, values)
    } else {
        let mut values = Vec::with_capacity(receivers.len());
        call_robust_into(&mut values, receivers, ids, sender, args);
        Responses::complete(ids, SmallVec::from_vec(values))
    }
}

#[inline(always)]
fn call_robust_into<A, S, R>(
    values: &mut impl Values<Result<R, ReceiverError>>,
    receivers: &[Callee<A, S, R>],
    ids: &[ReceiverId],
    sender: &S,
    args: &A,
) {
    while values.len() < receivers.len() {
        let start = values.len();
        let run = catch_unwind(AssertUnwindSafe(|| {
            for (receiver, id) in receivers[start..].iter().zip(&ids[start..]) {
                match receiver.get().invoke(sender, args) {
                    Ok(response) => push_ok(values, response),
                    Err(error) => {
                        values.push(Err(robust_failure(*id, ReceiverError::Failed(error))))
                    }
                }
            }
        }));
        if let Err(payload) = run {
            // The receiver whose outcome was next panicked.
            let id = ids[values.len()];
            let message = panic::message(payload.as_ref());
            values.push(Err(robust_failure(id, ReceiverError::Panicked(message))));
        }
    }
}

/// Pushes a success. Out of line on purpose: inlined, the `Ok` was built in a
/// stack slot in part and copied whole into the list, a stalled load per
/// receiver that tripled the loop's cost.
#[inline(never)]
fn push_ok<R>(values: &mut impl Values<Result<R, ReceiverError>>, response: R) {
    values.push(Ok(response));
}

/// Finds whether a send would call anyone.
struct AnyLive(bool);

impl<A, S, R> Visit<A, S, R> for AnyLive {
    #[inline(always)]
    fn visit(&mut self, _: usize, _: ReceiverId, _: &dyn Invoke<A, S, R>) -> ControlFlow<()> {
        self.0 = true;
        ControlFlow::Break(())
    }
}

/// One receiver's outcome under a robust send, from what `catch_unwind` gave:
/// its response, or its error or panic, logged. `id` names the receiver, read
/// only on a failure.
#[inline(always)]
pub(crate) fn robust_outcome<R>(
    outcome: std::thread::Result<Result<R, BoxError>>,
    id: impl FnOnce() -> ReceiverId,
) -> Result<R, ReceiverError> {
    match outcome {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(robust_failure(id(), ReceiverError::Failed(error))),
        Err(payload) => Err(robust_failure(
            id(),
            ReceiverError::Panicked(panic::message(payload.as_ref())),
        )),
    }
}

#[cold]
#[inline(never)]
fn robust_failure(id: ReceiverId, error: ReceiverError) -> ReceiverError {
    tracing::error!(
        receiver = %id,
        "Error calling {} in Signal.send_robust() ({})",
        id.name(),
        error
    );
    error
}

impl<A, S, R> fmt::Debug for Signal<A, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let receivers = self
            .snapshot
            .load()
            .get()
            .map_or(0, |snapshot| snapshot.entries.len());
        f.debug_struct("Signal")
            .field("name", &self.name)
            .field("use_caching", &self.use_caching)
            .field("receivers", &receivers)
            .finish()
    }
}

/// Names a connected receiver for [`Signal::disconnect`]: a [`Receiver`] handle
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
    O: crate::IntoOutcome<R>,
{
    fn key(&self) -> ReceiverKey {
        // A value with state has no identity apart from its allocation, which a
        // by-value argument does not have: address 0 matches nothing.
        ReceiverKey(Identity::of::<F>(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_summary_rejects_a_sender_with_no_receiver() {
        let sig: Signal<()> = Signal::new("summary");
        assert!(!sig.has_listeners("tasks.add"));
        assert!(
            !sig.may_have_receivers(&"tasks.add"),
            "initialized and empty"
        );
        let _ = sig.connect_with(
            |_: &&str, _: &()| {},
            ConnectOptions::new().sender("tasks.mul"),
        );
        assert!(sig.may_have_receivers(&"tasks.mul"));
        assert!(!sig.may_have_receivers(&"tasks.add"));
        let _ = sig.connect(|_: &&str, _: &()| {});
        assert!(
            sig.may_have_receivers(&"tasks.add"),
            "a receiver for any sender"
        );
    }
}
