//! Celery events over AMQP 0-9-1 (RabbitMQ, Celery's default broker), as
//! Celery 5.7 and kombu 5.7 carry them: [`AmqpTransport`] publishes,
//! [`AmqpSubscriber`] follows them for an
//! [`EventReceiver`](crate::events::EventReceiver).
//!
//! # Wire format
//!
//! - The exchange is `celeryev`, of type `topic`, `durable=true`,
//!   `auto_delete=false`, no arguments, declared before the first publish with
//!   exactly these flags (other flags make RabbitMQ close the channel with
//!   `406 PRECONDITION_FAILED`).
//! - Each event is one `basic.publish` to it, `mandatory=false`, with routing
//!   key the event's type with `-` turned into `.` (`task.succeeded`), or
//!   `<group>.multi` for a grouped batch, whose body is a JSON list.
//! - Properties: `content_type=application/json`, `content_encoding=utf-8`,
//!   `headers={hostname: ...}`, `delivery_mode=1` (transient, unless
//!   configured), `priority=0`, nothing else. Without `content_type`, Celery's
//!   receiver gets raw bytes and fails.
//! - The body is the event's UTF-8 JSON as it is: no envelope and no base64
//!   (those belong to kombu's Redis transport).
//! - A receiver's queue is `celeryev.<uuid4>`, bound to `celeryev` with `#`:
//!   `exclusive=true`, `auto_delete=true`, `durable=false`,
//!   `x-message-ttl=5000` and `x-expires=60000` (Celery 5.7's defaults; RabbitMQ
//!   4.3 refuses transient non-exclusive queues), consumed with `no_ack`.
//!
//! # The executor
//!
//! The client, `lapin`, is async. The transport and the subscriber are used
//! from plain sync code (as the Redis ones are): each has a thread of its own
//! (the transport's sender, the subscriber's reader) that blocks on lapin's
//! futures, and by default a hidden tokio runtime of one I/O thread drives
//! them, so no runtime of the caller's is needed.
//!
//! An application that runs tokio already passes its runtime's handle instead
//! ([`AmqpOptions::runtime`], [`AmqpSubscriberOptions::runtime`]), and no
//! second runtime is started. The runtime must have its I/O and time drivers
//! enabled (`enable_all`), and be a multi-thread runtime, or a current-thread
//! one whose `block_on` keeps running: the transport's thread waits on futures
//! that only the runtime's own threads drive.

mod subscriber;
mod transport;

pub use subscriber::{AmqpSubscriber, AmqpSubscriberOptions};
pub use transport::{AmqpConfigError, AmqpOptions, AmqpTransport};

use crate::events::broker::mask_password;

/// How long connecting, opening a channel and declaring may take before the
/// attempt counts as failed and is made again.
pub(crate) const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a batch may wait for the broker's confirms (connecting included)
/// before the connection counts as lost and the batch is sent again.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Checks that `url` is an AMQP URL lapin understands; returns it with its
/// password masked, for errors and logs.
pub(crate) fn check_url(url: &str) -> Result<String, AmqpConfigError> {
    let masked = mask_password(url);
    match url.parse::<lapin::uri::AMQPUri>() {
        Ok(_) => Ok(masked),
        Err(reason) => Err(AmqpConfigError::InvalidUrl {
            reason: reason.replace(url, &masked),
            url: masked,
        }),
    }
}

/// The extra root certificates for `amqps://`, checked: PEM text with at
/// least one certificate.
pub(crate) fn tls_roots(pem: Option<&[u8]>) -> Result<Option<String>, AmqpConfigError> {
    let Some(pem) = pem else { return Ok(None) };
    match std::str::from_utf8(pem) {
        Ok(text) if text.contains("-----BEGIN CERTIFICATE-----") => Ok(Some(text.to_owned())),
        _ => Err(AmqpConfigError::InvalidCertificates),
    }
}

/// Opens a connection to `url` (`masked` for errors), trusting `roots` as
/// well as the system's roots for `amqps://`.
pub(crate) async fn connect(
    url: &str,
    masked: &str,
    roots: Option<&str>,
) -> Result<lapin::Connection, String> {
    let tls = lapin::tcp::OwnedTLSConfig {
        identity: None,
        cert_chain: roots.map(str::to_owned),
    };
    let connection = match lapin::DefaultConnectionBuilder::new() {
        Ok(builder) => {
            builder
                .with_uri_str(url.to_owned())
                .with_tls_config(tls)
                .connect()
                .await
        }
        Err(error) => Err(error),
    };
    connection.map_err(|error| error.to_string().replace(url, masked))
}

/// Closes `connection` politely, giving up after a few seconds (a broker
/// that does not answer is left to notice the closed socket).
pub(crate) fn close(io: &Io, connection: &lapin::Connection) {
    let _ = io.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            connection.close(200, "closing".into()),
        )
        .await
    });
}

/// What a consumer gave within one wake-up interval.
// Moved once per message, as lapin's own `Option<Result<Delivery>>` is;
// boxing it would allocate per message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Next {
    /// Nothing yet: the caller checks whether to stop, then waits again.
    Idle,
    /// A message.
    Delivery(lapin::message::Delivery),
    /// The consumer ended or failed: reconnect.
    Lost(String),
}

/// Waits up to `wake` for `consumer`'s next message, so that a reader thread
/// wakes often enough to see that it should stop.
pub(crate) fn next_delivery(
    io: &Io,
    consumer: &mut lapin::Consumer,
    wake: std::time::Duration,
) -> Next {
    use futures_util::StreamExt as _;
    match io.block_on(async { tokio::time::timeout(wake, consumer.next()).await }) {
        Err(_elapsed) => Next::Idle,
        Ok(None) => Next::Lost("the broker ended the consumer".into()),
        Ok(Some(Err(error))) => Next::Lost(error.to_string()),
        Ok(Some(Ok(delivery))) => Next::Delivery(delivery),
    }
}

/// What drives lapin's I/O for one transport or subscriber, whose own thread
/// blocks on it.
pub(crate) enum Io {
    /// A runtime of its own: one worker thread.
    Own(tokio::runtime::Runtime),
    /// The application's runtime.
    Caller(tokio::runtime::Handle),
}

impl Io {
    /// The caller's runtime if given, else a new one.
    pub(crate) fn new(caller: Option<&tokio::runtime::Handle>) -> Result<Self, AmqpConfigError> {
        if let Some(handle) = caller {
            return Ok(Self::Caller(handle.clone()));
        }
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("signals-amqp-io")
            .enable_all()
            .build()
            .map(Self::Own)
            .map_err(AmqpConfigError::Thread)
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        match self {
            Self::Own(runtime) => runtime.block_on(future),
            Self::Caller(handle) => handle.block_on(future),
        }
    }
}
