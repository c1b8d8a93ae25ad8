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

pub use crate::broker::amqp::AmqpConfigError;
pub use subscriber::{AmqpSubscriber, AmqpSubscriberOptions};
pub use transport::{AmqpOptions, AmqpTransport};
