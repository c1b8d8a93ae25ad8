//! The connections at one moment, as sends read them: which receivers a send
//! from a given sender calls, found without a lock. The snapshot finds the
//! receivers; the `dispatch` module calls them.

use std::ops::ControlFlow;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::cache::{MapPin, Routed, SenderCache};
use crate::ids::{ReceiverId, SharedIds};
use crate::invoke::{Callee, Invoke};
use crate::live::{Live, Target};
use crate::responses::INLINE;
use crate::summary::sender_bit;

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

/// What a send does with each receiver the selection walks to (the
/// `dispatch` module's loops call it).
///
/// A trait rather than a closure so that its method can be `#[inline(always)]`:
/// LLVM left a closure called from the three loops of [`Selection::walk`] out
/// of line, a call per receiver.
pub(crate) trait Walk<A, S, R> {
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

impl<'g, A, S, R> Direct<'g, A, S, R> {
    /// The receiver and its id, when there is exactly one: the send that
    /// builds its list only after the read ends.
    #[inline(always)]
    pub(crate) fn one(&self) -> Option<(&'g Callee<A, S, R>, ReceiverId)> {
        match (self.receivers, self.ids.first) {
            ([receiver], Some(id)) => Some((receiver, id)),
            _ => None,
        }
    }
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

    /// Whether a send from `sender` would call a live receiver, and whether a
    /// dead weak receiver was met on the way.
    pub(crate) fn any_live(&self, sender: &S) -> (bool, bool) {
        let mut found = AnyLive(false);
        let saw_dead = self.walk(sender, &mut found);
        (found.0, saw_dead)
    }

    /// Hands `visit` each live receiver's position in [`Self::ids`], its id
    /// and the receiver (a weak one upgraded), until it breaks. Returns whether
    /// a dead weak receiver was seen.
    // Always inlined, as is `visit`: it is the send loop's body, and a call per
    // receiver would cost more than the rest of the loop.
    #[inline(always)]
    pub(crate) fn walk(&self, sender: &S, visit: &mut impl Walk<A, S, R>) -> bool {
        match &self.plan {
            Plan::All(_) => walk_entries(self.entries.iter().enumerate(), visit),
            Plan::Route(route) => walk_entries(
                route
                    .indices
                    .iter()
                    .enumerate()
                    .map(|(position, &index)| (position, &self.entries[index as usize])),
                visit,
            ),
            Plan::Filter => {
                let bit = sender_bit(sender);
                walk_entries(
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

/// Finds whether a send would call anyone.
struct AnyLive(bool);

impl<A, S, R> Walk<A, S, R> for AnyLive {
    #[inline(always)]
    fn visit(&mut self, _: usize, _: ReceiverId, _: &dyn Invoke<A, S, R>) -> ControlFlow<()> {
        self.0 = true;
        ControlFlow::Break(())
    }
}

/// Hands `visit` each live entry of `entries` (a weak receiver upgraded for
/// the call), until it breaks; returns whether a dead one was met.
#[inline(always)]
fn walk_entries<'a, A: 'a, S: 'a, R: 'a>(
    entries: impl Iterator<Item = (usize, &'a Live<A, S, R>)>,
    visit: &mut impl Walk<A, S, R>,
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
