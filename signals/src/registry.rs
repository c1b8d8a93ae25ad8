//! The authoritative list of connections, changed under the signal's lock, and the
//! immutable snapshots of it that `send` reads without one.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::cache::{route_key, MapPin, Routed, SenderCache};
use crate::ids::SharedIds;
use crate::introspect::{ConnectionInfo, Origin};
use crate::mute::MuteTarget;
use crate::options::{ConnectOptions, Connection};
use crate::receiver::{Callee, Identity, Invoke, Receiver, ReceiverId};
use crate::responses::INLINE;
use crate::retry::RetryPolicy;
use crate::summary::{sender_bit, ANY_SENDER};
use smallvec::SmallVec;

/// Connection numbers, unique for the life of the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

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

    fn is_alive(&self) -> bool {
        match self {
            Target::Strong(_) => true,
            Target::Weak(target) => target.strong_count() > 0,
        }
    }
}

/// What deduplicates connections (with the sender): Django's lookup key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Uid(Cow<'static, str>),
    Receiver(Identity),
}

impl Key {
    /// The key of a connection: its dispatch uid, taken out of `options`, or
    /// else the receiver's identity.
    fn of<A, S, R>(receiver: &Receiver<A, S, R>, options: &mut ConnectOptions<S>) -> Self {
        match options.dispatch_uid.take() {
            Some(uid) => Key::Uid(uid),
            None => Key::Receiver(receiver.identity),
        }
    }
}

/// One connection, as the registry keeps it.
struct Entry<A, S, R> {
    key: Key,
    sender: Option<S>,
    id: ReceiverId,
    target: Target<A, S, R>,
    /// Whether `asend` awaits the receiver (kept here since a weak one cannot
    /// be asked once it is gone).
    awaits: bool,
    /// Higher is called earlier; equal priorities keep connection order.
    priority: i32,
    /// The rest is kept for introspection only.
    retry: Option<RetryPolicy>,
    origin: Origin,
}

/// The connections of one signal, in call order: by priority, highest first,
/// then in connection order.
pub(crate) struct Registry<A, S, R> {
    entries: Vec<Entry<A, S, R>>,
    /// Whether the signal's link-time receivers have been connected.
    pub(crate) initialized: bool,
    /// How many mute guards of the whole signal are alive.
    muted: u32,
    /// The receivers muted one by one, with how many guards mute each.
    muted_receivers: Vec<(MuteTarget, u32)>,
}

