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

impl FieldName {
    /// The known name `name` is, if any.
    #[inline]
    pub(crate) fn of(name: &str) -> Self {
        match name {
            "type" => Self::Type,
            "uuid" => Self::Uuid,
            "hostname" => Self::Hostname,
            "timestamp" => Self::Timestamp,
            "local_received" => Self::LocalReceived,
            "clock" => Self::Clock,
            "utcoffset" => Self::Utcoffset,
            "pid" => Self::Pid,
            "name" => Self::Name,
            "args" => Self::Args,
            "kwargs" => Self::Kwargs,
            "eta" => Self::Eta,
            "expires" => Self::Expires,
            "retries" => Self::Retries,
            "result" => Self::Result,
            "exception" => Self::Exception,
            "traceback" => Self::Traceback,
            "runtime" => Self::Runtime,
            "exchange" => Self::Exchange,
            "routing_key" => Self::RoutingKey,
            "queue" => Self::Queue,
            "root_id" => Self::RootId,
            "parent_id" => Self::ParentId,
            "freq" => Self::Freq,
            "active" => Self::Active,
            "processed" => Self::Processed,
            "loadavg" => Self::Loadavg,
            "sw_ident" => Self::SwIdent,
            "sw_ver" => Self::SwVer,
            "sw_sys" => Self::SwSys,
            _ => Self::Other,
        }
    }

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
        let names = [
            "type",
            "uuid",
            "hostname",
            "timestamp",
            "local_received",
            "clock",
            "utcoffset",
            "pid",
            "name",
            "args",
            "kwargs",
            "eta",
            "expires",
            "retries",
            "result",
            "exception",
            "traceback",
            "runtime",
            "exchange",
            "routing_key",
            "queue",
            "root_id",
            "parent_id",
            "freq",
            "active",
            "processed",
            "loadavg",
            "sw_ident",
            "sw_ver",
            "sw_sys",
        ];
        let mut bits = FieldName::Other.bit();
        for name in names {
            let known = FieldName::of(name);
            assert_ne!(known, FieldName::Other, "{name}");
            assert_eq!(bits & known.bit(), 0, "{name}");
            bits |= known.bit();
        }
        assert_eq!(FieldName::of("Type"), FieldName::Other);
        assert_eq!(FieldName::of(""), FieldName::Other);
    }
}
