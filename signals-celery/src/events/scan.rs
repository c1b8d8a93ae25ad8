//! Scanning a message body into events: for each event, its fields' names and
//! their values as slices of the body's text, checked to be well-formed JSON
//! but not decoded (see [`EventRef`](super::EventRef)).
//!
//! Two scanners give the same result. The fast one reads the shape Celery's
//! dispatchers write (flat objects of strings and numbers) byte by byte and
//! hands anything nested or escaped to serde_json to check. Whatever it does
//! not accept, serde_json scans again: it is the reference, it gives the
//! error a malformed body gets, and a property test holds the two equal.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::event_ref::{EventRef, FieldRef, ScannedField};
use super::field_name::FieldName;

type Field<'a> = ScannedField<'a>;

/// A message body scanned into fields: one event object, or a `.multi` list
/// of them. The fields of every event share one list, so a message of 100
/// events makes two allocations, not a few thousand.
pub(crate) struct ScannedBody<'a> {
    fields: Vec<Field<'a>>,
    /// Each element of the body: the range of its fields, or what it was
    /// instead of an event object.
    elements: Vec<Result<Range<usize>, &'static str>>,
}

impl<'a> ScannedBody<'a> {
    /// Scans `body`. An error is the message's (not JSON, or a body that is
    /// neither an object nor a list); an element of a list that is not an
    /// object is kept as its shape, for the receiver to report.
    pub(crate) fn scan(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        // One check of the whole body; both scanners then take it as text.
        let Ok(text) = std::str::from_utf8(body) else {
            return Err(serde_json::from_slice::<IgnoredAny>(body)
                .err()
                .unwrap_or_else(|| de::Error::custom("the body is not UTF-8")));
        };
        // Room for the fields at once: growing from empty took four or five
        // reallocations for one event, more for a `.multi` message. A field
        // of a Celery event takes some 20 bytes of text or more.
        let mut scanned = Self {
            fields: Vec::with_capacity(text.len() / 20 + 1),
            elements: Vec::with_capacity(1),
        };
        if Fast::new(text).body(&mut scanned).is_some() {
            return Ok(scanned);
        }
        scanned.fields.clear();
        scanned.elements.clear();
        scanned.scan_with_serde(text)?;
        Ok(scanned)
    }

    /// The reference scan, by serde_json.
    #[cold]
    fn scan_with_serde(&mut self, text: &'a str) -> Result<(), serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        BodySeed(self).deserialize(&mut deserializer)?;
        deserializer.end()
    }

    /// How many elements the body has (1 for a single event).
    pub(crate) fn len(&self) -> usize {
        self.elements.len()
    }

    /// The `index`-th element's fields, or its shape if it is no object.
    pub(crate) fn element(&self, index: usize) -> Result<RawFields<'_>, &'static str> {
        self.elements[index]
            .clone()
            .map(|range| RawFields(&self.fields[range]))
    }
}

self_cell::self_cell!(
    /// A body owned together with its scan, so that the scan can be made on
    /// one thread and read on another.
    pub(crate) struct ScannedMessage {
        owner: Vec<u8>,
        #[covariant]
        dependent: ScannedBody,
    }
);

impl ScannedMessage {
    /// Scans `body`; on an error the body comes back, for the receiver to
    /// scan again and report as it reports any message.
    pub(crate) fn scan(body: Vec<u8>) -> Result<Self, Vec<u8>> {
        Self::try_new_or_recover(body, |body| ScannedBody::scan(body)).map_err(|(body, _)| body)
    }
}

impl std::fmt::Debug for ScannedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScannedMessage")
            .field("body_len", &self.borrow_owner().len())
            .field("events", &self.borrow_dependent().len())
            .finish()
    }
}

