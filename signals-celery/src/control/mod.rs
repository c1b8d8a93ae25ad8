//! Celery's remote control ("pidbox"), so that a Rust service answers
//! `celery inspect ping`, `celery status` and Flower as a Celery worker does,
//! and Rust tools can inspect a cluster (features `redis` and `amqp`).
//!
//! A [`Node`] answers the commands a Celery worker answers (`ping`, `stats`,
//! `registered`, `active`, `reserved`, `scheduled`, `revoked`,
//! `active_queues`, `conf`, `clock`, a starting worker's `hello`, and the
//! casts `heartbeat`,
//! `enable_events`, `disable_events`) from what the service reports
//! ([`WorkerInfo`]), plus commands the service adds with typed arguments. A
//! [`RedisMailbox`] serves it on Redis; [`RedisControl`] is the client side.
//!
//! # Wire format (kombu 5.7 `pidbox.py`, Celery 5.7 `app/control.py`)
//!
//! A request is the JSON object `{"method", "arguments", "destination",
//! "pattern", "matcher", "ticket", "reply_to": {"exchange":
//! "reply.celery.pidbox", "routing_key": <client oid>}}` sent to the fanout
//! exchange `celery.pidbox`, with headers `{clock, expires}`; a cast has no
//! `ticket` and no `reply_to`. A node acts when `destination` names it, or,
//! without one, when `pattern` matches it with `matcher` (`glob`), or when
//! neither is given. It drops a request whose `expires` has passed, and
//! replies `{hostname: result}` to `reply_to` with headers `{ticket, clock}`.
//! On Redis, see [`RedisMailbox`]'s module notes.
//!
//! ```
//! use signals_celery::control::{Node, Request};
//!
//! let node = Node::builder("rust@host").registered(["tasks.add"]).build();
//! let call: Request = serde_json::from_str(
//!     r#"{"method": "registered", "arguments": {}, "destination": ["rust@host"],
//!         "ticket": "t1", "reply_to": {"exchange": "reply.celery.pidbox", "routing_key": "c"}}"#,
//! )?;
//! assert_eq!(
//!     node.handle(&call),
//!     Some(serde_json::json!({"rust@host": ["tasks.add"]}))
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

#![doc = include_str!("../../docs/control.md")]

#[cfg(feature = "amqp")]
mod amqp;
mod node;
#[cfg(feature = "redis")]
mod redis;
mod request;
#[cfg(any(feature = "redis", feature = "amqp"))]
mod serving;
mod task_info;

#[cfg(feature = "amqp")]
#[cfg_attr(docsrs, doc(cfg(feature = "amqp")))]
pub use amqp::{AmqpControl, AmqpMailbox};
pub use node::{Node, NodeBuilder, NodeStats, WorkerInfo};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisControl, RedisMailbox};
pub use task_info::{DeliveryInfo, ScheduledTask, TaskInfo};

/// Replies by worker name, in the order they came.
pub type Replies = Vec<(String, serde_json::Value)>;

/// Why a control client's request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The broker could not be reached or refused a command.
    #[error("the broker at {url}: {reason}")]
    Broker {
        /// The URL with its password masked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The request could not be written as JSON; nothing was sent.
    #[error("the control request cannot be written as JSON: {0}")]
    Unwritable(String),
    /// The broker's topology is wrong: no sentinel knows the master's name,
    /// or the server is a Redis Cluster node.
    #[error(transparent)]
    Topology(#[from] crate::TopologyError),
}

/// Options of a mailbox that serves a [`Node`] ([`RedisMailbox`],
/// [`AmqpMailbox`]).
///
/// ```
/// use std::time::Duration;
/// use signals_celery::control::MailboxOptions;
///
/// let options = MailboxOptions {
///     reconnect_delay: Duration::from_millis(500),
///     ..MailboxOptions::default()
/// };
/// assert!(options.tls_root_certificates.is_none());
/// ```
#[derive(Clone, Debug)]
pub struct MailboxOptions {
    /// The first wait before reconnecting after the connection is lost;
    /// doubled up to 2 s (default 100 ms), as for the event transports.
    pub reconnect_delay: std::time::Duration,
    /// For `rediss://` (feature `redis-tls`) and `amqps://`: PEM certificates
    /// of CAs to trust (default `None`: the system's).
    pub tls_root_certificates: Option<Vec<u8>>,
    /// How a failover list of URLs or Sentinel is used (default: the list
    /// round-robin, no Sentinel master name).
    pub failover: crate::Failover,
}

impl Default for MailboxOptions {
    fn default() -> Self {
        Self {
            reconnect_delay: std::time::Duration::from_millis(100),
            tls_root_certificates: None,
            failover: crate::Failover::default(),
        }
    }
}
pub use request::{ReplyTo, Request};
