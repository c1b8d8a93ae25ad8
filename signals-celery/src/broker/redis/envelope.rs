//! kombu's Redis message envelope, the one codec of events and remote control
//! on Redis (`celery-wire.md` E): a JSON object whose `body` is the message
//! (base64), with content type and encoding, headers and properties.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::broker::{DeliveryMode, Message, TransportError};

/// Why an envelope could not be written or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvelopeError {
    /// The payload is not JSON text.
    #[error("the kombu envelope is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not shaped as kombu's envelope.
    #[error("{0}")]
    Malformed(String),
    /// A body encoding other than base64 or none.
    #[error("{0}")]
    Unsupported(String),
    /// What was to be sent could not be written as JSON (the message is not
    /// sent).
    #[error("cannot write the message as JSON: {0}")]
    Unwritable(#[source] serde_json::Error),
}

impl EnvelopeError {
    /// A parse error, classified: not JSON at all, or JSON of the wrong shape.
    fn parse(error: serde_json::Error) -> Self {
        if error.is_data() {
            Self::Malformed(format!("the kombu envelope: {error}"))
        } else {
            Self::NotJson(error)
        }
    }
}

/// The envelope of an event `message`, as JSON text, in kombu's key order and
/// with Python's separators.
///
/// Written by hand rather than through serde: the body is most of the message
/// (24 events in a `.multi`), and base64 goes straight into the output without
/// an intermediate string or a scan for characters to escape (base64 has none).
pub(crate) fn encode(message: &Message<'_>) -> Result<Vec<u8>, TransportError> {
    write(
        message.body,
        message.content_type,
        message.content_encoding,
        |out| {
            out.push(b'{');
            for (i, (name, value)) in message.headers.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                json(out, name)?;
                out.extend_from_slice(b": ");
                json(out, value)?;
            }
            out.push(b'}');
            Ok(())
        },
        message.delivery_mode,
        message.exchange,
        message.routing_key,
    )
    .map_err(|error| TransportError::Refused(error.to_string()))
}

/// The envelope of `body` written as JSON (`application/json`, `utf-8`),
/// with JSON `headers`: what remote control sends. A body or headers that
/// cannot be written as JSON is an error, and nothing is to be sent.
pub(crate) fn encode_json(
    body: &(impl Serialize + ?Sized),
    exchange: &str,
    routing_key: &str,
    headers: &(impl Serialize + ?Sized),
) -> Result<Vec<u8>, EnvelopeError> {
    let mut text = Vec::new();
    crate::pyjson::write(body, &mut text).map_err(EnvelopeError::Unwritable)?;
    write(
        &text,
        "application/json",
        "utf-8",
        |out| json(out, headers),
        DeliveryMode::Transient,
        exchange,
        routing_key,
    )
}

/// The envelope around `body`; `headers` writes the headers' JSON object.
fn write(
    body: &[u8],
    content_type: &str,
    content_encoding: &str,
    headers: impl FnOnce(&mut Vec<u8>) -> Result<(), EnvelopeError>,
    delivery_mode: DeliveryMode,
    exchange: &str,
    routing_key: &str,
) -> Result<Vec<u8>, EnvelopeError> {
    let body_len = base64_simd::STANDARD.encoded_length(body.len());
    let mut out = Vec::with_capacity(body_len + 320);
    out.extend_from_slice(b"{\"body\": \"");
    base64_simd::STANDARD.encode_append(body, &mut out);
    out.extend_from_slice(b"\", \"content-encoding\": ");
    json(&mut out, content_encoding)?;
    out.extend_from_slice(b", \"content-type\": ");
    json(&mut out, content_type)?;
    out.extend_from_slice(b", \"headers\": ");
    headers(&mut out)?;
    out.extend_from_slice(b", \"properties\": {\"delivery_mode\": ");
    out.push(match delivery_mode {
        DeliveryMode::Transient => b'1',
        DeliveryMode::Persistent => b'2',
    });
    out.extend_from_slice(b", \"delivery_info\": {\"exchange\": ");
    json(&mut out, exchange)?;
    out.extend_from_slice(b", \"routing_key\": ");
    json(&mut out, routing_key)?;
    out.extend_from_slice(
        b"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"",
    );
    let mut tag = uuid::Uuid::encode_buffer();
    out.extend_from_slice(
        uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut tag)
            .as_bytes(),
    );
    out.extend_from_slice(b"\"}}");
    Ok(out)
}

