//! kombu's Redis message envelope: what the transport writes, what the
//! subscriber reads (`celery-wire.md` E).

use std::borrow::Cow;

use serde::Deserialize;

use crate::events::receiver::{Delivery, ReceiveError};
use crate::events::serializer::{Json, Serializer};
use crate::events::transport::{DeliveryMode, Message, TransportError};

/// The kombu envelope of `message`, as JSON text, in kombu's key order and
/// with Python's separators.
///
/// Written by hand rather than through serde: the body is most of the message
/// (24 events in a `.multi`), and base64 goes straight into the output without
/// an intermediate string or a scan for characters to escape (base64 has none).
pub(super) fn encode(message: &Message<'_>) -> Result<Vec<u8>, TransportError> {
    let body_len = base64_simd::STANDARD.encoded_length(message.body.len());
    let mut out = Vec::with_capacity(body_len + 320);
    out.extend_from_slice(b"{\"body\": \"");
    base64_simd::STANDARD.encode_append(message.body, &mut out);
    out.extend_from_slice(b"\", \"content-encoding\": ");
    json_string(&mut out, message.content_encoding)?;
    out.extend_from_slice(b", \"content-type\": ");
    json_string(&mut out, message.content_type)?;
    out.extend_from_slice(b", \"headers\": {");
    for (i, (name, value)) in message.headers.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        json_string(&mut out, name)?;
        out.extend_from_slice(b": ");
        json_string(&mut out, value)?;
    }
    out.extend_from_slice(b"}, \"properties\": {\"delivery_mode\": ");
    out.push(match message.delivery_mode {
        DeliveryMode::Transient => b'1',
        DeliveryMode::Persistent => b'2',
    });
    out.extend_from_slice(b", \"delivery_info\": {\"exchange\": ");
    json_string(&mut out, message.exchange)?;
    out.extend_from_slice(b", \"routing_key\": ");
    json_string(&mut out, message.routing_key)?;
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

/// `text` as a JSON string, escaped as Python's `json.dumps` escapes it
/// (`ensure_ascii`, kombu's default).
fn json_string(out: &mut Vec<u8>, text: &str) -> Result<(), TransportError> {
    Json.write(&text, out)
        .map_err(|error| TransportError::Refused(error.to_string()))
}

