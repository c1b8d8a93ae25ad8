//! The per-sender receiver cache (`use_caching`).
//!
//! Django caches, per sender, the list of receivers that match it, so a send skips
//! the filtering. Ours lives inside a snapshot: any change to the connections
//! publishes a new snapshot with an empty cache, which is the invalidation. Lookups
//! take no lock (the map is published through a [`Cell`]); a miss builds the
//! entry on the cold path and publishes a copy of the map with it added.

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::publish::{Cell, Domain, ReadGuard};
use crate::receiver::{Callee, ReceiverId};
use crate::registry::{Live, Target};
use crate::summary::{sender_bit, QuickState};

/// Past this many distinct senders, new senders are filtered on each send instead
/// of cached, so a signal whose senders are unbounded (hostnames, ids) cannot grow
/// the cache without limit.
const MAX_CACHED_SENDERS: usize = 1024;

/// The receivers of one sender: their positions in the snapshot and their ids.
pub(crate) struct Route<A, S, R> {
    pub(crate) indices: Box<[u32]>,
    pub(crate) ids: Arc<[ReceiverId]>,
    /// The receivers themselves when none is weak, for the send's fast path.
    pub(crate) strong: Option<Box<[Callee<A, S, R>]>>,
}

type Map<A, S, R> = HashMap<S, Arc<Route<A, S, R>>, QuickState>;

/// A route found in the cache (borrowed for the read section) or just resolved.
pub(crate) enum Routed<'g, A, S, R> {
    Cached(&'g Route<A, S, R>),
    Fresh(Arc<Route<A, S, R>>),
}

impl<A, S, R> Deref for Routed<'_, A, S, R> {
    type Target = Route<A, S, R>;
    #[inline]
    fn deref(&self) -> &Route<A, S, R> {
        match self {
            Routed::Cached(route) => route,
            Routed::Fresh(route) => route,
        }
    }
}

pub(crate) struct SenderCache<A, S, R> {
    map: Cell<Map<A, S, R>>,
    /// Serializes the (cold) writers of `map`.
    fill_lock: Mutex<()>,
}

impl<A: 'static, S: Eq + Hash + Clone + Send + 'static, R: 'static> SenderCache<A, S, R> {
    pub(crate) fn new() -> Self {
        Self {
            map: Cell::new(Map::default()),
            fill_lock: Mutex::new(()),
        }
    }

    /// The receivers that accept `sender`, from the cache or resolved now.
    #[inline(always)]
    pub(crate) fn route<'g>(
        &'g self,
        sender: &S,
        entries: &[Live<A, S, R>],
        guard: &'g ReadGuard<'_>,
        domain: &Domain,
    ) -> Routed<'g, A, S, R> {
        match self.map.load(guard).and_then(|map| map.get(sender)) {
            Some(route) => Routed::Cached(route),
            None => Routed::Fresh(self.fill(sender, entries, guard, domain)),
        }
    }

    #[cold]
    #[inline(never)]
    fn fill(
        &self,
        sender: &S,
        entries: &[Live<A, S, R>],
        guard: &ReadGuard<'_>,
        domain: &Domain,
    ) -> Arc<Route<A, S, R>> {
        let bit = sender_bit(sender);
        let indices: Box<[u32]> = entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.accepts(sender, bit))
            .map(|(index, _)| index as u32)
            .collect();
        let ids = indices
            .iter()
            .map(|&index| entries[index as usize].id)
            .collect();
        let strong = indices
            .iter()
            .map(|&index| match &entries[index as usize].target {
                Target::Strong(target) => Some(Callee::new(Arc::clone(target))),
                Target::Weak(_) => None,
            })
            .collect();
        let route = Arc::new(Route {
            indices,
            ids,
            strong,
        });
        let lock = self.fill_lock.lock();
        let current = self.map.load(guard);
        let len = current.map_or(0, HashMap::len);
        if len < MAX_CACHED_SENDERS && current.is_some_and(|map| !map.contains_key(sender)) {
            let mut map = current.cloned().unwrap_or_default();
            map.insert(sender.clone(), Arc::clone(&route));
            // We are a reader ourselves, so nothing is freed here: the old map is
            // freed by the last reader out.
            let garbage = self.map.replace(domain, map);
            drop(lock);
            drop(garbage);
        }
        route
    }
}
