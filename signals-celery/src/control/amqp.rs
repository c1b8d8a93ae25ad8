//! Celery's remote control on AMQP (RabbitMQ), as kombu's pidbox declares it
//! (kombu 5.7 `pidbox.py`, Celery 5.7's `control_queue_*` defaults):
//!
//! - Requests arrive on the fanout exchange `celery.pidbox` (not durable),
//!   in the node's queue `<hostname>.celery.pidbox`, bound with `''`:
//!   `exclusive`, `auto_delete`, not durable, `x-message-ttl=300000`,
//!   `x-expires=10000`, consumed with `no_ack`. The body is the request's raw
//!   JSON; headers `{clock, expires}`.
//! - Replies go to the direct exchange `reply.celery.pidbox` (not durable)
//!   with the request's `reply_to.routing_key`, headers `{ticket, clock}`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, Consumer, ExchangeKind};

use super::node::Node;
use super::request::Request;
use super::serving::{Flags, Serving};
use super::MailboxOptions;
use crate::broker::amqp::AmqpConfigError;
use crate::broker::amqp::{
    self, broker_info, close, next_delivery, Io, Next, Servers, HANDSHAKE_TIMEOUT,
};
use crate::broker::Backoff;

/// Requests larger than this are not read.
const MAX_REQUEST: usize = 1 << 20;

/// Serves a [`Node`] on an AMQP broker (RabbitMQ): a thread consuming the
/// node's pidbox queue that answers each request addressed to the node, as a
/// Celery worker does. It reconnects with a backoff and declares its queue
/// again; dropping it stops the thread. lapin runs on a hidden runtime of one
/// I/O thread, as for [`AmqpTransport`](crate::events::AmqpTransport).
///
/// ```no_run
/// use signals_celery::control::{AmqpMailbox, Node};
///
/// let node = Node::builder("rust@host").registered(["tasks.add"]).build();
/// let mailbox = AmqpMailbox::serve(node, "amqp://guest:guest@127.0.0.1:5672/%2f")?;
/// // `celery -b amqp://guest:guest@127.0.0.1:5672// inspect ping` lists rust@host.
/// # drop(mailbox);
/// # Ok::<(), signals_celery::events::AmqpConfigError>(())
/// ```
pub struct AmqpMailbox {
    serving: Serving,
}

impl AmqpMailbox {
    /// Starts serving `node` on the broker at `url`, with the default
    /// options.
    pub fn serve(node: Node, url: &str) -> Result<Self, AmqpConfigError> {
        Self::serve_with(node, url, MailboxOptions::default())
    }

    /// Starts serving `node` on the broker at `url` with `options`.
    pub fn serve_with(
        node: Node,
        url: &str,
        options: MailboxOptions,
    ) -> Result<Self, AmqpConfigError> {
        let servers = Servers::open(
            url,
            &options.failover,
            options.tls_root_certificates.as_deref(),
        )?;
        let io = Io::new(None)?;
        let broker = broker_info(servers.first_url());
        let serving = Serving::spawn(node, broker, move |node, flags| {
            Server {
                node,
                io,
                servers,
                reconnect_delay: options.reconnect_delay,
                flags,
            }
            .run()
        })
        .map_err(AmqpConfigError::Thread)?;
        Ok(Self { serving })
    }

    /// The node served.
    pub fn node(&self) -> &Node {
        self.serving.node()
    }

    /// Waits up to `timeout` until the node's queue is consumed; `true` if it
    /// is.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.serving.wait_ready(timeout)
    }
}

impl std::fmt::Debug for AmqpMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.serving.fmt_as("AmqpMailbox", f)
    }
}

struct Server {
    node: Node,
    io: Io,
    servers: Servers,
    reconnect_delay: Duration,
    flags: Flags,
}

impl Server {
    /// How often a wait for a request wakes to see whether to stop.
    const WAKE: Duration = Duration::from_millis(200);

