//! Events as they travel: what a dispatcher writes, what a consumer reads.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Free-form event fields, for [`EventDispatcher::send`](super::EventDispatcher::send).
///
/// They are written in the order the map iterates them: sorted by name, unless
/// your build turns on `serde_json`'s `preserve_order`, when it is insertion
/// order. Typed events ([`TaskSucceeded`](super::TaskSucceeded) and the rest)
/// are always written in Celery's order. JSON consumers, Celery's included, do
/// not depend on key order.
pub type Fields = Map<String, Value>;

/// The fields a dispatcher sets itself; free-form fields may not use them
/// (`timestamp` may be given, and is then kept).
pub(crate) const RESERVED_FIELDS: [&str; 5] = ["hostname", "utcoffset", "pid", "clock", "type"];

/// An event as a consumer sees it: the JSON object (a `serde_json` map, so its
/// fields iterate sorted by name unless your build turns on `serde_json`'s
/// `preserve_order`).
///
/// ```
/// use signals_celery::events::Event;
/// let events = Event::parse_body(br#"[{"uuid": "1", "type": "task-started", "clock": 4},
///                                     {"uuid": "2", "type": "task-started", "clock": 5}]"#).unwrap();
/// assert_eq!(events.len(), 2);
/// assert_eq!(events[1].kind(), Some("task-started"));
/// assert_eq!(events[1].clock(), Some(5));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event(Fields);

impl Event {
    /// Wraps a JSON object.
    pub fn from_fields(fields: Fields) -> Self {
        Self(fields)
    }

    /// Parses a message body: one event, or a list of them (a `.multi` message).
    pub fn parse_body(body: &[u8]) -> Result<Vec<Event>, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Body {
            One(Event),
            Many(Vec<Event>),
        }
        Ok(match serde_json::from_slice(body)? {
            Body::One(event) => vec![event],
            Body::Many(events) => events,
        })
    }

    /// The event type (`task-succeeded`, ...).
    pub fn kind(&self) -> Option<&str> {
        self.0.get("type")?.as_str()
    }

    /// The sender's node name.
    pub fn hostname(&self) -> Option<&str> {
        self.0.get("hostname")?.as_str()
    }

    /// The Lamport clock value (`None` for a blind event).
    pub fn clock(&self) -> Option<u64> {
        self.0.get("clock")?.as_u64()
    }

    /// Seconds since the Unix epoch, as the sender stamped it.
    pub fn timestamp(&self) -> Option<f64> {
        self.0.get("timestamp")?.as_f64()
    }

    /// The sender's offset from UTC, in hours west.
    pub fn utcoffset(&self) -> Option<f64> {
        self.0.get("utcoffset")?.as_f64()
    }

    /// The sender's process id.
    pub fn pid(&self) -> Option<u64> {
        self.0.get("pid")?.as_u64()
    }

    /// One field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }

    /// All fields.
    pub fn fields(&self) -> &Fields {
        &self.0
    }

    /// All fields, mutably (a receiver adjusts `clock` and `timestamp`).
    pub fn fields_mut(&mut self) -> &mut Fields {
        &mut self.0
    }

    /// The fields, by value.
    pub fn into_fields(self) -> Fields {
        self.0
    }

    /// The event as one of the typed events (or any type its fields fit).
    pub fn decode<E: DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        // Straight from the map: no copy of the fields.
        E::deserialize(&self.0)
    }
}

/// An event on its way out, as a [`Serializer`](super::Serializer) receives it.
/// Serialized as one map in Celery's key order: `hostname`, `utcoffset`, `pid`,
/// `clock`, the event's own fields, `timestamp` (unless the fields have one),
/// `type`.
#[derive(Debug, Serialize)]
pub struct OutgoingEvent<'a, F: ?Sized> {
    /// The sender's node name.
    pub hostname: &'a str,
    /// Hours west of UTC.
    pub utcoffset: f64,
    /// The sender's process id.
    pub pid: u32,
    /// The Lamport clock (`None`, sent as `null`, for a blind event).
    pub clock: Option<u64>,
    /// The event's own fields; they must serialize as a map.
    #[serde(flatten)]
    pub fields: &'a F,
    /// When it was sent, unless `fields` has its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: &'a str,
}

