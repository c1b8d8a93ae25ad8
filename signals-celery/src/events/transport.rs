//! Where events go: the [`Transport`] trait (kombu's `Connection` and `Producer`
//! in one) and the embedded [`MemoryTransport`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::event::Event;

/// Transports that cannot carry events: a dispatcher on one of them stays
/// disabled (Celery's `EventDispatcher.DISABLED_TRANSPORTS`).
pub const DISABLED_TRANSPORTS: &[&str] = &["sql"];

pub use crate::broker::{DeliveryMode, Message, TransportError};

/// A connection to a broker that can publish messages, as kombu's
/// `Connection` plus `Producer`.
///
/// Implementations must be thread-safe: one dispatcher may publish from several
/// threads.
pub trait Transport: Send + Sync {
    /// The kind of broker (`memory`, `redis`, `amqp`, `sql`...), as kombu's
    /// `driver_type`.
    fn driver_type(&self) -> &str;

    /// Whether events can travel on this transport (not one of
    /// [`DISABLED_TRANSPORTS`]).
    fn can_carry_events(&self) -> bool {
        !DISABLED_TRANSPORTS.contains(&self.driver_type())
    }

    /// Publishes one message, or says why not. A transport that batches in the
    /// background may return before the broker has the message; [`flush`]
    /// waits for it.
    ///
    /// [`flush`]: Transport::flush
    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError>;

    /// Waits until everything published so far is with the broker.
    fn flush(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A shared transport is a transport: one connection can serve a dispatcher
/// and, say, an explicit [`publish`](super::EventDispatcher::publish) elsewhere.
///
/// ```
/// use std::sync::Arc;
/// use signals_celery::events::{EventDispatcher, MemoryTransport, Transport};
///
/// let shared: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
/// let dispatcher = EventDispatcher::builder(Arc::clone(&shared)).build();
/// assert_eq!(dispatcher.publisher().unwrap().driver_type(), "memory");
/// ```
impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn driver_type(&self) -> &str {
        (**self).driver_type()
    }

    fn can_carry_events(&self) -> bool {
        (**self).can_carry_events()
    }

    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        (**self).publish(message)
    }

    fn flush(&self) -> Result<(), TransportError> {
        (**self).flush()
    }
}

/// A message as the [`MemoryTransport`] keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// The exchange it was published to.
    pub exchange: String,
    /// Its routing key.
    pub routing_key: String,
    /// The serialized body.
    pub body: Vec<u8>,
    /// The body's content type.
    pub content_type: String,
    /// The body's encoding.
    pub content_encoding: String,
    /// Its headers.
    pub headers: Vec<(String, String)>,
    /// Transient or persistent.
    pub delivery_mode: DeliveryMode,
}

impl Published {
    /// The events in the body: one, or several for a `.multi` message.
    pub fn events(&self) -> Result<Vec<Event>, serde_json::Error> {
        Event::parse_body(&self.body)
    }

    /// One header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The embedded broker: messages are kept in memory, in publish order, for a
/// consumer in the same process to read. The default transport, and the one the
/// tests and the main example use.
///
/// Cloning gives another handle to the same broker. It can be taken offline, as a
/// real broker can go away, so that buffering can be seen at work.
///
/// ```
/// use signals_celery::events::{EventDispatcher, MemoryTransport};
/// let broker = MemoryTransport::new();
/// let dispatcher = EventDispatcher::builder(broker.clone()).hostname("w1@example").build();
/// dispatcher.send("worker-online", &Default::default()).unwrap();
/// let message = broker.try_recv().unwrap();
/// assert_eq!(message.routing_key, "worker.online");
/// assert_eq!(message.events().unwrap()[0].hostname(), Some("w1@example"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    queue: Mutex<VecDeque<Published>>,
    arrived: Condvar,
    offline: AtomicBool,
}

impl MemoryTransport {
    /// An empty, online broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the broker offline (publishing fails with
    /// [`TransportError::Unavailable`]) or back online.
    pub fn set_online(&self, online: bool) {
        self.inner.offline.store(!online, Ordering::SeqCst);
    }

    /// Whether the broker accepts messages.
    pub fn is_online(&self) -> bool {
        !self.inner.offline.load(Ordering::SeqCst)
    }

    /// The oldest message not yet read, if any.
    pub fn try_recv(&self) -> Option<Published> {
        self.inner.queue.lock().pop_front()
    }

    /// The oldest message not yet read, waiting up to `timeout` for one.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Published> {
        let deadline = Instant::now() + timeout;
        let mut queue = self.inner.queue.lock();
        loop {
            if let Some(message) = queue.pop_front() {
                return Some(message);
            }
            if self
                .inner
                .arrived
                .wait_until(&mut queue, deadline)
                .timed_out()
            {
                return queue.pop_front();
            }
        }
    }

    /// Every message not yet read, oldest first.
    pub fn drain(&self) -> Vec<Published> {
        self.inner.queue.lock().drain(..).collect()
    }

    /// How many messages are waiting.
    pub fn len(&self) -> usize {
        self.inner.queue.lock().len()
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Transport for MemoryTransport {
    fn driver_type(&self) -> &str {
        "memory"
    }

    fn publish(&self, message: &Message<'_>) -> Result<(), TransportError> {
        if !self.is_online() {
            return Err(TransportError::Unavailable(
                "the in-memory broker is offline".into(),
            ));
        }
        let published = Published {
            exchange: message.exchange.to_owned(),
            routing_key: message.routing_key.to_owned(),
            body: message.body.to_vec(),
            content_type: message.content_type.to_owned(),
            content_encoding: message.content_encoding.to_owned(),
            headers: message
                .headers
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            delivery_mode: message.delivery_mode,
        };
        self.inner.queue.lock().push_back(published);
        self.inner.arrived.notify_one();
        Ok(())
    }
}