impl<A, S, R> Registry<A, S, R>
where
    S: Eq,
{
    pub(crate) const fn new() -> Self {
        Self {
            entries: Vec::new(),
            initialized: false,
            muted: 0,
            muted_receivers: Vec::new(),
        }
    }

    /// How many connections there are (dead weak receivers included until
    /// purged).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds one mute of `target` (`None`: the whole signal).
    pub(crate) fn mute(&mut self, target: Option<MuteTarget>) {
        match target {
            None => self.muted += 1,
            Some(target) => match self.muted_receivers.iter_mut().find(|(t, _)| *t == target) {
                Some((_, count)) => *count += 1,
                None => self.muted_receivers.push((target, 1)),
            },
        }
    }

    /// Removes one mute of `target`, added by [`mute`](Self::mute).
    pub(crate) fn unmute(&mut self, target: Option<&MuteTarget>) {
        match target {
            None => self.muted = self.muted.saturating_sub(1),
            Some(target) => {
                if let Some(index) = self.muted_receivers.iter().position(|(t, _)| t == target) {
                    self.muted_receivers[index].1 -= 1;
                    if self.muted_receivers[index].1 == 0 {
                        self.muted_receivers.swap_remove(index);
                    }
                }
            }
        }
    }

    /// Whether the whole signal is muted.
    pub(crate) fn is_muted(&self) -> bool {
        self.muted > 0
    }

    /// Whether sends skip this entry: the signal or the receiver is muted.
    fn skips(&self, entry: &Entry<A, S, R>) -> bool {
        self.muted > 0
            || self
                .muted_receivers
                .iter()
                .any(|(target, _)| target.matches(entry.id, &entry.key))
    }

    /// What introspection shows of every connection, in call order.
    /// `describe` renders a sender filter.
    pub(crate) fn connections<T>(&self, describe: impl Fn(&S) -> T) -> Vec<ConnectionInfo<T>> {
        self.entries
            .iter()
            .map(|entry| ConnectionInfo {
                id: entry.id,
                dispatch_uid: match &entry.key {
                    Key::Uid(uid) => Some(uid.clone()),
                    Key::Receiver(_) => None,
                },
                sender: entry.sender.as_ref().map(&describe),
                weak: matches!(entry.target, Target::Weak(_)),
                alive: entry.target.is_alive(),
                retry: entry.retry,
                is_async: entry.awaits,
                priority: entry.priority,
                origin: entry.origin,
                muted: self.skips(entry),
            })
            .collect()
    }

    /// Makes room for `additional` more connections.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Whether nothing is connected.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops connections whose weak receiver is gone; true if any were.
    pub(crate) fn purge_dead(&mut self) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.target.is_alive());
        self.entries.len() != before
    }

    pub(crate) fn connect(
        &mut self,
        receiver: Receiver<A, S, R>,
        options: ConnectOptions<S>,
        origin: Origin,
    ) -> Connection
    where
        A: 'static,
        S: 'static,
        R: 'static,
    {
        self.purge_dead();
        let mut options = options;
        let key = Key::of(&receiver, &mut options);
        if let Some(existing) = self
            .entries
            .iter()
            .find(|entry| entry.key == key && entry.sender == options.sender)
        {
            return Connection {
                id: existing.id,
                added: false,
            };
        }
        self.push(receiver, options, key, origin)
    }

    /// Connects a receiver known not to be connected yet (no duplicate check, so
    /// connecting many at once stays linear: see `__private::connect_registered`).
    pub(crate) fn connect_new(
        &mut self,
        receiver: Receiver<A, S, R>,
        options: ConnectOptions<S>,
    ) -> Connection
    where
        A: 'static,
        S: 'static,
        R: 'static,
    {
        let mut options = options;
        let key = Key::of(&receiver, &mut options);
        self.push(receiver, options, key, Origin::LinkTime)
    }

    /// Adds a connection after every one of an equal or higher priority.
    fn push(
        &mut self,
        receiver: Receiver<A, S, R>,
        options: ConnectOptions<S>,
        key: Key,
        origin: Origin,
    ) -> Connection
    where
        A: 'static,
        S: 'static,
        R: 'static,
    {
        let id = ReceiverId::new(receiver.name, NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let awaits = receiver.target.is_async();
        let target = match options.retry {
            Some(policy) => {
                Target::Strong((receiver.retrying)(receiver.target, policy, receiver.name))
            }
            None if options.weak => Target::Weak(Arc::downgrade(&receiver.target)),
            None => Target::Strong(receiver.target),
        };
        let priority = options.priority;
        // From the end: connections in priority order (the usual case, and
        // the link-time receivers, sorted first) find their place at once.
        let index = self
            .entries
            .iter()
            .rposition(|entry| entry.priority >= priority)
            .map_or(0, |index| index + 1);
        self.entries.insert(
            index,
            Entry {
                key,
                sender: options.sender,
                id,
                target,
                awaits,
                priority,
                retry: options.retry,
                origin,
            },
        );
        Connection { id, added: true }
    }

    /// Removes the first connection with this key and sender; true if there was one.
    pub(crate) fn disconnect(&mut self, key: &Key, sender: Option<&S>) -> bool {
        self.purge_dead();
        self.remove_first(|entry| entry.key == *key && entry.sender.as_ref() == sender)
    }

    /// Removes the connection with this id; true if there was one.
    pub(crate) fn disconnect_id(&mut self, id: ReceiverId) -> bool {
        self.purge_dead();
        self.remove_first(|entry| entry.id == id)
    }

    fn remove_first(&mut self, matches: impl Fn(&Entry<A, S, R>) -> bool) -> bool {
        match self.entries.iter().position(matches) {
            Some(index) => {
                self.entries.remove(index);
                true
            }
            None => false,
        }
    }

    /// An immutable copy for `send` to read.
    pub(crate) fn snapshot(&self, use_caching: bool) -> Snapshot<A, S, R>
    where
        A: 'static,
        S: Clone + std::hash::Hash + Send + 'static,
        R: 'static,
    {
        // Sized up front: a filtered iterator has no exact length, and
        // growing the list by doubling moved the receivers' allocations
        // about, which measurably slowed sends to 100 receivers.
        let mut live = Vec::with_capacity(self.entries.len());
        live.extend(
            self.entries
                .iter()
                .filter(|entry| !self.skips(entry))
                .map(|entry| Live {
                    id: entry.id,
                    route_key: match &entry.sender {
                        Some(sender) if use_caching => route_key(sender),
                        _ => 0,
                    },
                    sender_bit: entry.sender.as_ref().map_or(ANY_SENDER, sender_bit),
                    sender: entry.sender.clone(),
                    target: entry.target.clone(),
                }),
        );
        let entries: Box<[Live<A, S, R>]> = live.into_boxed_slice();
        let strong = entries.iter().map(|entry| entry.target.callee()).collect();
        Snapshot {
            ids: SharedIds::new(entries.iter().map(|entry| entry.id).collect()),
            strong,
            filtered: entries.iter().any(|entry| entry.sender.is_some()),
            awaits: self
                .entries
                .iter()
                .any(|entry| entry.awaits && !self.skips(entry)),
            cache: use_caching.then(SenderCache::new),
            entries,
        }
    }
}