/// One event's fields as scanned, before the receiver adjusts it.
pub(crate) struct RawFields<'s>(&'s [Field<'s>]);

impl<'s> RawFields<'s> {
    /// The value of a known field, as sent.
    pub(crate) fn get(&self, name: FieldName) -> Option<FieldRef<'s>> {
        self.0
            .iter()
            .find(|field| field.known == name)
            .map(|field| FieldRef::raw(field.value))
    }

    /// The event, with the receiver's `clock`, localized `timestamp` and
    /// `local_received`.
    pub(crate) fn received(
        &self,
        kind: &'s str,
        clock: u64,
        timestamp: Option<f64>,
        local_received: f64,
    ) -> EventRef<'s> {
        EventRef::received(kind, self.0, clock, timestamp, local_received)
    }

    /// The event as sent.
    pub(crate) fn as_sent(&self, kind: &'s str) -> EventRef<'s> {
        EventRef::as_sent(kind, self.0)
    }
}

/// Adds a field to the event that starts at `start`: a repeated name keeps
/// its first place and its last value, as a parsed map would.
fn push_field<'a>(
    fields: &mut Vec<Field<'a>>,
    start: usize,
    seen: &mut SeenNames,
    name: Cow<'a, str>,
    value: &'a str,
) {
    let known = FieldName::of(&name);
    if seen.may_hold(known, &name) {
        if let Some(slot) = fields[start..].iter_mut().find(|field| field.name == name) {
            slot.value = value;
            return;
        }
    }
    fields.push(ScannedField { name, known, value });
}

/// The names an event has so far: known names exactly, others as a 64-bit
/// filter on their length and ends. Names repeat only in a malformed event,
/// so a new name is told apart without comparing it to each name before it.
#[derive(Default)]
struct SeenNames {
    known: u64,
    others: u64,
}

impl SeenNames {
    /// Adds `name`; `true` if it may have been added before.
    fn may_hold(&mut self, known: FieldName, name: &str) -> bool {
        let (set, bit) = match known {
            FieldName::Other => {
                let bytes = name.as_bytes();
                let (first, last) = (bytes.first().copied(), bytes.last().copied());
                let key = bytes.len() as u32 * 7
                    + u32::from(first.unwrap_or(0)) * 3
                    + u32::from(last.unwrap_or(0));
                (&mut self.others, 1u64 << (key % 64))
            }
            known => (&mut self.known, known.bit()),
        };
        let held = *set & bit != 0;
        *set |= bit;
        held
    }
}

