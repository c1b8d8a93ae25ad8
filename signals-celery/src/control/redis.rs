//! Celery's remote control on Redis, as kombu's virtual transport carries it.
//!
//! - Requests: `PUBLISH <prefix>celery.pidbox` (the fanout exchange, no
//!   routing-key suffix; `<prefix>` is kombu's `/<db>.`) of a kombu envelope
//!   whose body is the request's JSON and whose headers are
//!   `{clock, expires}`.
//! - Replies: the direct exchange `reply.celery.pidbox`. Its bindings are the
//!   set `_kombu.binding.reply.celery.pidbox`, each member
//!   `<routing key>\x06\x16<pattern>\x06\x16<queue>`; a reply is `LPUSH`ed to
//!   each queue bound with the request's `reply_to.routing_key`, headers
//!   `{ticket, clock}`. The client `BRPOP`s its queue `<oid>.reply.celery.pidbox`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::node::Node;
use super::request::Request;
use super::serving::{Flags, Serving};
use super::{ControlError, MailboxOptions, Replies};
use crate::broker::failover::ConnectError;
use crate::broker::redis::envelope::{self, EnvelopeError};
use crate::broker::redis::servers::is_demoted;
use crate::broker::redis::RedisConfigError;
use crate::broker::redis::{broker_info, database_of, open_servers, read_was_cut_short, Servers};
use crate::broker::{mask_password, Backoff};
use crate::events::LamportClock;

/// kombu's separator inside a binding member.
const SEP: &str = "\x06\x16";
/// The mailbox's namespace (Celery's app-wide `celery`).
const NAMESPACE: &str = "celery";
/// Requests larger than this are not read.
const MAX_REQUEST: usize = 1 << 20;

fn exchange() -> String {
    format!("{NAMESPACE}.pidbox")
}

fn reply_exchange() -> String {
    format!("reply.{NAMESPACE}.pidbox")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// Opens a kombu envelope of remote control: its JSON body and its headers.
fn open_envelope(payload: &[u8]) -> Result<(Value, Map<String, Value>), String> {
    let opened =
        envelope::decode_with::<Map<String, Value>>(payload).map_err(|error| error.to_string())?;
    if opened.content_type != "application/json" {
        return Err(format!(
            "content type `{}` is not application/json",
            opened.content_type
        ));
    }
    let body =
        serde_json::from_slice(&opened.body).map_err(|error| format!("body not JSON: {error}"))?;
    Ok((body, opened.headers))
}

/// Serves a [`Node`] on Redis: a thread subscribed to Celery's mailbox that
/// answers each request addressed to the node, as a Celery worker's pidbox
/// does. It reconnects with a backoff; dropping it stops the thread.
///
/// ```no_run
/// use signals_celery::control::{Node, RedisMailbox};
///
/// let node = Node::builder("rust@host").registered(["tasks.add"]).build();
/// let mailbox = RedisMailbox::serve(node, "redis://127.0.0.1:6379/0")?;
/// // `celery -b redis://127.0.0.1:6379/0 inspect ping` now lists rust@host.
/// # drop(mailbox);
/// # Ok::<(), signals_celery::events::RedisConfigError>(())
/// ```
pub struct RedisMailbox {
    serving: Serving,
}

impl RedisMailbox {
    /// Starts serving `node` on the Redis at `url`, with the default
    /// options.
    pub fn serve(node: Node, url: &str) -> Result<Self, RedisConfigError> {
        Self::serve_with(node, url, MailboxOptions::default())
    }

    /// Starts serving `node` on the Redis at `url` (`rediss://` for TLS,
    /// with the `redis-tls` feature) with `options`.
    pub fn serve_with(
        node: Node,
        url: &str,
        options: MailboxOptions,
    ) -> Result<Self, RedisConfigError> {
        let servers = open_servers(
            url,
            &options.failover,
            options.tls_root_certificates.as_deref(),
        )?;
        let channel = channel_of(&servers)?;
        let info = broker_info(servers.first_url());
        let serving = Serving::spawn(node, info, move |node, flags| {
            Server {
                node,
                url: servers.describe(),
                servers,
                channel,
                reconnect_delay: options.reconnect_delay,
                flags,
            }
            .run()
        })
        .map_err(RedisConfigError::Thread)?;
        Ok(Self { serving })
    }

    /// The node served.
    pub fn node(&self) -> &Node {
        self.serving.node()
    }

    /// Waits up to `timeout` until the mailbox is subscribed; `true` if it is.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.serving.wait_ready(timeout)
    }
}