    fn run(self) {
        let mut backoff = Backoff::new(self.reconnect_delay);
        while !self.flags.stopped() {
            let subscribed = self.io.block_on(async {
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.subscribe())
                    .await
                    .unwrap_or_else(|_| Err("the broker did not answer in time".into()))
            });
            let error = match subscribed {
                Ok((connection, channel, mut consumer)) => {
                    backoff.reset();
                    self.flags.set_ready(true);
                    let error = self.listen(&channel, &mut consumer);
                    self.flags.set_ready(false);
                    if let Some(error) = &error {
                        self.servers.lost(error);
                    }
                    close(&self.io, &connection);
                    error
                }
                Err(error) => Some(error),
            };
            let Some(error) = error else { return };
            tracing::warn!(url = %self.servers.describe(), %error, "control mailbox lost its connection; reconnecting");
            std::thread::sleep(backoff.next_wait());
        }
    }

    async fn subscribe(&self) -> Result<(Connection, Channel, Consumer), String> {
        let masked = |error: lapin::Error| self.servers.hide(error);
        let connection = self.servers.connect().await?;
        let channel = connection.create_channel().await.map_err(masked)?;
        declare_pidbox(&channel).await.map_err(masked)?;
        let queue = format!("{}.celery.pidbox", self.node.hostname());
        let consumer = consume_pidbox_queue(&channel, &queue, "celery.pidbox", "")
            .await
            .map_err(masked)?;
        Ok((connection, channel, consumer))
    }

    /// Answers requests until the connection fails (`Some`) or the mailbox
    /// is dropped (`None`).
    fn listen(&self, channel: &Channel, consumer: &mut Consumer) -> Option<String> {
        loop {
            if self.flags.stopped() {
                return None;
            }
            match next_delivery(&self.io, consumer, Self::WAKE) {
                Next::Idle => {}
                Next::Lost(error) => return Some(error),
                Next::Delivery(delivery) => {
                    if let Err(error) = self.on_request(channel, &delivery) {
                        return Some(error);
                    }
                }
            }
        }
    }

    /// One request: checked, handled, answered. Only a failure to publish
    /// the reply (the channel is gone) is an error.
    fn on_request(
        &self,
        channel: &Channel,
        delivery: &lapin::message::Delivery,
    ) -> Result<(), String> {
        self.node.clock().forward();
        let properties = &delivery.properties;
        let json = properties
            .content_type()
            .as_ref()
            .is_some_and(|kind| kind.as_str() == "application/json");
        if delivery.data.len() > MAX_REQUEST || !json {
            self.node.count_malformed();
            tracing::warn!(
                size = delivery.data.len(),
                "control message too large or not JSON; dropped"
            );
            return Ok(());
        }
        let request = match serde_json::from_slice::<Request>(&delivery.data) {
            Ok(request) => request,
            Err(error) => {
                self.node.count_malformed();
                tracing::warn!(%error, "malformed control request; dropped");
                return Ok(());
            }
        };
        let expires = properties
            .headers()
            .as_ref()
            .and_then(|headers| headers.inner().get("expires").and_then(number))
            .unwrap_or(0.0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |elapsed| elapsed.as_secs_f64());
        if expires > 0.0 && now > expires {
            self.node.count_expired();
            return Ok(());
        }
        let Some(reply) = self.node.handle(&request) else {
            return Ok(());
        };
        let (Some(reply_to), Some(ticket)) = (&request.reply_to, &request.ticket) else {
            return Ok(());
        };
        let mut headers = FieldTable::default();
        headers.insert(
            "ticket".into(),
            AMQPValue::LongString(LongString::from(ticket.as_str())),
        );
        let clock = i64::try_from(self.node.clock().forward()).unwrap_or(i64::MAX);
        headers.insert("clock".into(), AMQPValue::LongLongInt(clock));
        let body = match serde_json::to_vec(&reply) {
            Ok(body) => body,
            Err(error) => {
                self.node.count_reply_failure();
                tracing::warn!(method = %request.method, %error, "control reply not sent");
                return Ok(());
            }
        };
        let properties = amqp::properties("application/json", "utf-8", headers, 1);
        let published = self.io.block_on(async {
            tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                channel.basic_publish(
                    reply_to.exchange.as_str().into(),
                    reply_to.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                ),
            )
            .await
        });
        match published {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => {
                self.node.count_reply_failure();
                Err(error.to_string())
            }
            Err(_elapsed) => {
                self.node.count_reply_failure();
                Err("a reply could not be published in time".into())
            }
        }
    }
}