/// The group of an event type: the part before the first `-` (`task` for
/// `task-succeeded`).
///
/// ```
/// assert_eq!(signals_celery::events::group_from("task-succeeded"), "task");
/// assert_eq!(signals_celery::events::group_from("custom"), "custom");
/// ```
pub fn group_from(kind: &str) -> &str {
    kind.split_once('-').map_or(kind, |(group, _)| group)
}

/// The routing key of an event type: every `-` replaced by `.`.
///
/// ```
/// assert_eq!(signals_celery::events::routing_key_for("custom-my-event"), "custom.my.event");
/// ```
pub fn routing_key_for(kind: &str) -> String {
    kind.replace('-', ".")
}

/// Seconds since the Unix epoch, as Python's `time.time()`.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// This host's offset from UTC in hours west (UTC+2 gives -2.0), as Celery 5.7's
/// `utcoffset()`: a float, so UTC+5:30 gives -5.5.
///
/// Reading the local time zone takes a lock in the C library, so the answer is
/// kept for a minute (a daylight-saving change shows within a minute).
pub fn utcoffset() -> f64 {
    utcoffset_at(now())
}

/// [`utcoffset`] at `now` (seconds since the epoch), which the caller has read.
#[inline]
pub(crate) fn utcoffset_at(now: f64) -> f64 {
    static VALID_UNTIL: AtomicI64 = AtomicI64::new(i64::MIN);
    static SECONDS_EAST: AtomicI64 = AtomicI64::new(0);
    let now = now as i64;
    if now >= VALID_UNTIL.load(Ordering::Acquire) {
        SECONDS_EAST.store(local_seconds_east(now), Ordering::Release);
        VALID_UNTIL.store(now + 60, Ordering::Release);
    }
    let east = SECONDS_EAST.load(Ordering::Acquire);
    if east == 0 {
        0.0
    } else {
        -(east as f64) / 3600.0
    }
}

#[cfg(unix)]
fn local_seconds_east(now: i64) -> i64 {
    let time = now as libc::time_t;
    // SAFETY: `tm` is plain data that `localtime_r` fills; both pointers are valid
    // for the call, and `localtime_r` is the thread-safe variant.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&time, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff as i64
        }
    }
}

#[cfg(not(unix))]
fn local_seconds_east(_now: i64) -> i64 {
    0
}

/// The system's load averages over 1, 5 and 15 minutes, as a Celery worker's
/// heartbeats carry them (`loadavg`, rounded up to two places as Celery does);
/// `None` where the system does not report them.
///
/// ```
/// if let Some([one, five, fifteen]) = signals_celery::events::loadavg() {
///     assert!(one >= 0.0 && five >= 0.0 && fifteen >= 0.0);
/// }
/// ```
#[cfg(unix)]
pub fn loadavg() -> Option<[f64; 3]> {
    let mut averages = [0.0f64; 3];
    // SAFETY: `getloadavg` writes at most the 3 samples it is told of.
    let written = unsafe { libc::getloadavg(averages.as_mut_ptr(), 3) };
    (written == 3).then(|| averages.map(|load| (load * 100.0).ceil() / 100.0))
}

/// The system's load averages; `None` on this system.
#[cfg(not(unix))]
pub fn loadavg() -> Option<[f64; 3]> {
    None
}

/// Celery's anonymous node name: `gen<pid>@<host>`.
pub fn anon_nodename() -> String {
    format!("gen{}@{}", std::process::id(), host_name())
}

/// This machine's host name (from `gethostname(2)`, or the environment's
/// `HOSTNAME` / `COMPUTERNAME` if that is not UTF-8 or empty).
pub(crate) fn host_name() -> String {
    let name = gethostname::gethostname();
    match name.to_str() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => std::env::var("HOSTNAME")
            .or_else(|_| std::env::var("COMPUTERNAME"))
            .unwrap_or_else(|_| "localhost".to_owned()),
    }
}