/// Opens a kombu envelope (as kombu's `Channel._get` and `Message` do): the
/// body is base64-decoded when `properties.body_encoding` says so; a
/// `delivery_tag` is required, as kombu requires it.
pub(crate) fn decode(payload: &[u8]) -> Result<Delivery, ReceiveError> {
    match decode_body_first(payload) {
        Some(delivery) => delivery,
        None => decode_whole(payload),
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    // Borrowed: base64 has nothing to unescape, so the body is not copied.
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
    #[serde(rename = "content-encoding")]
    content_encoding: Option<String>,
    #[serde(rename = "content-type")]
    content_type: Option<String>,
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
fn decode_body_first(payload: &[u8]) -> Option<Result<Delivery, ReceiveError>> {
    const BODY_FIRST: &[u8] = b"{\"body\": \"";
    let after_key = payload.strip_prefix(BODY_FIRST)?;
    // Base64 has no quote and no backslash: the first of either ends it.
    let end = memchr::memchr2(b'"', b'\\', after_key)?;
    if after_key[end] != b'"' {
        return None;
    }
    let (body, after) = (&after_key[..end], &after_key[end + 1..]);
    let start = after.iter().position(|b| !b.is_ascii_whitespace())?;
    // The other fields, as an object of their own.
    let mut others = Vec::with_capacity(after.len() + 1);
    others.push(b'{');
    match after[start] {
        b',' => others.extend_from_slice(&after[start + 1..]),
        b'}' => others.extend_from_slice(&after[start..]),
        _ => return None,
    }
    let envelope: Envelope<'_> = serde_json::from_slice(&others).ok()?;
    // A second body, or a body that is not base64 (which would need its
    // escapes undone): the whole envelope is read instead.
    if envelope.body.is_some() || envelope.properties.body_encoding.as_deref() != Some("base64") {
        return None;
    }
    Some(finish(envelope, body))
}

/// The envelope read by serde_json in one go: the reference, and any shape.
#[cold]
fn decode_whole(payload: &[u8]) -> Result<Delivery, ReceiveError> {
    let mut envelope: Envelope<'_> = serde_json::from_slice(payload)
        .map_err(|error| ReceiveError::json("the kombu envelope", error))?;
    let body = envelope
        .body
        .take()
        .ok_or_else(|| ReceiveError::Malformed("the envelope has no `body`".into()))?;
    finish(envelope, body.as_bytes())
}

/// The delivery of an envelope whose body is `body` (its text in the
/// envelope, still base64 if the envelope says so).
fn finish(envelope: Envelope<'_>, body: &[u8]) -> Result<Delivery, ReceiveError> {
    let delivery_tag = envelope.properties.delivery_tag.ok_or_else(|| {
        ReceiveError::Malformed("the envelope has no `properties.delivery_tag`".into())
    })?;
    let body = match envelope.properties.body_encoding.as_deref() {
        None => body.to_vec(),
        Some("base64") => base64_simd::STANDARD
            .decode_to_vec(body)
            .map_err(|error| ReceiveError::Malformed(format!("the body is not base64: {error}")))?,
        Some(other) => {
            return Err(ReceiveError::Unsupported(format!(
                "body encoding `{other}`"
            )))
        }
    };
    Ok(Delivery {
        routing_key: envelope
            .properties
            .delivery_info
            .routing_key
            .unwrap_or_default(),
        content_type: envelope.content_type.unwrap_or_default(),
        content_encoding: envelope.content_encoding.unwrap_or_default(),
        delivery_tag: Some(delivery_tag),
        body,
    })
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
        let fast = decode_body_first(&payload).expect("kombu's shape").unwrap();
        assert_eq!(fast, decode_whole(&payload).unwrap());
        assert_eq!(
            (fast.body.as_slice(), fast.routing_key.as_str()),
            (&body[..], "task.multi")
        );
        // Shapes the fast path leaves to the whole parse, which gives the
        // same delivery or the same error as before.
        let plain = br#"{"body": "{\"type\": \"x\"}", "properties": {"delivery_tag": "t"}}"#;
        assert!(decode_body_first(plain).is_none());
        assert_eq!(decode(plain).unwrap().body, br#"{"type": "x"}"#);
        let twice = br#"{"body": "e30=", "body": "W10=", "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#;
        assert!(decode_body_first(twice).is_none());
        let trailing = br#"{"body": "e30=", "properties": {"body_encoding": "base64", "delivery_tag": "t"}} x"#;
        assert!(decode_body_first(trailing).is_none());
        assert!(matches!(
            decode(trailing),
            Err(ReceiveError::NotJson { .. })
        ));
        let not_base64 =
            br#"{"body": "e30*", "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#;
        assert!(matches!(
            decode(not_base64),
            Err(ReceiveError::Malformed(_))
        ));
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
        let message = Message {
            exchange: "celeryev",
            routing_key: "task.multi",
            body: br#"[{"type": "task-started"}]"#,
            content_type: "application/json",
            content_encoding: "utf-8",
            headers: &[("hostname", "w@h")],
            delivery_mode: DeliveryMode::Transient,
        };
        let delivery = decode(&encode(&message).unwrap()).unwrap();
        assert_eq!(delivery.routing_key, "task.multi");
        assert_eq!(delivery.content_type, "application/json");
        assert_eq!(delivery.body, message.body);
        assert_eq!(delivery.delivery_tag.unwrap().len(), 36);
    }

    #[test]
    fn broken_envelopes_are_typed_errors() {
        let not_json = decode(b"\xff{").unwrap_err();
        assert!(
            matches!(not_json, ReceiveError::NotJson { .. }),
            "{not_json}"
        );
        let no_tag = decode(br#"{"body": "e30=", "properties": {}}"#).unwrap_err();
        assert!(matches!(no_tag, ReceiveError::Malformed(_)), "{no_tag}");
        let bad_base64 = decode(
            br#"{"body": "!!", "properties": {"body_encoding": "base64", "delivery_tag": "t"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(bad_base64, ReceiveError::Malformed(_)),
            "{bad_base64}"
        );
        let wrong_shape = decode(br#"{"body": 5}"#).unwrap_err();
        assert!(
            matches!(wrong_shape, ReceiveError::Malformed(_)),
            "{wrong_shape}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

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
