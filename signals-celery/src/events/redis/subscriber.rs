//! Following Celery events on Redis: a pattern subscription on the event
//! exchange's fanout channels, kept alive across broker restarts.

use std::time::{Duration, Instant};

use super::RedisConfigError;
use crate::broker::feed::{FeedWriter, Next, Subscription};
use crate::broker::redis::envelope::{self, EnvelopeError};
use crate::broker::redis::pubsub::{self, Frame, RawSubscription};
use crate::broker::redis::{read_was_cut_short, Endpoint, Servers};
use crate::broker::Backoff;
use crate::events::receiver::{
    About, Arrival, Delivery, EventSource, ReceiveError, DEFAULT_MAX_MESSAGE_SIZE,
};
use crate::Failover;

/// Options of a [`RedisSubscriber`].
#[derive(Clone, Debug)]
pub struct RedisSubscriberOptions {
    /// The event exchange (Celery's `event_exchange`, default `celeryev`).
    pub exchange: String,
    /// The routing-key pattern, AMQP style (`#` for every event, the default;
    /// `task.#` for task events). As in kombu, `#` becomes Redis's `*`, which
    /// matches across dots. Grouped events arrive as `<group>.multi`.
    pub routing_key: String,
    /// kombu's `fanout_prefix` (default `true`: `/<db>.`).
    pub fanout_prefix: bool,
    /// kombu's `global_keyprefix` (default empty).
    pub global_keyprefix: String,
    /// The first wait before reconnecting; doubled up to 2 s (default 100 ms).
    pub reconnect_delay: Duration,
    /// How many messages may wait for the receiver before the subscriber stops
    /// reading from Redis (default 65,536).
    pub backlog: usize,
    /// For `rediss://` (feature `redis-tls`): PEM certificates of the CAs to
    /// trust instead of the system's (default `None`: the system's).
    pub tls_root_certificates: Option<Vec<u8>>,
    /// How long the subscription may stay silent before it is checked with a
    /// `PING`, whose reply must then come within the same time, or the
    /// connection is taken as lost and made again (default 5 s). A socket
    /// can look open long after its peer is gone (a host that vanished, a
    /// firewall that dropped the flow): without the check the subscriber
    /// would wait on it for ever, hearing nothing.
    pub idle_check: Duration,
    /// How a failover list of URLs or Sentinel is used (default: the
    /// list round-robin, no Sentinel master name).
    pub failover: Failover,
}

impl Default for RedisSubscriberOptions {
    fn default() -> Self {
        Self {
            exchange: "celeryev".into(),
            routing_key: "#".into(),
            fanout_prefix: true,
            global_keyprefix: String::new(),
            reconnect_delay: Duration::from_millis(100),
            backlog: 65_536,
            tls_root_certificates: None,
            idle_check: Duration::from_secs(5),
            failover: Failover::default(),
        }
    }
}

/// Follows the Celery events published on a Redis server: sends
/// `PSUBSCRIBE <global_keyprefix>/<db>.celeryev/<pattern>` (as kombu's
/// consumer does) and hands each message to an
/// [`EventReceiver`](crate::events::EventReceiver) as an [`EventSource`].
///
/// A background thread reads the subscription; when the connection fails it
/// reports a [`ReceiveError::Source`], reconnects with a backoff and subscribes
/// again. Each connection is made and checked by redis-rs (credentials, a
/// master and not a cluster node); on a plain TCP connection the
/// subscription itself is then read by a frame reader of this crate, which
/// lends each message's bytes from one buffer, and on TLS by redis-rs. The
/// thread also opens kombu's envelope, and scans the events of a `.multi`
/// message, so that the receiver's thread is left the events themselves.
///
/// Redis pub/sub does not keep messages for absent subscribers: what is
/// published while the subscriber is away is not seen (a
/// [`RedisTransport`](super::RedisTransport) with
/// [`min_subscribers`](super::RedisOptions::min_subscribers) holds its events
/// until someone listens).
///
/// ```no_run
/// use signals_celery::events::{EventReceiver, RedisSubscriber};
///
/// let mut events = RedisSubscriber::open("redis://127.0.0.1:6379/0")?;
/// let receiver = EventReceiver::builder()
///     .handler("*", |event| println!("{:?}: {:?}", event.kind(), event.fields()))
///     .build();
/// receiver.capture(&mut events, Some(10), None);
/// # Ok::<(), signals_celery::events::RedisConfigError>(())
/// ```
pub struct RedisSubscriber {
    pattern: String,
    url: String,
    feed: Subscription<Received>,
}

