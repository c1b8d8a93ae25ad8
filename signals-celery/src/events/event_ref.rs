//! Events read straight from a message's text: each field's name and its value
//! as a slice of the body, decoded only when something asks for it.
//!
//! The receiver used to parse every event into a [`serde_json::Value`] map: a
//! string allocated per key and per value, a hashed insert per field, and the
//! map dropped again. Here a message is scanned once into (name, raw value)
//! pairs that borrow the body; the standard fields the receiver adjusts are
//! kept beside them as numbers, and typed handlers, the cluster state and
//! borrowed handlers read what they need from the slices. A raw handler still
//! gets an owned [`Event`], built once per event only when one is registered.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde_json::Value;

use super::event::{Event, Fields};
use super::field_name::FieldName;
use super::scan::ScannedBody;

/// One field of a received event, as a view of its value: JSON text from the
/// message, a value of an owned [`Event`], or a number the receiver set
/// (`clock`, `timestamp`, `local_received`).
///
/// ```
/// # use signals_celery::events::{EventReceiver, MemoryTransport, EventDispatcher, TaskSucceeded};
/// # use std::sync::{Arc, Mutex};
/// # let mut broker = MemoryTransport::new();
/// # let dispatcher = EventDispatcher::builder(broker.clone()).hostname("w1@host").build();
/// # dispatcher.send_event(&TaskSucceeded { uuid: "42".into(), result: "'ok'".into(), runtime: 0.5 }).unwrap();
/// let seen = Arc::new(Mutex::new(None));
/// let log = seen.clone();
/// let receiver = EventReceiver::builder()
///     .handler_ref("task-succeeded", move |event| {
///         let result = event.get("result").and_then(|v| v.as_str()).map(|s| s.into_owned());
///         let runtime = event.get("runtime").and_then(|v| v.as_f64());
///         *log.lock().unwrap() = Some((result, runtime, event.get("result").unwrap().json().into_owned()));
///     })
///     .build();
/// receiver.capture(&mut broker, Some(1), None);
/// let (result, runtime, json) = seen.lock().unwrap().clone().unwrap();
/// assert_eq!((result.as_deref(), runtime), (Some("'ok'"), Some(0.5)));
/// assert_eq!(json, r#""'ok'""#); // the JSON text, as sent
/// ```
#[derive(Clone, Copy)]
pub struct FieldRef<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    /// JSON text that the scan found well formed.
    Raw(&'a str),
    Json(&'a Value),
    Unsigned(u64),
    Float(f64),
}

impl<'a> FieldRef<'a> {
    pub(crate) fn raw(raw: &'a str) -> Self {
        Self(Repr::Raw(raw))
    }

    pub(crate) fn of_value(value: &'a Value) -> Self {
        Self(Repr::Json(value))
    }

    /// The value as text, if it is a JSON string: borrowed from the message
    /// unless it had escapes to undo.
    #[inline]
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        match self.0 {
            Repr::Raw(raw) => raw_str(raw),
            Repr::Json(value) => value.as_str().map(Cow::Borrowed),
            Repr::Unsigned(_) | Repr::Float(_) => None,
        }
    }

    /// The value as a float, if it is a JSON number.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        match self.0 {
            Repr::Raw(raw) => number_text(raw)?.parse().ok(),
            Repr::Json(value) => value.as_f64(),
            Repr::Unsigned(n) => Some(n as f64),
            Repr::Float(x) => Some(x),
        }
    }

    /// The value as an unsigned integer, if it is a JSON integer that fits.
    #[inline]
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            // Rust reads "-0" as 0; serde_json reads it as a float.
            Repr::Raw(raw) => number_text(raw)
                .filter(|text| !text.starts_with('-'))?
                .parse()
                .ok(),
            Repr::Json(value) => value.as_u64(),
            Repr::Unsigned(n) => Some(n),
            Repr::Float(_) => None,
        }
    }

    /// The value as a signed integer, if it is a JSON integer that fits.
    #[inline]
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            // serde_json reads "-0" as the float -0.0, not an integer.
            Repr::Raw(raw) => number_text(raw).filter(|text| *text != "-0")?.parse().ok(),
            Repr::Json(value) => value.as_i64(),
            Repr::Unsigned(n) => i64::try_from(n).ok(),
            Repr::Float(_) => None,
        }
    }

    /// The value's text as Celery's `State` keeps it on a task: a string as
    /// is, `null` as nothing, anything else as its compact JSON text,
    /// however the sender spaced it.
    ///
    /// ```
    /// use signals_celery::events::EventRef;
    ///
    /// EventRef::scan_body(br#"{"type": "task-sent", "name": "add", "eta": null, "args": [1,  2]}"#, |event| {
    ///     assert_eq!(event.get("name").unwrap().as_text().as_deref(), Some("add"));
    ///     assert_eq!(event.get("eta").unwrap().as_text(), None);
    ///     assert_eq!(event.get("args").unwrap().as_text().as_deref(), Some("[1,2]"));
    /// })?;
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn as_text(&self) -> Option<Cow<'a, str>> {
        if self.is_null() {
            None
        } else if let Some(text) = self.as_str() {
            Some(text)
        } else {
            Some(Cow::Owned(self.to_value().to_string()))
        }
    }

    /// Whether the value is a JSON number, without reading it (a field read
    /// from a message was checked to be well-formed JSON already).
    ///
    /// ```
    /// use signals_celery::events::EventRef;
    ///
    /// EventRef::scan_body(br#"{"type": "task-started", "timestamp": 1.5e9, "pid": "7"}"#, |event| {
    ///     assert!(event.get("timestamp").unwrap().is_number());
    ///     assert!(!event.get("pid").unwrap().is_number());
    /// })?;
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[inline]
    pub fn is_number(&self) -> bool {
        match self.0 {
            Repr::Raw(raw) => number_text(raw).is_some(),
            Repr::Json(value) => value.is_number(),
            Repr::Unsigned(_) | Repr::Float(_) => true,
        }
    }

    /// Whether the value is JSON `null`.
    #[inline]
    pub fn is_null(&self) -> bool {
        match self.0 {
            Repr::Raw(raw) => raw == "null",
            Repr::Json(value) => value.is_null(),
            Repr::Unsigned(_) | Repr::Float(_) => false,
        }
    }

    /// The value as JSON text: as it was sent, for a field read from a message.
    pub fn json(&self) -> Cow<'a, str> {
        match self.0 {
            Repr::Raw(raw) => Cow::Borrowed(raw),
            Repr::Json(value) => Cow::Owned(value.to_string()),
            Repr::Unsigned(_) | Repr::Float(_) => Cow::Owned(self.to_value().to_string()),
        }
    }

    /// The value, parsed.
    pub fn to_value(&self) -> Value {
        match self.0 {
            // Text the message's parser accepted is JSON: this cannot fail.
            Repr::Raw(raw) => serde_json::from_str(raw).unwrap_or(Value::Null),
            Repr::Json(value) => value.clone(),
            Repr::Unsigned(n) => n.into(),
            Repr::Float(x) => x.into(),
        }
    }

    /// The value read as `T`.
    pub fn decode<T: de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(*self)
    }
}