/// `value` as JSON, written as Python's `json.dumps` writes it.
fn json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) -> Result<(), EnvelopeError> {
    crate::pyjson::write(value, out).map_err(EnvelopeError::Unwritable)
}

/// A base64 body, decoded.
fn finish_base64(body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    base64_simd::STANDARD
        .decode_to_vec(body)
        .map_err(|error| EnvelopeError::Malformed(format!("the body is not base64: {error}")))
}

/// An opened envelope: the message and what kombu says of it. Its routing
/// key, content type and encoding are nearly always one of a few texts,
/// which are borrowed instead of allocated.
#[derive(Debug, PartialEq)]
pub(crate) struct Opened<H> {
    pub(crate) routing_key: Cow<'static, str>,
    pub(crate) content_type: Cow<'static, str>,
    pub(crate) content_encoding: Cow<'static, str>,
    /// kombu's delivery tag, which kombu always writes.
    pub(crate) delivery_tag: Option<String>,
    /// The body, base64-decoded when the envelope says so.
    pub(crate) body: Vec<u8>,
    /// The headers, as the caller asked to read them.
    pub(crate) headers: H,
}

/// The texts an envelope's routing key, content type and encoding nearly
/// always are: Celery's event routing keys, and JSON in UTF-8.
const ROUTINE: [&str; 16] = [
    "application/json",
    "utf-8",
    "task.sent",
    "task.received",
    "task.started",
    "task.succeeded",
    "task.failed",
    "task.retried",
    "task.revoked",
    "task.rejected",
    "task.multi",
    "worker.heartbeat",
    "worker.online",
    "worker.offline",
    "worker.multi",
    "",
];

/// `text` borrowed from [`ROUTINE`] when it is one of those, else owned.
fn routine<'a>(text: impl Into<Cow<'a, str>>) -> Cow<'static, str> {
    let text = text.into();
    match ROUTINE.iter().find(|routine| **routine == text) {
        Some(routine) => Cow::Borrowed(routine),
        None => Cow::Owned(text.into_owned()),
    }
}

/// Opens a kombu envelope (as kombu's `Channel._get` and `Message` do),
/// skipping its headers: what an event subscriber reads. The body is
/// base64-decoded when `properties.body_encoding` says so; a `delivery_tag`
/// is required, as kombu requires it.
pub(crate) fn decode(payload: &[u8]) -> Result<Opened<()>, EnvelopeError> {
    match kombu_shape::decode(payload) {
        Some(opened) => opened,
        None => decode_by_serde(payload),
    }
}

/// [`decode`] by serde: any shape.
fn decode_by_serde(payload: &[u8]) -> Result<Opened<()>, EnvelopeError> {
    let opened = decode_with::<IgnoredAny>(payload)?;
    if opened.delivery_tag.is_none() {
        return Err(EnvelopeError::Malformed(
            "the envelope has no `properties.delivery_tag`".into(),
        ));
    }
    Ok(Opened {
        routing_key: opened.routing_key,
        content_type: opened.content_type,
        content_encoding: opened.content_encoding,
        delivery_tag: opened.delivery_tag,
        body: opened.body,
        headers: (),
    })
}

/// Opens a kombu envelope with its headers read as `H` (absent headers are
/// `H::default()`).
pub(crate) fn decode_with<H>(payload: &[u8]) -> Result<Opened<H>, EnvelopeError>
where
    H: for<'de> Deserialize<'de> + Default,
{
    match decode_body_first(payload) {
        Some(opened) => opened,
        None => decode_whole(payload),
    }
}

#[derive(Deserialize)]
struct Envelope<'a, H> {
    // Borrowed: base64 has nothing to unescape, so the body is not copied.
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
    #[serde(rename = "content-encoding")]
    content_encoding: Option<String>,
    #[serde(rename = "content-type")]
    content_type: Option<String>,
    #[serde(default = "Option::default")]
    headers: Option<H>,
    #[serde(default)]
    properties: Properties,
}
#[derive(Default, Deserialize)]
struct Properties {
    body_encoding: Option<String>,
    delivery_tag: Option<String>,
    #[serde(default)]
    delivery_info: DeliveryInfo,
}

