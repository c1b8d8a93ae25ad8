//! AMQP 0-9-1 (RabbitMQ) as events and remote control reach it, through
//! `lapin`: the URL's checks, the connection (TLS for `amqps://`), the
//! executor that drives it from a plain thread ([`Io`]), a consumer's next
//! message, and what Celery's `stats` reports of the broker.

use super::failover::{Failover, Nodes, TopologyError};
use super::{mask_password, BrokerInfo};

/// Why an AMQP transport, subscriber, mailbox or control client could not be
/// created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmqpConfigError {
    /// The TLS root certificates are not PEM certificates.
    #[error("the TLS root certificates are not PEM certificates (-----BEGIN CERTIFICATE-----)")]
    InvalidCertificates,
    /// The URL is not an `amqp://` or `amqps://` URL (the password, if any, is
    /// not repeated here).
    #[error("invalid AMQP URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A quorum queue was asked for without a durable queue's name: a
    /// quorum queue is durable, and shared across reconnections by its name.
    #[error(
        "a quorum queue needs `durable_queue`, its name (see `AmqpSubscriberOptions::quorum`)"
    )]
    QuorumNeedsDurableQueue,
    /// The URL list cannot be used.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// The background thread or the I/O runtime could not be started.
    #[error("cannot start the AMQP background thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How long connecting, opening a channel and declaring may take before the
/// attempt counts as failed and is made again.
pub(crate) const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a batch may wait for the broker's confirms (connecting included)
/// before the connection counts as lost and the batch is sent again.
pub(crate) const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
    if url.starts_with("amqps://") {
        super::tls::ring_unless_chosen();
    }
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

/// The nodes of an AMQP broker (one URL, or kombu's failover list of a
/// cluster's nodes) and the roots their TLS connections trust.
pub(crate) struct Servers {
    nodes: Nodes,
    roots: Option<String>,
}

impl Servers {
    /// Reads `url` (one URL or a `;`-separated list) and checks each URL;
    /// nothing connects yet.
    pub(crate) fn open(
        url: &str,
        failover: &Failover,
        roots: Option<&[u8]>,
    ) -> Result<Self, AmqpConfigError> {
        let same_broker = |first: &str, other: &str| {
            let amqp = |scheme: &str| matches!(scheme, "amqp" | "amqps");
            first == other || amqp(first) && amqp(other)
        };
        let nodes = Nodes::parse(url, failover.strategy, same_broker)?;
        for node in 0..nodes.len() {
            check_url(nodes.url(node))?;
        }
        Ok(Self {
            nodes,
            roots: tls_roots(roots)?,
        })
    }

    /// A connection to the node in use, or to the next one of the list that
    /// answers.
    pub(crate) async fn connect(&self) -> Result<lapin::Connection, String> {
        let nodes = &self.nodes;
        let roots = self.roots.as_deref();
        nodes
            .connect_async(|node| connect(nodes.url(node), nodes.masked(node), roots))
            .await
    }

    /// A connection that was up failed: the next one goes to the next node.
    pub(crate) fn lost(&self, error: &dyn std::fmt::Display) {
        self.nodes.lost(error);
    }

    /// The URL or list, passwords masked.
    pub(crate) fn describe(&self) -> String {
        self.nodes.describe()
    }

    /// The first URL as given: what `stats` reports.
    pub(crate) fn first_url(&self) -> &str {
        self.nodes.url(0)
    }

    /// `error`'s text with any URL of the list in it masked.
    pub(crate) fn hide(&self, error: impl std::fmt::Display) -> String {
        let mut text = error.to_string();
        for node in 0..self.nodes.len() {
            text = text.replace(self.nodes.url(node), self.nodes.masked(node));
        }
        text
    }
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

/// Celery's message properties, and nothing else: the content type and
/// encoding, `headers`, the delivery mode (1 transient, 2 persistent) and
/// priority 0. Without `content_type`, Celery's receiver gets raw bytes.
pub(crate) fn properties(
    content_type: &str,
    content_encoding: &str,
    headers: lapin::types::FieldTable,
    delivery_mode: u8,
) -> lapin::BasicProperties {
    lapin::BasicProperties::default()
        .with_content_type(content_type.into())
        .with_content_encoding(content_encoding.into())
        .with_headers(headers)
        .with_delivery_mode(delivery_mode)
        .with_priority(0)
}

/// What Celery's `stats` reports as `broker` for an AMQP URL.
pub(crate) fn broker_info(url: &str) -> serde_json::Map<String, serde_json::Value> {
    let parsed = url.parse::<lapin::uri::AMQPUri>().ok();
    BrokerInfo {
        transport: "amqp",
        hostname: parsed.as_ref().map(|uri| uri.authority.host.clone()),
        userid: parsed
            .as_ref()
            .map(|uri| uri.authority.userinfo.username.clone()),
        virtual_host: parsed.as_ref().map(|uri| uri.vhost.clone()),
        port: parsed.as_ref().map(|uri| uri.authority.port),
        ssl: url.starts_with("amqps://"),
        login_method: Some("PLAIN"),
    }
    .to_map()
}