/// The fast scanner: a cursor over the body. Every method returns `None` for
/// anything it does not take, and the body is then scanned by serde_json.
struct Fast<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fast<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    fn body(mut self, scanned: &mut ScannedBody<'a>) -> Option<()> {
        match self.next_token()? {
            b'{' => {
                let range = self.object(&mut scanned.fields)?;
                scanned.elements.push(Ok(range));
            }
            b'[' => self.list(scanned)?,
            _ => return None,
        }
        self.skip_space();
        (self.at == self.bytes.len()).then_some(())
    }

    /// The elements of a `.multi` list, after its `[`.
    fn list(&mut self, scanned: &mut ScannedBody<'a>) -> Option<()> {
        if self.peek_token()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            let element = if self.peek_token()? == b'{' {
                self.at += 1;
                Ok(self.object(&mut scanned.fields)?)
            } else {
                // Not an event: the receiver reports its shape.
                let shape = match self.bytes[self.at] {
                    b'[' => "a list",
                    b'"' => "a string",
                    b't' | b'f' => "a boolean",
                    b'n' => "null",
                    _ => "a number",
                };
                self.value()?;
                Err(shape)
            };
            scanned.elements.push(element);
            match self.next_token()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// An object's fields, after its `{`.
    fn object(&mut self, fields: &mut Vec<Field<'a>>) -> Option<Range<usize>> {
        let start = fields.len();
        let mut seen = SeenNames::default();
        if self.peek_token()? == b'}' {
            self.at += 1;
            return Some(start..start);
        }
        loop {
            if self.next_token()? != b'"' {
                return None;
            }
            let (name, escaped) = self.string()?;
            let name = if escaped {
                Cow::Owned(serde_json::from_str::<String>(name).ok()?)
            } else {
                Cow::Borrowed(&name[1..name.len() - 1])
            };
            if self.next_token()? != b':' {
                return None;
            }
            self.skip_space();
            let value = self.value()?;
            push_field(fields, start, &mut seen, name, value);
            match self.next_token()? {
                b',' => {}
                b'}' => return Some(start..fields.len()),
                _ => return None,
            }
        }
    }

    /// One value's text, at the cursor.
    fn value(&mut self) -> Option<&'a str> {
        let start = self.at;
        match *self.bytes.get(self.at)? {
            b'"' => {
                self.at += 1;
                let (text, escaped) = self.string()?;
                if escaped {
                    // Escapes are rare in events: serde_json checks them.
                    serde_json::from_str::<IgnoredAny>(text).ok()?;
                }
                Some(text)
            }
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'[' | b'{' => {
                // Nested (arguments, load averages): find its end, and let
                // serde_json check it.
                let end = self.nested_end()?;
                self.at = end;
                let text = &self.text[start..end];
                serde_json::from_str::<IgnoredAny>(text).ok()?;
                Some(text)
            }
            _ => None,
        }
    }

    /// A string's text with its quotes, and whether it has escapes (skipped
    /// over here, not checked); the cursor after its opening quote.
    fn string(&mut self) -> Option<(&'a str, bool)> {
        let start = self.at - 1;
        let mut escaped = false;
        loop {
            self.at += special_in_run(&self.bytes[self.at..])?;
            let byte = self.bytes[self.at];
            self.at += 1;
            match byte {
                b'"' => return Some((&self.text[start..self.at], escaped)),
                b'\\' => {
                    // The escaped character is never the end of the string.
                    escaped = true;
                    self.bytes.get(self.at)?;
                    self.at += 1;
                }
                // A control character, which JSON wants escaped.
                _ => return None,
            }
        }
    }

    /// A number, by JSON's grammar exactly.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.at;
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        match *self.bytes.get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !self.bytes.get(self.at)?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !self.bytes.get(self.at)?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(&self.text[start..self.at])
    }

    fn digits(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &'static str) -> Option<&'a str> {
        let end = self.at + word.len();
        let text = self.text.get(self.at..end)?;
        self.at = end;
        (text == word).then_some(text)
    }

    /// The end of the list or object at the cursor (strings skipped, so a
    /// bracket in one does not count).
    fn nested_end(&mut self) -> Option<usize> {
        let mut depth = 0usize;
        loop {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            match byte {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(self.at);
                    }
                }
                b'"' => {
                    self.string()?;
                }
                _ => {}
            }
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// The next byte that is not white space, without taking it.
    fn peek_token(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    /// The next byte that is not white space, taken.
    fn next_token(&mut self) -> Option<u8> {
        let byte = self.peek_token()?;
        self.at += 1;
        Some(byte)
    }
}

/// Where the first byte that matters inside a string is: a quote, a
/// backslash or a control character; `None` at the end of the text. Most
/// strings in an event are ids and names of 5 to 40 bytes: on x86_64, sixteen
/// bytes a step with SSE2 (which every x86_64 processor has, so no detection
/// is needed), then eight a step in a machine word, then one.
fn special_in_run(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    let at = {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        let mut at = 0;
        while at + 16 <= bytes.len() {
            // SAFETY: SSE2 is part of every x86_64 target, so its
            // instructions exist; `at + 16 <= bytes.len()`, so the sixteen
            // bytes loaded are inside `bytes`, and an unaligned load has no
            // alignment requirement.
            let found = unsafe {
                let chunk = _mm_loadu_si128(bytes.as_ptr().add(at).cast());
                let quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
                // Below 0x20 exactly where the unsigned minimum with 0x1f is
                // the byte itself.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(chunk, _mm_set1_epi8(0x1f)), chunk);
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
            };
            if found != 0 {
                return Some(at + found.trailing_zeros() as usize);
            }
            at += 16;
        }
        at
    };
    #[cfg(not(target_arch = "x86_64"))]
    let at = 0;
    special_in_words(bytes, at)
}

/// [`special_in_run`] from `at`, eight bytes a step, then one.
fn special_in_words(bytes: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// The high bit of each byte of `word` that is zero; bits above the
    /// first such byte may be wrong, the first is always right.
    fn zero_bytes(word: u64) -> u64 {
        word.wrapping_sub(ONES) & !word & HIGHS
    }
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?);
        let found = zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')))
            // Bytes below 0x20: the same borrow trick against 0x20.
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

/// The reference scan: an object is one event, a list is a `.multi` message.
struct BodySeed<'s, 'a>(&'s mut ScannedBody<'a>);

impl<'de> DeserializeSeed<'de> for BodySeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event or a list of events")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
        let range = scan_object(&mut self.0.fields, map)?;
        self.0.elements.push(Ok(range));
        Ok(())
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(element) = seq.next_element_seed(ElementSeed(&mut self.0.fields))? {
            self.0.elements.push(element);
        }
        Ok(())
    }
}

