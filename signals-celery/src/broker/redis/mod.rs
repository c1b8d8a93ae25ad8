//! Redis as events and remote control reach it: the client (plain, or TLS
//! for `rediss://`), the channel prefix kombu puts before every exchange, the
//! database, kombu's envelope ([`envelope`]) and what Celery's `stats` reports
//! of the broker.

pub(crate) mod envelope;
pub(crate) mod pubsub;
pub(crate) mod servers;

use super::failover::{Failover, TopologyError};
use super::{mask_password, BrokerInfo};
pub(crate) use servers::Servers;

/// Why a Redis transport, subscriber, mailbox or control client could not
/// be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The URL is not a `redis://` (or, with the `redis-tls` feature,
    /// `rediss://`) URL the client understands, or its TLS root certificates
    /// are not PEM (the password, if any, is not repeated here).
    #[error("invalid Redis URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL list or the Sentinel settings cannot be used.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// The background thread that talks to Redis could not be started.
    #[error("cannot start the Redis background thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A Redis server as both directions reach it: the servers to connect to,
/// what every channel starts with, and the URL as errors and logs show it.
pub(crate) struct Endpoint {
    pub(crate) servers: Servers,
    /// `<global_keyprefix>/<db>.` (see [`channel_prefix`]).
    pub(crate) channel_prefix: String,
    /// The URL with its password masked.
    pub(crate) url: String,
}

impl Endpoint {
    /// Checks `url` (one URL, a `;`-separated failover list, or sentinels)
    /// and builds its clients (nothing connects yet).
    pub(crate) fn open(
        url: &str,
        failover: &Failover,
        tls_root_certificates: Option<&[u8]>,
        global_keyprefix: &str,
        fanout_prefix: bool,
    ) -> Result<Self, RedisConfigError> {
        let servers = open_servers(url, failover, tls_root_certificates)?;
        let channel_prefix = channel_prefix(servers.first_url(), global_keyprefix, fanout_prefix)
            .map_err(|reason| RedisConfigError::InvalidUrl {
            url: mask_password(servers.first_url()),
            reason,
        })?;
        Ok(Self {
            url: servers.describe(),
            servers,
            channel_prefix,
        })
    }
}

/// The servers of `url` (one URL, a failover list, or sentinels), each
/// plain server's client trusting `roots` for `rediss://`.
pub(crate) fn open_servers(
    url: &str,
    failover: &Failover,
    roots: Option<&[u8]>,
) -> Result<Servers, RedisConfigError> {
    Servers::open(url, failover, |url| client(url, roots)).map_err(|error| match error {
        servers::ServersError::Topology(error) => RedisConfigError::Topology(error),
        servers::ServersError::InvalidUrl { url, reason } => {
            RedisConfigError::InvalidUrl { url, reason }
        }
    })
}

/// A client for `url`: plain, or TLS for `rediss://` (feature `redis-tls`),
/// trusting the PEM certificates `roots` if given, else the system's. Errors
/// say what is wrong without the password.
pub(crate) fn client(url: &str, roots: Option<&[u8]>) -> Result<redis::Client, String> {
    if url.starts_with("rediss://") && !cfg!(feature = "redis-tls") {
        return Err("rediss:// (TLS) needs the `redis-tls` cargo feature of `signals`".into());
    }
    #[cfg(feature = "redis-tls")]
    if url.starts_with("rediss://") {
        super::tls::ring_unless_chosen();
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

/// Whether a blocked pub/sub read ended without the connection failing: its
/// read timeout passed, or a signal interrupted it (a stopped and continued
/// process, a debugger). Nothing was read either way, so the next read
/// carries on where this one stopped; reconnecting would drop whatever
/// Redis still holds for the subscriber.
pub(crate) fn read_was_cut_short(error: &redis::RedisError) -> bool {
    use std::error::Error;
    // redis-rs keeps the `io::Error` behind an `Arc` it hands out as the source.
    let io = error.source().and_then(|source| {
        source.downcast_ref::<std::io::Error>().or_else(|| {
            source
                .downcast_ref::<std::sync::Arc<dyn Error + Send + Sync>>()
                .and_then(|shared| shared.downcast_ref::<std::io::Error>())
        })
    });
    error.is_timeout() || io.is_some_and(pubsub::read_was_cut_short)
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

/// What Celery's `stats` reports as `broker` for a Redis URL.
pub(crate) fn broker_info(url: &str) -> serde_json::Map<String, serde_json::Value> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(6379)),
        None => (authority, 6379u16),
    };
    BrokerInfo {
        transport: "redis",
        hostname: Some(host.to_owned()),
        userid: None,
        virtual_host: Some(database_of(url).unwrap_or(0).to_string()),
        port: Some(port),
        ssl: url.starts_with("rediss://"),
        login_method: None,
    }
    .to_map()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_cut_short_is_a_timeout_or_a_signal_not_a_lost_connection() {
        use std::io::{Error, ErrorKind};
        let cut = |kind| read_was_cut_short(&redis::RedisError::from(Error::from(kind)));
        assert!(cut(ErrorKind::TimedOut));
        assert!(cut(ErrorKind::WouldBlock));
        assert!(cut(ErrorKind::Interrupted));
        assert!(!cut(ErrorKind::ConnectionReset));
        assert!(!cut(ErrorKind::UnexpectedEof));
    }

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
    fn the_broker_as_stats_reports_it() {
        let info = broker_info("redis://:secret@10.0.0.1:6380/2");
        assert_eq!(info["hostname"], "10.0.0.1");
        assert_eq!(info["port"], 6380);
        assert_eq!(info["virtual_host"], "2");
        assert_eq!(info["transport"], "redis");
        assert_eq!(info["userid"], serde_json::Value::Null);
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
