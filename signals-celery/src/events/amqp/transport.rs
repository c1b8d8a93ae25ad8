//! The AMQP transport: publishes events to the `celeryev` topic exchange
//! exactly as Celery 5.7 does on RabbitMQ (see [`super`]).
//!
//! # Throughput and safety
//!
//! `publish` queues the message; a background thread publishes the queue in
//! batches, in order, with publisher confirms: a batch counts as sent once the
//! broker has confirmed every message of it. If the broker goes away, the
//! thread reconnects with a backoff, declares the exchange again and publishes
//! the same batch again, so nothing queued is lost (a batch cut by the failure
//! may be delivered twice: at least once). The queue is bounded; when it is
//! full `publish` returns [`TransportError::Unavailable`] and the dispatcher
//! keeps the event in its own bounded buffer. [`Transport::flush`] waits until
//! the queue is confirmed; dropping the transport flushes (up to
//! [`AmqpOptions::flush_timeout`]).

use std::collections::HashSet;
use std::future::Future as _;
use std::task::Poll;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ExchangeKind};

use super::AmqpConfigError;
use crate::broker::amqp::{self, Io, CONFIRM_TIMEOUT};
use crate::broker::publisher::{Link, Publisher, Unsent};
use crate::broker::PublisherOptions;
use crate::events::transport::{Message, Transport, TransportError};

/// Options of an [`AmqpTransport`].
#[derive(Clone, Debug)]
pub struct AmqpOptions {
    /// The most messages queued and not yet confirmed (default 100,000).
    pub capacity: usize,
    /// The most messages published before waiting for their confirms
    /// (default 2,048).
    pub batch: usize,
    /// How long `flush` (and drop) waits for the queue to be confirmed
    /// (default 10 s).
    pub flush_timeout: Duration,
    /// The first wait before reconnecting; doubled up to 2 s (default 100 ms).
    pub reconnect_delay: Duration,
    /// For `amqps://`: PEM certificates of CAs to trust besides the system's,
    /// such as a private CA's (default `None`).
    pub tls_root_certificates: Option<Vec<u8>>,
    /// The application's tokio runtime, to drive the AMQP client on instead of
    /// a hidden runtime of one thread (default `None`: the hidden one). It
    /// must have I/O and time enabled; see [the executor](AmqpTransport#the-executor).
    pub runtime: Option<tokio::runtime::Handle>,
    /// How a failover list of URLs is used (default round-robin).
    pub failover: crate::Failover,
}

impl Default for AmqpOptions {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            batch: 2048,
            flush_timeout: Duration::from_secs(10),
            reconnect_delay: Duration::from_millis(100),
            tls_root_certificates: None,
            runtime: None,
            failover: crate::Failover::default(),
        }
    }
}

/// Publishes Celery events to an AMQP 0-9-1 broker (RabbitMQ) the way Celery
/// does: `basic.publish` to the `celeryev` topic exchange, Celery's properties
/// and the raw JSON body. A background thread publishes the
/// queue in order with publisher confirms and reconnects after a failure
/// without losing what is queued (at least once); the queue is bounded, and
/// `flush` waits until the broker has confirmed it.
///
/// # The executor
///
/// The AMQP client, `lapin`, is async. The transport (like
/// [`AmqpSubscriber`](crate::events::AmqpSubscriber)) is used from plain sync
/// code: its own thread blocks on lapin's futures, and by default a hidden
/// tokio runtime of one I/O thread drives them, so the caller needs no
/// runtime. An application that runs tokio already passes its runtime's
/// handle in [`AmqpOptions::runtime`], and no second runtime is started. That
/// runtime must have its I/O and time drivers enabled (`enable_all`), and be a
/// multi-thread runtime, or a current-thread one whose `block_on` keeps
/// running: the transport's thread waits on futures that only the runtime's
/// own threads drive. `flush` and the drop (which flushes) block the calling
/// thread: from async code, call them in `spawn_blocking`.
///
/// ```no_run
/// use signals_celery::events::{AmqpTransport, EventDispatcher, WorkerOnline};
///
/// let transport = AmqpTransport::open("amqp://guest:guest@127.0.0.1:5672/%2f")?;
/// let dispatcher = EventDispatcher::builder(transport).hostname("rust@host").build();
/// dispatcher.send_event(&WorkerOnline::default())?;
/// dispatcher.flush(true, true)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AmqpTransport {
    publisher: Publisher<Outgoing>,
    options: AmqpOptions,
}

impl std::fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("pending", &self.pending())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A message ready to go.
struct Outgoing {
    exchange: String,
    routing_key: String,
    body: Vec<u8>,
    properties: BasicProperties,
}

impl Outgoing {
    /// Celery's properties for `message`, and nothing else.
    fn new(message: &Message<'_>) -> Self {
        let mut headers = FieldTable::default();
        for (name, value) in message.headers {
            headers.insert(
                ShortString::from(*name),
                AMQPValue::LongString(LongString::from(*value)),
            );
        }
        let properties = amqp::properties(
            message.content_type,
            message.content_encoding,
            headers,
            message.delivery_mode as u8,
        );
        Self {
            exchange: message.exchange.to_owned(),
            routing_key: message.routing_key.to_owned(),
            body: message.body.to_vec(),
            properties,
        }
    }
}

