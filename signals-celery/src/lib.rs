//! Celery's signals, event protocol, cluster state and remote control for Rust
//! services, on top of the `signals` dispatch core ([`Signal`](::signals::Signal)).
//!
//! - [`signals`](mod@crate::signals): every signal of `celery.signals` 5.x,
//!   declared with `#[signal]` and typed, so a Rust task runner and its
//!   libraries agree on them.
//! - [`events`]: Celery's event protocol, both ways. An
//!   [`EventDispatcher`](events::EventDispatcher) publishes task and worker
//!   events exactly as a Celery worker does, with buffers that never lose an
//!   event; an [`EventReceiver`](events::EventReceiver) follows a cluster's
//!   events, typed, and can re-emit them as in-process signals;
//!   [`State`](events::State) is Celery's cluster state.
//! - [`control`]: Celery's remote control (`celery inspect`, `celery status`,
//!   Flower's worker pages), both as a worker that answers and as a client.
//!
//! The embedded [`MemoryTransport`](events::MemoryTransport) needs no broker.
//! The brokers are features:
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `RedisTransport`, `RedisSubscriber`, `RedisMailbox`, `RedisControl`: kombu's Redis wire format |
//! | `redis-tls` | `rediss://` URLs (rustls, ring), with a custom root certificate if needed |
//! | `redis-sentinel` | `sentinel://` URLs: the master that Redis Sentinel names (see [Broker topologies](#broker-topologies)) |
//! | `amqp` | `AmqpTransport`, `AmqpSubscriber`, `AmqpMailbox`, `AmqpControl`: RabbitMQ, Celery's default broker |
//!
//! Both directions are tested against real Celery 5.7, Redis and RabbitMQ.
//!
//! # Examples
//!
//! A receiver of Celery's `task_sent`, filtered by the task's name:
//!
//! ```
//! use signals::receiver;
//! use signals_celery::signals::{task_sent, TaskId, TaskSentArgs};
//!
//! #[receiver(task_sent, sender = "tasks.add")]
//! fn on_add_sent(task_id: &TaskId) {
//!     println!("tasks.add sent as {task_id}");
//! }
//!
//! let args = TaskSentArgs::new(TaskId::from("7d3e"), "tasks.add");
//! assert_eq!(task_sent.send("tasks.add", &args).unwrap().len(), 1);
//! ```
//!
//! Events published as a Celery worker publishes them, on the embedded
//! broker:
//!
//! ```
//! use signals_celery::events::{EventDispatcher, MemoryTransport, TaskSucceeded};
//!
//! let broker = MemoryTransport::new();
//! let dispatcher = EventDispatcher::builder(broker.clone()).hostname("svc@example").build();
//! let event = TaskSucceeded { uuid: "42".into(), result: "3".into(), runtime: 0.01, ..Default::default() };
//! dispatcher.send_event(&event).unwrap();
//! assert_eq!(broker.drain()[0].routing_key, "task.succeeded");
//! ```
//!
//! # Broker topologies
//!
//! Every transport, subscriber, mailbox, control client and queue probe
//! takes one broker URL or a list of them, as kombu writes it, with a
//! [`Failover`] in its options (kombu's `failover_strategy`, `master_name`
//! and `sentinel_kwargs`):
//!
//! - **A failover list**, `amqp://n1//;amqp://n2//;amqp://n3//` (or
//!   `redis://h1/0;redis://h2/0`): the nodes of one broker. A connection
//!   goes to the node in use; when it fails, at connect or later, the next
//!   one goes to the next URL, [round-robin or shuffled](FailoverStrategy).
//!   The wait between attempts comes only after a whole cycle of the list
//!   failed. Each move is logged once (`tracing`, at WARN), with the URL's
//!   password masked. Unlike Celery's producers (Celery #5906), a
//!   long-lived publisher or subscriber moves too.
//! - **Redis Sentinel** (feature `redis-sentinel`),
//!   `sentinel://s1:26379;sentinel://s2:26379` with
//!   [`master_name`](Failover::master_name): each connection asks the
//!   sentinels for the master and checks that it calls itself master. A
//!   lost connection, or a `READONLY` reply from a demoted master, makes the
//!   next connection ask again. The URL's password and database are the
//!   master's; [`sentinel_password`](Failover::sentinel_password) is the
//!   sentinels' own. TLS to the master is not supported through Sentinel.
//! - **Redis pub/sub keeps nothing** for a subscriber between its
//!   connections. What is published while a receiver moves to the new
//!   master is not delivered to it, exactly as for Celery's own receiver.
//!   A [`RedisTransport`](events::RedisTransport) with
//!   [`min_subscribers: 1`](events::RedisOptions::min_subscribers) holds
//!   each event until a subscriber hears it instead, so every event reaches
//!   the receiver once (the receiver drops the copies a re-sent batch
//!   makes). The transport's own queue loses nothing either way: what it
//!   could not send is sent again on the new master.
//! - **A RabbitMQ cluster**: give every node's URL as a list, and follow
//!   the events with a [quorum queue](events::AmqpSubscriberOptions::quorum),
//!   which survives the loss of a minority of the nodes. The table there
//!   says what each kind of queue loses.
//! - **Redis Cluster** is not supported, as in kombu: Celery's keys and
//!   channels are not laid out for cluster slots. A URL of a cluster node
//!   is refused when it connects, with [`TopologyError::RedisCluster`],
//!   never a hang.
//!
//! A list that mixes brokers, an empty entry, `sentinel://` without a
//! master name, and a master name no sentinel knows are each a
//! [`TopologyError`].
//!
//! ```no_run
//! use signals_celery::events::{RedisOptions, RedisTransport};
//! use signals_celery::Failover;
//!
//! let options = RedisOptions {
//!     failover: Failover {
//!         master_name: Some("mymaster".into()),
//!         ..Failover::default()
//!     },
//!     ..RedisOptions::default()
//! };
//! let transport =
//!     RedisTransport::with_options("sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379", options)?;
//! # drop(transport);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # `serde_json` and your build
//!
//! Events, task arguments and control replies are `serde_json` values. This
//! crate turns on `serde_json`'s `float_roundtrip` (a float reads back as the
//! number Python wrote) and `raw_value` (an event's fields are kept as the text
//! that was sent). Neither changes what any other code in your build sees.
//! `preserve_order` is not turned on: typed events and the events' kombu
//! envelope are written in Celery's key order by this crate itself, and
//! free-form fields ([`events::Fields`]) and remote-control messages in their
//! map's own order, sorted unless your build turns `preserve_order` on. No JSON
//! consumer, Celery's included, depends on key order.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
pub mod control;
pub mod events;
mod pyjson;
#[cfg(any(feature = "redis", feature = "amqp"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "redis", feature = "amqp"))))]
pub mod queues;
pub mod signals;