impl RedisSubscriber {
    /// Subscribes to every event on `url` (`redis://[:password@]host[:port][/db]`).
    pub fn open(url: &str) -> Result<Self, RedisConfigError> {
        Self::with_options(url, RedisSubscriberOptions::default())
    }

    /// Subscribes with `options`.
    pub fn with_options(
        url: &str,
        options: RedisSubscriberOptions,
    ) -> Result<Self, RedisConfigError> {
        let endpoint = Endpoint::open(
            url,
            &options.failover,
            options.tls_root_certificates.as_deref(),
            &options.global_keyprefix,
            options.fanout_prefix,
        )?;
        let pattern = format!(
            "{}{}/{}",
            endpoint.channel_prefix,
            options.exchange,
            options.routing_key.replace('#', "*")
        );
        let (servers, subscribed, url) = (endpoint.servers, pattern.clone(), endpoint.url.clone());
        let (reconnect_delay, idle_check) = (options.reconnect_delay, options.idle_check);
        let feed = Subscription::spawn("signals-redis-subscriber", options.backlog, move |feed| {
            Reader {
                servers,
                pattern: subscribed,
                url,
                reconnect_delay,
                idle_check,
                feed,
            }
            .run()
        })
        .map_err(RedisConfigError::Thread)?;
        Ok(Self {
            pattern,
            url: endpoint.url,
            feed,
        })
    }

    /// The pattern subscribed to, e.g. `/0.celeryev/*`.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the subscription is active now.
    pub fn is_subscribed(&self) -> bool {
        self.feed.is_subscribed()
    }

    /// How many times the subscription was made (1 + reconnections).
    pub fn subscriptions(&self) -> u64 {
        self.feed.subscriptions()
    }

    /// Waits up to `timeout` until the subscription is active (events published
    /// before that are not seen); `true` if it is.
    pub fn wait_subscribed(&self, timeout: Duration) -> bool {
        self.feed.wait_subscribed(timeout)
    }
}

impl EventSource for RedisSubscriber {
    fn next_delivery(
        &mut self,
        timeout: Duration,
        max_size: usize,
    ) -> Result<Option<Delivery>, ReceiveError> {
        Ok(self
            .next_arrival(timeout, max_size)?
            .map(Arrival::into_delivery))
    }

    fn next_arrival(
        &mut self,
        timeout: Duration,
        max_size: usize,
    ) -> Result<Option<Arrival>, ReceiveError> {
        let received = match self.feed.next(timeout) {
            Next::Message(received) => received,
            Next::Error(error) => return Err(ReceiveError::Source(error)),
            Next::Timeout => return Ok(None),
            Next::Ended => {
                return Err(ReceiveError::Source(format!(
                    "the subscriber thread for {} ended",
                    self.url
                )))
            }
        };
        // The size is checked before anything opened is used.
        let size = received.size();
        let limit = envelope_limit(max_size);
        if size > limit {
            return Err(ReceiveError::TooLarge { size, limit });
        }
        match received {
            Received::Opened { opened, .. } => opened,
            Received::Raw(payload) => {
                envelope::decode(&payload).map(|opened| arrival_of(opened, false))
            }
        }
        .map(Some)
        .map_err(receive_error)
    }
}

/// The largest envelope of a body of `max_size` bytes: a third larger than
/// the body (base64), plus ~300 bytes.
fn envelope_limit(max_size: usize) -> usize {
    max_size.saturating_mul(4) / 3 + 1024
}

/// The message of an opened envelope, its events scanned now with `scan`.
fn arrival_of(opened: envelope::Opened<()>, scan: bool) -> Arrival {
    let about = About {
        routing_key: opened.routing_key,
        content_type: opened.content_type,
        content_encoding: opened.content_encoding,
        delivery_tag: opened.delivery_tag,
    };
    Arrival::opened(about, opened.body, scan)
}

