//! Celery events over Redis, as kombu 5.x carries them: [`RedisTransport`]
//! publishes, [`RedisSubscriber`] follows them for an
//! [`EventReceiver`](crate::events::EventReceiver).
//!
//! # Wire format
//!
//! Each message is a kombu envelope, sent with `PUBLISH` to
//! `<global_keyprefix>/<db>.<exchange>/<routing_key>` (kombu's fanout with
//! `fanout_patterns`; the `/<db>.` prefix is kombu's `fanout_prefix`):
//!
//! ```json
//! {"body": "<base64 of the event JSON>", "content-encoding": "utf-8",
//!  "content-type": "application/json", "headers": {"hostname": "w1@host"},
//!  "properties": {"delivery_mode": 1,
//!    "delivery_info": {"exchange": "celeryev", "routing_key": "task.started"},
//!    "priority": 0, "body_encoding": "base64", "delivery_tag": "<uuid4>"}}
//! ```
//!
//! A subscriber sends `PSUBSCRIBE <global_keyprefix>/<db>.<exchange>/<pattern>`,
//! the routing-key pattern with `#` turned into Redis's `*` (kombu's
//! `_queue_bind`).

mod subscriber;
mod transport;

pub use crate::broker::redis::RedisConfigError;
pub use subscriber::{RedisSubscriber, RedisSubscriberOptions};
pub use transport::{RedisOptions, RedisTransport};
