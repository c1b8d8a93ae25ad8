//! The field names the receiver and the cluster state read, known by number.
//!
//! A received event's fields are matched by name several times: the receiver
//! looks up `type`, `clock` and `timestamp`, the state picks out its six
//! required fields and then copies a task's or a worker's. Each of those was
//! a string comparison per field; the scanner now names each field once, and
//! the later passes compare a byte.

/// A field the receiver or the state reads, or [`Other`](Self::Other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FieldName {
    Other,
    Type,
    Uuid,
    Hostname,
    Timestamp,
    LocalReceived,
    Clock,
    Utcoffset,
    Pid,
    Name,
    Args,
    Kwargs,
    Eta,
    Expires,
    Retries,
    Result,
    Exception,
    Traceback,
    Runtime,
    Exchange,
    RoutingKey,
    Queue,
    RootId,
    ParentId,
    Freq,
    Active,
    Processed,
    Loadavg,
    SwIdent,
    SwVer,
    SwSys,
}

/// The known names and their variants, in one list: the classifier's
/// table is built from it.
macro_rules! known_names {
    ($($text:literal => $variant:ident,)*) => {
        /// The classifier's table, built at compile time.
        const TABLE: [Slot; SLOTS] = build(&[$(($text, FieldName::$variant),)*]);

        impl FieldName {
            /// Every known name, for the tests.
            #[cfg(test)]
            const NAMES: &'static [&'static str] = &[$($text,)*];
        }
    };
}

impl FieldName {
    /// How many there are, [`Other`](Self::Other) included.
    pub(crate) const COUNT: usize = Self::SwSys as usize + 1;

    /// The known name `name` is, if any.
    ///
    /// Every field of every event is named here, so this is a look in one
    /// slot of a table, not a string comparison per known name: the name is
    /// packed into its length and two machine words (which together are
    /// the whole name), the words hashed to a slot, and the slot's packed
    /// name compared with it.
    #[inline]
    pub(crate) fn of(name: &str) -> Self {
        let bytes = name.as_bytes();
        if !(SHORTEST..=LONGEST).contains(&bytes.len()) {
            return Self::Other;
        }
        let packed = pack(bytes);
        let slot = &TABLE[slot_of(&packed)];
        if slot.packed.first == packed.first
            && slot.packed.last == packed.last
            && slot.packed.len == packed.len
        {
            slot.name
        } else {
            Self::Other
        }
    }
}

known_names! {
    "type" => Type,
    "uuid" => Uuid,
    "hostname" => Hostname,
    "timestamp" => Timestamp,
    "local_received" => LocalReceived,
    "clock" => Clock,
    "utcoffset" => Utcoffset,
    "pid" => Pid,
    "name" => Name,
    "args" => Args,
    "kwargs" => Kwargs,
    "eta" => Eta,
    "expires" => Expires,
    "retries" => Retries,
    "result" => Result,
    "exception" => Exception,
    "traceback" => Traceback,
    "runtime" => Runtime,
    "exchange" => Exchange,
    "routing_key" => RoutingKey,
    "queue" => Queue,
    "root_id" => RootId,
    "parent_id" => ParentId,
    "freq" => Freq,
    "active" => Active,
    "processed" => Processed,
    "loadavg" => Loadavg,
    "sw_ident" => SwIdent,
    "sw_ver" => SwVer,
    "sw_sys" => SwSys,
}

/// The shortest and longest known names (`eta`, `local_received`): any
/// other length is [`FieldName::Other`] without a look at the bytes.
const SHORTEST: usize = 3;
const LONGEST: usize = 14;

/// A name packed: its length and two words that cover it.
#[derive(Clone, Copy)]
struct Packed {
    len: usize,
    first: u64,
    last: u64,
}

/// A name of 3 to 16 bytes (longer ones are not covered) packed as its
/// length and two words: the first and last eight bytes (four below eight,
/// the first three bytes below four). The words may overlap; with the
/// length they still fix every byte, so two names pack equal only when
/// they are equal.
#[inline(always)]
const fn pack(bytes: &[u8]) -> Packed {
    let len = bytes.len();
    let (first, last) = if len >= 8 {
        (word::<8>(bytes, 0), word::<8>(bytes, len - 8))
    } else if len >= 4 {
        (word::<4>(bytes, 0), word::<4>(bytes, len - 4))
    } else {
        (word::<3>(bytes, 0), 0)
    };
    Packed { len, first, last }
}

