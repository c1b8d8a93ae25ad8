//! The per-sender receiver cache (`use_caching`).
//!
//! Django caches, per sender, the list of receivers that match it, so a send skips
//! the filtering. Ours lives inside a snapshot: any change to the connections
//! publishes a new snapshot with an empty cache, which is the invalidation. Lookups
//! take no lock (the map is [`Published`]); a miss builds the route on the cold
//! path and publishes a copy of the map with it added.
//!
//! # Keyed by a hash, holding no sender
//!
//! Django's cache holds its senders weakly, so that caching never keeps one
//! alive. A generic sender has no weak form, so routes are keyed by a 64-bit hash
//! of the sender and hold no sender at all. A route for hash `h` lists the
//! receivers of any sender plus those connected for a sender that hashes to `h`,
//! and names one of the latter as its *witness*. A send whose sender equals the
//! witness's gets exactly the route (one comparison); any other sender with the
//! same hash, or a route whose receivers were connected for two different senders
//! of the same hash, is filtered instead: correct, slower, and as rare as a
//! 64-bit collision.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::ids::SharedIds;
use crate::invoke::Callee;
use crate::live::Live;
use crate::lock::lock;
use crate::publish::{Pin, Published};

/// Past this many distinct senders, new senders are filtered on each send instead
/// of cached, so a signal whose senders are unbounded (hostnames, ids) cannot grow
/// the cache without limit.
const MAX_CACHED_SENDERS: usize = 1024;

/// The cache's key for `sender`: a hash of all of it (unlike the summary's, which
/// reads only its ends), since two senders with one key share a route.
#[inline]
pub(crate) fn route_key<S: Hash + ?Sized>(sender: &S) -> u64 {
    ROUTE_HASH.hash_one(sender)
}

const ROUTE_HASH: foldhash::fast::FixedState =
    foldhash::fast::FixedState::with_seed(0x7369_676e_616c_7321);

/// The receivers of the senders with one key: their positions in the
/// snapshot and their ids.
pub(crate) struct Route<A, S, R> {
    pub(crate) indices: Box<[u32]>,
    pub(crate) ids: SharedIds,
    /// The receivers themselves when none is weak, for the send's fast path.
    pub(crate) strong: Option<Box<[Callee<A, S, R>]>>,
    /// Who the route is exact for (see the module docs).
    exact_for: ExactFor,
}

/// Which senders with the route's key get exactly the route's receivers.
#[derive(Clone, Copy)]
enum ExactFor {
    /// Every one: the route holds only receivers of any sender.
    Any,
    /// Those equal to the sender of the entry at this index, the one sender for
    /// which the route's sender-specific receivers were connected.
    EqualTo(u32),
    /// None: its receivers were connected for two different senders of one key.
    Nobody,
}

/// The key is already a hash: the map's table uses it as it is.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not called: the map's keys are `u64`s.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    #[inline(always)]
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type Map<A, S, R> = HashMap<u64, Arc<Route<A, S, R>>, BuildHasherDefault<KeyHasher>>;

/// A route found in the cache (borrowed from the map read with it) or just
/// resolved.
pub(crate) enum Routed<'g, A, S, R> {
    Cached(&'g Route<A, S, R>),
    Fresh(Arc<Route<A, S, R>>),
}

impl<A, S, R> std::ops::Deref for Routed<'_, A, S, R> {
    type Target = Route<A, S, R>;
    #[inline]
    fn deref(&self) -> &Route<A, S, R> {
        match self {
            Routed::Cached(route) => route,
            Routed::Fresh(route) => route,
        }
    }
}

/// A read of the route map, kept for as long as a send uses a route from it.
pub(crate) type MapPin<A, S, R> = Pin<Map<A, S, R>>;

pub(crate) struct SenderCache<A, S, R> {
    map: Published<Map<A, S, R>>,
    /// Serializes the (cold) writers of `map`.
    fill_lock: Mutex<()>,
}

impl<A: 'static, S: Eq + Hash + Clone + Send + 'static, R: 'static> SenderCache<A, S, R> {
    pub(crate) fn new() -> Self {
        Self {
            map: Published::new(Map::default()),
            fill_lock: Mutex::new(()),
        }
    }

    /// The receivers that accept `sender`, from the cache or resolved now;
    /// `None` when the route for its key is not exact for it (then the send
    /// filters). `pin` keeps the map read for as long as the route is used.
    #[inline(always)]
    pub(crate) fn route<'g>(
        &'g self,
        sender: &S,
        entries: &[Live<A, S, R>],
        pin: &'g mut Option<MapPin<A, S, R>>,
    ) -> Option<Routed<'g, A, S, R>> {
        let key = route_key(sender);
        let map = pin.insert(self.map.load());
        let routed = match map.get().and_then(|map| map.get(&key)) {
            Some(route) => Routed::Cached(route),
            None => Routed::Fresh(self.fill(key, entries)),
        };
        let exact = match routed.exact_for {
            ExactFor::Any => true,
            ExactFor::EqualTo(index) => entries[index as usize].sender.as_ref() == Some(sender),
            ExactFor::Nobody => false,
        };
        exact.then_some(routed)
    }

    /// Resolves the route of `key` and adds it to the map, unless the map is
    /// full or another send added it first.
    #[cold]
    #[inline(never)]
    fn fill(&self, key: u64, entries: &[Live<A, S, R>]) -> Arc<Route<A, S, R>> {
        let route = Arc::new(resolve(key, entries));
        let lock = lock(&self.fill_lock);
        let pin = self.map.load();
        let current = pin.get();
        if current.is_some_and(|map| map.len() < MAX_CACHED_SENDERS && !map.contains_key(&key)) {
            let mut map = current.cloned().unwrap_or_default();
            map.insert(key, Arc::clone(&route));
            let replaced = self.map.replace(map);
            drop(lock);
            // Freed here, or by the last send still reading it.
            drop(replaced);
        }
        route
    }
}

/// The route of the senders whose key is `key`.
fn resolve<A, S: Eq + Hash, R>(key: u64, entries: &[Live<A, S, R>]) -> Route<A, S, R> {
    let mut exact_for = ExactFor::Any;
    let mut indices = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(sender) = &entry.sender else {
            indices.push(index as u32);
            continue;
        };
        if entry.route_key != key {
            continue;
        }
        indices.push(index as u32);
        exact_for = match exact_for {
            ExactFor::Any => ExactFor::EqualTo(index as u32),
            ExactFor::EqualTo(witness)
                if entries[witness as usize].sender.as_ref() == Some(sender) =>
            {
                ExactFor::EqualTo(witness)
            }
            _ => ExactFor::Nobody,
        };
    }
    let ids = SharedIds::new(
        indices
            .iter()
            .map(|&index| entries[index as usize].id)
            .collect(),
    );
    let strong = indices
        .iter()
        .map(|&index| entries[index as usize].target.callee())
        .collect();
    Route {
        indices: indices.into_boxed_slice(),
        ids,
        strong,
        exact_for,
    }
}