#[derive(Default, Deserialize)]
struct DeliveryInfo {
    routing_key: Option<String>,
}

/// The envelope as kombu writes it, body first: the body found by its
/// quotes, and only the rest of the envelope (a few hundred bytes) parsed.
/// Parsing the whole envelope read the base64 body a character at a time.
/// `None` for any other shape (or an error), which [`decode_whole`] reads.
fn decode_body_first<H>(payload: &[u8]) -> Option<Result<Opened<H>, EnvelopeError>>
where
    H: for<'de> Deserialize<'de> + Default,
{
    let (body, after) = body_first(payload)?;
    let start = after.iter().position(|b| !b.is_ascii_whitespace())?;
    // The other fields, as an object of their own.
    let mut others = Vec::with_capacity(after.len() + 1);
    others.push(b'{');
    match after[start] {
        b',' => others.extend_from_slice(&after[start + 1..]),
        b'}' => others.extend_from_slice(&after[start..]),
        _ => return None,
    }
    let envelope: Envelope<'_, H> = serde_json::from_slice(&others).ok()?;
    // A second body, or a body that is not base64 (which would need its
    // escapes undone): the whole envelope is read instead.
    if envelope.body.is_some() || envelope.properties.body_encoding.as_deref() != Some("base64") {
        return None;
    }
    Some(finish(envelope, body))
}

/// An envelope as kombu writes it, body first, cut in two: the body's text
/// (still base64) and what follows its closing quote. `None` for any other
/// start, or a body with a backslash (base64 has no quote and no backslash,
/// so the first of either ends it, and an escape needs serde to undo it).
fn body_first(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    let after_key = payload.strip_prefix(b"{\"body\": \"")?;
    let end = memchr::memchr2(b'"', b'\\', after_key)?;
    if after_key[end] != b'"' {
        return None;
    }
    Some((&after_key[..end], &after_key[end + 1..]))
}

/// The envelope read by serde_json in one go: the reference, and any shape.
#[cold]
fn decode_whole<H>(payload: &[u8]) -> Result<Opened<H>, EnvelopeError>
where
    H: for<'de> Deserialize<'de> + Default,
{
    let mut envelope: Envelope<'_, H> =
        serde_json::from_slice(payload).map_err(EnvelopeError::parse)?;
    let body = envelope
        .body
        .take()
        .ok_or_else(|| EnvelopeError::Malformed("the envelope has no `body`".into()))?;
    finish(envelope, body.as_bytes())
}

/// The delivery of an envelope whose body is `body` (its text in the
/// envelope, still base64 if the envelope says so).
fn finish<H: Default>(envelope: Envelope<'_, H>, body: &[u8]) -> Result<Opened<H>, EnvelopeError> {
    let body = match envelope.properties.body_encoding.as_deref() {
        None => body.to_vec(),
        Some("base64") => finish_base64(body)?,
        Some(other) => {
            return Err(EnvelopeError::Unsupported(format!(
                "body encoding `{other}`"
            )))
        }
    };
    Ok(Opened {
        routing_key: routine(
            envelope
                .properties
                .delivery_info
                .routing_key
                .unwrap_or_default(),
        ),
        content_type: routine(envelope.content_type.unwrap_or_default()),
        content_encoding: routine(envelope.content_encoding.unwrap_or_default()),
        delivery_tag: envelope.properties.delivery_tag,
        body,
        headers: envelope.headers.unwrap_or_default(),
    })
}

/// The envelope in the shape kombu and our transports write it, read
/// without serde: the body first, then the fields, every string plain ASCII
/// without escapes. Anything else (an escape, a byte outside ASCII, a list,
/// a field twice, text after the object) is left to serde, which reads any
/// shape and gives a malformed envelope its error.
mod kombu_shape {
    use super::{body_first, finish_base64, routine, EnvelopeError, Opened};

