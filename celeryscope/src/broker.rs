//! The broker a command was pointed at, by its URL's scheme: the event
//! subscription (its state shared with `/health`), the remote-control
//! client and the queue probe, on Redis or RabbitMQ alike.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use signals_celery::control::{AmqpControl, ControlError, MailboxOptions, RedisControl, Replies};
use signals_celery::events::{
    AmqpSubscriber, AmqpSubscriberOptions, Arrival, Delivery, EventSource, ReceiveError,
    RedisSubscriber, RedisSubscriberOptions,
};
use signals_celery::{Failover, UnknownStrategy};

/// Why a broker could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BrokerError {
    #[error("{0}")]
    Redis(#[from] signals_celery::events::RedisConfigError),
    #[error("{0}")]
    Amqp(#[from] signals_celery::events::AmqpConfigError),
    #[error("cannot read the CA certificates {path}: {source}")]
    Certificates {
        path: String,
        source: std::io::Error,
    },
    #[error("--broker-transport-option failover_strategy: {0}")]
    Strategy(#[from] UnknownStrategy),
    #[error("--broker-transport-option sentinel_kwargs: `{0}` is not a JSON object (such as {{\"password\": \"...\"}})")]
    SentinelKwargs(String),
}

/// The broker of `top`, `dump` and `inspect`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct BrokerArgs {
    /// The broker URL (redis://, rediss://, sentinel://, amqp://, amqps://),
    /// or kombu's `;`-separated failover list of them.
    #[arg(short = 'b', long = "broker", env = "CELERY_BROKER_URL")]
    pub(crate) url: String,
    /// A kombu transport option, KEY=VALUE (repeatable): `master_name` and
    /// `sentinel_kwargs` for sentinel:// URLs, `failover_strategy` for a list.
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) broker_transport_option: Vec<String>,
}

impl BrokerArgs {
    /// How the URL list or Sentinel is used, from the transport options.
    pub(crate) fn failover(&self) -> Result<Failover, String> {
        let mut options = BTreeMap::new();
        for pair in &self.broker_transport_option {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!(
                    "--broker-transport-option: `{pair}` is not KEY=VALUE"
                ));
            };
            options.insert(key.to_owned(), value.to_owned());
        }
        failover_of(&options).map_err(|error| error.to_string())
    }
}

