//! The Redis transport: publishes events exactly as kombu 5.x does for Celery
//! on Redis, so `celery events` and Flower see them.
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

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::serializer::{Json, Serializer};
use super::transport::{DeliveryMode, Message, Transport, TransportError};

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
        }
    }
}

/// Why a [`RedisTransport`] could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// The URL is not a `redis://` URL the client understands (the password,
    /// if any, is not repeated here).
    #[error("invalid Redis URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The background thread that sends to Redis could not be started.
    #[error("cannot start the Redis writer thread: {0}")]
    WriterThread(#[source] std::io::Error),
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
/// use signals::events::{EventDispatcher, RedisTransport, WorkerOnline};
///
/// let transport = RedisTransport::open("redis://127.0.0.1:6379/0")?;
/// let dispatcher = EventDispatcher::builder(transport).hostname("rust@host").build();
/// dispatcher.send_event(&WorkerOnline::default())?;
/// dispatcher.flush(true, true)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisTransport {
    shared: Arc<Shared>,
    /// `<global_keyprefix>/<db>.`: what every channel starts with.
    channel_prefix: String,
    options: RedisOptions,
    worker: Option<JoinHandle<()>>,
}

/// A message ready to go: its channel and envelope.
struct Outgoing {
    channel: String,
    envelope: Vec<u8>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: something queued, or closing.
    work: Condvar,
    /// Wakes flushers: the queue drained or the connection changed.
    progress: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Outgoing>,
    /// Messages taken by the writer and not yet confirmed.
    in_flight: usize,
    /// The last connection or command error, cleared by a successful batch.
    last_error: Option<String>,
    closing: bool,
}

impl RedisTransport {
    /// Connects lazily to `url` (`redis://[:password@]host[:port][/db]`) with
    /// the default options.
    pub fn open(url: &str) -> Result<Self, RedisConfigError> {
        Self::with_options(url, RedisOptions::default())
    }

    /// Connects lazily to `url` with `options`.
    pub fn with_options(url: &str, options: RedisOptions) -> Result<Self, RedisConfigError> {
        let invalid = |reason: String| RedisConfigError::InvalidUrl {
            url: mask_password(url),
            reason,
        };
        let client = redis::Client::open(url).map_err(|error| invalid(error.to_string()))?;
        let db = database_of(url).map_err(invalid)?;
        let mut channel_prefix = options.global_keyprefix.clone();
        if options.fanout_prefix {
            channel_prefix.push_str(&format!("/{db}."));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
        });
        let writer = Writer {
            shared: shared.clone(),
            client,
            url: mask_password(url),
            batch: options.batch.max(1),
            reconnect_delay: options.reconnect_delay,
        };
        let worker = std::thread::Builder::new()
            .name("signals-redis-writer".into())
            .spawn(move || writer.run())
            .map_err(RedisConfigError::WriterThread)?;
        Ok(Self {
            shared,
            channel_prefix,
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
        let state = self.shared.lock();
        state.queue.len() + state.in_flight
    }
}

impl Transport for RedisTransport {
    fn driver_type(&self) -> &str {
        "redis"
    }

    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        let outgoing = Outgoing {
            channel: self.channel(message.exchange, message.routing_key),
            envelope: envelope(message)?,
        };
        let mut state = self.shared.lock();
        if state.queue.len() + state.in_flight >= self.options.capacity {
            let why = state
                .last_error
                .clone()
                .unwrap_or_else(|| "Redis is too slow".into());
            return Err(TransportError::Unavailable(format!(
                "{} messages are waiting to be sent ({why})",
                self.options.capacity
            )));
        }
        state.queue.push_back(outgoing);
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    fn flush(&self) -> Result<(), TransportError> {
        let deadline = Instant::now() + self.options.flush_timeout;
        let mut state = self.shared.lock();
        while !state.queue.is_empty() || state.in_flight > 0 {
            let now = Instant::now();
            if now >= deadline {
                let pending = state.queue.len() + state.in_flight;
                let why = state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "timed out".into());
                return Err(TransportError::Unavailable(format!(
                    "{pending} messages not yet sent: {why}"
                )));
            }
            state = self
                .shared
                .progress
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Ok(())
    }
}

impl Drop for RedisTransport {
    fn drop(&mut self) {
        if let Err(error) = self.flush() {
            tracing::warn!(%error, "dropping the Redis transport with messages not sent");
        }
        self.shared.lock().closing = true;
        self.shared.work.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (plain pushes and pops).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The background thread that sends the queue.
struct Writer {
    shared: Arc<Shared>,
    client: redis::Client,
    /// For logs, password masked.
    url: String,
    batch: usize,
    reconnect_delay: Duration,
}

impl Writer {
    fn run(self) {
        let mut connection: Option<redis::Connection> = None;
        let mut delay = self.reconnect_delay;
        loop {
            let batch: Vec<Outgoing> = {
                let mut state = self.shared.lock();
                while state.queue.is_empty() && !state.closing {
                    state = self
                        .shared
                        .work
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                if state.queue.is_empty() {
                    return; // closing, and everything was sent
                }
                let n = state.queue.len().min(self.batch);
                state.in_flight = n;
                state.queue.drain(..n).collect()
            };
            match self.send(&mut connection, &batch) {
                Ok(()) => {
                    delay = self.reconnect_delay;
                    let mut state = self.shared.lock();
                    state.in_flight = 0;
                    state.last_error = None;
                }
                Err(error) => {
                    connection = None;
                    tracing::warn!(url = %self.url, %error, "Redis publish failed; will retry");
                    let mut state = self.shared.lock();
                    // Back to the front, in order: nothing queued is lost.
                    for outgoing in batch.into_iter().rev() {
                        state.queue.push_front(outgoing);
                    }
                    state.in_flight = 0;
                    state.last_error = Some(error);
                    let closing = state.closing;
                    drop(state);
                    self.shared.progress.notify_all();
                    if closing {
                        return;
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
            self.shared.progress.notify_all();
        }
    }

    /// Sends one batch in one pipeline.
    fn send(
        &self,
        connection: &mut Option<redis::Connection>,
        batch: &[Outgoing],
    ) -> Result<(), String> {
        let connection = match connection {
            Some(connection) => connection,
            None => connection.insert(
                self.client
                    .get_connection()
                    .map_err(|error| error.to_string())?,
            ),
        };
        let mut pipeline = redis::pipe();
        for outgoing in batch {
            pipeline
                .cmd("PUBLISH")
                .arg(&outgoing.channel)
                .arg(&outgoing.envelope)
                .ignore();
        }
        pipeline
            .query::<()>(connection)
            .map_err(|error| error.to_string())
    }
}

/// The kombu envelope of `message`.
fn envelope(message: &Message<'_>) -> Result<Vec<u8>, TransportError> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        body: String,
        #[serde(rename = "content-encoding")]
        content_encoding: &'a str,
        #[serde(rename = "content-type")]
        content_type: &'a str,
        headers: Headers<'a>,
        properties: Properties<'a>,
    }
    struct Headers<'a>(&'a [(&'a str, &'a str)]);
    impl Serialize for Headers<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().map(|(key, value)| (key, value)))
        }
    }
    #[derive(Serialize)]
    struct Properties<'a> {
        delivery_mode: u8,
        delivery_info: DeliveryInfo<'a>,
        priority: u8,
        body_encoding: &'a str,
        delivery_tag: String,
    }
    #[derive(Serialize)]
    struct DeliveryInfo<'a> {
        exchange: &'a str,
        routing_key: &'a str,
    }