/// One connection, as `send` sees it.
pub(crate) struct Live<A, S, R> {
    pub(crate) id: ReceiverId,
    /// The sender's summary bit (every bit for any sender): entries for other
    /// senders are mostly told apart by it, without comparing senders.
    sender_bit: u64,
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

/// The connections at one moment. Replaced whole on every change, so a send in
/// progress keeps the list it started with, and the per-sender cache inside it is
/// invalidated by the replacement itself.
pub(crate) struct Snapshot<A, S, R> {
    pub(crate) entries: Box<[Live<A, S, R>]>,
    /// The entries' ids, shared by the responses of sends that call them all.
    pub(crate) ids: SharedIds,
    /// Every entry's receiver, in order, when all are held strongly (none is
    /// weak): what a send that calls them all walks, with nothing to check per
    /// receiver.
    pub(crate) strong: Option<Box<[Callee<A, S, R>]>>,
    /// Whether any connection has a sender filter (if none, no filtering is needed).
    pub(crate) filtered: bool,
    /// Whether any receiver is awaited by `asend` (an async one): if none,
    /// `asend` is `send`.
    pub(crate) awaits: bool,
    pub(crate) cache: Option<SenderCache<A, S, R>>,
}

impl<A, S, R> Snapshot<A, S, R>
where
    A: 'static,
    S: Eq + std::hash::Hash + Clone + Send + 'static,
    R: 'static,
{
    /// A 64-bit summary of the senders that have receivers, read before a send
    /// touches the snapshot: 0 when nothing is connected, every bit when some
    /// receiver takes any sender, else one bit per connected sender's hash.
    pub(crate) fn sender_summary(&self) -> u64 {
        // Each entry's bit is every bit for a receiver of any sender, so the
        // union is `ANY_SENDER` as soon as there is one.
        self.entries
            .iter()
            .fold(0, |summary, entry| summary | entry.sender_bit)
    }

    /// Whether some receiver of any sender is held strongly, so that every
    /// sender certainly has a live listener.
    pub(crate) fn listened_by_all(&self) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.sender.is_none() && matches!(entry.target, Target::Strong(_)))
    }

    /// The receivers of every send, when that is all of them (no sender filter)
    /// and none is weak: the send's fast path, decided with two loads.
    #[inline(always)]
    pub(crate) fn direct(&self) -> Option<Direct<'_, A, S, R>> {
        if self.filtered {
            return None;
        }
        Some(Direct {
            receivers: self.strong.as_deref()?,
            ids: &self.ids,
        })
    }

    /// The receivers a send from `sender` calls, in connection order.
    ///
    /// Always inlined: it decides between three loops, and the send path is
    /// cheaper when only the chosen one is left.
    #[inline(always)]
    pub(crate) fn select<'g>(
        &'g self,
        sender: &S,
        map_pin: &'g mut Option<MapPin<A, S, R>>,
    ) -> Selection<'g, A, S, R> {
        let plan = if !self.filtered {
            // Every receiver takes every sender: the cache would only cost a lookup.
            Plan::All(&self.ids)
        } else {
            match &self.cache {
                Some(cache) => match cache.route(sender, &self.entries, map_pin) {
                    Some(route) => Plan::Route(route),
                    None => Plan::Filter,
                },
                None => Plan::Filter,
            }
        };
        Selection {
            entries: &self.entries,
            strong: self.strong.as_deref(),
            plan,
        }
    }
}