pub use broker::failover::{Failover, FailoverStrategy, TopologyError, UnknownStrategy};

/// `url` with its password, if any, replaced by `***`: a broker URL as this
/// crate's errors and logs show it, and as a tool built on it should.
///
/// The credentials end at the URL's last `@`, so a password holding an `@`
/// that was not percent-encoded is still hidden whole. A failover list
/// (kombu's `;`-separated URLs) is masked URL by URL.
///
/// ```
/// use signals_celery::mask_password;
///
/// assert_eq!(mask_password("redis://:s3cret@10.0.0.1:6379/0"), "redis://:***@10.0.0.1:6379/0");
/// assert_eq!(mask_password("amqp://guest:p@ss@rabbit//"), "amqp://guest:***@rabbit//");
/// assert_eq!(mask_password("redis://cache:6379"), "redis://cache:6379");
/// assert_eq!(
///     mask_password("amqp://u:a@h1//;amqp://u:b@h2//"),
///     "amqp://u:***@h1//;amqp://u:***@h2//"
/// );
/// ```
pub fn mask_password(url: &str) -> String {
    if url.contains(';') {
        return url.split(';').map(mask_one).collect::<Vec<_>>().join(";");
    }
    mask_one(url)
}

/// One URL of a list, masked.
fn mask_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

/// The message of a panic: its payload when that is a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&'static str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(text), _) => (*text).to_owned(),
        (None, Some(text)) => text.clone(),
        (None, None) => "a panic with a non-string payload".to_owned(),
    }
}