    use base64::Engine as _;
    let envelope = Envelope {
        body: base64::engine::general_purpose::STANDARD.encode(message.body),
        content_encoding: message.content_encoding,
        content_type: message.content_type,
        headers: Headers(message.headers),
        properties: Properties {
            delivery_mode: match message.delivery_mode {
                DeliveryMode::Transient => 1,
                DeliveryMode::Persistent => 2,
            },
            delivery_info: DeliveryInfo {
                exchange: message.exchange,
                routing_key: message.routing_key,
            },
            priority: 0,
            body_encoding: "base64",
            delivery_tag: uuid4(),
        },
    };
    let mut out = Vec::with_capacity(message.body.len() * 4 / 3 + 320);
    Json.write(&envelope, &mut out)
        .map_err(|error| TransportError::Refused(error.to_string()))?;
    Ok(out)
}

/// A random (version 4) UUID, as kombu's delivery tags are.
fn uuid4() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static SEED: RandomState = RandomState::new();
    }
    let (high, low) = SEED.with(|seed| {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut a = seed.build_hasher();
        a.write_u64(n);
        let mut b = seed.build_hasher();
        b.write_u64(!n);
        (a.finish(), b.finish())
    });
    let high = (high & !0xF000) | 0x4000; // version 4
    let low = (low & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

/// The database number in a `redis://` URL's path (0 when absent).
fn database_of(url: &str) -> Result<u32, String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    let db = path.split(['?', '#']).next().unwrap_or("");
    if db.is_empty() {
        return Ok(0);
    }
    db.parse()
        .map_err(|_| format!("the database `{db}` is not a number"))
}

/// `url` with its password, if any, replaced by `***`.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    let user = credentials
        .split_once(':')
        .map_or(credentials, |(user, _)| user);
    if credentials.contains(':') {
        format!("{scheme}://{user}:***@{host}")
    } else {
        format!("{scheme}://***@{host}")
    }
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
    fn delivery_tags_are_version_4_uuids() {
        let a = uuid4();
        let b = uuid4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }
}