/// `N` bytes of `bytes` from `at`, little-endian.
#[inline(always)]
const fn word<const N: usize>(bytes: &[u8], at: usize) -> u64 {
    let mut buffer = [0u8; 8];
    // `copy_from_slice` is one load at run time (a loop of single bytes
    // was not merged into one); `split_at` keeps it usable in `const`.
    let (_, from) = bytes.split_at(at);
    let (taken, _) = from.split_at(N);
    let (into, _) = buffer.split_at_mut(N);
    into.copy_from_slice(taken);
    u64::from_le_bytes(buffer)
}

/// The table's size: a power of two, about twice the known names.
const SLOTS: usize = 64;

/// The multiplier of [`slot_of`]'s hash: one under which the 30 known names
/// fall into different slots (found by trying odd numbers; [`build`] fails
/// to compile if a name is added that shares a slot, and then another must
/// be found).
const MULTIPLIER: u64 = 0xf532_0b25_577e_b965;

/// The slot a packed name hashes to: a multiplicative hash of its words
/// and length, the top six bits.
#[inline(always)]
const fn slot_of(packed: &Packed) -> usize {
    let mixed = packed.first ^ packed.last.rotate_left(29) ^ packed.len as u64;
    (mixed.wrapping_mul(MULTIPLIER) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// A slot: the known name that hashes to it, or an empty slot (length 0,
/// which no name looked up has).
#[derive(Clone, Copy)]
struct Slot {
    packed: Packed,
    name: FieldName,
}

/// The table of the known names, each in its own slot.
const fn build(names: &[(&str, FieldName)]) -> [Slot; SLOTS] {
    let empty = Slot {
        packed: Packed {
            len: 0,
            first: 0,
            last: 0,
        },
        name: FieldName::Other,
    };
    let mut table = [empty; SLOTS];
    let mut index = 0;
    while index < names.len() {
        let (text, name) = names[index];
        let packed = pack(text.as_bytes());
        let slot = slot_of(&packed);
        assert!(
            table[slot].packed.len == 0,
            "two known field names share a slot: find another MULTIPLIER"
        );
        table[slot] = Slot { packed, name };
        index += 1;
    }
    table
}

impl FieldName {
    /// One bit per known name, for a set of them in a `u64`.
    pub(crate) const fn bit(self) -> u64 {
        1 << (self as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::FieldName;

    #[test]
    fn every_known_name_reads_back_and_has_its_own_bit() {
        let names = FieldName::NAMES;
        assert_eq!(names.len(), 30);
        assert_eq!(
            FieldName::COUNT,
            names.len() + 1,
            "COUNT counts every variant"
        );
        let mut bits = FieldName::Other.bit();
        for name in names {
            let known = FieldName::of(name);
            assert_ne!(known, FieldName::Other, "{name}");
            assert_eq!(bits & known.bit(), 0, "{name}");
            bits |= known.bit();
        }
        assert_eq!(FieldName::of("Type"), FieldName::Other);
        assert_eq!(FieldName::of(""), FieldName::Other);
        assert_eq!(FieldName::of("et"), FieldName::Other);
        assert_eq!(FieldName::of("local_receivedx"), FieldName::Other);
        assert_eq!(FieldName::of("local_receive\u{0}"), FieldName::Other);
    }

    /// The name a string is by plain comparison with every known name:
    /// variants follow `Other` in the list's order.
    fn by_comparison(name: &str) -> u8 {
        FieldName::NAMES
            .iter()
            .position(|known| *known == name)
            .map_or(0, |index| index as u8 + 1)
    }

    proptest::proptest! {
        #[test]
        fn the_packed_match_agrees_with_comparing_strings(
            known in proptest::sample::select(FieldName::NAMES),
            at in 0usize..16,
            byte in proptest::num::u8::ANY,
            cut in 0usize..16,
            other in "[a-z_]{0,16}",
        ) {
            // A known name, with one byte changed, cut short or lengthened,
            // and a string of the names' alphabet.
            let mut changed = known.as_bytes().to_vec();
            let at = at % changed.len();
            changed[at] = byte;
            let changed = String::from_utf8_lossy(&changed).into_owned();
            let cut = &known[..cut.min(known.len())];
            let longer = format!("{known}{}", other.get(..1).unwrap_or("s"));
            for name in [known, changed.as_str(), cut, longer.as_str(), other.as_str()] {
                proptest::prop_assert_eq!(FieldName::of(name) as u8, by_comparison(name), "{:?}", name);
            }
        }
    }
}