/// A message as the subscription thread hands it over.
enum Received {
    /// Opened on the subscription thread, which leaves the receiver's thread
    /// only the events to read: an envelope within the receiver's default
    /// size limit, with its size. The events of a `.multi` message are
    /// scanned there too (see [`Arrival`]).
    Opened {
        size: usize,
        opened: Result<Arrival, EnvelopeError>,
    },
    /// A larger envelope, as read: opened only if the receiver's own limit
    /// allows it.
    Raw(Vec<u8>),
}

impl Received {
    fn new(payload: &[u8]) -> Self {
        let size = payload.len();
        if size <= envelope_limit(DEFAULT_MAX_MESSAGE_SIZE) {
            let opened = envelope::decode(payload).map(|opened| {
                let scan = is_list(&opened.body);
                arrival_of(opened, scan)
            });
            Self::Opened { size, opened }
        } else {
            Self::Raw(payload.to_vec())
        }
    }

    fn size(&self) -> usize {
        match self {
            Self::Opened { size, .. } => *size,
            Self::Raw(payload) => payload.len(),
        }
    }
}

/// Whether a body is a JSON list: a `.multi` message of grouped events.
fn is_list(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|&byte| byte == b'[')
}

/// An envelope that could not be opened, as the receiver reports it.
fn receive_error(error: EnvelopeError) -> ReceiveError {
    match error {
        EnvelopeError::NotJson(source) => ReceiveError::NotJson {
            what: "the kombu envelope",
            source,
        },
        EnvelopeError::Malformed(reason) => ReceiveError::Malformed(reason),
        EnvelopeError::Unsupported(what) => ReceiveError::Unsupported(what),
        EnvelopeError::Unwritable(error) => ReceiveError::Malformed(error.to_string()),
    }
}

impl std::fmt::Debug for RedisSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSubscriber")
            .field("url", &self.url)
            .field("pattern", &self.pattern)
            .field("subscribed", &self.is_subscribed())
            .finish_non_exhaustive()
    }
}

/// The thread that reads the subscription.
struct Reader {
    servers: Servers,
    pattern: String,
    /// For errors, password masked.
    url: String,
    reconnect_delay: Duration,
    idle_check: Duration,
    feed: FeedWriter<Received>,
}

impl Reader {
    /// How often a blocked read wakes to see whether the subscriber was dropped.
    /// Long enough that a message is never cut by it.
    const WAKE: Duration = Duration::from_millis(500);

    fn run(self) {
        let mut backoff = Backoff::new(self.reconnect_delay);
        while !self.feed.stopped() {
            let error = match self.connect() {
                Ok((connection, info)) => {
                    backoff.reset();
                    let lost = self.listen(connection, &info);
                    if let Some(error) = &lost {
                        self.servers.lost(error);
                    }
                    lost
                }
                Err(error) => Some(error),
            };
            let Some(error) = error else { return };
            if !self.feed.deliver(Err(format!("{}: {error}", self.url))) {
                return;
            }
            self.feed.pause(backoff.next_wait());
        }
    }

    /// How long connecting, authenticating and subscribing may each take.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A connection to the server in use, checked by redis-rs (reachable,
    /// credentials accepted, a master and not a cluster node), with where
    /// it went.
    fn connect(&self) -> Result<(redis::Connection, redis::ConnectionInfo), String> {
        self.servers
            .connect_with_info(Self::CONNECT_TIMEOUT)
            .map_err(|error| error.to_string())
    }

    /// Subscribes and reads until the connection fails (`Some(error)`) or
    /// the subscriber is dropped (`None`): over a socket of our own to the
    /// server `connection` reached when it is a plain one (see
    /// [`pubsub`]), else on `connection` through redis-rs.
    fn listen(
        &self,
        mut connection: redis::Connection,
        info: &redis::ConnectionInfo,
    ) -> Option<String> {
        match RawSubscription::subscribe(info, &self.pattern, Self::CONNECT_TIMEOUT) {
            Some(Ok(subscription)) => {
                drop(connection);
                self.listen_raw(subscription)
            }
            Some(Err(error)) => Some(error),
            None => self.listen_through_redis_rs(&mut connection),
        }
    }

