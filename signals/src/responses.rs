//! What a send returns: each receiver's identity with its response, and the
//! lists a send fills while it runs. Nothing here calls a receiver.

use std::fmt;
use std::ops::Index;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::error::ReceiverError;
use crate::ids::ReceiverId;

/// How many responses are held without a heap allocation. Most signals have one or
/// two receivers; past that the list moves to the heap like a `Vec`.
pub(crate) const INLINE: usize = 2;

/// How many ids a response list holds without a heap allocation when it cannot
/// share the signal's: one, which keeps the list small (copying the list out of
/// a send costs in proportion to its size, allocated or not).
const INLINE_IDS: usize = 1;

/// The responses of [`Signal::send`](crate::Signal::send): each receiver's identity
/// and what it returned, in connection order.
///
/// Index it for a response, iterate it for `(ReceiverId, response)` pairs (by value
/// or by reference), or read [`ids`](Self::ids) and [`values`](Self::values) as
/// slices.
///
/// A send allocates nothing for the list when there is at most one response.
/// Past one, the values stay inline up to two (and take no space at all when
/// zero-sized, such as `()`), and the ids are shared with the signal when they
/// are known ahead of the send (no sender filter, or the per-sender cache);
/// only a send through an uncached sender filter copies them to the heap.
///
/// ```
/// use signals::Signal;
/// let sig: Signal<u8, &'static str, u8> = Signal::new("double");
/// let id = sig.connect(|_: &&str, n: &u8| n * 2).id();
/// let responses = sig.send("me", &4).unwrap();
/// assert_eq!(responses.len(), 1);
/// assert_eq!(responses[0], 8);
/// assert_eq!(responses.ids(), [id]);
/// let pairs: Vec<_> = responses.into_iter().collect();
/// assert_eq!(pairs, [(id, 8)]);
/// ```
pub struct Responses<T> {
    ids: Ids,
    values: SmallVec<[T; INLINE]>,
}

/// The ids of a [`Responses`], one per value.
enum Ids {
    Own(SmallVec<[ReceiverId; INLINE_IDS]>),
    /// Shared with the snapshot (or its sender cache): exactly the receivers called.
    Shared(Arc<[ReceiverId]>),
}

impl Ids {
    #[inline]
    fn as_slice(&self) -> &[ReceiverId] {
        match self {
            Ids::Own(ids) => ids,
            Ids::Shared(ids) => ids,
        }
    }
}

/// The body of a send, generic over where responses go. It has no output of its
/// own (errors and flags go through references it holds), so the response list is
/// the only value returned.
pub(crate) trait Collect<T> {
    fn collect<K: Sink<T>>(self, sink: &mut K);
}

/// The outcomes of [`Signal::send_robust`](crate::Signal::send_robust): each
/// receiver's identity and its result.
pub type RobustResponses<R> = Responses<Result<R, ReceiverError>>;

/// Where a send collects responses while it runs.
pub(crate) trait Sink<T> {
    /// Adds the response of the receiver at `position` in the selection's ids.
    fn push(&mut self, position: usize, id: ReceiverId, value: T);
}

/// Collects up to [`INLINE`] responses with no allocation for the values; the
/// ids are shared if known ahead, else copied.
struct Few<T> {
    ids: SmallVec<[ReceiverId; INLINE_IDS]>,
    values: SmallVec<[T; INLINE]>,
}

impl<T> Sink<T> for Few<T> {
    #[inline(always)]
    fn push(&mut self, _position: usize, id: ReceiverId, value: T) {
        self.ids.push(id);
        self.values.push(value);
    }
}

/// Collects more responses into a plain `Vec` (pushing into a `SmallVec`, a branch
/// on "spilled" per push, measured twice the per-receiver cost at 100 receivers).
/// While the receivers called are exactly the known ids, no id is copied.
struct Many<'a, T> {
    known: Option<&'a Arc<[ReceiverId]>>,
    /// The ids, once they stop matching `known` (or when nothing is known).
    own: Option<Vec<ReceiverId>>,
    values: Vec<T>,
    /// How many receivers the send calls at most (`values.capacity()` is not it
    /// for zero-sized values).
    expected: usize,
}

impl<T> Sink<T> for Many<'_, T> {
    #[inline(always)]
    fn push(&mut self, position: usize, id: ReceiverId, value: T) {
        match &mut self.own {
            Some(own) => own.push(id),
            None if position == self.values.len() => {}
            None => self.diverge(id),
        }
        self.values.push(value);
    }
}