impl std::fmt::Debug for RedisMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.serving.fmt_as("RedisMailbox", f)
    }
}

/// The mailbox's fanout channel, `/<db>.celery.pidbox`, on the database of
/// the servers' first URL.
fn channel_of(servers: &Servers) -> Result<String, RedisConfigError> {
    let first = servers.first_url();
    let db = database_of(first).map_err(|reason| RedisConfigError::InvalidUrl {
        url: mask_password(first),
        reason,
    })?;
    Ok(format!("/{db}.{}", exchange()))
}

struct Server {
    node: Node,
    servers: Servers,
    channel: String,
    url: String,
    reconnect_delay: Duration,
    flags: Flags,
}

impl Server {
    /// How often a wait for a request wakes to see whether to stop.
    const WAKE: Duration = Duration::from_millis(200);

    fn run(self) {
        let mut backoff = Backoff::new(self.reconnect_delay);
        while !self.flags.stopped() {
            if let Err(error) = self.serve() {
                self.flags.set_ready(false);
                tracing::warn!(url = %self.url, %error, "control mailbox lost its connection; reconnecting");
                std::thread::sleep(backoff.next_wait());
            } else {
                backoff.reset();
            }
        }
    }

    /// Serves until stopped (`Ok`) or the connection fails.
    fn serve(&self) -> Result<(), String> {
        let timeout = Duration::from_secs(5);
        let mut replies = self
            .servers
            .connect(timeout)
            .map_err(|error| error.to_string())?;
        let mut listening = self
            .servers
            .connect(timeout)
            .map_err(|error| error.to_string())?;
        let mut pubsub = listening.as_pubsub();
        pubsub
            .set_read_timeout(Some(timeout))
            .and_then(|()| pubsub.subscribe(&self.channel))
            .and_then(|()| pubsub.set_read_timeout(Some(Self::WAKE)))
            .map_err(|error| error.to_string())?;
        self.flags.set_ready(true);
        loop {
            if self.flags.stopped() {
                return Ok(());
            }
            match pubsub.get_message() {
                Ok(message) => {
                    if let Err(error) = self.on_message(message.get_payload_bytes(), &mut replies) {
                        // The replies' connection is gone, or its server no
                        // longer takes writes (a demoted master): connect
                        // again, to the master in use now.
                        self.servers.lost(&error);
                        return Err(error.to_string());
                    }
                }
                Err(error) if read_was_cut_short(&error) => {}
                Err(error) => {
                    self.servers.lost(&error);
                    return Err(error.to_string());
                }
            }
        }
    }