    /// What the envelope says besides its body.
    #[derive(Default)]
    struct Fields<'a> {
        content_encoding: Option<&'a str>,
        content_type: Option<&'a str>,
        body_encoding: Option<&'a str>,
        delivery_tag: Option<&'a str>,
        routing_key: Option<&'a str>,
        /// The known keys met so far (a bit each): serde refuses a second.
        seen: u16,
    }

    /// Which object a key belongs to.
    #[derive(Clone, Copy, PartialEq)]
    enum Within {
        Envelope,
        Properties,
        DeliveryInfo,
        /// Headers, or an object no field is read from.
        Other,
    }

    /// The opened envelope, or `None` to let serde read it.
    pub(super) fn decode(payload: &[u8]) -> Option<Result<Opened<()>, EnvelopeError>> {
        let (body, rest) = body_first(payload)?;
        // Printable ASCII and spaces only, checked once: every slice of it
        // is then a `str`, and no string holds a control character.
        // (A fold without an early exit, which the compiler vectorizes.)
        let outside = rest.iter().fold(false, |outside, &byte| {
            outside | !(b' '..0x7f).contains(&byte)
        });
        if outside {
            return None;
        }
        let rest = std::str::from_utf8(rest).ok()?;
        let mut cursor = Cursor { text: rest, at: 0 };
        let mut fields = Fields::default();
        if cursor.token()? == b',' {
            cursor.members(Within::Envelope, &mut fields, 0)?;
        } else {
            cursor.at -= 1;
            cursor.expect(b'}')?;
        }
        cursor.skip_space();
        if cursor.at != rest.len() || fields.body_encoding != Some("base64") {
            return None;
        }
        let delivery_tag = fields.delivery_tag?;
        Some(finish_base64(body).map(|body| Opened {
            routing_key: routine(fields.routing_key.unwrap_or_default()),
            content_type: routine(fields.content_type.unwrap_or_default()),
            content_encoding: routine(fields.content_encoding.unwrap_or_default()),
            delivery_tag: Some(delivery_tag.to_owned()),
            body,
            headers: (),
        }))
    }

    /// The length of the JSON number `text` starts with:
    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number_length(text: &[u8]) -> Option<usize> {
        let digits = |from: usize| {
            text[from..]
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .count()
        };
        let mut at = usize::from(text.first() == Some(&b'-'));
        match (text.get(at), digits(at)) {
            (Some(b'0'), _) => at += 1,
            (_, 0) => return None,
            (_, run) => at += run,
        }
        if text.get(at) == Some(&b'.') {
            let run = digits(at + 1);
            if run == 0 {
                return None;
            }
            at += 1 + run;
        }
        if matches!(text.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(text.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let run = digits(at);
            if run == 0 {
                return None;
            }
            at += run;
        }
        Some(at)
    }

    /// A position in printable ASCII JSON text.
    struct Cursor<'a> {
        text: &'a str,
        at: usize,
    }

    impl<'a> Cursor<'a> {
        fn skip_space(&mut self) {
            while self.text.as_bytes().get(self.at) == Some(&b' ') {
                self.at += 1;
            }
        }

        /// The next byte that is not white space, taken.
        fn token(&mut self) -> Option<u8> {
            self.skip_space();
            let byte = *self.text.as_bytes().get(self.at)?;
            self.at += 1;
            Some(byte)
        }

        fn expect(&mut self, byte: u8) -> Option<()> {
            (self.token()? == byte).then_some(())
        }

        /// A string without escapes, after its opening quote.
        fn string(&mut self) -> Option<&'a str> {
            let start = self.at;
            let length = memchr::memchr2(b'"', b'\\', &self.text.as_bytes()[start..])?;
            if self.text.as_bytes()[start + length] != b'"' {
                return None;
            }
            self.at = start + length + 1;
            self.text.get(start..start + length)
        }

        /// The members of an object after its `{` (or after a first member's
        /// comma, for the envelope), through its `}`.
        fn members(&mut self, within: Within, fields: &mut Fields<'a>, depth: u8) -> Option<()> {
            if depth > 4 {
                return None;
            }
            if within != Within::Envelope {
                if self.token()? == b'}' {
                    return Some(());
                }
                self.at -= 1;
            }
            loop {
                self.expect(b'"')?;
                let key = self.string()?;
                self.expect(b':')?;
                // The key's bit among those serde refuses twice, where its
                // string value goes, and what object its value is.
                let (known, slot, nested) = match (within, key) {
                    (Within::Envelope, "content-encoding") => {
                        (1, Some(&mut fields.content_encoding), Within::Other)
                    }
                    (Within::Envelope, "content-type") => {
                        (2, Some(&mut fields.content_type), Within::Other)
                    }
                    (Within::Envelope, "headers") => (4, None, Within::Other),
                    (Within::Envelope, "properties") => (8, None, Within::Properties),
                    // A second body is serde's to refuse or read.
                    (Within::Envelope, "body") => return None,
                    (Within::Properties, "body_encoding") => {
                        (16, Some(&mut fields.body_encoding), Within::Other)
                    }
                    (Within::Properties, "delivery_tag") => {
                        (32, Some(&mut fields.delivery_tag), Within::Other)
                    }
                    (Within::Properties, "delivery_info") => (64, None, Within::DeliveryInfo),
                    (Within::DeliveryInfo, "routing_key") => {
                        (128, Some(&mut fields.routing_key), Within::Other)
                    }
                    _ => (0, None, Within::Other),
                };
                if fields.seen & known != 0 {
                    return None;
                }
                fields.seen |= known;
                // `properties` and `delivery_info` must be objects, the
                // fields read strings; anything else is serde's to judge.
                let free = slot.is_none() && nested == Within::Other;
                match self.token()? {
                    b'"' if slot.is_some() || free => {
                        let value = self.string()?;
                        if let Some(slot) = slot {
                            *slot = Some(value);
                        }
                    }
                    b'{' if slot.is_none() => self.members(nested, fields, depth + 1)?,
                    byte if free => self.scalar(byte)?,
                    // null, a number or an object where a string is read:
                    // serde says what it makes of it.
                    _ => return None,
                }
                match self.token()? {
                    b',' => {}
                    b'}' => return Some(()),
                    _ => return None,
                }
            }
        }

        /// A number, `true`, `false` or `null` that starts with `first`.
        fn scalar(&mut self, first: u8) -> Option<()> {
            let start = self.at - 1;
            let text = &self.text.as_bytes()[start..];
            let length = match first {
                b't' if text.starts_with(b"true") => 4,
                b'f' if text.starts_with(b"false") => 5,
                b'n' if text.starts_with(b"null") => 4,
                b'-' | b'0'..=b'9' => number_length(text)?,
                _ => return None,
            };
            self.at = start + length;
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_first_path_reads_what_the_whole_parse_reads() {
        let body = br#"[{"type": "task-started", "uuid": "\u00fc"}]"#;
        let message = Message {
            exchange: "celeryev",
            routing_key: "task.multi",
            body,
            content_type: "application/json",
            content_encoding: "utf-8",
            headers: &[("hostname", "w1@h\"x")],
            delivery_mode: DeliveryMode::Transient,
        };
        let payload = encode(&message).unwrap();
        let fast = decode_body_first::<IgnoredAny>(&payload)
            .expect("kombu's shape")
            .unwrap();
        assert_eq!(fast, decode_whole::<IgnoredAny>(&payload).unwrap());
        assert_eq!(
            (fast.body.as_slice(), &*fast.routing_key),
            (&body[..], "task.multi")
        );
        // Shapes the fast path leaves to the whole parse, which gives the
        // same delivery or the same error as before.
        let plain = br#"{"body": "{\"type\": \"x\"}", "properties": {"delivery_tag": "t"}}"#;
        assert!(decode_body_first::<IgnoredAny>(plain).is_none());
        assert_eq!(decode(plain).unwrap().body, br#"{"type": "x"}"#);
        let twice = br#"{"body": "e30=", "body": "W10=", "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#;
        assert!(decode_body_first::<IgnoredAny>(twice).is_none());
        let trailing = br#"{"body": "e30=", "properties": {"body_encoding": "base64", "delivery_tag": "t"}} x"#;
        assert!(decode_body_first::<IgnoredAny>(trailing).is_none());
        assert!(matches!(decode(trailing), Err(EnvelopeError::NotJson(_))));
        let not_base64 =
            br#"{"body": "e30*", "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#;
        assert!(matches!(
            decode(not_base64),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    /// A `.multi` event message from `w@h`, as a transport sends it.
    fn multi_message(delivery_mode: DeliveryMode) -> Message<'static> {
        Message {
            exchange: "celeryev",
            routing_key: "task.multi",
            body: br#"[{"type": "task-started"}]"#,
            content_type: "application/json",
            content_encoding: "utf-8",
            headers: &[("hostname", "w@h")],
            delivery_mode,
        }
    }

    #[test]
    fn what_the_transports_write_is_read_without_serde() {
        let message = multi_message(DeliveryMode::Persistent);
        let payload = encode(&message).unwrap();
        let fast = kombu_shape::decode(&payload)
            .expect("kombu's shape")
            .unwrap();
        assert_eq!(fast, decode_by_serde(&payload).unwrap());
        // kombu's own (Python) writing of an event envelope.
        let kombu = br#"{"body": "e30=", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"hostname": "celery@h"}, "properties": {"delivery_mode": 2, "delivery_info": {"exchange": "celeryev", "routing_key": "worker.heartbeat"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "5f0e8c6a-0d0b-4c4e-9a43-1f0f3c1c2d55"}}"#;
        let fast = kombu_shape::decode(kombu).expect("kombu's shape").unwrap();
        assert_eq!(fast.routing_key, "worker.heartbeat");
        assert_eq!(fast.body, b"{}");
        assert_eq!(fast, decode_by_serde(kombu).unwrap());
        // A backslash in the body is an escape for serde to read (here, one
        // JSON does not allow): not a body that ends there.
        let escaped = br#"{"body": "e30=\,", "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#;
        assert!(kombu_shape::decode(escaped).is_none());
        assert!(matches!(decode(escaped), Err(EnvelopeError::NotJson(_))));
    }

    #[test]
    fn each_envelope_has_a_new_version_4_uuid_delivery_tag() {
        let message = Message {
            exchange: "celeryev",
            routing_key: "task.started",
            body: br#"{"type": "task-started"}"#,
            content_type: "application/json",
            content_encoding: "utf-8",
            headers: &[],
            delivery_mode: DeliveryMode::Transient,
        };
        let tag = || {
            decode(&encode(&message).unwrap())
                .unwrap()
                .delivery_tag
                .unwrap()
        };
        let (a, b) = (tag(), tag());
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4, "{a}");
        assert_eq!(parsed.hyphenated().to_string(), a, "lower case, hyphenated");
    }

    #[test]
    fn an_encoded_envelope_decodes_to_the_same_message() {
        let message = multi_message(DeliveryMode::Transient);
        let delivery = decode(&encode(&message).unwrap()).unwrap();
        assert_eq!(delivery.routing_key, "task.multi");
        assert_eq!(delivery.content_type, "application/json");
        assert_eq!(delivery.body, message.body);
        assert_eq!(delivery.delivery_tag.unwrap().len(), 36);
    }

    #[test]
    fn broken_envelopes_are_typed_errors() {
        let not_json = decode(b"\xff{").unwrap_err();
        assert!(matches!(not_json, EnvelopeError::NotJson(_)), "{not_json}");
        let no_tag = decode(br#"{"body": "e30=", "properties": {}}"#).unwrap_err();
        assert!(matches!(no_tag, EnvelopeError::Malformed(_)), "{no_tag}");
        let bad_base64 = decode(
            br#"{"body": "!!", "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(bad_base64, EnvelopeError::Malformed(_)),
            "{bad_base64}"
        );
        let wrong_shape = decode(br#"{"body": 5}"#).unwrap_err();
        assert!(
            matches!(wrong_shape, EnvelopeError::Malformed(_)),
            "{wrong_shape}"
        );
    }

    #[test]
    fn json_envelopes_round_trip_with_json_headers() {
        let body = serde_json::json!({"method": "ping", "arguments": {}});
        let headers = serde_json::json!({"clock": 3, "expires": 1.5});
        let payload = encode_json(&body, "celery.pidbox", "", &headers).unwrap();
        let opened = decode_with::<serde_json::Map<String, serde_json::Value>>(&payload).unwrap();
        assert_eq!(opened.content_type, "application/json");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&opened.body).unwrap(),
            body
        );
        assert_eq!(opened.headers["clock"], 3);
        assert_eq!(opened.headers["expires"], 1.5);
        assert!(decode_with::<IgnoredAny>(b"{").is_err());
    }

    /// A body serde cannot write as JSON (a map keyed by pairs) is an error:
    /// no envelope with an empty body is made to be sent in its place.
    #[test]
    fn a_body_that_is_not_json_is_an_error_not_an_empty_message() {
        let body: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let written = encode_json(
            &body,
            "reply.celery.pidbox",
            "client",
            &serde_json::json!({}),
        );
        assert!(
            matches!(written, Err(EnvelopeError::Unwritable(_))),
            "{written:?}"
        );
    }

    /// A piece of an envelope after its body: fields kombu writes, in
    /// any order, some twice, and values of every JSON kind.
    fn member() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let value = prop_oneof![
            Just("\"utf-8\"".to_owned()),
            Just("\"base64\"".to_owned()),
            Just("\"a\\\"b\"".to_owned()),
            Just("\"\u{e9}\"".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("[1]".to_owned()),
            "-?(0|[1-9][0-9]{0,3}|01)(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
            Just("{\"exchange\": \"celeryev\", \"routing_key\": \"task.sent\"}".to_owned()),
            Just("{\"hostname\": \"w@h\", \"n\": {\"d\": [] }}".to_owned()),
            Just("{}".to_owned()),
        ];
        let key = prop_oneof![
            Just("content-encoding"),
            Just("content-type"),
            Just("headers"),
            Just("body"),
            Just("other"),
        ];
        let properties = proptest::collection::vec(
            (
                prop_oneof![
                    Just("body_encoding"),
                    Just("delivery_tag"),
                    Just("delivery_info"),
                    Just("priority"),
                ],
                value.clone(),
            ),
            0..5,
        )
        .prop_map(|members| {
            let inner: Vec<String> = members
                .into_iter()
                .map(|(key, value)| format!("\"{key}\": {value}"))
                .collect();
            format!("\"properties\": {{{}}}", inner.join(", "))
        });
        prop_oneof![
            (key, value).prop_map(|(key, value)| format!("\"{key}\": {value}")),
            properties,
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// Whatever the hand-written reader of kombu's shape accepts, serde
        /// reads to the same delivery or the same kind of error.
        #[test]
        fn the_kombu_shape_reader_agrees_with_serde(
            members in proptest::collection::vec(member(), 0..7),
            tail in proptest::prop_oneof![proptest::strategy::Just(""), proptest::strategy::Just(" "), proptest::strategy::Just(" x")],
            with_properties in proptest::prelude::any::<bool>(),
        ) {
            let mut text = String::from("{\"body\": \"e30=\"");
            for member in &members {
                text.push_str(", ");
                text.push_str(member);
            }
            // Most envelopes carry what kombu requires, so that the reader
            // accepts them and the comparison is made.
            if with_properties {
                text.push_str(r#", "properties": {"body_encoding": "base64", "delivery_tag": "t", "delivery_info": {"routing_key": "r"}}"#);
            }
            text.push('}');
            text.push_str(tail);
            if let Some(fast) = kombu_shape::decode(text.as_bytes()) {
                let by_serde = decode_by_serde(text.as_bytes());
                match (fast, by_serde) {
                    (Ok(fast), Ok(by_serde)) => proptest::prop_assert_eq!(fast, by_serde, "{}", text),
                    (Err(fast), Err(by_serde)) => proptest::prop_assert_eq!(
                        std::mem::discriminant(&fast), std::mem::discriminant(&by_serde), "{}", text),
                    (fast, by_serde) => proptest::prop_assert!(false, "{text}: {fast:?} against {by_serde:?}"),
                }
            }
        }

        /// Any bytes a Redis channel may carry decode to a delivery or a
        /// typed error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
        }

        /// Envelopes with fields of every type, missing or present, and bodies
        /// that are not base64 or not JSON: a delivery or a typed error.
        #[test]
        fn envelope_shaped_garbage_never_panics(
            body in "[A-Za-z0-9+/=]{0,40}|.{0,20}",
            encoding in proptest::option::of("base64|utf-8|[a-z]{0,8}"),
            content_type in proptest::option::of("application/json|[a-z/]{0,12}"),
            routing_key in proptest::option::of(".{0,12}"),
            tag in proptest::option::of("[0-9a-f-]{0,36}"),
        ) {
            let envelope = serde_json::json!({
                "body": body,
                "content-type": content_type,
                "content-encoding": "utf-8",
                "properties": {
                    "body_encoding": encoding,
                    "delivery_tag": tag,
                    "delivery_info": {"exchange": "celeryev", "routing_key": routing_key},
                },
            });
            let _ = decode(&serde_json::to_vec(&envelope).expect("JSON"));
        }
    }
}
