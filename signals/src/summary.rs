//! The sender summary: a 64-bit filter of the senders that have receivers, read
//! by every send and `has_listeners` before anything else.
//!
//! A sender whose bit is clear certainly has no receiver, so a miss costs one
//! atomic load and a hash. A set bit may be a false positive, which only sends
//! the caller on to the snapshot. The hash is therefore chosen for being small
//! enough to inline whole, not for its quality: a call to a general-purpose
//! hasher was most of a 15 ns miss.

use std::hash::{Hash, Hasher};

/// The summary of a signal with a receiver for any sender (and of one that has
/// not been initialized yet): every bit set.
pub(crate) const ANY_SENDER: u64 = u64::MAX;

/// The summary bit of one sender.
#[inline(always)]
pub(crate) fn sender_bit<S: Hash + ?Sized>(sender: &S) -> u64 {
    let mut hasher = SummaryHasher(SEED);
    sender.hash(&mut hasher);
    1 << (hasher.finish() >> 58)
}

const SEED: u64 = 0x5167_6e61_6c73_0001;
/// An odd constant with well-spread bits (from the golden ratio).
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes bytes by their length and at most their first and last eight, and
/// mixes only once, in `finish` (a multiplication, whose top bits, the ones
/// the summary uses, depend on every bit of the state). Two senders that
/// differ only in the middle of a long name share a bit, which costs nothing
/// but a look at the snapshot.
struct SummaryHasher(u64);

impl SummaryHasher {
    #[inline(always)]
    fn add(&mut self, word: u64) {
        self.0 = self.0.rotate_left(23) ^ word;
    }
}

impl Hasher for SummaryHasher {
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) {
        let len = bytes.len();
        let (head, tail) = if len >= 8 {
            (read_u64(&bytes[..8]), read_u64(&bytes[len - 8..]))
        } else if len >= 4 {
            (read_u32(&bytes[..4]), read_u32(&bytes[len - 4..]))
        } else if len > 0 {
            let spread = u64::from(bytes[0])
                | u64::from(bytes[len / 2]) << 8
                | u64::from(bytes[len - 1]) << 16;
            (spread, 0)
        } else {
            (0, 0)
        };
        self.add(head ^ tail.rotate_left(29) ^ (len as u64) << 56);
    }

    #[inline(always)]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline(always)]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline(always)]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline(always)]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(MULTIPLIER)
    }
}

#[inline(always)]
fn read_u64(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

#[inline(always)]
fn read_u32(bytes: &[u8]) -> u64 {
    let mut word = [0; 4];
    word.copy_from_slice(bytes);
    u64::from(u32::from_le_bytes(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_task_names_get_distinct_bits() {
        assert_ne!(sender_bit(&"tasks.add"), sender_bit(&"tasks.mul"));
        // The bits spread: 64 names of each shape set many distinct bits.
        for name in [
            |i: u32| format!("tasks.t{i}"),
            |i: u32| format!("w{i}@host"),
            |i: u32| format!("{i}"),
            |i: u32| format!("myapp.tasks.process_order_{i}"),
        ] {
            let bits = (0..64).fold(0u64, |acc, i| acc | sender_bit(&name(i)));
            assert!(bits.count_ones() > 30, "{bits:b}");
        }
        let numbers = (0..64u64).fold(0u64, |acc, i| acc | sender_bit(&i));
        assert!(numbers.count_ones() > 30, "{numbers:b}");
    }
}
