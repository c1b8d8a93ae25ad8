//! A remote-control request as Celery's mailbox sends it, and whether it is
//! addressed to a node.

use serde::Deserialize;
use serde_json::{Map, Value};

/// Where a call's reply goes: the direct exchange `reply.celery.pidbox` and
/// the client's routing key (its `oid`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ReplyTo {
    /// The reply exchange.
    pub exchange: String,
    /// The client's routing key.
    pub routing_key: String,
}

/// One request: a call (with `ticket` and `reply_to`) or a cast (without).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Request {
    /// The command (`ping`, `stats`, a user command...).
    pub method: String,
    /// Its keyword arguments.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub arguments: Map<String, Value>,
    /// The node names it is for; none means every node.
    #[serde(default)]
    pub destination: Option<Vec<String>>,
    /// A node-name pattern, used with `matcher` when there is no destination.
    #[serde(default)]
    pub pattern: Option<String>,
    /// How `pattern` matches: `glob` (the only one supported here) or `pcre`.
    #[serde(default)]
    pub matcher: Option<String>,
    /// The call's ticket, echoed in the reply's headers.
    #[serde(default)]
    pub ticket: Option<String>,
    /// Where to reply; `None` for a cast.
    #[serde(default)]
    pub reply_to: Option<ReplyTo>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(deserializer)?.unwrap_or_default())
}

impl Request {
    /// Whether `hostname` should act on it, by kombu's rules: a non-empty
    /// `destination` must name it; else a `pattern` with a `matcher` must
    /// match it; else every node acts.
    pub fn is_for(&self, hostname: &str) -> bool {
        match (&self.destination, &self.pattern, &self.matcher) {
            (Some(destination), _, _) if !destination.is_empty() => {
                destination.iter().any(|name| name == hostname)
            }
            (_, Some(pattern), Some(matcher)) => match matcher.as_str() {
                "glob" => glob_matches(pattern.as_bytes(), hostname.as_bytes()),
                other => {
                    tracing::warn!(matcher = other, "unsupported control matcher; ignored");
                    false
                }
            },
            _ => true,
        }
    }
}

/// `fnmatch` without character classes: `*` any run, `?` any one byte.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Request {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn addressing_follows_kombu() {
        let all = request(r#"{"method": "ping", "arguments": {}, "destination": null}"#);
        assert!(all.is_for("w1@h"));
        let one = request(r#"{"method": "ping", "arguments": null, "destination": ["w1@h"]}"#);
        assert!(one.is_for("w1@h") && !one.is_for("w2@h"));
        let glob = request(
            r#"{"method": "ping", "arguments": {}, "destination": null,
                "pattern": "w*@h", "matcher": "glob"}"#,
        );
        assert!(glob.is_for("w1@h") && !glob.is_for("x1@h"));
        let pcre = request(
            r#"{"method": "ping", "destination": null, "pattern": ".*", "matcher": "pcre"}"#,
        );
        assert!(!pcre.is_for("w1@h"));
    }

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("a*c", "abbbc", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*@host", "w1@host", true),
            ("*@host", "w1@other", false),
            ("w[1]", "w1", false),
        ] {
            assert_eq!(
                glob_matches(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern} / {text}"
            );
        }
    }
}
