//! The broker a command was pointed at, by its URL's scheme: the event
//! subscription (its state shared with `/health`), the remote-control
//! client and the queue probe, on Redis or RabbitMQ alike.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use signals_celery::control::{AmqpControl, ControlError, MailboxOptions, RedisControl, Replies};
use signals_celery::events::{
    AmqpSubscriber, AmqpSubscriberOptions, Delivery, EventSource, ReceiveError, RedisSubscriber,
    RedisSubscriberOptions,
};

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
}

/// Whether `url` names an AMQP broker (else Redis).
pub(crate) fn is_amqp(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://") || url.starts_with("pyamqp://")
}

/// kombu accepts `pyamqp://` for its default AMQP client: the same broker.
pub(crate) fn normalized(url: &str) -> String {
    match url.strip_prefix("pyamqp://") {
        Some(rest) => format!("amqp://{rest}"),
        None => url.to_owned(),
    }
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
        let (delivery, subscribed) = match &mut self.source {
            Source::Redis(source) => (
                source.next_delivery(timeout, max_size),
                source.is_subscribed(),
            ),
            Source::Amqp(source) => (
                source.next_delivery(timeout, max_size),
                source.is_subscribed(),
            ),
        };
        self.subscribed.store(subscribed, Ordering::Relaxed);
        delivery
    }
}

/// A remote-control client on either broker.
pub(crate) enum Control {
    Redis(RedisControl),
    Amqp(AmqpControl),
}

impl Control {
    /// A client of `url` whose TLS connections trust `roots` (PEM), if given.
    pub(crate) fn open(url: &str, roots: Option<Vec<u8>>) -> Result<Self, BrokerError> {
        let options = MailboxOptions {
            tls_root_certificates: roots,
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