impl<A, S, R> Snapshot<A, S, R>
where
    A: 'static,
    S: Eq + std::hash::Hash + Clone + Send + 'static,
    R: 'static,
{
    /// The receivers a send from `sender` calls, in connection order, held as
    /// an async send holds them across its awaits: borrowed from this
    /// snapshot, or upgraded from their weak references.
    pub(crate) fn plan_awaited(&self, sender: &S) -> Planned<'_, A, S, R> {
        // Every receiver, each held strongly: the snapshot's own list, with
        // nothing to copy.
        if let Some(Direct { receivers, ids }) = self.direct() {
            return Planned::Direct { receivers, ids };
        }
        let mut map_pin = None;
        let selection = self.select(sender, &mut map_pin);
        let mut receivers = SmallVec::with_capacity(selection.expected());
        let mut saw_dead = false;
        selection.for_each_index(sender, |index| {
            let entry = &self.entries[index];
            let held = match &entry.target {
                Target::Strong(target) => Held::Borrowed(&**target),
                Target::Weak(target) => match target.upgrade() {
                    Some(target) => Held::Upgraded(target),
                    None => {
                        saw_dead = true;
                        return;
                    }
                },
            };
            receivers.push((entry.id, held));
        });
        Planned::Listed {
            receivers,
            saw_dead,
        }
    }
}

/// The receivers of one async send, in call order (see
/// [`Snapshot::plan_awaited`]).
pub(crate) enum Planned<'g, A, S, R> {
    /// Every receiver of the snapshot, each held strongly by it.
    Direct {
        receivers: &'g [Callee<A, S, R>],
        ids: &'g SharedIds,
    },
    /// The receivers a sender filter chose, or the live ones where some are
    /// weak.
    Listed {
        /// Inline for the one or two receivers most signals have.
        receivers: SmallVec<[PlannedReceiver<'g, A, S, R>; INLINE]>,
        /// Whether a dead weak receiver was met.
        saw_dead: bool,
    },
}

