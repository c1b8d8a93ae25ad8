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

/// The outcomes of [`Signal::send_robust`](crate::Signal::send_robust): each
/// receiver's identity and its result.
pub type RobustResponses<R> = Responses<Result<R, ReceiverError>>;

impl<T> Responses<T> {
    #[inline]
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(SmallVec::with_capacity(capacity))
    }

    #[inline]
    pub(crate) fn new() -> Self {
        Self(SmallVec::new())
    }

    #[inline]
    pub(crate) fn push(&mut self, id: ReceiverId, response: T) {
        self.0.push((id, response));
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
