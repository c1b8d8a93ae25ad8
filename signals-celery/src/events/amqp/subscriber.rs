//! Following Celery events on an AMQP broker: a queue of the subscriber's own
//! bound to the event exchange, declared again after each reconnection.

use std::time::Duration;

use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, Consumer};

use super::transport::declare;
use super::AmqpConfigError;
use crate::broker::amqp::{self, Io, HANDSHAKE_TIMEOUT};
use crate::broker::feed::{FeedWriter, Next, Subscription};
use crate::broker::Backoff;
use crate::events::receiver::{Delivery, EventSource, ReceiveError};

/// Options of an [`AmqpSubscriber`]: Celery 5.7's defaults for its event
/// receiver's queue.
#[derive(Clone, Debug)]
pub struct AmqpSubscriberOptions {
    /// The event exchange (Celery's `event_exchange`, default `celeryev`).
    pub exchange: String,
    /// The binding's routing key (`#` for every event, the default; `task.#`
    /// for task events). Grouped events arrive as `<group>.multi`.
    pub routing_key: String,
    /// The queue's name before `.<uuid4>` (Celery's `event_queue_prefix`,
    /// default `celeryev`).
    pub queue_prefix: String,
    /// `x-message-ttl`: how long a message waits in the queue (Celery's
    /// `event_queue_ttl`, default 5 s; `None`: no limit).
    pub message_ttl: Option<Duration>,
    /// `x-expires`: how long the queue outlives its last consumer (Celery's
    /// `event_queue_expires`, default 60 s; `None`: no limit).
    pub expires: Option<Duration>,
    /// The first wait before reconnecting; doubled up to 2 s (default 100 ms).
    pub reconnect_delay: Duration,
    /// How many messages may wait for the receiver before the subscriber stops
    /// taking more from the broker (default 65,536).
    pub backlog: usize,
    /// A named queue that outlives the subscriber and broker restarts, in
    /// place of Celery's `<prefix>.<uuid4>` (default `None`); see
    /// [`durable`](Self::durable).
    pub durable_queue: Option<String>,
    /// Declares the [durable queue](Self::durable_queue) as a quorum queue
    /// (`x-queue-type: quorum`), replicated over a RabbitMQ cluster's nodes
    /// so that it survives the loss of a minority of them (default
    /// `false`: a classic queue, on one node). See [`quorum`](Self::quorum).
    pub quorum: bool,
    /// For `amqps://`: PEM certificates of CAs to trust besides the system's,
    /// such as a private CA's (default `None`).
    pub tls_root_certificates: Option<Vec<u8>>,
    /// The application's tokio runtime, to drive the AMQP client on instead of
    /// a hidden runtime of one thread (default `None`: the hidden one). It
    /// must have I/O and time enabled; see [the executor](crate::events::AmqpTransport#the-executor).
    pub runtime: Option<tokio::runtime::Handle>,
    /// How a failover list of URLs is used (default round-robin).
    pub failover: crate::Failover,
}

impl AmqpSubscriberOptions {
    /// Options for a queue named `queue` that loses no event, where Celery's
    /// own receiver queue loses what is published while it reconnects.
    ///
    /// The queue is declared durable, not exclusive and not auto-deleted,
    /// without a message TTL or an expiry (set them if wanted), and bound as
    /// usual. Each message is acknowledged once it is handed to the receiver,
    /// with at most [`backlog`](Self::backlog) unacknowledged (`basic.qos`).
    /// With a dispatcher that publishes persistent events
    /// ([`DeliveryMode::Persistent`](crate::events::DeliveryMode)), every
    /// event its transport had confirmed (and every one it re-sends after a
    /// reconnection) reaches the receiver, through broker restarts and the
    /// subscriber's reconnections: at least once from the broker, and once to
    /// the handlers within the receiver's de-duplication window (a message
    /// the broker delivers again has the same body, and so the same tag).
    ///
    /// The queue keeps collecting while no subscriber runs; delete it with the
    /// broker's tools when it is no longer wanted.
    ///
    /// ```
    /// use signals_celery::events::AmqpSubscriberOptions;
    ///
    /// let options = AmqpSubscriberOptions::durable("monitoring.events");
    /// assert_eq!(options.durable_queue.as_deref(), Some("monitoring.events"));
    /// assert_eq!(options.message_ttl, None);
    /// ```
    pub fn durable(queue: impl Into<String>) -> Self {
        Self {
            durable_queue: Some(queue.into()),
            message_ttl: None,
            expires: None,
            ..Self::default()
        }
    }

