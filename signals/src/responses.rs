//! What a send returns: each receiver's identity with its response.

use std::fmt;
use std::ops::Deref;

use smallvec::SmallVec;

use crate::error::ReceiverError;
use crate::receiver::ReceiverId;

/// How many responses are held without a heap allocation. Most signals have one or
/// two receivers; past that the list moves to the heap like a `Vec`.
const INLINE: usize = 2;

/// The responses of [`Signal::send`](crate::Signal::send): each receiver's identity
/// and what it returned, in connection order.
///
/// Derefs to a slice; iterate it by value or by reference. Up to two responses are
/// held inline, so a send to one or two receivers allocates nothing.
///
/// ```
/// use signals::Signal;
/// let sig: Signal<u8, &'static str, u8> = Signal::new("double");
/// sig.connect(|_: &&str, n: &u8| n * 2);
/// let responses = sig.send("me", &4).unwrap();
/// assert_eq!(responses.len(), 1);
/// assert_eq!(responses[0].1, 8);
/// let values: Vec<u8> = responses.into_iter().map(|(_, value)| value).collect();
/// assert_eq!(values, [8]);
/// ```
pub struct Responses<T>(SmallVec<[(ReceiverId, T); INLINE]>);

/// Fills a [`Sink`]: the body of a send, generic over where responses go.
pub(crate) trait Fill<T> {
    type Output;
    fn fill<K: Sink<T>>(self, sink: &mut K) -> Self::Output;
}

/// The outcomes of [`Signal::send_robust`](crate::Signal::send_robust): each
/// receiver's identity and its result.
pub type RobustResponses<R> = Responses<Result<R, ReceiverError>>;

/// Where a send collects responses while it runs.
///
/// Sends to more than [`INLINE`] receivers collect into a plain `Vec` and hand its
/// buffer over at the end: pushing into a `SmallVec` (a branch on "spilled" per
/// push) measured twice the per-receiver cost of a `Vec` at 100 receivers.
pub(crate) trait Sink<T> {
    fn push(&mut self, id: ReceiverId, value: T);
}

impl<T> Sink<T> for Vec<(ReceiverId, T)> {
    #[inline(always)]
    fn push(&mut self, id: ReceiverId, value: T) {
        Vec::push(self, (id, value));
    }
}

impl<T> Sink<T> for SmallVec<[(ReceiverId, T); INLINE]> {
    #[inline(always)]
    fn push(&mut self, id: ReceiverId, value: T) {
        SmallVec::push(self, (id, value));
    }
}

impl<T> Responses<T> {
    #[inline]
    pub(crate) fn new() -> Self {
        Self(SmallVec::new())
    }

    /// Collects up to [`INLINE`] responses with no allocation, or more into a
    /// `Vec` of the right capacity. `fill` is instantiated for both sinks.
    #[inline]
    pub(crate) fn gather<F: Fill<T>>(expected: usize, fill: F) -> (Self, F::Output) {
        if expected <= INLINE {
            let mut sink = SmallVec::new();
            let output = fill.fill(&mut sink);
            (Self(sink), output)
        } else {
            let mut sink = Vec::with_capacity(expected);
            let output = fill.fill(&mut sink);
            (Self(SmallVec::from_vec(sink)), output)
        }
    }

    /// The responses as a `Vec`.
    pub fn into_vec(self) -> Vec<(ReceiverId, T)> {
        self.0.into_vec()
    }
}

impl<T> Deref for Responses<T> {
    type Target = [(ReceiverId, T)];
    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T> IntoIterator for Responses<T> {
    type Item = (ReceiverId, T);
    type IntoIter = smallvec::IntoIter<[(ReceiverId, T); INLINE]>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Responses<T> {
    type Item = &'a (ReceiverId, T);
    type IntoIter = std::slice::Iter<'a, (ReceiverId, T)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for Responses<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq<[(ReceiverId, T)]> for Responses<T> {
    fn eq(&self, other: &[(ReceiverId, T)]) -> bool {
        self[..] == *other
    }
}

impl<T: PartialEq> PartialEq<Vec<(ReceiverId, T)>> for Responses<T> {
    fn eq(&self, other: &Vec<(ReceiverId, T)>) -> bool {
        self[..] == other[..]
    }
}