impl<A, S, R> Planned<'_, A, S, R> {
    /// How many receivers the send calls.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Planned::Direct { receivers, .. } => receivers.len(),
            Planned::Listed { receivers, .. } => receivers.len(),
        }
    }

    /// The receiver at `position` in call order.
    #[inline]
    pub(crate) fn receiver(&self, position: usize) -> &dyn Invoke<A, S, R> {
        match self {
            Planned::Direct { receivers, .. } => receivers[position].get(),
            Planned::Listed { receivers, .. } => receivers[position].1.get(),
        }
    }

    /// The id of the receiver at `position`. Read only where needed: in a
    /// direct plan the ids are the thread's stripe copy, whose last line may
    /// hold the next stripe's count, which another thread writes (reading
    /// every id in the send loop made two threads 1.6 times one, not 2).
    #[inline]
    pub(crate) fn id(&self, position: usize) -> ReceiverId {
        match self {
            Planned::Direct { ids, .. } => ids.local()[position],
            Planned::Listed { receivers, .. } => receivers[position].0,
        }
    }

    /// The receivers' ids, when they are the snapshot's own (shared by the
    /// responses rather than copied).
    #[inline]
    pub(crate) fn shared_ids(&self) -> Option<&Arc<[ReceiverId]>> {
        match self {
            Planned::Direct { ids, .. } => Some(ids.local()),
            Planned::Listed { .. } => None,
        }
    }

    /// Whether a dead weak receiver was met.
    #[inline]
    pub(crate) fn saw_dead(&self) -> bool {
        matches!(self, Planned::Listed { saw_dead: true, .. })
    }
}

/// A receiver of an async send, with its id.
pub(crate) type PlannedReceiver<'g, A, S, R> = (ReceiverId, Held<'g, A, S, R>);

/// A receiver held for the length of an async send.
pub(crate) enum Held<'g, A, S, R> {
    /// Held strongly by the snapshot the send keeps.
    Borrowed(&'g dyn Invoke<A, S, R>),
    /// A weak receiver, upgraded for the send.
    Upgraded(Arc<dyn Invoke<A, S, R>>),
}

impl<A, S, R> Held<'_, A, S, R> {
    #[inline]
    pub(crate) fn get(&self) -> &dyn Invoke<A, S, R> {
        match self {
            Held::Borrowed(target) => *target,
            Held::Upgraded(target) => &**target,
        }
    }
}

/// What a send does with each receiver it calls.
///
/// A trait rather than a closure so that its method can be `#[inline(always)]`:
/// LLVM left a closure called from the three loops of [`Selection::for_each`] out
/// of line, a call per receiver.
pub(crate) trait Visit<A, S, R> {
    /// Handles the receiver at `position` in [`Selection::ids`]; `Break` stops the
    /// send.
    fn visit(
        &mut self,
        position: usize,
        id: ReceiverId,
        receiver: &dyn Invoke<A, S, R>,
    ) -> ControlFlow<()>;
}

/// The receivers of one send: a view of a snapshot, valid while its read guard is.
pub(crate) struct Selection<'g, A, S, R> {
    entries: &'g [Live<A, S, R>],
    /// The snapshot's receivers when none is weak (see [`Snapshot::strong`]).
    strong: Option<&'g [Callee<A, S, R>]>,
    plan: Plan<'g, A, S, R>,
}

/// The receivers of a send that calls every one of them, each held strongly: the
/// fast path.
pub(crate) struct Direct<'g, A, S, R> {
    pub(crate) receivers: &'g [Callee<A, S, R>],
    pub(crate) ids: &'g SharedIds,
}

