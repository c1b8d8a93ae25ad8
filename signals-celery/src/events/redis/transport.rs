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

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{envelope, Backoff, Endpoint};
use crate::events::broker::Outbox;
use crate::events::transport::{Message, Transport, TransportError};

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
        }
    }
}

/// Why a [`RedisTransport`] could not be created.
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
    /// The background thread that talks to Redis could not be started.
    #[error("cannot start the Redis background thread: {0}")]
    Thread(#[source] std::io::Error),
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
    outbox: Arc<Outbox<Outgoing>>,
    /// `<global_keyprefix>/<db>.`: what every channel starts with.
    channel_prefix: String,
    options: RedisOptions,
    worker: Option<JoinHandle<()>>,
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
            options.tls_root_certificates.as_deref(),
            &options.global_keyprefix,
            options.fanout_prefix,
        )?;
        let outbox = Arc::new(Outbox::new(options.capacity));
        let writer = Writer {
            outbox: outbox.clone(),
            client: endpoint.client,
            url: endpoint.url,
            batch: options.batch.max(1),
            reconnect_delay: options.reconnect_delay,
            min_subscribers: options.min_subscribers,
        };
        let worker = std::thread::Builder::new()
            .name("signals-redis-writer".into())
            .spawn(move || writer.run())
            .map_err(RedisConfigError::Thread)?;
        Ok(Self {
            outbox,
            channel_prefix: endpoint.channel_prefix,
            options,
            worker: Some(worker),
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
        self.outbox.pending()
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
        self.outbox.push(outgoing, "Redis")
    }

    fn flush(&self) -> Result<(), TransportError> {
        self.outbox.flush(self.options.flush_timeout)
    }
}

impl Drop for RedisTransport {
    fn drop(&mut self) {
        if let Err(error) = self.flush() {
            tracing::warn!(%error, "dropping the Redis transport with messages not sent");
        }
        self.outbox.close();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The background thread that sends the queue.
struct Writer {
    outbox: Arc<Outbox<Outgoing>>,
    client: redis::Client,
    /// For logs, password masked.
    url: String,
    batch: usize,
    reconnect_delay: Duration,
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

impl Writer {
    fn run(self) {
        let mut connection: Option<redis::Connection> = None;
        // One buffer for every pipeline, grown to the largest batch.
        let mut packed = Vec::new();
        let mut backoff = Backoff::new(self.reconnect_delay);
        loop {
            let Some(batch) = self.outbox.take(self.batch) else {
                return; // closing, and everything was sent
            };
            let failure = match self.send(&mut connection, &mut packed, &batch) {
                Ok(Sent::All) => None,
                Ok(Sent::Unheard { heard, subscribers }) => Some((
                    heard,
                    format!(
                        "PUBLISH reached {subscribers} subscribers of the {} required",
                        self.min_subscribers
                    ),
                )),
                Err(error) => {
                    connection = None;
                    Some((0, error))
                }
            };
            match failure {
                None => {
                    backoff.reset();
                    self.outbox.sent();
                }
                Some((heard, error)) => {
                    tracing::warn!(url = %self.url, %error, "Redis publish failed; will retry");
                    if self
                        .outbox
                        .failed(batch.into_iter().skip(heard).collect(), error)
                    {
                        return;
                    }
                    std::thread::sleep(backoff.next_wait());
                }
            }
        }
    }

    /// Sends one batch in one pipeline: one write, then one reply per message.
    fn send(
        &self,
        connection: &mut Option<redis::Connection>,
        packed: &mut Vec<u8>,
        batch: &[Outgoing],
    ) -> Result<Sent, String> {
        use redis::ConnectionLike as _;
        let connection = match connection {
            Some(connection) => connection,
            None => connection.insert(
                self.client
                    .get_connection()
                    .map_err(|error| error.to_string())?,
            ),
        };
        packed.clear();
        for outgoing in batch {
            packed.extend_from_slice(&outgoing.command);
        }
        let replies = connection
            .req_packed_commands(packed, 0, batch.len())
            .map_err(|error| error.to_string())?;
        let required = self.min_subscribers as i64;
        for (heard, reply) in replies.into_iter().enumerate() {
            match reply {
                redis::Value::Int(subscribers) if subscribers < required => {
                    return Ok(Sent::Unheard { heard, subscribers })
                }
                redis::Value::Int(_) => {}
                redis::Value::ServerError(error) => {
                    return Err(redis::RedisError::from(error).to_string())
                }
                other => return Err(format!("unexpected reply to PUBLISH: {other:?}")),
            }
        }
        Ok(Sent::All)
    }
}
