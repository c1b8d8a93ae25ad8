//! Celery events over AMQP 0-9-1 (RabbitMQ, Celery's default broker), as
//! Celery 5.7 and kombu 5.7 carry them: [`AmqpTransport`] publishes.
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
//!
//! # The executor
//!
//! The client, `lapin`, is async. The transport is used from plain sync code
//! (as the Redis one is), so it runs lapin on a tokio runtime of its own: one
//! I/O thread, plus the transport's sending thread, which blocks on it. An
//! application that runs tokio itself gets that small second runtime, hidden;
//! nothing of it shows in the API, and it needs no runtime of the caller's.

mod transport;

pub use transport::{AmqpConfigError, AmqpOptions, AmqpTransport};
