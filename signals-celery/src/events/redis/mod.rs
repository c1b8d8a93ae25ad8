//! Celery events over Redis, as kombu 5.x carries them: [`RedisTransport`]
//! publishes, [`RedisSubscriber`] follows them for an
//! [`EventReceiver`](crate::events::EventReceiver).
//!
//! # Wire format
//!
//! Each message is a kombu envelope, sent with `PUBLISH` to
//! `<global_keyprefix>/<db>.<exchange>/<routing_key>` (kombu's fanout with
//! `fanout_patterns`; the `/<db>.` prefix is kombu's `fanout_prefix`):
//!
//! ```json
//! {"body": "<base64 of the event JSON>", "content-encoding": "utf-8",
//!  "content-type": "application/json", "headers": {"hostname": "w1@host"},
//!  "properties": {"delivery_mode": 1,
//!    "delivery_info": {"exchange": "celeryev", "routing_key": "task.started"},
//!    "priority": 0, "body_encoding": "base64", "delivery_tag": "<uuid4>"}}
//! ```
//!
//! A subscriber sends `PSUBSCRIBE <global_keyprefix>/<db>.<exchange>/<pattern>`,
//! the routing-key pattern with `#` turned into Redis's `*` (kombu's
//! `_queue_bind`).

pub(crate) use crate::events::broker::{mask_password, Backoff};

mod envelope;
mod subscriber;
mod transport;

pub use subscriber::{RedisSubscriber, RedisSubscriberOptions};
pub use transport::{RedisConfigError, RedisOptions, RedisTransport};

/// A Redis server as both directions reach it: the client, what every channel
/// starts with, and the URL as errors and logs show it.
struct Endpoint {
    client: redis::Client,
    /// `<global_keyprefix>/<db>.` (see [`channel_prefix`]).
    channel_prefix: String,
    /// The URL with its password masked.
    url: String,
}

impl Endpoint {
    /// Checks `url` and builds its client (nothing connects yet).
    fn open(
        url: &str,
        tls_root_certificates: Option<&[u8]>,
        global_keyprefix: &str,
        fanout_prefix: bool,
    ) -> Result<Self, RedisConfigError> {
        let invalid = |reason: String| RedisConfigError::InvalidUrl {
            url: mask_password(url),
            reason,
        };
        Ok(Self {
            client: client(url, tls_root_certificates).map_err(invalid)?,
            channel_prefix: channel_prefix(url, global_keyprefix, fanout_prefix)
                .map_err(invalid)?,
            url: mask_password(url),
        })
    }
}

/// A client for `url`: plain, or TLS for `rediss://` (feature `redis-tls`),
/// trusting the PEM certificates `roots` if given, else the system's. Errors
/// say what is wrong without the password.
pub(crate) fn client(url: &str, roots: Option<&[u8]>) -> Result<redis::Client, String> {
    if url.starts_with("rediss://") && !cfg!(feature = "redis-tls") {
        return Err("rediss:// (TLS) needs the `redis-tls` cargo feature of `signals`".into());
    }
    #[cfg(feature = "redis-tls")]
    if let Some(pem) = roots {
        let text = String::from_utf8_lossy(pem);
        let begin = text.find("-----BEGIN CERTIFICATE-----");
        if !begin.is_some_and(|at| text[at..].contains("-----END CERTIFICATE-----")) {
            return Err("the TLS root certificates hold no PEM certificate".into());
        }
        return redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            },
        )
        .map_err(|error| error.to_string());
    }
    let _ = roots;
    redis::Client::open(url).map_err(|error| error.to_string())
}

/// What every channel of this connection starts with: `<global_keyprefix>`,
/// then `/<db>.` with kombu's `fanout_prefix`.
fn channel_prefix(
    url: &str,
    global_keyprefix: &str,
    fanout_prefix: bool,
) -> Result<String, String> {
    let mut prefix = global_keyprefix.to_owned();
    if fanout_prefix {
        prefix.push_str(&format!("/{}.", database_of(url)?));
    }
    Ok(prefix)
}

/// The database number in a `redis://` URL's path (0 when absent).
pub(crate) fn database_of(url: &str) -> Result<u32, String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    let db = path.split(['?', '#']).next().unwrap_or("");
    if db.is_empty() {
        return Ok(0);
    }
    db.parse()
        .map_err(|_| format!("the database `{db}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_and_password_masking() {
        assert_eq!(database_of("redis://127.0.0.1:6379/3"), Ok(3));
        assert_eq!(database_of("redis://127.0.0.1:6379"), Ok(0));
        assert!(database_of("redis://127.0.0.1/x").is_err());
        assert_eq!(
            mask_password("redis://user:hunter2@host:1/0"),
            "redis://user:***@host:1/0"
        );
        assert_eq!(mask_password("redis://:hunter2@host"), "redis://:***@host");
        assert_eq!(mask_password("redis://host:1"), "redis://host:1");
    }

    #[test]
    fn channel_prefixes_follow_kombu() {
        assert_eq!(channel_prefix("redis://h/2", "", true).unwrap(), "/2.");
        assert_eq!(
            channel_prefix("redis://h/2", "app:", true).unwrap(),
            "app:/2."
        );
        assert_eq!(channel_prefix("redis://h/2", "", false).unwrap(), "");
    }
}
