//! How events become message bodies. JSON by default; never pickle.

use serde::Serialize;

use super::event::OutgoingEvent;

/// Turns events into message bodies. The dispatcher is generic over it, so a
/// format other than JSON can be plugged in; Celery's `pickle` is deliberately not
/// offered (it runs code on the receiving side).
pub trait Serializer: Send + Sync + 'static {
    /// The serializer's name, as Celery's `serializer` option spells it.
    fn name(&self) -> &'static str;
    /// The message's content type.
    fn content_type(&self) -> &'static str;
    /// The message's content encoding.
    fn content_encoding(&self) -> &'static str;
    /// Appends one event (or any value) to `out`.
    fn write<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), SerializeError>;
    /// Appends one event. The default writes [`OutgoingEvent`] with
    /// [`write`](Self::write); a format may do better.
    fn write_event<F: Serialize + ?Sized>(
        &self,
        event: &OutgoingEvent<'_, F>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerializeError> {
        self.write(event, out)
    }
    /// Appends a list made of already written items: the body of a `.multi`
    /// message.
    fn write_list<'a>(&self, items: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>);
}

/// An event could not be serialized.
#[derive(Debug, thiserror::Error)]
#[error("cannot serialize the event: {0}")]
pub struct SerializeError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// JSON as kombu writes it: `application/json`, `utf-8`, with Python's
/// `json.dumps` separators (`", "` and `": "`), so bodies read the same as those
/// of a Python worker.
///
/// ```
/// use signals_celery::events::{Json, Serializer};
/// let mut out = Vec::new();
/// Json.write(&serde_json::json!({"retries": [1, 2], "uuid": "1"}), &mut out).unwrap();
/// assert_eq!(out, br#"{"retries": [1, 2], "uuid": "1"}"#);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Serializer for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn content_encoding(&self) -> &'static str {
        "utf-8"
    }

    fn write<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), SerializeError> {
        crate::pyjson::write(value, out).map_err(|error| SerializeError(Box::new(error)))
    }

    /// Writes the envelope's fixed keys directly and only the event's own fields
    /// through serde: generic map serialization (`#[serde(flatten)]`) measured
    /// three times the cost.
    fn write_event<F: Serialize + ?Sized>(
        &self,
        event: &OutgoingEvent<'_, F>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerializeError> {
        let start = out.len();
        out.extend_from_slice(br#"{"hostname": "#);
        self.write_str(event.hostname, out)?;
        out.extend_from_slice(br#", "utcoffset": "#);
        self.write(&event.utcoffset, out)?;
        out.extend_from_slice(br#", "pid": "#);
        self.write(&event.pid, out)?;
        out.extend_from_slice(br#", "clock": "#);
        match event.clock {
            Some(clock) => self.write(&clock, out)?,
            None => out.extend_from_slice(b"null"),
        }
        // The fields as an object, spliced in: `,{"a": 1}` becomes `, "a": 1`.
        let fields_at = out.len();
        out.push(b',');
        self.write(event.fields, out)?;
        match &out[fields_at + 1..] {
            b"{}" => out.truncate(fields_at),
            [b'{', .., b'}'] => {
                out[fields_at + 1] = b' ';
                out.pop();
            }
            _ => {
                out.truncate(start);
                return Err(SerializeError(
                    "an event's fields must serialize as a JSON object".into(),
                ));
            }
        }
        if let Some(timestamp) = event.timestamp {
            out.extend_from_slice(br#", "timestamp": "#);
            self.write(&timestamp, out)?;
        }
        out.extend_from_slice(br#", "type": "#);
        self.write_str(event.kind, out)?;
        out.push(b'}');
        Ok(())
    }

    fn write_list<'a>(&self, items: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
        out.push(b'[');
        for (index, item) in items.into_iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(item);
        }
        out.push(b']');
    }
}

impl Json {
    /// A JSON string; copied as is when nothing in it needs escaping.
    fn write_str(&self, text: &str, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        if text
            .bytes()
            .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
        {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
            Ok(())
        } else {
            self.write(text, out)
        }
    }
}
