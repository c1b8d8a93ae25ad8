//! The Redis transport: publishes events exactly as kombu 5.x does for Celery
//! on Redis (the envelope and channel of [`super`]), so `celery events` and
//! Flower see them.
//!
//! # Throughput and safety
//!
//! `publish` encodes the envelope and queues it; a background thread sends the
//! queue in pipelines (one round trip for up to [`RedisOptions::batch`]
//! messages), in order. If Redis goes away, the thread reconnects with a
//! backoff and sends the same batch again, so nothing queued is lost (a batch
//! cut by the failure may be delivered twice: at least once). The queue is
//! bounded; when it is full `publish` returns [`TransportError::Unavailable`]
//! and the dispatcher keeps the event in its own bounded buffer.
//! [`Transport::flush`] waits until the queue is sent; dropping the transport
//! flushes (up to [`RedisOptions::flush_timeout`]).

use std::time::Duration;

use super::RedisConfigError;
use crate::broker::publisher::{Link, Publisher, Unsent};
use crate::broker::redis::servers::is_demoted;
use crate::broker::redis::Servers;
use crate::broker::redis::{envelope, Endpoint};
use crate::broker::PublisherOptions;
use crate::events::transport::{Message, Transport, TransportError};
use crate::Failover;

/// Options of a [`RedisTransport`], as kombu's transport options.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// kombu's `fanout_prefix`: `true` for `/<db>.` (the default), `false` for
    /// none.
    pub fanout_prefix: bool,
    /// kombu's `global_keyprefix`, prepended to every channel (default empty).
    pub global_keyprefix: String,
    /// The most messages queued and not yet sent (default 100,000).
    pub capacity: usize,
    /// The most messages in one pipeline (default 512).
    pub batch: usize,
    /// How long `flush` (and drop) waits for the queue to be sent (default 10 s).
    pub flush_timeout: Duration,
    /// The first wait before reconnecting; doubled up to 2 s (default 100 ms).
    pub reconnect_delay: Duration,
    /// Hold each message until `PUBLISH` reaches at least this many subscribers
    /// (default 0, kombu's fire-and-forget). Redis pub/sub keeps nothing for
    /// absent subscribers; with 1, events wait (bounded by `capacity`) while
    /// the monitor restarts instead of being lost. With a subscriber that
    /// removes redeliveries ([`EventReceiver`](crate::events::EventReceiver)
    /// does, by delivery tag), delivery is exactly once.
    pub min_subscribers: usize,
    /// For `rediss://` (feature `redis-tls`): PEM certificates of the CAs to
    /// trust instead of the system's (default `None`: the system's).
    pub tls_root_certificates: Option<Vec<u8>>,
    /// How a failover list of URLs or Sentinel is used (default: the
    /// list round-robin, no Sentinel master name).
    pub failover: Failover,
}

impl RedisOptions {
    /// The options every broker's publisher shares.
    fn publisher(&self) -> PublisherOptions {
        PublisherOptions {
            capacity: self.capacity,
            batch: self.batch,
            flush_timeout: self.flush_timeout,
            reconnect_delay: self.reconnect_delay,
        }
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            fanout_prefix: true,
            global_keyprefix: String::new(),
            capacity: 100_000,
            batch: 512,
            flush_timeout: Duration::from_secs(10),
            reconnect_delay: Duration::from_millis(100),
            min_subscribers: 0,
            tls_root_certificates: None,
            failover: Failover::default(),
        }
    }
}

/// Publishes Celery events to Redis the way kombu does: each message is a kombu
/// JSON envelope (base64 body, content type and encoding, headers, properties
/// with delivery info and a uuid4 delivery tag), sent with `PUBLISH` to
/// `<global_keyprefix>/<db>.<exchange>/<routing_key>`. A background thread sends
/// the queue in pipelines, in order, and reconnects after a failure without
/// losing what is queued (at least once); the queue is bounded, and `flush`
/// waits until it is sent.
///
/// ```no_run
/// use signals_celery::events::{EventDispatcher, RedisTransport, WorkerOnline};
///
/// let transport = RedisTransport::open("redis://127.0.0.1:6379/0")?;
/// let dispatcher = EventDispatcher::builder(transport).hostname("rust@host").build();
/// dispatcher.send_event(&WorkerOnline::default())?;
/// dispatcher.flush(true, true)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisTransport {
    publisher: Publisher<Outgoing>,
    /// `<global_keyprefix>/<db>.`: what every channel starts with.
    channel_prefix: String,
}

/// A message ready to go: its channel and envelope.
struct Outgoing {
    /// `PUBLISH <channel> <envelope>`, already in Redis's wire protocol (RESP),
    /// so the writer thread only concatenates.
    command: Vec<u8>,
}