    /// Reads a subscription made by [`RawSubscription`]. A `PING` is sent
    /// once the subscription has been silent for `idle_check`; when nothing
    /// at all comes within `idle_check` after it, the connection is lost.
    fn listen_raw(&self, mut subscription: RawSubscription) -> Option<String> {
        // Woken often enough to send a PING, and to give up on one, on time.
        let wake = Self::WAKE.min(self.idle_check.max(Duration::from_millis(10)));
        if let Err(error) = subscription.set_timeouts(Some(wake)) {
            return Some(error.to_string());
        }
        self.feed.set_subscribed(true);
        let mut heard = Instant::now();
        let mut pinged: Option<Instant> = None;
        let error = loop {
            if self.feed.stopped() {
                break None;
            }
            match subscription.next() {
                Ok(Frame::Message { payload }) => {
                    heard = Instant::now();
                    pinged = None;
                    let received = Received::new(subscription.bytes(payload));
                    if !self.feed.deliver(Ok(received)) {
                        break None;
                    }
                }
                Ok(Frame::Error(text)) => {
                    break Some(format!(
                        "Redis sent an error on the subscription: {}",
                        String::from_utf8_lossy(subscription.bytes(text))
                    ))
                }
                Ok(Frame::Pong | Frame::Other) => {
                    heard = Instant::now();
                    pinged = None;
                }
                Err(error) if pubsub::read_was_cut_short(&error) => match pinged {
                    Some(at) if at.elapsed() >= self.idle_check => {
                        break Some(format!(
                            "no reply to PING within {:?} on a silent subscription",
                            self.idle_check
                        ))
                    }
                    Some(_) => {}
                    None if heard.elapsed() >= self.idle_check => {
                        if let Err(error) = subscription.ping() {
                            break Some(error.to_string());
                        }
                        pinged = Some(Instant::now());
                    }
                    None => {}
                },
                Err(error) => break Some(error.to_string()),
            }
        };
        self.feed.set_subscribed(false);
        error
    }

    /// Subscribes on `connection` and reads through redis-rs.
    fn listen_through_redis_rs(&self, connection: &mut redis::Connection) -> Option<String> {
        // redis-rs's `PubSub` reads without treating a read timeout as a lost
        // reply (`recv_response` would skip the next message after each one).
        let mut pubsub = connection.as_pubsub();
        let subscribed = pubsub
            .set_read_timeout(Some(Duration::from_secs(5)))
            .and_then(|()| pubsub.psubscribe(&self.pattern))
            .and_then(|()| pubsub.set_read_timeout(Some(Self::WAKE)));
        if let Err(error) = subscribed {
            return Some(error.to_string());
        }
        self.feed.set_subscribed(true);
        let mut heard = Instant::now();
        let error = loop {
            if self.feed.stopped() {
                break None;
            }
            match pubsub.get_message() {
                Ok(message) => {
                    heard = Instant::now();
                    if !self
                        .feed
                        .deliver(Ok(Received::new(message.get_payload_bytes())))
                    {
                        break None;
                    }
                }
                Err(error) if read_was_cut_short(&error) => {
                    if heard.elapsed() >= self.idle_check {
                        if let Err(error) = self.check(&mut pubsub) {
                            break Some(error);
                        }
                        heard = Instant::now();
                    }
                }
                Err(error) => break Some(error.to_string()),
            }
        };
        self.feed.set_subscribed(false);
        error
    }

    /// A `PING` on a silent subscription: `Ok` once Redis answers. Only a
    /// silent subscription is checked, so the messages that come before the
    /// reply (which redis-rs keeps for the next reads) are few.
    fn check(&self, pubsub: &mut redis::PubSub<'_>) -> Result<(), String> {
        let silent = self.idle_check;
        let answered = pubsub
            .set_read_timeout(Some(silent))
            .and_then(|()| pubsub.ping::<redis::Value>());
        match answered {
            Ok(_) => {}
            Err(error) if error.is_timeout() => {
                return Err(format!(
                    "no reply to PING within {silent:?} on a silent subscription"
                ))
            }
            // A signal cut the wait short (a stopped and continued process):
            // the reply is still to come, and redis-rs skips it.
            Err(error) if read_was_cut_short(&error) => {}
            Err(error) => return Err(error.to_string()),
        }
        pubsub
            .set_read_timeout(Some(Self::WAKE))
            .map_err(|error| error.to_string())
    }
}