    /// Options for a [durable](Self::durable) queue named `queue` that is a
    /// quorum queue, for a RabbitMQ cluster.
    ///
    /// What each kind of queue loses:
    ///
    /// | queue | broker restart | the queue's node lost | subscriber away |
    /// |---|---|---|---|
    /// | Celery's own (exclusive, the default) | what is published while it reconnects | the same | everything meanwhile |
    /// | durable classic | nothing | everything until that node is back (the queue lives on it alone) | nothing |
    /// | quorum | nothing | nothing while a majority of its nodes is up | nothing |
    ///
    /// Give the subscriber every node's URL as a failover list
    /// (`amqp://n1;amqp://n2;amqp://n3`), so that it moves to a node that
    /// is up; the dispatcher's transport likewise.
    ///
    /// ```
    /// use signals_celery::events::AmqpSubscriberOptions;
    ///
    /// let options = AmqpSubscriberOptions::quorum("monitoring.events");
    /// assert!(options.quorum);
    /// assert_eq!(options.durable_queue.as_deref(), Some("monitoring.events"));
    /// ```
    pub fn quorum(queue: impl Into<String>) -> Self {
        Self {
            quorum: true,
            ..Self::durable(queue)
        }
    }
}

impl Default for AmqpSubscriberOptions {
    fn default() -> Self {
        Self {
            exchange: "celeryev".into(),
            routing_key: "#".into(),
            queue_prefix: "celeryev".into(),
            message_ttl: Some(Duration::from_secs(5)),
            expires: Some(Duration::from_secs(60)),
            reconnect_delay: Duration::from_millis(100),
            backlog: 65_536,
            durable_queue: None,
            quorum: false,
            tls_root_certificates: None,
            runtime: None,
            failover: crate::Failover::default(),
        }
    }
}

/// Follows the Celery events published on an AMQP broker, as Celery's
/// `EventReceiver` does: a queue `<prefix>.<uuid4>` (exclusive, auto-deleted,
/// not durable, with Celery's message TTL and expiry) bound to `celeryev`,
/// consumed without acks; each message goes to an
/// [`EventReceiver`](crate::events::EventReceiver) as an [`EventSource`].
///
/// A background thread consumes; when the connection fails it reports a
/// [`ReceiveError::Source`], reconnects with a backoff, and declares and binds
/// a new queue (the exclusive one went with the connection): what is published
/// meanwhile is not seen, as for Celery's receiver. A
/// [durable queue](AmqpSubscriberOptions::durable) loses nothing instead.
///
/// Each message is tagged with a digest of its body
/// ([`Delivery::delivery_tag`]), so that the receiver handles a message the
/// broker or the transport delivered twice only once.
///
/// ```no_run
/// use signals_celery::events::{AmqpSubscriber, EventReceiver};
///
/// let mut events = AmqpSubscriber::open("amqp://guest:guest@127.0.0.1:5672/%2f")?;
/// let receiver = EventReceiver::builder()
///     .handler("*", |event| println!("{:?}: {:?}", event.kind(), event.fields()))
///     .build();
/// receiver.capture(&mut events, Some(10), None);
/// # Ok::<(), signals_celery::events::AmqpConfigError>(())
/// ```
pub struct AmqpSubscriber {
    /// For errors, password masked.
    url: String,
    feed: Subscription<Delivery>,
}

impl AmqpSubscriber {
    /// Follows every event on `url` (`amqp://user:password@host:port/vhost`).
    pub fn open(url: &str) -> Result<Self, AmqpConfigError> {
        Self::with_options(url, AmqpSubscriberOptions::default())
    }