impl Outgoing {
    fn publish(channel: &str, envelope: &[u8]) -> Self {
        use std::io::Write as _;
        let mut command = Vec::with_capacity(envelope.len() + channel.len() + 48);
        // Writing to a Vec cannot fail.
        let _ = write!(command, "*3\r\n$7\r\nPUBLISH\r\n${}\r\n", channel.len());
        command.extend_from_slice(channel.as_bytes());
        let _ = write!(command, "\r\n${}\r\n", envelope.len());
        command.extend_from_slice(envelope);
        command.extend_from_slice(b"\r\n");
        Self { command }
    }
}

impl RedisTransport {
    /// Connects lazily to `url` (`redis://[:password@]host[:port][/db]`, or
    /// `rediss://` for TLS with the `redis-tls` feature) with the default
    /// options.
    pub fn open(url: &str) -> Result<Self, RedisConfigError> {
        Self::with_options(url, RedisOptions::default())
    }

    /// Connects lazily to `url` with `options`.
    pub fn with_options(url: &str, options: RedisOptions) -> Result<Self, RedisConfigError> {
        let endpoint = Endpoint::open(
            url,
            &options.failover,
            options.tls_root_certificates.as_deref(),
            &options.global_keyprefix,
            options.fanout_prefix,
        )?;
        let link = RedisLink {
            servers: endpoint.servers,
            connection: None,
            packed: Vec::new(),
            min_subscribers: options.min_subscribers,
        };
        let publisher = Publisher::spawn(
            link,
            options.publisher(),
            "signals-redis-writer",
            "Redis",
            endpoint.url,
        )
        .map_err(RedisConfigError::Thread)?;
        Ok(Self {
            publisher,
            channel_prefix: endpoint.channel_prefix,
        })
    }

    /// The channel a message with this exchange and routing key goes to.
    pub fn channel(&self, exchange: &str, routing_key: &str) -> String {
        if routing_key.is_empty() {
            format!("{}{exchange}", self.channel_prefix)
        } else {
            format!("{}{exchange}/{routing_key}", self.channel_prefix)
        }
    }

    /// How many messages are queued or being sent.
    pub fn pending(&self) -> usize {
        self.publisher.pending()
    }
}

impl Transport for RedisTransport {
    fn driver_type(&self) -> &str {
        "redis"
    }

    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        let outgoing = Outgoing::publish(
            &self.channel(message.exchange, message.routing_key),
            &envelope::encode(message)?,
        );
        self.publisher.push(outgoing)
    }

    fn flush(&self) -> Result<(), TransportError> {
        self.publisher.flush()
    }
}

/// Sends batches to Redis in pipelines, on a connection it opens when it has
/// none.
struct RedisLink {
    servers: Servers,
    connection: Option<redis::Connection>,
    /// One buffer for every pipeline, grown to the largest batch.
    packed: Vec<u8>,
    min_subscribers: usize,
}

/// How a pipeline went.
enum Sent {
    /// Every message was published (to enough subscribers).
    All,
    /// The first `heard` messages were; the one after reached too few
    /// subscribers.
    Unheard { heard: usize, subscribers: i64 },
}

impl Link for RedisLink {
    type Message = Outgoing;

    fn send(&mut self, batch: &[Outgoing]) -> Result<(), Unsent> {
        match self.pipeline(batch) {
            Ok(Sent::All) => Ok(()),
            Ok(Sent::Unheard { heard, subscribers }) => Err(Unsent {
                delivered: heard,
                error: format!(
                    "PUBLISH reached {subscribers} subscribers of the {} required",
                    self.min_subscribers
                ),
            }),
            Err(error) => {
                self.connection = None;
                Err(Unsent::none(error))
            }
        }
    }
}

impl RedisLink {
    /// How long connecting may take before the next URL is tried.
    const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

    /// Sends one batch in one pipeline: one write, then one reply per message.
    fn pipeline(&mut self, batch: &[Outgoing]) -> Result<Sent, String> {
        use redis::ConnectionLike as _;
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self.connection.insert(
                self.servers
                    .connect(Self::CONNECT_TIMEOUT)
                    .map_err(|error| error.to_string())?,
            ),
        };
        self.packed.clear();
        for outgoing in batch {
            self.packed.extend_from_slice(&outgoing.command);
        }
        let replies = match connection.req_packed_commands(&self.packed, 0, batch.len()) {
            Ok(replies) => replies,
            Err(error) => {
                self.servers.lost(&error);
                return Err(error.to_string());
            }
        };
        let required = self.min_subscribers as i64;
        for (heard, reply) in replies.into_iter().enumerate() {
            match reply {
                redis::Value::Int(subscribers) if subscribers < required => {
                    return Ok(Sent::Unheard { heard, subscribers })
                }
                redis::Value::Int(_) => {}
                redis::Value::ServerError(error) => {
                    let error = redis::RedisError::from(error);
                    if is_demoted(&error) {
                        self.servers.lost(&error);
                    }
                    return Err(error.to_string());
                }
                other => return Err(format!("unexpected reply to PUBLISH: {other:?}")),
            }
        }
        Ok(Sent::All)
    }
}
