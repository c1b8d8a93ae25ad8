//! The [`Signal`] type: connect receivers, send to them.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::dispatch::{self, Mode, Robust, Strict};
use crate::error::SendError;
use crate::ids::ReceiverId;
use crate::introspect::{ConnectionInfo, Describe, DescribeSender, Origin};
use crate::invoke::{AsyncCall, IntoOutcome};
use crate::options::{ConnectOptions, Connection};
use crate::publish::{Kept, Pin, Published, Replaced};
use crate::receiver::{IdentifyReceiver, Receiver};
use crate::registry::{Key, Registry};
use crate::responses::{Responses, RobustResponses};
use crate::snapshot::Snapshot;
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
        let mut map_pin = None;
        let (found, saw_dead) = snapshot.select(sender, &mut map_pin).any_live(sender);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        found
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
        self.dispatch::<Strict>(sender.borrow(), args)
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
        self.dispatch::<Robust>(sender.borrow(), args)
    }

    /// A sync send in mode `M`, to the end of its fast path: the sender
    /// summary, then every receiver of the snapshot, each held strongly, in
    /// one loop.
    #[inline(always)]
    fn dispatch<M: Mode<R>>(&self, sender: &S, args: &A) -> M::Output {
        if !self.may_have_receivers(sender) {
            return M::nobody();
        }
        #[cfg(feature = "tracing-spans")]
        if crate::trace::enabled() {
            return self.dispatch_traced::<M>(M::SYNC, sender, args);
        }
        self.dispatch_read::<M>(self.snapshot.load(), sender, args)
    }

    /// [`dispatch`](Self::dispatch) past the summary, on the snapshot `pin`
    /// read: `asend` with no receiver to await runs it too.
    #[inline(always)]
    fn dispatch_read<M: Mode<R>>(
        &self,
        pin: Pin<Snapshot<A, S, R>>,
        sender: &S,
        args: &A,
    ) -> M::Output {
        if let Some(direct) = pin.get().and_then(Snapshot::direct) {
            if let Some((receiver, id)) = direct.one() {
                let outcome = dispatch::call_one::<M, _, _, _>(receiver, sender, args);
                drop(pin);
                return M::finish_one(id, outcome);
            }
            let sent = dispatch::call_direct::<M, _, _, _>(direct, sender, args);
            drop(pin);
            return sent;
        }
        self.dispatch_selected::<M>(pin, sender, args)
    }

    /// The rest of a sync send, out of line so that the fast path stays
    /// small: a sender filter (cached or not), weak receivers, or the first
    /// use.
    #[inline(never)]
    fn dispatch_selected<M: Mode<R>>(
        &self,
        pin: Pin<Snapshot<A, S, R>>,
        sender: &S,
        args: &A,
    ) -> M::Output {
        let Some(snapshot) = pin.get() else {
            drop(pin);
            self.initialize();
            return self.dispatch::<M>(sender, args);
        };
        let mut map_pin = None;
        let selection = snapshot.select(sender, &mut map_pin);
        if let Some(direct) = selection.direct() {
            let sent = match direct.one() {
                Some((receiver, id)) => {
                    M::finish_one(id, dispatch::call_one::<M, _, _, _>(receiver, sender, args))
                }
                None => dispatch::call_direct::<M, _, _, _>(direct, sender, args),
            };
            drop(selection);
            drop(map_pin);
            drop(pin);
            return sent;
        }
        let (responses, failure, saw_dead) =
            dispatch::call_selected::<M, _, _, _, false>(&selection, sender, args);
        drop(selection);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        M::output(responses, failure)
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
            return Box::pin(self.adispatch_traced::<Strict>(sender, args)).await;
        }
        if let Some(sent) = self.dispatch_unless_awaited::<Strict>(sender, args) {
            return sent;
        }
        // Boxed, so that the `asend` future stays a few words: it is moved at
        // least once before it is polled, and most sends take the path above.
        Box::pin(self.adispatch_awaiting::<Strict>(sender, args)).await
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
            return Box::pin(self.adispatch_traced::<Robust>(sender, args)).await;
        }
        if let Some(sent) = self.dispatch_unless_awaited::<Robust>(sender, args) {
            return sent;
        }
        Box::pin(self.adispatch_awaiting::<Robust>(sender, args)).await
    }

    /// A sync send in mode `M`, when the snapshot it reads has no receiver
    /// to await: an async send's path with only sync receivers. `None`
    /// otherwise, or before the first use.
    #[inline(always)]
    fn dispatch_unless_awaited<M: Mode<R>>(&self, sender: &S, args: &A) -> Option<M::Output> {
        if !self.may_have_receivers(sender) {
            return Some(M::nobody());
        }
        let pin = self.snapshot.load();
        match pin.get() {
            Some(snapshot) if !snapshot.awaits => Some(self.dispatch_read::<M>(pin, sender, args)),
            _ => None,
        }
    }

    /// The rest of an async send: a snapshot with a receiver to await.
    async fn adispatch_awaiting<M: Mode<R>>(&self, sender: &S, args: &A) -> M::Output {
        let (responses, failure) = self.adispatch_kept::<M>(sender, args).await;
        M::output(responses, failure)
    }

    /// An async send's receivers called on the snapshot it keeps: their
    /// outcomes, and the error that stopped the send, if one did.
    async fn adispatch_kept<M: Mode<R>>(
        &self,
        sender: &S,
        args: &A,
    ) -> (Responses<M::Item>, Option<SendError>) {
        let Some(mut kept) = self.kept_snapshot() else {
            return (Responses::new(), None);
        };
        // SAFETY: the plan and the receivers' futures, which borrow the
        // snapshot, are dropped before `kept`, declared before them.
        let snapshot = unsafe { kept.value() };
        let planned = snapshot.plan_awaited(sender);
        if planned.saw_dead() {
            self.purge_dead();
        }
        dispatch::call_awaited::<M, _, _, _>(&planned, sender, args, || kept.own()).await
    }

    /// A sync send inside a `signal.send` span, each receiver in a
    /// `signal.receiver` span (see `trace`).
    #[cfg(feature = "tracing-spans")]
    #[inline(never)]
    fn dispatch_traced<M: Mode<R>>(&self, kind: &'static str, sender: &S, args: &A) -> M::Output {
        if !self.snapshot.is_set() {
            self.initialize();
            if !self.may_have_receivers(sender) {
                return M::nobody();
            }
        }
        let span = crate::trace::send_span(self.name, kind, sender, self.describe_sender);
        let _entered = span.enter();
        let pin = self.snapshot.load();
        let Some(snapshot) = pin.get() else {
            return M::nobody();
        };
        let mut map_pin = None;
        let selection = snapshot.select(sender, &mut map_pin);
        let (responses, failure, saw_dead) =
            dispatch::call_selected::<M, _, _, _, true>(&selection, sender, args);
        drop(selection);
        drop(map_pin);
        drop(pin);
        if saw_dead {
            self.purge_dead();
        }
        record::<M, R>(&span, &responses, failure.as_ref());
        M::output(responses, failure)
    }

    /// An async send traced: with only sync receivers,
    /// [`dispatch_traced`](Self::dispatch_traced); else the whole send in
    /// one `signal.send` span.
    #[cfg(feature = "tracing-spans")]
    async fn adispatch_traced<M: Mode<R>>(&self, sender: &S, args: &A) -> M::Output {
        use tracing::Instrument;
        if !self.awaits_any() {
            return self.dispatch_traced::<M>(M::ASYNC, sender, args);
        }
        let span = crate::trace::send_span(self.name, M::ASYNC, sender, self.describe_sender);
        let (responses, failure) = self
            .adispatch_kept::<M>(sender, args)
            .instrument(span.clone())
            .await;
        record::<M, R>(&span, &responses, failure.as_ref());
        M::output(responses, failure)
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
    pub(crate) fn change<T>(&self, apply: impl FnOnce(&mut Registry<A, S, R>) -> (T, bool)) -> T {
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
    pub(crate) fn lock_initialized(&self) -> MutexGuard<'_, Registry<A, S, R>> {
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

/// Records a send's receivers and failures on its span: a send stopped by
/// an error called the receivers before the failure, and it.
#[cfg(feature = "tracing-spans")]
fn record<M: Mode<R>, R>(
    span: &tracing::Span,
    responses: &Responses<M::Item>,
    failure: Option<&SendError>,
) {
    let stopped = usize::from(failure.is_some());
    crate::trace::record(
        span,
        responses.len() + stopped,
        M::failures(responses) + stopped,
    );
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
