//! The broker layer: what events and remote control share on each broker,
//! below both of them.
//!
//! - [`message`]: what a broker carries, in both directions;
//! - [`outbox`] and [`publisher`]: a background publisher that owns a bounded
//!   queue, the thread that sends it in batches, reconnection with a
//!   backoff, and flush on drop; a broker supplies only how a batch is sent
//!   ([`publisher::Link`]);
//! - [`failover`]: a broker given as a list of URLs, and the node in use;
//! - [`feed`]: the hand-off from a subscriber's reader thread;
//! - per broker ([`redis`], [`amqp`]): the connection, the URL's checks, the
//!   message codec, and what Celery's `stats` reports of it.
//!
//! A broker added here needs its connection and its codec; the publisher, the
//! outbox, the backoff and the options are shared.

// The failover options are public whatever the brokers built; the lists
// themselves are read only by a broker's code.
#[cfg_attr(not(any(feature = "redis", feature = "amqp")), allow(dead_code))]
pub(crate) mod failover;
#[cfg(any(feature = "redis", feature = "amqp"))]
pub(crate) mod feed;
mod message;
#[cfg(any(feature = "redis", feature = "amqp"))]
pub(crate) mod outbox;
#[cfg(any(feature = "redis", feature = "amqp"))]
pub(crate) mod publisher;

#[cfg(feature = "amqp")]
pub(crate) mod amqp;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(any(feature = "redis-tls", feature = "amqp"))]
pub(crate) mod tls;

#[cfg(any(feature = "redis", feature = "amqp"))]
use std::time::Duration;

pub use message::{Delivery, DeliveryMode, Message, TransportError};

#[cfg(any(feature = "redis", feature = "amqp"))]
pub(crate) use crate::mask_password;

#[cfg(any(feature = "redis", feature = "amqp"))]
/// The waits between reconnection attempts: the first one given, doubled after
/// each failure up to 2 s (or up to the first, if that is longer: a wait the
/// user chose is never shortened), back to the first after a success.
pub(crate) struct Backoff {
    first: Duration,
    next: Duration,
}

#[cfg(any(feature = "redis", feature = "amqp"))]
impl Backoff {
    const MAX: Duration = Duration::from_secs(2);

    pub(crate) fn new(first: Duration) -> Self {
        Self { first, next: first }
    }

    /// After a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }

    /// The wait before the next attempt, after a failure.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (wait * 2).min(Self::MAX.max(self.first));
        wait
    }
}

#[cfg(any(feature = "redis", feature = "amqp"))]
/// What every background publisher is configured with, whatever the broker:
/// the fields of `RedisOptions` and `AmqpOptions` that mean the same.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PublisherOptions {
    /// The most messages queued and not yet sent.
    pub(crate) capacity: usize,
    /// The most messages in one batch.
    pub(crate) batch: usize,
    /// How long `flush` (and drop) waits for the queue to be sent.
    pub(crate) flush_timeout: Duration,
    /// The first wait before reconnecting; doubled up to 2 s.
    pub(crate) reconnect_delay: Duration,
}

#[cfg(any(feature = "redis", feature = "amqp"))]
/// What Celery's `stats` reports as `broker` (kombu's `Connection.info()`),
/// from what a broker's URL says.
pub(crate) struct BrokerInfo<'a> {
    pub(crate) transport: &'static str,
    pub(crate) hostname: Option<String>,
    pub(crate) userid: Option<String>,
    pub(crate) virtual_host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) ssl: bool,
    pub(crate) login_method: Option<&'a str>,
}

#[cfg(any(feature = "redis", feature = "amqp"))]
impl BrokerInfo<'_> {
    /// The map, with kombu's defaults for what a URL does not say.
    pub(crate) fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        let info = serde_json::json!({
            "hostname": self.hostname,
            "userid": self.userid,
            "virtual_host": self.virtual_host,
            "port": self.port,
            "insist": false,
            "ssl": self.ssl,
            "transport": self.transport,
            "connect_timeout": 4,
            "transport_options": {},
            "login_method": self.login_method,
            "uri_prefix": null,
            "heartbeat": 120.0,
            "failover_strategy": "round-robin",
            "alternates": [],
        });
        match info {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }
}