/// How a [`Selection`] finds its receivers.
enum Plan<'g, A, S, R> {
    /// Every entry, whose ids are the snapshot's.
    All(&'g SharedIds),
    /// The entries the sender cache resolved for this sender.
    Route(Routed<'g, A, S, R>),
    /// The entries that accept the sender, found by filtering.
    Filter,
}

impl<'g, A, S: Eq + std::hash::Hash, R> Selection<'g, A, S, R> {
    /// The receivers as a plain list, when the send calls them all and none is
    /// weak.
    #[inline(always)]
    pub(crate) fn direct(&self) -> Option<Direct<'_, A, S, R>> {
        match &self.plan {
            Plan::All(ids) => Some(Direct {
                receivers: self.strong?,
                ids,
            }),
            Plan::Route(route) => Some(Direct {
                receivers: route.strong.as_deref()?,
                ids: &route.ids,
            }),
            Plan::Filter => None,
        }
    }

    /// How many receivers the send calls at most.
    #[inline]
    pub(crate) fn expected(&self) -> usize {
        match &self.plan {
            Plan::All(ids) => ids.len(),
            Plan::Route(route) => route.indices.len(),
            Plan::Filter => self.entries.len(),
        }
    }

    /// The ids of the receivers, in order, when they are known before the send
    /// (so a response list can share them instead of copying them one by one).
    #[inline]
    pub(crate) fn ids(&self) -> Option<&Arc<[ReceiverId]>> {
        match &self.plan {
            Plan::All(ids) => Some(ids.local()),
            Plan::Route(route) => Some(route.ids.local()),
            Plan::Filter => None,
        }
    }

    /// Calls `each` with the index in the snapshot's entries of every receiver
    /// the send calls, live or not, in order.
    pub(crate) fn for_each_index(&self, sender: &S, mut each: impl FnMut(usize)) {
        match &self.plan {
            Plan::All(_) => (0..self.entries.len()).for_each(each),
            Plan::Route(route) => route.indices.iter().for_each(|&index| each(index as usize)),
            Plan::Filter => {
                let bit = sender_bit(sender);
                for (index, entry) in self.entries.iter().enumerate() {
                    if entry.accepts(sender, bit) {
                        each(index);
                    }
                }
            }
        }
    }

    /// Calls `visit` with each live receiver's position in [`Self::ids`], its id
    /// and the receiver, until it breaks. Returns whether a dead weak receiver was
    /// seen.
    // Always inlined, as is `visit`: it is the send loop's body, and a call per
    // receiver would cost more than the rest of the loop.
    #[inline(always)]
    pub(crate) fn for_each(&self, sender: &S, visit: &mut impl Visit<A, S, R>) -> bool {
        match &self.plan {
            Plan::All(_) => visit_all(self.entries.iter().enumerate(), visit),
            Plan::Route(route) => visit_all(
                route
                    .indices
                    .iter()
                    .enumerate()
                    .map(|(position, &index)| (position, &self.entries[index as usize])),
                visit,
            ),
            Plan::Filter => {
                let bit = sender_bit(sender);
                visit_all(
                    self.entries
                        .iter()
                        .filter(|entry| entry.accepts(sender, bit))
                        .enumerate(),
                    visit,
                )
            }
        }
    }
}

#[inline(always)]
fn visit_all<'a, A: 'a, S: 'a, R: 'a>(
    entries: impl Iterator<Item = (usize, &'a Live<A, S, R>)>,
    visit: &mut impl Visit<A, S, R>,
) -> bool {
    let mut saw_dead = false;
    for (position, entry) in entries {
        let upgraded;
        let target: &dyn Invoke<A, S, R> = match &entry.target {
            Target::Strong(target) => &**target,
            Target::Weak(target) => match target.upgrade() {
                Some(target) => {
                    upgraded = target;
                    &*upgraded
                }
                None => {
                    saw_dead = true;
                    continue;
                }
            },
        };
        if visit.visit(position, entry.id, target).is_break() {
            break;
        }
    }
    saw_dead
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary_of(senders: &[Option<&'static str>]) -> u64 {
        let mut registry: Registry<(), &'static str, ()> = Registry::new();
        for (i, sender) in senders.iter().enumerate() {
            // Distinct capturing closures: none is deduplicated.
            let receiver = Receiver::new(move |_: &&str, _: &()| assert!(i < usize::MAX));
            let options = match sender {
                Some(sender) => ConnectOptions::new().sender(*sender),
                None => ConnectOptions::new(),
            };
            let _ = registry.connect(receiver, options, Origin::Runtime);
        }
        registry.snapshot(false).sender_summary()
    }

    #[test]
    fn a_summary_holds_its_senders_bits() {
        assert_eq!(
            summary_of(&[Some("tasks.add"), Some("tasks.mul")]),
            sender_bit(&"tasks.add") | sender_bit(&"tasks.mul")
        );
        assert_eq!(summary_of(&[Some("a"), None]), ANY_SENDER);
        assert_eq!(summary_of(&[None, Some("a")]), ANY_SENDER);
        assert_eq!(summary_of(&[]), 0);
    }
}