/// Declares the request exchange (fanout) and the reply exchange (direct),
/// both not durable and not auto-deleted, as kombu's mailbox does.
async fn declare_pidbox(channel: &Channel) -> Result<(), lapin::Error> {
    let transient = ExchangeDeclareOptions {
        durable: false,
        auto_delete: false,
        ..ExchangeDeclareOptions::default()
    };
    for (name, kind) in [
        ("celery.pidbox", ExchangeKind::Fanout),
        ("reply.celery.pidbox", ExchangeKind::Direct),
    ] {
        channel
            .exchange_declare(name.into(), kind, transient, FieldTable::default())
            .await?;
    }
    Ok(())
}

/// Declares a node's request queue or a client's reply queue as kombu's
/// mailbox does (exclusive, auto-deleted, not durable, with Celery 5.7's TTL
/// and expiry), binds it to `exchange` with `routing_key`, and consumes it
/// without acks.
async fn consume_pidbox_queue(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    routing_key: &str,
) -> Result<Consumer, lapin::Error> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                durable: false,
                ..QueueDeclareOptions::default()
            },
            pidbox_queue_arguments(),
        )
        .await?;
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// A node's and a client's queue arguments: Celery 5.7's `control_queue_ttl`
/// (300 s) and `control_queue_expires` (10 s).
fn pidbox_queue_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(300_000));
    arguments.insert("x-expires".into(), AMQPValue::LongLongInt(10_000));
    arguments
}

/// A header's number, whatever AMQP type kombu gave it.
fn number(value: &AMQPValue) -> Option<f64> {
    match value {
        AMQPValue::Double(value) => Some(*value),
        AMQPValue::Float(value) => Some(f64::from(*value)),
        AMQPValue::LongLongInt(value) => Some(*value as f64),
        AMQPValue::LongInt(value) => Some(f64::from(*value)),
        AMQPValue::ShortInt(value) => Some(f64::from(*value)),
        AMQPValue::LongUInt(value) => Some(f64::from(*value)),
        _ => None,
    }
}

/// The client side of remote control on AMQP, for Rust tools: broadcasts a
/// command to every worker (Python ones included) and collects the replies,
/// as `celery inspect` does, through a reply queue of its own
/// (`<oid>.reply.celery.pidbox`, declared as kombu declares it).
///
/// ```no_run
/// use std::time::Duration;
/// use signals_celery::control::AmqpControl;
///
/// let control = AmqpControl::open("amqp://guest:guest@127.0.0.1:5672/%2f")?;
/// for (worker, reply) in control.ping(Duration::from_secs(1))? {
///     println!("{worker}: {reply}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AmqpControl {
    io: Io,
    servers: Servers,
    oid: String,
    clock: Arc<crate::events::LamportClock>,
}

impl AmqpControl {
    /// A client of the broker at `url` (it connects for each broadcast).
    pub fn open(url: &str) -> Result<Self, AmqpConfigError> {
        Self::open_with(url, &super::MailboxOptions::default())
    }

    /// A client of the broker at `url` whose `amqps://` connections trust
    /// `options.tls_root_certificates` (the other options are a mailbox's).
    pub fn open_with(url: &str, options: &super::MailboxOptions) -> Result<Self, AmqpConfigError> {
        Ok(Self {
            io: Io::new(None)?,
            servers: Servers::open(
                url,
                &options.failover,
                options.tls_root_certificates.as_deref(),
            )?,
            oid: uuid::Uuid::new_v4().to_string(),
            clock: crate::events::LamportClock::global(),
        })
    }

    /// `ping` to every worker: `{"ok": "pong"}` from each that answers
    /// within `timeout`.
    pub fn ping(&self, timeout: Duration) -> Result<super::Replies, super::ControlError> {
        self.broadcast("ping", serde_json::Map::new(), None, timeout, None)
    }

