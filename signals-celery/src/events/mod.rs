//! Celery's event protocol: send task and worker events the way a Celery worker
//! does, so Celery's monitors (`celery events`, Flower) can see a Rust service.
//!
//! - [`EventDispatcher`]: Celery's `EventDispatcher`, every option included:
//!   groups, buffered groups published as one `<group>.multi` message, buffering
//!   while the broker is away, a shared [`LamportClock`].
//! - [`Transport`]: where messages go; [`MemoryTransport`] is the embedded
//!   default.
//! - Typed events ([`TaskSucceeded`], [`WorkerHeartbeat`], ...) and free-form
//!   ones ([`Fields`]); [`Event`] is what a consumer reads.
//! - [`EventReceiver`]: Celery's `EventReceiver`, the other direction: follows
//!   an [`EventSource`] (a `RedisSubscriber` with the `redis` feature, or the
//!   [`MemoryTransport`]), hands events to typed or raw handlers and, if asked,
//!   to the [`remote`] signals; [`Dumper`] prints them as `celery events --dump`.
//!   Events are read straight from the message's text: each field a borrowed
//!   slice, decoded when asked for ([`EventRef`], [`FieldRef`]); a typed handler
//!   decodes only its type's fields, and an owned [`Event`] map is built only for
//!   a raw handler.
//! - [`State`]: Celery's cluster state, fed by a receiver.
//!
//! ```
//! use signals_celery::events::{EventDispatcher, MemoryTransport, Sent};
//! use serde_json::json;
//!
//! let broker = MemoryTransport::new();
//! let dispatcher = EventDispatcher::builder(broker.clone()).hostname("svc@example").build();
//! let fields = json!({"uuid": "42", "name": "tasks.add"});
//! dispatcher.send("task-received", fields.as_object().unwrap()).unwrap();
//!
//! broker.set_online(false); // the broker goes away...
//! assert_eq!(dispatcher.send("task-started", fields.as_object().unwrap()).unwrap(), Sent::Buffered);
//! broker.set_online(true); // ...and comes back
//! assert_eq!(dispatcher.flush(true, true).unwrap().events, 1);
//!
//! let kinds: Vec<_> = broker.drain().iter().map(|m| m.routing_key.clone()).collect();
//! assert_eq!(kinds, ["task.received", "task.started"]);
//! ```

#![doc = include_str!("../../docs/events.md")]

#[cfg(feature = "amqp")]
mod amqp;
mod buffer;
mod clock;
mod dispatcher;
mod dump;
mod event;
mod event_ref;
mod field_name;
mod gate;
mod kinds;
mod receiver;
#[cfg(feature = "redis")]
mod redis;
pub mod remote;
mod scan;
mod serializer;
mod state;
mod transport;

#[cfg(feature = "amqp")]
#[cfg_attr(docsrs, doc(cfg(feature = "amqp")))]
pub use self::amqp::{
    AmqpConfigError, AmqpOptions, AmqpSubscriber, AmqpSubscriberOptions, AmqpTransport,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{
    RedisConfigError, RedisOptions, RedisSubscriber, RedisSubscriberOptions, RedisTransport,
};
pub use buffer::Overflow;
pub use clock::LamportClock;
pub use dispatcher::{
    EventDispatcher, EventDispatcherBuilder, EventError, FlushReport, PublishRetryPolicy,
    SendOptions, Sent, DEFAULT_BUFFER_CAPACITY,
};
pub use dump::{python_repr, Dumper};
pub use event::{
    anon_nodename, group_from, loadavg, routing_key_for, utcoffset, Event, Fields, OutgoingEvent,
};
pub use event_ref::{EventRef, FieldRef};
pub use kinds::{
    CeleryEvent, TaskFailed, TaskReceived, TaskRejected, TaskRetried, TaskRevoked, TaskSent,
    TaskStarted, TaskSucceeded, WorkerHeartbeat, WorkerOffline, WorkerOnline,
};
#[doc(hidden)]
pub use receiver::Arrival;
pub use receiver::{
    CaptureReport, Capturing, Delivery, EventReceiver, EventReceiverBuilder, EventSource,
    ReceiveError, Received, ReceiverStats, DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_MESSAGE_SIZE,
};
pub use serializer::{Json, SerializeError, Serializer};
pub use state::{
    Applied, State, StateLimits, StateView, Task, TaskState, Worker, HEARTBEAT_DRIFT_MAX,
    HEARTBEAT_EXPIRE_WINDOW, HEARTBEAT_MAX,
};
pub use transport::{
    DeliveryMode, MemoryTransport, Message, Published, Transport, TransportError,
    DISABLED_TRANSPORTS,
};