    /// Follows with `options`.
    pub fn with_options(
        url: &str,
        options: AmqpSubscriberOptions,
    ) -> Result<Self, AmqpConfigError> {
        if options.quorum && options.durable_queue.is_none() {
            return Err(AmqpConfigError::QuorumNeedsDurableQueue);
        }
        let servers = amqp::Servers::open(
            url,
            &options.failover,
            options.tls_root_certificates.as_deref(),
        )?;
        let masked = servers.describe();
        let runtime = Io::new(options.runtime.as_ref())?;
        let backlog = options.backlog;
        let feed = Subscription::spawn("signals-amqp-subscriber", backlog, move |feed| {
            Reader {
                runtime,
                servers,
                options,
                feed,
            }
            .run()
        })
        .map_err(AmqpConfigError::Thread)?;
        Ok(Self { url: masked, feed })
    }

    /// Whether the queue is bound and consumed now.
    pub fn is_subscribed(&self) -> bool {
        self.feed.is_subscribed()
    }

    /// How many times the queue was bound and consumed (1 + reconnections).
    pub fn subscriptions(&self) -> u64 {
        self.feed.subscriptions()
    }

    /// Waits up to `timeout` until the queue is bound and consumed (events
    /// published before that are not seen); `true` if it is.
    pub fn wait_subscribed(&self, timeout: Duration) -> bool {
        self.feed.wait_subscribed(timeout)
    }
}

impl EventSource for AmqpSubscriber {
    fn next_delivery(
        &mut self,
        timeout: Duration,
        max_size: usize,
    ) -> Result<Option<Delivery>, ReceiveError> {
        let delivery = match self.feed.next(timeout) {
            Next::Message(delivery) => delivery,
            Next::Error(error) => return Err(ReceiveError::Source(error)),
            Next::Timeout => return Ok(None),
            Next::Ended => {
                return Err(ReceiveError::Source(format!(
                    "the subscriber thread for {} ended",
                    self.url
                )))
            }
        };
        if delivery.body.len() > max_size {
            return Err(ReceiveError::TooLarge {
                size: delivery.body.len(),
                limit: max_size,
            });
        }
        Ok(Some(delivery))
    }
}

impl std::fmt::Debug for AmqpSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSubscriber")
            .field("url", &self.url)
            .field("subscribed", &self.is_subscribed())
            .finish_non_exhaustive()
    }
}

/// The thread that consumes the queue.
struct Reader {
    runtime: Io,
    servers: amqp::Servers,
    options: AmqpSubscriberOptions,
    feed: FeedWriter<Delivery>,
}

impl Reader {
    /// How often a wait for a message wakes to see whether the subscriber was
    /// dropped.
    const WAKE: Duration = Duration::from_millis(200);