impl fmt::Debug for FieldRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json())
    }
}

/// The inside of a JSON string literal, without copying it when it has no
/// escapes (the parser already checked it is a well-formed string).
fn raw_str(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// `text` if it is a JSON number. Rust's number parsers accept a superset of
/// JSON's number grammar and round as serde_json does, so the number reads
/// the same either way.
fn number_text(text: &str) -> Option<&str> {
    matches!(text.as_bytes().first(), Some(b'-' | b'0'..=b'9')).then_some(text)
}

/// Forwards each of serde's `deserialize_*` methods to the deserializer of
/// the representation at hand, so a type reads a field exactly as it would
/// read the same JSON from serde_json.
macro_rules! forward_to_repr {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            match self.0 {
                Repr::Raw(raw) => serde_json::Deserializer::from_str(raw).$method($($arg,)* visitor),
                Repr::Json(value) => value.$method($($arg,)* visitor),
                Repr::Unsigned(n) => Value::from(n).$method($($arg,)* visitor),
                Repr::Float(x) => Value::from(x).$method($($arg,)* visitor),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for FieldRef<'de> {
    type Error = serde_json::Error;

    forward_to_repr! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for FieldRef<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// What an event's fields look like to the code that reads them: the
/// receiver's borrowed [`EventRef`] and an owned [`Event`] alike, so the
/// cluster state has one set of rules for both.
pub(crate) trait EventFields {
    /// Every field, in the order sent, with its name if it is a known one.
    fn each_field<'s>(&'s self, f: impl FnMut(FieldName, FieldRef<'s>));
}

impl EventFields for Event {
    fn each_field<'s>(&'s self, mut f: impl FnMut(FieldName, FieldRef<'s>)) {
        for (name, value) in self.fields() {
            f(FieldName::of(name), FieldRef::of_value(value));
        }
    }
}

/// A field as the scanner found it: its name (borrowed unless it had
/// escapes), which known name that is, and its value's JSON text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScannedField<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) known: FieldName,
    pub(crate) value: &'a str,
}

/// A received event, borrowed from the message it came in: what a
/// [`handler_ref`](super::EventReceiverBuilder::handler_ref) is given.
///
/// `clock`, `timestamp` and `local_received` read as the receiver adjusted
/// them (Celery's clock rules, the timestamp localized); every other field
/// reads as sent, decoded when asked for. Nothing is copied until then.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use signals_celery::events::{EventDispatcher, EventReceiver, MemoryTransport, TaskSucceeded};
///
/// let mut broker = MemoryTransport::new();
/// let dispatcher = EventDispatcher::builder(broker.clone()).hostname("w1@host").build();
/// dispatcher.send_event(&TaskSucceeded { uuid: "42".into(), result: "4".into(), runtime: 0.5 })?;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let receiver = EventReceiver::builder()
///     .handler_ref("*", move |event| {
///         let typed: TaskSucceeded = event.decode().unwrap();
///         log.lock().unwrap().push((event.kind().to_string(), event.clock(), typed.uuid));
///     })
///     .build();
/// receiver.capture(&mut broker, Some(1), None);
/// assert_eq!(*seen.lock().unwrap(), [("task-succeeded".to_string(), Some(1), "42".to_string())]);
/// # Ok::<(), signals_celery::events::EventError>(())
/// ```
#[derive(Clone, Copy)]
pub struct EventRef<'a> {
    kind: &'a str,
    fields: &'a [ScannedField<'a>],
    clock: Option<u64>,
    timestamp: Option<f64>,
    local_received: Option<f64>,
}

impl<'a> EventRef<'a> {
    /// An event of type `kind` with these fields as sent and the receiver's
    /// values of `clock`, `timestamp` (localized; `None`: as sent) and
    /// `local_received`.
    pub(crate) fn received(
        kind: &'a str,
        fields: &'a [ScannedField<'a>],
        clock: u64,
        timestamp: Option<f64>,
        local_received: f64,
    ) -> Self {
        Self {
            kind,
            fields,
            clock: Some(clock),
            timestamp,
            local_received: Some(local_received),
        }
    }

    /// An event of type `kind` with these fields, all as sent.
    pub(crate) fn as_sent(kind: &'a str, fields: &'a [ScannedField<'a>]) -> Self {
        Self {
            kind,
            fields,
            clock: None,
            timestamp: None,
            local_received: None,
        }
    }

    /// Reads a message body (one event, or a `.multi` list of them) and
    /// calls `each` with every event in it, borrowed and as sent: nothing
    /// adjusted, no receiver involved. For a transport of your own, or
    /// recorded events. Elements that are not objects with a string `type`
    /// are skipped; returns how many events `each` saw.
    ///
    /// ```
    /// use signals_celery::events::{EventRef, State};
    ///
    /// let state = State::new();
    /// let body = br#"[{"type": "worker-online", "hostname": "w1", "timestamp": 100.0, "local_received": 100.0},
    ///                 {"type": "task-started", "uuid": "42", "hostname": "w1", "timestamp": 101.0,
    ///                  "local_received": 101.0, "clock": 3}]"#;
    /// let seen = EventRef::scan_body(body, |event| {
    ///     state.apply_ref(event);
    /// })?;
    /// assert_eq!(seen, 2);
    /// assert_eq!(state.task("42").unwrap().worker.as_deref(), Some("w1"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn scan_body(
        body: &[u8],
        mut each: impl FnMut(&EventRef<'_>),
    ) -> Result<usize, serde_json::Error> {
        let scanned = ScannedBody::scan(body)?;
        let mut seen = 0;
        for index in 0..scanned.len() {
            let Ok(fields) = scanned.element(index) else {
                continue;
            };
            let Some(kind) = fields.get(FieldName::Type).and_then(|kind| kind.as_str()) else {
                continue;
            };
            each(&fields.as_sent(&kind));
            seen += 1;
        }
        Ok(seen)
    }

    /// The event type (`task-succeeded`, ...).
    pub fn kind(&self) -> &'a str {
        self.kind
    }

    /// The sender's node name.
    pub fn hostname(&self) -> Option<Cow<'a, str>> {
        self.known(FieldName::Hostname)?.as_str()
    }

    /// The Lamport clock value, as the receiver adjusted it.
    pub fn clock(&self) -> Option<u64> {
        self.known(FieldName::Clock)?.as_u64()
    }

    /// When it was sent, seconds since the epoch, localized.
    pub fn timestamp(&self) -> Option<f64> {
        self.known(FieldName::Timestamp)?.as_f64()
    }

    /// The sender's offset from UTC, in hours west.
    pub fn utcoffset(&self) -> Option<f64> {
        self.known(FieldName::Utcoffset)?.as_f64()
    }

    /// The sender's process id.
    pub fn pid(&self) -> Option<u64> {
        self.known(FieldName::Pid)?.as_u64()
    }

    /// When this process received it, seconds since the epoch.
    pub fn local_received(&self) -> Option<f64> {
        self.known(FieldName::LocalReceived)?.as_f64()
    }

    /// One field: the receiver's value for `clock`, `timestamp` and
    /// `local_received`, the value as sent for the others.
    pub fn get(&self, name: &str) -> Option<FieldRef<'a>> {
        match FieldName::of(name) {
            FieldName::Other => self
                .fields
                .iter()
                .find(|field| field.name == name)
                .map(|field| FieldRef::raw(field.value)),
            known => self.known(known),
        }
    }

    /// A known field, found by its number.
    #[inline]
    pub(crate) fn known(&self, name: FieldName) -> Option<FieldRef<'a>> {
        if let Some(value) = self.adjusted(name) {
            return value;
        }
        self.fields
            .iter()
            .find(|field| field.known == name)
            .map(|field| FieldRef::raw(field.value))
    }

    /// The receiver's value of a field it adjusts; `None` for the others.
    #[inline]
    fn adjusted(&self, name: FieldName) -> Option<Option<FieldRef<'a>>> {
        let float = |value: Option<f64>| Some(value.map(|x| FieldRef(Repr::Float(x))));
        match name {
            FieldName::Clock if self.clock.is_some() => {
                Some(self.clock.map(|n| FieldRef(Repr::Unsigned(n))))
            }
            FieldName::Timestamp if self.timestamp.is_some() => float(self.timestamp),
            FieldName::LocalReceived if self.local_received.is_some() => float(self.local_received),
            _ => None,
        }
    }

    /// Every field in the order sent (a repeated name once, with its last
    /// value), then `clock` and `local_received` if the sender did not send
    /// them.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, FieldRef<'a>)> + 'a {
        self.known_fields()
            .map(|(field, value)| (field.name.as_ref(), value))
            .chain(self.unsent().map(|(name, value)| (name as &'a str, value)))
    }

    /// The fields as sent, each with its value as the receiver left it.
    fn known_fields(&self) -> impl Iterator<Item = (&'a ScannedField<'a>, FieldRef<'a>)> + 'a {
        // The scan kept one entry per name, so there is nothing to skip.
        let this = *self;
        self.fields.iter().map(move |field| {
            let value = match field.known {
                FieldName::Other => FieldRef::raw(field.value),
                known => this
                    .adjusted(known)
                    .flatten()
                    .unwrap_or(FieldRef::raw(field.value)),
            };
            (field, value)
        })
    }

    /// The receiver's fields that the sender did not send, last, where
    /// inserting them into a map would put them.
    fn unsent(&self) -> impl Iterator<Item = (&'static str, FieldRef<'a>)> + 'a {
        let fields = self.fields;
        let unsent = move |name: FieldName| !fields.iter().any(|field| field.known == name);
        let clock = self
            .clock
            .filter(|_| unsent(FieldName::Clock))
            .map(|n| ("clock", FieldRef(Repr::Unsigned(n))));
        let stamped = self
            .local_received
            .filter(|_| unsent(FieldName::LocalReceived))
            .map(|at| ("local_received", FieldRef(Repr::Float(at))));
        clock.into_iter().chain(stamped)
    }

    /// The event read as `E` (a typed event, or any type its fields fit).
    pub fn decode<E: de::DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        E::deserialize(FieldsDeserializer {
            fields: self.fields(),
        })
    }

    /// The event as an owned [`Event`] (a map of parsed values).
    pub fn to_event(&self) -> Event {
        let mut fields = Fields::new();
        for (name, value) in self.fields() {
            fields.insert(name.to_owned(), value.to_value());
        }
        Event::from_fields(fields)
    }
}

