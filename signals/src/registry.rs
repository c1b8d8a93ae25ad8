//! The authoritative list of connections, changed under the signal's lock,
//! with the mutes in force; it builds the immutable snapshots that `send` reads
//! without a lock.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cache::{route_key, SenderCache};
use crate::ids::{ReceiverId, SharedIds};
use crate::introspect::{ConnectionInfo, Origin};
use crate::live::{Live, Target};
use crate::options::{ConnectOptions, Connection};
use crate::receiver::{Identity, Receiver};
use crate::retry::RetryPolicy;
use crate::snapshot::Snapshot;
use crate::summary::{sender_bit, ANY_SENDER};

/// Connection numbers, unique for the life of the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

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

/// What a [`Muted`](crate::Muted) guard mutes besides the whole signal: one connection, or
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

#[cfg(test)]
mod tests {
    use std::hash::{Hash, Hasher};

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

    /// A sender type whose senders all share one key, to force collisions.
    #[derive(Clone, PartialEq, Eq)]
    struct Colliding(&'static str);
    impl Hash for Colliding {
        fn hash<H: Hasher>(&self, state: &mut H) {
            0u8.hash(state);
        }
    }

    #[test]
    fn senders_sharing_a_key_are_filtered_not_mixed_up() {
        let mut registry: Registry<(), Colliding, &'static str> = Registry::new();
        for name in ["a", "b"] {
            let receiver = Receiver::new(move |_: &Colliding, _: &()| name);
            let _ = registry.connect(
                receiver,
                ConnectOptions::new().sender(Colliding(name)),
                crate::Origin::Runtime,
            );
        }
        let snapshot = registry.snapshot(true);
        let cache = snapshot.cache.as_ref().unwrap();
        let mut pin = None;
        assert!(
            cache
                .route(&Colliding("a"), &snapshot.entries, &mut pin)
                .is_none(),
            "receivers of two senders under one key: no route is exact"
        );

        let mut registry: Registry<(), Colliding, &'static str> = Registry::new();
        let receiver = Receiver::new(|_: &Colliding, _: &()| "a");
        let _ = registry.connect(
            receiver,
            ConnectOptions::new().sender(Colliding("a")),
            crate::Origin::Runtime,
        );
        let snapshot = registry.snapshot(true);
        let cache = snapshot.cache.as_ref().unwrap();
        let mut pin = None;
        let route = cache.route(&Colliding("a"), &snapshot.entries, &mut pin);
        assert_eq!(route.map(|route| route.indices.len()), Some(1));
        let mut pin = None;
        assert!(
            cache
                .route(&Colliding("z"), &snapshot.entries, &mut pin)
                .is_none(),
            "another sender with the witness's key"
        );
    }
}
