//! The per-sender receiver cache (`use_caching`).
//!
//! Django caches, per sender, the list of receivers that match it, so a send skips
//! the filtering. Ours lives inside a snapshot: any change to the connections
//! publishes a new snapshot with an empty cache, which is the invalidation. Lookups
//! are lock-free (an atomically swapped map); a miss builds the entry on the cold
//! path and swaps in a copy of the map with it added.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::registry::Live;

/// Past this many distinct senders, new senders are filtered on each send instead
/// of cached, so a signal whose senders are unbounded (hostnames, ids) cannot grow
/// the cache without limit.
const MAX_CACHED_SENDERS: usize = 1024;

type Indices = Arc<[u32]>;
type Map<S> = HashMap<S, Indices, foldhash::fast::RandomState>;

pub(crate) struct SenderCache<S> {
    map: ArcSwap<Map<S>>,
}

impl<S: Eq + Hash + Clone> SenderCache<S> {
    pub(crate) fn new() -> Self {
        Self {
            map: ArcSwap::from_pointee(Map::default()),
        }
    }

    /// Runs `f` with the positions of the receivers that accept `sender`.
    #[inline]
    pub(crate) fn with_indices<A, R, T>(
        &self,
        sender: &S,
        entries: &[Live<A, S, R>],
        f: impl FnOnce(&[u32]) -> T,
    ) -> T {
        let map = self.map.load();
        match map.get(sender) {
            Some(indices) => f(indices),
            None => f(&self.fill(sender, entries)),
        }
    }

    #[cold]
    #[inline(never)]
    fn fill<A, R>(&self, sender: &S, entries: &[Live<A, S, R>]) -> Indices {
        let indices: Indices = entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.accepts(sender))
            .map(|(index, _)| index as u32)
            .collect();
        if self.map.load().len() < MAX_CACHED_SENDERS {
            self.map.rcu(|map| {
                let mut map = Map::clone(map);
                map.insert(sender.clone(), Arc::clone(&indices));
                map
            });
        }
        indices
    }
}