    /// One message: decoded, checked, handled, answered. Nothing in it can
    /// stop the mailbox; an error is a reply connection that must be made
    /// again.
    fn on_message(
        &self,
        payload: &[u8],
        replies: &mut redis::Connection,
    ) -> Result<(), redis::RedisError> {
        // Celery's worker forwards its clock for each request: clients rarely
        // carry a useful one.
        self.node.clock().forward();
        if payload.len() > MAX_REQUEST {
            self.node.count_malformed();
            tracing::warn!(size = payload.len(), "control request too large; dropped");
            return Ok(());
        }
        let request = open_envelope(payload).and_then(|(body, headers)| {
            serde_json::from_value::<Request>(body)
                .map(|request| (request, headers))
                .map_err(|error| format!("not a control request: {error}"))
        });
        let (request, headers) = match request {
            Ok(request) => request,
            Err(error) => {
                self.node.count_malformed();
                tracing::warn!(%error, "malformed control message; dropped");
                return Ok(());
            }
        };
        let expires = headers
            .get("expires")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if expires > 0.0 && now() > expires {
            self.node.count_expired();
            tracing::debug!(method = %request.method, "expired control request; dropped");
            return Ok(());
        }
        let Some(reply) = self.node.handle(&request) else {
            return Ok(());
        };
        let (Some(reply_to), Some(ticket)) = (&request.reply_to, &request.ticket) else {
            return Ok(());
        };
        let headers = json!({"ticket": ticket, "clock": self.node.clock().forward()});
        let payload = match envelope::encode_json(
            &reply,
            &reply_to.exchange,
            &reply_to.routing_key,
            &headers,
        ) {
            Ok(payload) => payload,
            Err(error) => {
                self.node.count_reply_failure();
                tracing::warn!(method = %request.method, %error, "control reply not sent");
                return Ok(());
            }
        };
        match deliver(replies, &reply_to.exchange, &reply_to.routing_key, &payload) {
            Ok(0) => {
                // The client has gone (its binding expired): nobody waits.
                self.node.count_reply_failure();
                tracing::debug!(method = %request.method, "no client bound for the reply");
            }
            Ok(_) => {}
            Err(error) => {
                self.node.count_reply_failure();
                tracing::warn!(%error, "could not send a control reply");
                if error.is_io_error() || error.is_connection_dropped() || is_demoted(&error) {
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}

/// Routes `payload` through the direct exchange `exchange` as kombu does:
/// `LPUSH` to every queue bound with `routing_key`. Returns how many.
fn deliver(
    connection: &mut redis::Connection,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
) -> redis::RedisResult<usize> {
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("_kombu.binding.{exchange}"))
        .query(connection)?;
    let mut delivered = 0;
    for member in members {
        let mut parts = member.split(SEP);
        let (Some(key), Some(_pattern), Some(queue)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if key == routing_key {
            redis::cmd("LPUSH")
                .arg(queue)
                .arg(payload)
                .query::<()>(connection)?;
            delivered += 1;
        }
    }
    Ok(delivered)
}

/// The client side of remote control on Redis, for Rust tools: broadcasts a
/// command to every worker (Python ones included) and collects the replies,
/// as `celery inspect` does.
///
/// ```no_run
/// use std::time::Duration;
/// use signals_celery::control::RedisControl;
///
/// let control = RedisControl::open("redis://127.0.0.1:6379/0")?;
/// for (worker, reply) in control.ping(Duration::from_secs(1))? {
///     println!("{worker}: {reply}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisControl {
    servers: Servers,
    channel: String,
    url: String,
    /// kombu's `oid`: this client's routing key on the reply exchange.
    oid: String,
    clock: Arc<LamportClock>,
}

impl RedisControl {
    /// A client of the Redis at `url` (`rediss://` for TLS, with the
    /// `redis-tls` feature, trusting the system's roots).
    pub fn open(url: &str) -> Result<Self, RedisConfigError> {
        Self::open_with(url, &super::MailboxOptions::default())
    }

    /// A client of the Redis at `url` whose `rediss://` connections trust
    /// `options.tls_root_certificates` (the other options are a mailbox's).
    pub fn open_with(url: &str, options: &super::MailboxOptions) -> Result<Self, RedisConfigError> {
        let servers = open_servers(
            url,
            &options.failover,
            options.tls_root_certificates.as_deref(),
        )?;
        Ok(Self {
            channel: channel_of(&servers)?,
            url: servers.describe(),
            servers,
            oid: uuid::Uuid::new_v4().to_string(),
            clock: LamportClock::global(),
        })
    }

    /// `ping` to every worker: `{"ok": "pong"}` from each that answers
    /// within `timeout`.
    pub fn ping(&self, timeout: Duration) -> Result<Replies, ControlError> {
        self.broadcast("ping", Map::new(), None, timeout, None)
    }

    /// `stats` from every worker that answers within `timeout`.
    pub fn stats(&self, timeout: Duration) -> Result<Replies, ControlError> {
        self.broadcast("stats", Map::new(), None, timeout, None)
    }

    /// Sends `method` with `arguments` to `destination` (every worker if
    /// `None`) and collects the replies until `timeout`, or until `limit`
    /// replies (by default, as many as the destinations named).
    pub fn broadcast(
        &self,
        method: &str,
        arguments: Map<String, Value>,
        destination: Option<&[&str]>,
        timeout: Duration,
        limit: Option<usize>,
    ) -> Result<Replies, ControlError> {
        let broker = |error: redis::RedisError| {
            self.servers.lost(&error);
            ControlError::Broker {
                url: self.url.clone(),
                reason: error.to_string(),
            }
        };
        let mut connection = self
            .servers
            .connect(Duration::from_secs(5))
            .map_err(|error| match error {
                ConnectError::Topology(error) => ControlError::Topology(error),
                ConnectError::Unreachable(reason) => ControlError::Broker {
                    url: self.url.clone(),
                    reason,
                },
            })?;
        let reply_queue = format!("{}.{}", self.oid, reply_exchange());
        let member = [self.oid.as_str(), "", reply_queue.as_str()].join(SEP);
        redis::pipe()
            .cmd("SADD")
            .arg(format!("_kombu.binding.{}", reply_exchange()))
            .arg(&member)
            .cmd("SADD")
            .arg(format!("_kombu.binding_permanent.{}", reply_exchange()))
            .arg(&member)
            .query::<()>(&mut connection)
            .map_err(broker)?;
        let ticket = uuid::Uuid::new_v4().to_string();
        let request = json!({
            "method": method,
            "arguments": arguments,
            "destination": destination,
            "pattern": null,
            "matcher": null,
            "ticket": ticket,
            "reply_to": {"exchange": reply_exchange(), "routing_key": self.oid},
        });
        let headers = json!({
            "clock": self.clock.forward(),
            "expires": now() + timeout.as_secs_f64(),
        });
        let payload = envelope::encode_json(&request, &exchange(), "", &headers)
            .map_err(|error: EnvelopeError| ControlError::Unwritable(error.to_string()))?;
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query::<()>(&mut connection)
            .map_err(broker)?;
        let limit = limit.or(destination.map(<[&str]>::len));
        let deadline = Instant::now() + timeout;
        let mut replies = Vec::new();
        while limit.is_none_or(|limit| replies.len() < limit) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let popped: Option<(String, Vec<u8>)> = redis::cmd("BRPOP")
                .arg(&reply_queue)
                .arg(left.as_secs_f64().max(0.01))
                .query(&mut connection)
                .map_err(broker)?;
            let Some((_, payload)) = popped else { break };
            let Ok((body, headers)) = open_envelope(&payload) else {
                tracing::warn!("malformed control reply; skipped");
                continue;
            };
            if let Some(clock) = headers.get("clock").and_then(Value::as_u64) {
                self.clock.adjust(clock);
            }
            if headers.get("ticket").and_then(Value::as_str) != Some(ticket.as_str()) {
                continue; // a late reply to an earlier request
            }
            if let Value::Object(body) = body {
                replies.extend(body);
            }
        }
        Ok(replies)
    }
}

impl Drop for RedisControl {
    fn drop(&mut self) {
        // Unbind and remove the reply queue, as kombu's expiry would.
        if let Ok(mut connection) = self.servers.connect(Duration::from_secs(1)) {
            let reply_queue = format!("{}.{}", self.oid, reply_exchange());
            let member = [self.oid.as_str(), "", reply_queue.as_str()].join(SEP);
            let _ = redis::pipe()
                .cmd("SREM")
                .arg(format!("_kombu.binding.{}", reply_exchange()))
                .arg(&member)
                .cmd("SREM")
                .arg(format!("_kombu.binding_permanent.{}", reply_exchange()))
                .arg(&member)
                .cmd("DEL")
                .arg(&reply_queue)
                .query::<()>(&mut connection);
        }
    }
}

impl std::fmt::Debug for RedisControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisControl")
            .field("url", &self.url)
            .field("oid", &self.oid)
            .finish_non_exhaustive()
    }
}
