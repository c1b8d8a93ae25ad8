//! JSON text read in its own key order: a parsed `serde_json` map has an order
//! of its own (sorted, unless the build turns on `preserve_order`), so tests of
//! what goes on the wire read the keys from the text.

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

struct Keys;

impl<'de> Visitor<'de> for Keys {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Vec<String>, M::Error> {
        let mut keys = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            keys.push(key);
        }
        Ok(keys)
    }
}

/// The top-level keys of the JSON object `text`, in the text's order.
pub(crate) fn wire_keys(text: &[u8]) -> Vec<String> {
    serde_json::Deserializer::from_slice(text)
        .deserialize_map(Keys)
        .expect("a JSON object")
}

/// The keys of the object under `key` in the JSON object `text`, in the text's
/// order.
#[allow(dead_code)] // not every test reads a nested object
pub(crate) fn nested_wire_keys(text: &[u8], key: &str) -> Vec<String> {
    let fields: std::collections::HashMap<String, Box<RawValue>> =
        serde_json::from_slice(text).expect("a JSON object");
    wire_keys(fields[key].get().as_bytes())
}