impl fmt::Debug for EventRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.fields()).finish()
    }
}

impl EventFields for EventRef<'_> {
    fn each_field<'s>(&'s self, mut f: impl FnMut(FieldName, FieldRef<'s>)) {
        for (field, value) in self.known_fields() {
            f(field.known, value);
        }
        for (name, value) in self.unsent() {
            f(FieldName::of(name), value);
        }
    }
}

/// An [`EventRef`]'s fields as a map to deserialize a type from.
struct FieldsDeserializer<I> {
    fields: I,
}

impl<'de, I: Iterator<Item = (&'de str, FieldRef<'de>)>> de::Deserializer<'de>
    for FieldsDeserializer<I>
{
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(FieldsAccess {
            fields: self.fields,
            value: None,
        })
    }

    /// A struct is given only the fields it has: the others are not read at
    /// all (a type that denies unknown fields therefore accepts them).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(FieldsAccess {
            fields: self.fields.filter(|(name, _)| names.contains(name)),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct FieldsAccess<'de, I> {
    fields: I,
    value: Option<FieldRef<'de>>,
}

impl<'de, I: Iterator<Item = (&'de str, FieldRef<'de>)>> MapAccess<'de> for FieldsAccess<'de, I> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((name, value)) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let name: de::value::BorrowedStrDeserializer<'de, serde_json::Error> =
            de::value::BorrowedStrDeserializer::new(name);
        seed.deserialize(name).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        seed.deserialize(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_the_parsed_value_reads_them() {
        for text in [
            "0",
            "-0",
            "12",
            "-12",
            "1.5",
            "1e3",
            "1E+3",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "0.1",
            "2.5e-3",
            "\"5\"",
            "null",
            "true",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let (ours, theirs) = (FieldRef::raw(text), FieldRef::of_value(&value));
            assert_eq!(ours.as_u64(), theirs.as_u64(), "{text}");
            assert_eq!(ours.as_i64(), theirs.as_i64(), "{text}");
            assert_eq!(ours.as_f64(), theirs.as_f64(), "{text}");
            assert_eq!(ours.is_null(), theirs.is_null(), "{text}");
            assert_eq!(ours.to_value(), value, "{text}");
        }
    }
}