impl AmqpTransport {
    /// Connects lazily to `url` (`amqp://user:password@host:port/vhost`, the
    /// virtual host URL-encoded: `%2f` for `/`) with the default options.
    pub fn open(url: &str) -> Result<Self, AmqpConfigError> {
        Self::with_options(url, AmqpOptions::default())
    }

    /// Connects lazily to `url` with `options`.
    pub fn with_options(url: &str, options: AmqpOptions) -> Result<Self, AmqpConfigError> {
        let servers = amqp::Servers::open(
            url,
            &options.failover,
            options.tls_root_certificates.as_deref(),
        )?;
        let masked = servers.describe();
        let runtime = Io::new(options.runtime.as_ref())?;
        let link = AmqpLink {
            runtime,
            servers,
            link: None,
        };
        let publisher = Publisher::spawn(
            link,
            PublisherOptions {
                capacity: options.capacity,
                batch: options.batch,
                flush_timeout: options.flush_timeout,
                reconnect_delay: options.reconnect_delay,
            },
            "signals-amqp-writer",
            "the AMQP broker",
            masked,
        )
        .map_err(AmqpConfigError::Thread)?;
        Ok(Self { publisher, options })
    }

    /// How many messages are queued or waiting for their confirms.
    pub fn pending(&self) -> usize {
        self.publisher.pending()
    }
}

impl Transport for AmqpTransport {
    fn driver_type(&self) -> &str {
        "amqp"
    }

    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        self.publisher.push(Outgoing::new(message))
    }

    fn flush(&self) -> Result<(), TransportError> {
        self.publisher.flush()
    }
}

/// Publishes batches with confirms, on a connection it opens when it has
/// none.
struct AmqpLink {
    /// Drives lapin's I/O on its own thread; the publisher's thread blocks
    /// on it.
    runtime: Io,
    servers: amqp::Servers,
    link: Option<Connected>,
}

/// A connection with its publishing channel, in confirm mode, and the
/// exchanges declared on it.
struct Connected {
    connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

impl Link for AmqpLink {
    type Message = Outgoing;

    fn send(&mut self, batch: &[Outgoing]) -> Result<(), Unsent> {
        // A broker that stops answering (no confirm, no error) must not hold
        // the queue forever: past the timeout the connection is dropped and
        // the batch sent again on a new one.
        let mut link = self.link.take();
        let sent = self.runtime.block_on(async {
            tokio::time::timeout(CONFIRM_TIMEOUT, self.publish(&mut link, batch))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "the broker did not confirm a batch within {} s",
                        CONFIRM_TIMEOUT.as_secs()
                    ))
                })
        });
        match sent {
            Ok(()) => {
                self.link = link;
                Ok(())
            }
            Err(error) => {
                // The connection was made, then failed: the next one goes to
                // the next node of a list.
                if link.is_some() {
                    self.servers.lost(&error);
                }
                Err(Unsent::none(error))
            }
        }
    }

    fn close(&mut self) {
        if let Some(link) = self.link.take() {
            amqp::close(&self.runtime, &link.connection);
        }
    }
}

impl AmqpLink {
    /// Publishes one batch, then waits for the broker's confirm of each.
    async fn publish(
        &self,
        link: &mut Option<Connected>,
        batch: &[Outgoing],
    ) -> Result<(), String> {
        let link = match link {
            Some(link) => link,
            None => link.insert(self.connect().await?),
        };
        for outgoing in batch {
            if !link.declared.contains(&outgoing.exchange) {
                declare(&link.channel, &outgoing.exchange).await?;
                link.declared.insert(outgoing.exchange.clone());
            }
        }
        // lapin queues a publish's frames when its future is first polled, and
        // resolves it once the I/O thread has written them: awaiting each in
        // turn would cost a hand-off to that thread per message. Polled in
        // order together, they are queued in order and written in a few
        // writes.
        let mut publishes: Vec<_> = batch
            .iter()
            .map(|outgoing| {
                Some(Box::pin(link.channel.basic_publish(
                    outgoing.exchange.as_str().into(),
                    outgoing.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &outgoing.body,
                    outgoing.properties.clone(),
                )))
            })
            .collect();
        let mut confirms = Vec::with_capacity(batch.len());
        let mut failure = None;
        std::future::poll_fn(|cx| {
            let mut waiting = false;
            for slot in publishes.iter_mut() {
                let Some(publish) = slot else { continue };
                match publish.as_mut().poll(cx) {
                    Poll::Pending => waiting = true,
                    Poll::Ready(outcome) => {
                        *slot = None;
                        match outcome {
                            Ok(confirm) => confirms.push(confirm),
                            Err(error) => {
                                failure.get_or_insert(error.to_string());
                            }
                        }
                    }
                }
            }
            if waiting {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        if let Some(error) = failure {
            return Err(error);
        }
        for confirm in confirms {
            let confirmation = confirm.await.map_err(|error| error.to_string())?;
            if confirmation.is_nack() {
                return Err("the broker refused (nack) a message".into());
            }
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Connected, String> {
        let masked = |error: lapin::Error| self.servers.hide(error);
        let connection = self.servers.connect().await?;
        let channel = connection.create_channel().await.map_err(masked)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(masked)?;
        Ok(Connected {
            connection,
            channel,
            declared: HashSet::new(),
        })
    }
}

/// Declares `exchange` as Celery does: topic, durable, not auto-deleted, no
/// arguments.
pub(super) async fn declare(channel: &Channel, exchange: &str) -> Result<(), String> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                auto_delete: false,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|error| error.to_string())
}