/// One element of a `.multi` list: an event's fields, or its shape.
struct ElementSeed<'s, 'a>(&'s mut Vec<Field<'a>>);

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, 'de> {
    type Value = Result<Range<usize>, &'static str>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_, 'de> {
    type Value = Result<Range<usize>, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        scan_object(self.0, map).map(Ok)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("a list"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }
}

/// Appends an object's fields to `fields`.
fn scan_object<'de, M: MapAccess<'de>>(
    fields: &mut Vec<Field<'de>>,
    mut map: M,
) -> Result<Range<usize>, M::Error> {
    let start = fields.len();
    let mut seen = SeenNames::default();
    while let Some(Key(name)) = map.next_key()? {
        let value: &'de RawValue = map.next_value()?;
        push_field(fields, start, &mut seen, name, value.get());
    }
    Ok(start..fields.len())
}

/// A field name, borrowed from the message unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(name)))
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a scan found, comparable: each element's fields, or its shape.
    type Found = Vec<Result<Vec<(String, String)>, &'static str>>;

    fn found(scanned: &ScannedBody<'_>) -> Found {
        (0..scanned.len())
            .map(|i| {
                scanned.element(i).map(|fields| {
                    fields
                        .0
                        .iter()
                        .map(|field| (field.name.to_string(), field.value.to_string()))
                        .collect()
                })
            })
            .collect()
    }

    /// Both scanners on `text`: `None` where a scanner refused it.
    fn both(text: &str) -> (Option<Found>, Option<Found>) {
        let mut fast = ScannedBody {
            fields: Vec::new(),
            elements: Vec::new(),
        };
        let fast = Fast::new(text).body(&mut fast).map(|()| found(&fast));
        let mut reference = ScannedBody {
            fields: Vec::new(),
            elements: Vec::new(),
        };
        let reference = reference
            .scan_with_serde(text)
            .ok()
            .map(|()| found(&reference));
        (fast, reference)
    }

    #[test]
    fn a_multi_body_is_scanned_into_borrowed_fields() {
        let body = br#"[{"type": "task-started", "uuid": "1", "clock": 4, "uuid": "2"},
                        7, {"type": "a\"b", "args": [1, {"x": "]"}], "n": -1.5e3, "k\u00e9y": null}]"#;
        let scanned = ScannedBody::scan(body).unwrap();
        assert_eq!(scanned.len(), 3);
        let first_fields = scanned.element(0).unwrap();
        let first = first_fields.as_sent("task-started");
        // A repeated name keeps its last value, as a map would.
        assert_eq!(first.get("uuid").unwrap().as_str().unwrap(), "2");
        assert!(matches!(
            first.get("uuid").unwrap().as_str(),
            Some(Cow::Borrowed(_))
        ));
        assert_eq!(first.get("clock").unwrap().as_u64(), Some(4));
        assert_eq!(scanned.element(1).err(), Some("a number"));
        let third_fields = scanned.element(2).unwrap();
        let third = third_fields.as_sent("a\"b");
        assert_eq!(third.get("type").unwrap().as_str().unwrap(), "a\"b");
        assert_eq!(third.get("args").unwrap().json(), r#"[1, {"x": "]"}]"#);
        assert_eq!(third.get("n").unwrap().as_f64(), Some(-1500.0));
        assert_eq!(third.get("n").unwrap().as_i64(), None);
        assert!(third.get("kéy").unwrap().is_null());
        let event = third_fields.received("x", 9, Some(2.5), 3.5);
        assert_eq!(
            (event.clock(), event.timestamp(), event.local_received()),
            (Some(9), Some(2.5), Some(3.5))
        );
        let owned = event.to_event();
        assert_eq!(owned.clock(), Some(9));
        assert_eq!(owned.get("local_received"), Some(&3.5.into()));
        assert_eq!(owned.get("args"), Some(&serde_json::json!([1, {"x": "]"}])));
        // The fast scanner took it, and found what serde_json finds.
        let (fast, reference) = both(std::str::from_utf8(body).unwrap());
        assert!(fast.is_some());
        assert_eq!(fast, reference);
    }

    #[test]
    fn bodies_that_are_not_events_are_errors() {
        for body in [
            &b"42"[..],
            b"{\"type\": 1} x",
            b"[{\"type\": 1}",
            b"{\"a\": 01}",
            b"{\"a\": \"\x01\"}",
            b"{\"a\": \"\\q\"}",
            b"{\"a\": [1,]}",
            b"{\"a\": tru}",
            b"{\"a\" 1}",
            b"[{\"a\": 1},]",
            b"\xff",
        ] {
            assert!(ScannedBody::scan(body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn the_scanners_agree_on_celery_shaped_bodies() {
        let text = r#" [ {"hostname": "celery@w1", "utcoffset": -0, "pid": 12, "clock": 3,
            "uuid": "u", "args": "(1, 2)", "kwargs": {"a": [true, false, null]},
            "loadavg": [0.1, 2e-3, 1E+2], "exception": "ValueError('\u00fc\n')",
            "timestamp": 1700000000.123, "type": "task-failed"}, [], {}, "x", null, false ] "#;
        let (fast, reference) = both(text);
        assert!(fast.is_some());
        assert_eq!(fast, reference);
    }

    /// Pieces of JSON, well formed or not, to put together.
    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\n",
            "\"type\"",
            "\"a\\\"b\"",
            "\"\\u00e9\"",
            "\"\\x\"",
            "\"\u{1}\"",
            "\"",
            "0",
            "-0",
            "01",
            "1.5",
            "1.",
            "-",
            "2e5",
            "2e",
            "1E+2",
            "true",
            "fals",
            "null",
            "\"k\": 1",
            "\"k\": \"v\"",
            "\"k\": [1, {\"x\": \"]\"}]",
            "\"k\": {",
            "ü",
        ])
    }

    /// Texts of up to `max_len` bytes: ordinary bytes `ordinary` times as
    /// often as each of a quote, a backslash and a control character.
    fn string_bytes(ordinary: u32, max_len: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                ordinary => 0x20u8..=0xff,
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
            ],
            0..max_len,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Sixteen and eight bytes a step find what one byte a step finds,
        /// in short texts dense with special bytes and in long sparse ones.
        #[test]
        fn the_word_search_finds_the_first_special_byte(
            dense in string_bytes(4, 40),
            sparse in string_bytes(120, 120),
        ) {
            for bytes in [dense, sparse] {
                let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
                prop_assert_eq!(special_in_run(&bytes), naive);
                prop_assert_eq!(special_in_words(&bytes, 0), naive);
            }
        }

        /// Whatever the fast scanner takes, serde_json takes the same way.
        #[test]
        fn the_fast_scanner_never_disagrees(pieces in prop::collection::vec(piece(), 0..24)) {
            let text: String = pieces.concat();
            let (fast, reference) = both(&text);
            if fast.is_some() {
                prop_assert_eq!(fast, reference, "{}", text);
            }
        }

        /// Well-formed event lists: the fast scanner takes them all.
        #[test]
        fn the_fast_scanner_takes_what_celery_sends(
            events in prop::collection::vec(
                prop::collection::vec(("[a-z_]{1,8}", prop_oneof![
                    any::<i64>().prop_map(|n| n.to_string()),
                    any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| x.to_string()),
                    ".{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                    Just("null".to_string()),
                ]), 0..8),
                1..5,
            )
        ) {
            let text = format!("[{}]", events.iter().map(|fields| {
                format!("{{{}}}", fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect::<Vec<_>>().join(", "))
            }).collect::<Vec<_>>().join(", "));
            let (fast, reference) = both(&text);
            prop_assert!(reference.is_some(), "{}", text);
            prop_assert_eq!(fast, reference, "{}", text);
        }
    }
}