    fn run(self) {
        let mut backoff = Backoff::new(self.options.reconnect_delay);
        while !self.feed.stopped() {
            // A broker that accepts the connection and then never answers
            // would hold this thread (and the subscriber's drop) forever.
            let subscribed = self.runtime.block_on(async {
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.subscribe())
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "the broker did not complete the subscription within {} s",
                            HANDSHAKE_TIMEOUT.as_secs()
                        ))
                    })
            });
            let error = match subscribed {
                Ok((connection, mut consumer)) => {
                    backoff.reset();
                    self.feed.set_subscribed(true);
                    let error = self.listen(&mut consumer);
                    self.feed.set_subscribed(false);
                    if let Some(error) = &error {
                        self.servers.lost(error);
                    }
                    amqp::close(&self.runtime, &connection);
                    error
                }
                Err(error) => Some(error),
            };
            let Some(error) = error else { return };
            if !self
                .feed
                .deliver(Err(format!("{}: {error}", self.servers.describe())))
            {
                return;
            }
            self.feed.pause(backoff.next_wait());
        }
    }

    /// Connects, declares the exchange and a queue of our own, binds it and
    /// starts consuming.
    async fn subscribe(&self) -> Result<(Connection, Consumer), String> {
        let masked = |error: lapin::Error| self.servers.hide(error);
        let connection = self.servers.connect().await?;
        let channel = connection.create_channel().await.map_err(masked)?;
        declare(&channel, &self.options.exchange).await?;
        let mut arguments = FieldTable::default();
        if let Some(ttl) = self.options.message_ttl {
            arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(millis(ttl)));
        }
        if let Some(expires) = self.options.expires {
            arguments.insert("x-expires".into(), AMQPValue::LongLongInt(millis(expires)));
        }
        let durable = self.options.durable_queue.is_some();
        if self.options.quorum {
            arguments.insert(
                "x-queue-type".into(),
                AMQPValue::LongString("quorum".into()),
            );
        }
        let name = match &self.options.durable_queue {
            Some(name) => name.clone(),
            None => format!("{}.{}", self.options.queue_prefix, uuid::Uuid::new_v4()),
        };
        let queue = channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    exclusive: !durable,
                    auto_delete: !durable,
                    durable,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .map_err(masked)?;
        if durable {
            // Unacknowledged messages stay with the broker: no more than the
            // receiver's backlog.
            let prefetch = u16::try_from(self.options.backlog).unwrap_or(u16::MAX);
            channel
                .basic_qos(prefetch, BasicQosOptions::default())
                .await
                .map_err(masked)?;
        }
        channel
            .queue_bind(
                queue.name().clone(),
                self.options.exchange.as_str().into(),
                self.options.routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(masked)?;
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: !durable,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(masked)?;
        Ok((connection, consumer))
    }

    /// Hands each message to the receiver until the connection fails
    /// (`Some(error)`) or the subscriber is dropped (`None`).
    fn listen(&self, consumer: &mut Consumer) -> Option<String> {
        loop {
            if self.feed.stopped() {
                return None;
            }
            match amqp::next_delivery(&self.runtime, consumer, Self::WAKE) {
                amqp::Next::Idle => {}
                amqp::Next::Lost(error) => return Some(error),
                amqp::Next::Delivery(delivery) => {
                    let properties = &delivery.properties;
                    let text = |value: &Option<lapin::types::ShortString>| {
                        value.as_ref().map_or_else(String::new, |v| v.to_string())
                    };
                    let message = Delivery {
                        routing_key: delivery.routing_key.to_string(),
                        content_type: text(properties.content_type()),
                        content_encoding: text(properties.content_encoding()),
                        delivery_tag: Some(body_tag(&delivery.data)),
                        body: delivery.data,
                    };
                    if !self.feed.deliver(Ok(message)) {
                        return None;
                    }
                    if self.options.durable_queue.is_some() {
                        // Acknowledged once the receiver has it: a message
                        // lost with the connection before this is delivered
                        // again.
                        let acked = self.runtime.block_on(async {
                            tokio::time::timeout(
                                HANDSHAKE_TIMEOUT,
                                delivery.acker.ack(BasicAckOptions::default()),
                            )
                            .await
                        });
                        match acked {
                            Ok(Ok(_)) => {}
                            Ok(Err(error)) => return Some(error.to_string()),
                            Err(_elapsed) => return Some("an acknowledgement timed out".into()),
                        }
                    }
                }
            }
        }
    }
}

/// The tag of a delivery: AMQP's own delivery tags count per channel and
/// restart with it, so the subscriber tags each message with a 128-bit digest
/// of its body instead. A message delivered twice (the broker redelivering it,
/// the transport re-sending it after a lost confirm) keeps its tag, and the
/// receiver's de-duplication drops the copy; two distinct events differ at
/// least in timestamp or clock.
fn body_tag(body: &[u8]) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    static KEYS: OnceLock<[std::collections::hash_map::RandomState; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let [low, high] = [&keys[0], &keys[1]].map(|key| {
        let mut hasher = key.build_hasher();
        hasher.write(body);
        hasher.finish()
    });
    format!("body:{high:016x}{low:016x}")
}

/// A duration in whole milliseconds, as RabbitMQ's queue arguments take it.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