impl<T> Many<'_, T> {
    /// A receiver was skipped (a dead weak one): copy the ids so far and go on
    /// copying.
    #[cold]
    #[inline(never)]
    fn diverge(&mut self, id: ReceiverId) {
        let known = self.known_so_far();
        let mut own = Vec::with_capacity(self.expected);
        own.extend_from_slice(known);
        own.push(id);
        self.own = Some(own);
    }

    /// The known ids of the receivers called so far (none if nothing is known).
    fn known_so_far(&self) -> &[ReceiverId] {
        self.known.map_or(&[][..], |ids| &ids[..self.values.len()])
    }

    fn finish(mut self) -> Responses<T> {
        let ids = match (self.own.take(), self.known) {
            (Some(own), _) => Ids::Own(SmallVec::from_vec(own)),
            (None, Some(known)) if known.len() == self.values.len() => {
                Ids::Shared(Arc::clone(known))
            }
            // The send stopped early (its error is what the caller gets).
            (None, _) => Ids::Own(self.known_so_far().into()),
        };
        Responses {
            ids,
            values: SmallVec::from_vec(self.values),
        }
    }
}

impl<T> Responses<T> {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            ids: Ids::Own(SmallVec::new()),
            values: SmallVec::new(),
        }
    }

    /// Collects the responses of a send to at most `expected` receivers, whose
    /// ids are `known` ahead when the selection knows them: up to [`INLINE`]
    /// with no allocation, more into a `Vec`. `body` is instantiated for both
    /// sinks.
    #[inline(always)]
    pub(crate) fn collect<F: Collect<T>>(
        expected: usize,
        known: Option<&Arc<[ReceiverId]>>,
        body: F,
    ) -> Self {
        if expected <= INLINE {
            let mut sink = Few {
                ids: SmallVec::new(),
                values: SmallVec::new(),
            };
            body.collect(&mut sink);
            let ids = match known {
                Some(known) if known.len() == sink.values.len() => Ids::Shared(Arc::clone(known)),
                _ => Ids::Own(sink.ids),
            };
            Self {
                ids,
                values: sink.values,
            }
        } else {
            let mut sink = Many {
                known,
                own: known.is_none().then(|| Vec::with_capacity(expected)),
                values: Vec::with_capacity(expected),
                expected,
            };
            body.collect(&mut sink);
            sink.finish()
        }
    }

    /// The responses of a send that called every receiver whose ids are
    /// `ids`, sharing them.
    #[inline(always)]
    pub(crate) fn shared(ids: &Arc<[ReceiverId]>, values: SmallVec<[T; INLINE]>) -> Self {
        Self {
            ids: Ids::Shared(Arc::clone(ids)),
            values,
        }
    }

    /// The responses of a send that called every receiver whose ids are `ids`:
    /// one id is copied (cheaper than sharing, which costs two atomic updates),
    /// more are shared.
    #[inline(always)]
    pub(crate) fn complete(ids: &Arc<[ReceiverId]>, values: SmallVec<[T; INLINE]>) -> Self {
        let ids = match **ids {
            [id] => Ids::Own(SmallVec::from_buf([id])),
            _ => Ids::Shared(Arc::clone(ids)),
        };
        Self { ids, values }
    }

    /// The responses of an async send, gathered in call order.
    pub(crate) fn from_parts(
        ids: SmallVec<[ReceiverId; INLINE_IDS]>,
        values: SmallVec<[T; INLINE]>,
    ) -> Self {
        Self {
            ids: Ids::Own(ids),
            values,
        }
    }

    /// The response of a send to one receiver, whose id is copied (cheaper
    /// than sharing the signal's list, which costs two atomic updates).
    #[inline(always)]
    pub(crate) fn one(id: ReceiverId, value: T) -> Self {
        let mut values = SmallVec::new();
        values.push(value);
        Self {
            ids: Ids::Own(SmallVec::from_buf([id])),
            values,
        }
    }

    /// How many responses there are.
    #[inline]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no receiver responded.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The receivers' ids, in the order of [`values`](Self::values).
    #[inline]
    pub fn ids(&self) -> &[ReceiverId] {
        self.ids.as_slice()
    }

    /// The responses, in connection order.
    #[inline]
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// The `index`-th receiver's id and response.
    pub fn get(&self, index: usize) -> Option<(ReceiverId, &T)> {
        Some((*self.ids().get(index)?, self.values.get(index)?))
    }

    /// The `(id, response)` pairs, by reference.
    pub fn iter(&self) -> Iter<'_, T> {
        self.ids().iter().copied().zip(self.values.iter())
    }

    /// The responses alone, by value.
    pub fn into_values(self) -> smallvec::IntoIter<[T; INLINE]> {
        self.values.into_iter()
    }

    /// The `(id, response)` pairs as a `Vec`.
    pub fn into_vec(self) -> Vec<(ReceiverId, T)> {
        self.into_iter().collect()
    }
}