/// kombu's options that say how a URL list or Redis Sentinel is used:
/// the transport options `master_name` and `sentinel_kwargs` (JSON, of which
/// `password` is read), and `failover_strategy` (kombu's connection option,
/// Celery's `broker_failover_strategy`, taken here as a transport option).
pub(crate) fn failover_of(options: &BTreeMap<String, String>) -> Result<Failover, BrokerError> {
    let mut failover = Failover {
        master_name: options.get("master_name").cloned(),
        ..Failover::default()
    };
    if let Some(strategy) = options.get("failover_strategy") {
        failover.strategy = strategy.parse()?;
    }
    if let Some(kwargs) = options.get("sentinel_kwargs") {
        let Ok(Value::Object(kwargs)) = serde_json::from_str::<Value>(kwargs) else {
            return Err(BrokerError::SentinelKwargs(kwargs.clone()));
        };
        failover.sentinel_password = kwargs
            .get("password")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    Ok(failover)
}

/// Whether `url` names an AMQP broker (else Redis).
pub(crate) fn is_amqp(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://") || url.starts_with("pyamqp://")
}

/// kombu accepts `pyamqp://` for its default AMQP client: the same broker
/// (in each URL of a failover list).
pub(crate) fn normalized(url: &str) -> String {
    url.split(';')
        .map(|url| match url.trim().strip_prefix("pyamqp://") {
            Some(rest) => format!("amqp://{rest}"),
            None => url.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// How the event subscription is made.
#[derive(Clone, Debug, Default)]
pub(crate) struct SubscribeOptions {
    /// The first wait before reconnecting (`None`: the subscriber's own).
    pub(crate) reconnect_delay: Option<Duration>,
    /// kombu's `global_keyprefix` (Redis).
    pub(crate) global_keyprefix: Option<String>,
    /// kombu's `fanout_prefix` (Redis).
    pub(crate) fanout_prefix: Option<bool>,
    /// PEM certificates of the CAs to trust.
    pub(crate) tls_root_certificates: Option<Vec<u8>>,
    /// How a URL list or Sentinel is used.
    pub(crate) failover: Failover,
}

/// An event subscription whose state the caller can watch once a receiver
/// owns it.
pub(crate) struct Watched {
    source: Source,
    subscribed: Arc<AtomicBool>,
}

enum Source {
    Redis(RedisSubscriber),
    Amqp(AmqpSubscriber),
}

impl Watched {
    /// Messages read ahead of the receiver. A monitor that falls behind
    /// leaves the rest with the broker (Redis's output buffer, RabbitMQ's
    /// queue) instead of in its own memory; the receiver drains 1,024 in
    /// about a millisecond.
    const BACKLOG: usize = 1_024;

    /// Subscribes to every event on `url`.
    pub(crate) fn open(url: &str, options: &SubscribeOptions) -> Result<Self, BrokerError> {
        let source = if is_amqp(url) {
            let mut amqp = AmqpSubscriberOptions {
                backlog: Self::BACKLOG,
                ..AmqpSubscriberOptions::default()
            };
            if let Some(delay) = options.reconnect_delay {
                amqp.reconnect_delay = delay;
            }
            amqp.tls_root_certificates = options.tls_root_certificates.clone();
            amqp.failover = options.failover.clone();
            Source::Amqp(AmqpSubscriber::with_options(&normalized(url), amqp)?)
        } else {
            let mut redis = RedisSubscriberOptions {
                backlog: Self::BACKLOG,
                ..RedisSubscriberOptions::default()
            };
            if let Some(delay) = options.reconnect_delay {
                redis.reconnect_delay = delay;
            }
            if let Some(prefix) = &options.global_keyprefix {
                redis.global_keyprefix = prefix.clone();
            }
            if let Some(fanout) = options.fanout_prefix {
                redis.fanout_prefix = fanout;
            }
            redis.tls_root_certificates = options.tls_root_certificates.clone();
            redis.failover = options.failover.clone();
            Source::Redis(RedisSubscriber::with_options(url, redis)?)
        };
        Ok(Self {
            source,
            subscribed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether the subscription is active, as of its last read.
    pub(crate) fn status(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.subscribed)
    }

    /// Waits up to `timeout` for the subscription to be made.
    pub(crate) fn wait_subscribed(&self, timeout: Duration) -> bool {
        let subscribed = match &self.source {
            Source::Redis(source) => source.wait_subscribed(timeout),
            Source::Amqp(source) => source.wait_subscribed(timeout),
        };
        self.subscribed.store(subscribed, Ordering::Relaxed);
        subscribed
    }
}

impl EventSource for Watched {
    fn next_delivery(
        &mut self,
        timeout: Duration,
        max_size: usize,
    ) -> Result<Option<Delivery>, ReceiveError> {
        Ok(self
            .next_arrival(timeout, max_size)?
            .map(Arrival::into_delivery))
    }

    // Forwarded, so that a message the subscriber scanned on its own thread
    // reaches the receiver scanned.
    fn next_arrival(
        &mut self,
        timeout: Duration,
        max_size: usize,
    ) -> Result<Option<Arrival>, ReceiveError> {
        let (arrival, subscribed) = match &mut self.source {
            Source::Redis(source) => (
                source.next_arrival(timeout, max_size),
                source.is_subscribed(),
            ),
            Source::Amqp(source) => (
                source.next_arrival(timeout, max_size),
                source.is_subscribed(),
            ),
        };
        self.subscribed.store(subscribed, Ordering::Relaxed);
        arrival
    }
}

/// A remote-control client on either broker.
pub(crate) enum Control {
    Redis(RedisControl),
    Amqp(AmqpControl),
}

impl Control {
    /// A client of `url` whose TLS connections trust `roots` (PEM), if
    /// given, and which uses a URL list or Sentinel by `failover`.
    pub(crate) fn open(
        url: &str,
        roots: Option<Vec<u8>>,
        failover: Failover,
    ) -> Result<Self, BrokerError> {
        let options = MailboxOptions {
            tls_root_certificates: roots,
            failover,
            ..MailboxOptions::default()
        };
        Ok(if is_amqp(url) {
            Self::Amqp(AmqpControl::open_with(&normalized(url), &options)?)
        } else {
            Self::Redis(RedisControl::open_with(url, &options)?)
        })
    }

    /// `method` to `destination` (every worker if `None`), replies until
    /// `timeout`.
    pub(crate) fn broadcast(
        &self,
        method: &str,
        arguments: Map<String, Value>,
        destination: Option<&[&str]>,
        timeout: Duration,
    ) -> Result<Replies, ControlError> {
        match self {
            Self::Redis(control) => {
                control.broadcast(method, arguments, destination, timeout, None)
            }
            Self::Amqp(control) => control.broadcast(method, arguments, destination, timeout, None),
        }
    }
}