    /// `stats` from every worker that answers within `timeout`.
    pub fn stats(&self, timeout: Duration) -> Result<super::Replies, super::ControlError> {
        self.broadcast("stats", serde_json::Map::new(), None, timeout, None)
    }

    /// Sends `method` with `arguments` to `destination` (every worker if
    /// `None`) and collects the replies until `timeout`, or until `limit`
    /// replies (by default, as many as the destinations named).
    pub fn broadcast(
        &self,
        method: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        destination: Option<&[&str]>,
        timeout: Duration,
        limit: Option<usize>,
    ) -> Result<super::Replies, super::ControlError> {
        let limit = limit.or(destination.map(<[&str]>::len));
        let deadline = Instant::now() + timeout;
        let outcome = self.io.block_on(async {
            tokio::time::timeout(
                timeout + HANDSHAKE_TIMEOUT,
                self.exchange(method, arguments, destination, deadline, limit),
            )
            .await
            .unwrap_or_else(|_| Err("the broker did not answer in time".into()))
        });
        outcome.map_err(|reason| super::ControlError::Broker {
            url: self.servers.describe(),
            reason,
        })
    }

    async fn exchange(
        &self,
        method: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        destination: Option<&[&str]>,
        deadline: Instant,
        limit: Option<usize>,
    ) -> Result<super::Replies, String> {
        let masked = |error: lapin::Error| self.servers.hide(error);
        let connection = self.servers.connect().await?;
        let channel = connection.create_channel().await.map_err(masked)?;
        declare_pidbox(&channel).await.map_err(masked)?;
        let queue = format!("{}.reply.celery.pidbox", self.oid);
        let mut consumer = consume_pidbox_queue(&channel, &queue, "reply.celery.pidbox", &self.oid)
            .await
            .map_err(masked)?;
        let ticket = uuid::Uuid::new_v4().to_string();
        let request = serde_json::json!({
            "method": method,
            "arguments": arguments,
            "destination": destination,
            "pattern": null,
            "matcher": null,
            "ticket": ticket,
            "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": self.oid},
        });
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |elapsed| elapsed.as_secs_f64())
            + deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64();
        let mut headers = FieldTable::default();
        let clock = i64::try_from(self.clock.forward()).unwrap_or(i64::MAX);
        headers.insert("clock".into(), AMQPValue::LongLongInt(clock));
        headers.insert("expires".into(), AMQPValue::Double(expires));
        let body = serde_json::to_vec(&request)
            .map_err(|error| format!("the control request cannot be written as JSON: {error}"))?;
        channel
            .basic_publish(
                "celery.pidbox".into(),
                "".into(),
                BasicPublishOptions::default(),
                &body,
                amqp::properties("application/json", "utf-8", headers, 1),
            )
            .await
            .map_err(masked)?;
        let mut replies = Vec::new();
        while limit.is_none_or(|limit| replies.len() < limit) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(next) = tokio::time::timeout(left, consumer.next()).await else {
                break; // the timeout: whoever answered, answered
            };
            let Some(Ok(delivery)) = next else { break };
            let header = |name: &str| {
                delivery
                    .properties
                    .headers()
                    .as_ref()
                    .and_then(|headers| headers.inner().get(name).cloned())
            };
            if let Some(clock) = header("clock").as_ref().and_then(number) {
                self.clock.adjust(clock as u64);
            }
            let for_us = match header("ticket") {
                Some(AMQPValue::LongString(value)) => value.to_string() == ticket,
                Some(AMQPValue::ShortString(value)) => value.as_str() == ticket,
                _ => false,
            };
            if !for_us {
                continue; // a late reply to an earlier request
            }
            match serde_json::from_slice::<serde_json::Value>(&delivery.data) {
                Ok(serde_json::Value::Object(body)) => replies.extend(body),
                _ => tracing::warn!("malformed control reply; skipped"),
            }
        }
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            connection.close(200, "closing".into()),
        )
        .await;
        Ok(replies)
    }
}

impl std::fmt::Debug for AmqpControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpControl")
            .field("url", &self.servers.describe())
            .field("oid", &self.oid)
            .finish_non_exhaustive()
    }
}