/// A list of responses being collected: inline or in a `Vec`, one loop for both.
pub(crate) trait Values<T> {
    /// Adds a value.
    ///
    /// # Safety
    ///
    /// Fewer values have been pushed than the list was made with room for:
    /// a send pushes one outcome per receiver, into a list sized for them all.
    unsafe fn push(&mut self, value: T);
    fn len(&self) -> usize;
}

impl<T> Values<T> for SmallVec<[T; INLINE]> {
    #[inline(always)]
    unsafe fn push(&mut self, value: T) {
        SmallVec::push(self, value);
    }
    #[inline(always)]
    fn len(&self) -> usize {
        SmallVec::len(self)
    }
}

/// A `Vec` filled in the room reserved for it, its count kept apart: `push`
/// on a `Vec` passes the list's address to its growth path, after which the
/// length went through memory around every receiver's call.
pub(crate) struct Reserved<T> {
    values: Vec<T>,
    filled: usize,
}

impl<T> Reserved<T> {
    /// Room for `capacity` values.
    #[inline(always)]
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            values: Vec::with_capacity(capacity),
            filled: 0,
        }
    }

    /// The values written, as a list.
    #[inline(always)]
    pub(crate) fn into_values(self) -> SmallVec<[T; INLINE]> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the list is moved
        // out of it once; its first `filled` slots were written by `push`, in
        // order, and no more were.
        let values = unsafe {
            let mut values = std::ptr::read(&this.values);
            values.set_len(this.filled);
            values
        };
        SmallVec::from_vec(values)
    }
}

impl<T> Values<T> for Reserved<T> {
    #[inline(always)]
    unsafe fn push(&mut self, value: T) {
        debug_assert!(
            self.filled < self.values.capacity(),
            "pushed past the room reserved"
        );
        // SAFETY: within the capacity (the caller's promise), and past the
        // values written so far, so nothing is overwritten.
        unsafe { self.values.as_mut_ptr().add(self.filled).write(value) };
        self.filled += 1;
    }
    #[inline(always)]
    fn len(&self) -> usize {
        self.filled
    }
}

impl<T> Drop for Reserved<T> {
    /// Drops the values written, when a panic ends the send midway.
    fn drop(&mut self) {
        // SAFETY: as in `into_values`.
        unsafe { self.values.set_len(self.filled) };
    }
}

/// The pairs of a [`Responses`], by reference.
pub type Iter<'a, T> =
    std::iter::Zip<std::iter::Copied<std::slice::Iter<'a, ReceiverId>>, std::slice::Iter<'a, T>>;

/// The pairs of a [`Responses`], by value.
pub struct IntoIter<T> {
    ids: Ids,
    position: usize,
    values: smallvec::IntoIter<[T; INLINE]>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = (ReceiverId, T);

    fn next(&mut self) -> Option<Self::Item> {
        let value = self.values.next()?;
        let id = self.ids.as_slice()[self.position];
        self.position += 1;
        Some((id, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("remaining", &self.values.len())
            .finish()
    }
}

impl<T> Index<usize> for Responses<T> {
    type Output = T;
    /// The `index`-th response; panics if out of bounds, like a slice.
    #[inline]
    fn index(&self, index: usize) -> &T {
        &self.values[index]
    }
}

impl<T> IntoIterator for Responses<T> {
    type Item = (ReceiverId, T);
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        IntoIter {
            ids: self.ids,
            position: 0,
            values: self.values.into_iter(),
        }
    }
}

impl<'a, T> IntoIterator for &'a Responses<T> {
    type Item = (ReceiverId, &'a T);
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for Responses<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq<[(ReceiverId, T)]> for Responses<T> {
    fn eq(&self, other: &[(ReceiverId, T)]) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other)
                .all(|((id, value), (other_id, other_value))| {
                    id == *other_id && value == other_value
                })
    }
}

impl<T: PartialEq> PartialEq<Vec<(ReceiverId, T)>> for Responses<T> {
    fn eq(&self, other: &Vec<(ReceiverId, T)>) -> bool {
        *self == other[..]
    }
}

impl<T: PartialEq> PartialEq for Responses<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ids() == other.ids() && self.values() == other.values()
    }
}
