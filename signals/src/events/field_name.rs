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
/// constants and its match are generated from it.
macro_rules! known_names {
    ($($text:literal => $variant:ident,)*) => {
        /// Each known name packed by [`pack`], for the classifier's match.
        #[allow(non_upper_case_globals)]
        mod packed {
            $(pub(super) const $variant: (usize, u128) = super::pack($text.as_bytes());)*
        }

        impl FieldName {
            /// The known name `name` is, if any.
            ///
            /// Every field of every event is named here, so this is one
            /// match on two machine words, not a string comparison per known
            /// name: the name's length and its bytes loaded as two (possibly
            /// overlapping) words, which together are the whole name.
            #[inline]
            pub(crate) fn of(name: &str) -> Self {
                let bytes = name.as_bytes();
                if !(SHORTEST..=LONGEST).contains(&bytes.len()) {
                    return Self::Other;
                }
                match pack(bytes) {
                    $(packed::$variant => Self::$variant,)*
                    _ => Self::Other,
                }
            }

            /// Every known name, for the tests.
            #[cfg(test)]
            const NAMES: &'static [&'static str] = &[$($text,)*];
        }
    };
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

/// A name of 3 to 16 bytes (longer ones are not covered) as its length and two words that cover it: the
/// first and last eight bytes (four below eight, the first three bytes
/// below four). The words may overlap; with the length they still fix
/// every byte, so two names pack equal only when they are equal.
const fn pack(bytes: &[u8]) -> (usize, u128) {
    let len = bytes.len();
    let (first, last) = if len >= 8 {
        (word::<8>(bytes, 0), word::<8>(bytes, len - 8))
    } else if len >= 4 {
        (word::<4>(bytes, 0), word::<4>(bytes, len - 4))
    } else {
        (word::<3>(bytes, 0), 0)
    };
    (len, first as u128 | (last as u128) << 64)
}

/// `N` bytes of `bytes` from `at`, little-endian.
#[inline(always)]
const fn word<const N: usize>(bytes: &[u8], at: usize) -> u64 {
    let mut value = 0u64;
    let mut i = 0;
    while i < N {
        value |= (bytes[at + i] as u64) << (8 * i);
        i += 1;
    }
    value
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
