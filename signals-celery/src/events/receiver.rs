//! Celery's `EventReceiver`: follows the events a cluster sends, adjusts the
//! Lamport clock, localizes timestamps and hands each event to handlers (and,
//! if asked, to the [`remote`](super::remote) signals).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::clock::LamportClock;
use super::event::{now, utcoffset_at, Event};
use super::event_ref::EventRef;
use super::field_name::FieldName;
use super::kinds::CeleryEvent;
use super::remote;
use super::scan::{RawFields, ScannedBody, ScannedMessage};
use super::state::State;
use super::transport::{MemoryTransport, Published};

/// Celery's `CLIENT_CLOCK_SKEW`: a `task-sent` event's clock is replaced by the
/// receiver's own minus one, because clients never synchronize their clocks.
const CLIENT_CLOCK_SKEW: i64 = -1;

/// The largest message body accepted by default (1 MiB); a Celery event is a
/// few hundred bytes, a `.multi` group of 24 a few kilobytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;

/// How many delivery tags a receiver remembers to drop redeliveries (default).
pub const DEFAULT_DEDUP_WINDOW: usize = 65_536;

pub use crate::broker::Delivery;

impl From<Published> for Delivery {
    fn from(message: Published) -> Self {
        Self {
            routing_key: message.routing_key,
            content_type: message.content_type,
            content_encoding: message.content_encoding,
            delivery_tag: None,
            body: message.body,
        }
    }
}

/// Why a message, an event or the connection failed. The receiver counts each
/// ([`EventReceiver::stats`]), reports it to the error handler and goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The message is larger than [`EventReceiverBuilder::max_message_size`].
    #[error("message of {size} bytes is larger than the limit of {limit}")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The envelope or the body is not JSON text.
    #[error("{what} is not JSON: {source}")]
    NotJson {
        /// Which part: the envelope or the body.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// JSON, but not shaped as a Celery event message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A content type or encoding other than JSON in UTF-8 (Celery's receiver
    /// accepts only the event serializer and `json`).
    #[error("unsupported {0}")]
    Unsupported(String),
    /// A typed handler could not read the event as its type.
    #[error("cannot read a `{kind}` event as {type_name}: {source}")]
    Decode {
        /// The event type.
        kind: String,
        /// The Rust type asked for.
        type_name: &'static str,
        /// What did not fit.
        #[source]
        source: serde_json::Error,
    },
    /// A handler panicked; the panic was caught.
    #[error("the handler of `{kind}` panicked: {message}")]
    HandlerPanicked {
        /// The event type.
        kind: String,
        /// The panic message.
        message: String,
    },
    /// The connection to the broker failed; the source reconnects.
    #[error("the event source failed: {0}")]
    Source(String),
}

impl ReceiveError {
    /// A JSON error, classified: not JSON at all, or JSON of the wrong shape.
    pub(crate) fn json(what: &'static str, error: serde_json::Error) -> Self {
        if error.is_data() {
            Self::Malformed(format!("{what}: {error}"))
        } else {
            Self::NotJson {
                what,
                source: error,
            }
        }
    }
}

/// Where a receiver reads messages from: a broker subscription
/// (`RedisSubscriber`, with the `redis` feature) or the embedded
/// [`MemoryTransport`].
pub trait EventSource {
    /// Waits up to `timeout` for the next message; `Ok(None)` when none came.
    /// A message larger than `max_size` bytes is refused with
    /// [`ReceiveError::TooLarge`] before it is parsed. After an `Err`, the next
    /// call goes on (reconnecting if the connection was lost).
    fn next_delivery(
        &mut self,
        timeout: Duration,
        max_size: usize,
    ) -> Result<Option<Delivery>, ReceiveError>;

    /// [`next_delivery`](Self::next_delivery), as the receiver reads a
    /// source: a source of this crate may hand over a message whose events
    /// it already scanned on its own thread.
    #[doc(hidden)]
    fn next_arrival(
        &mut self,
        timeout: Duration,
        max_size: usize,
    ) -> Result<Option<Arrival>, ReceiveError> {
        Ok(self.next_delivery(timeout, max_size)?.map(Arrival::from))
    }
}

/// A message as a source hands it to the receiver: as delivered, or with
/// its events already scanned on the source's own thread.
///
/// A subscriber's thread does a fixed amount of work per message and the
/// receiver's thread an amount per event, so on a `.multi` message of many
/// events the subscriber's thread waits while the receiver's works; scanning
/// such a message on the subscriber's thread shares the work between them.
#[doc(hidden)]
#[derive(Debug)]
pub struct Arrival(Arrived);

// Only the Redis subscriber opens or scans messages itself so far.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Debug)]
enum Arrived {
    Delivery(Delivery),
    /// Opened by the source, with what the receiver checks borrowed where
    /// it is one of the usual texts.
    Opened {
        about: About,
        body: Vec<u8>,
    },
    Scanned(Box<(About, ScannedMessage)>),
}

/// What the receiver reads of a message besides its body.
#[derive(Debug)]
pub(crate) struct About {
    pub(crate) routing_key: Cow<'static, str>,
    pub(crate) content_type: Cow<'static, str>,
    pub(crate) content_encoding: Cow<'static, str>,
    pub(crate) delivery_tag: Option<String>,
}

impl From<Delivery> for Arrival {
    fn from(delivery: Delivery) -> Self {
        Self(Arrived::Delivery(delivery))
    }
}

impl Arrival {
    /// A message as its source opened it; with `scan`, its body is scanned
    /// now, on the caller's thread (unless the body is not one the receiver
    /// would scan: it is then scanned and reported by the receiver, as any
    /// message is).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn opened(about: About, body: Vec<u8>, scan: bool) -> Self {
        if !scan
            || !reads_content_type(&about.content_type)
            || !reads_encoding(&about.content_encoding)
        {
            return Self(Arrived::Opened { about, body });
        }
        match ScannedMessage::scan(body) {
            Ok(message) => Self(Arrived::Scanned(Box::new((about, message)))),
            Err(body) => Self(Arrived::Opened { about, body }),
        }
    }

    /// The message as delivered.
    pub fn into_delivery(self) -> Delivery {
        let (about, body) = match self.0 {
            Arrived::Delivery(delivery) => return delivery,
            Arrived::Opened { about, body } => (about, body),
            Arrived::Scanned(scanned) => {
                let (about, message) = *scanned;
                (about, message.into_owner())
            }
        };
        Delivery {
            routing_key: about.routing_key.into_owned(),
            content_type: about.content_type.into_owned(),
            content_encoding: about.content_encoding.into_owned(),
            delivery_tag: about.delivery_tag,
            body,
        }
    }
}

/// Whether the receiver reads a body of this content type: JSON (an empty
/// one is taken as Celery's default).
fn reads_content_type(content_type: &str) -> bool {
    content_type.is_empty() || content_type.eq_ignore_ascii_case("application/json")
}

/// Whether the receiver reads a body of this encoding: UTF-8 (an empty one
/// is taken as Celery's default).
fn reads_encoding(encoding: &str) -> bool {
    encoding.is_empty()
        || encoding.eq_ignore_ascii_case("utf-8")
        || encoding.eq_ignore_ascii_case("utf8")
}

impl EventSource for MemoryTransport {
    fn next_delivery(
        &mut self,
        timeout: Duration,
        _max_size: usize,
    ) -> Result<Option<Delivery>, ReceiveError> {
        Ok(self.recv_timeout(timeout).map(Delivery::from))
    }
}

/// A typed event as received: the event's own fields and the standard ones,
/// after the receiver adjusted `clock` and localized `timestamp`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Received<E> {
    /// The event's own fields.
    pub event: E,
    /// The sender's node name.
    pub hostname: String,
    /// The event's clock as Celery's receiver leaves it: the sender's value,
    /// or for `task-sent` and clockless events one given by the receiver.
    pub clock: u64,
    /// When it was sent, seconds since the epoch, localized as Celery does.
    pub timestamp: f64,
    /// The sender's offset from UTC, hours west.
    pub utcoffset: f64,
    /// The sender's process id.
    pub pid: u64,
    /// When this process received it, seconds since the epoch.
    pub local_received: f64,
}

impl<E: DeserializeOwned> Received<E> {
    /// Reads a received [`Event`] as `E`, with its standard fields.
    ///
    /// ```
    /// use signals_celery::events::{Event, Received, TaskStarted};
    /// let event: Event = serde_json::from_str(
    ///     r#"{"hostname": "w@h", "clock": 3, "uuid": "42", "timestamp": 1.5, "type": "task-started"}"#,
    /// ).unwrap();
    /// let started = Received::<TaskStarted>::from_event(&event).unwrap();
    /// assert_eq!((started.uuid.as_str(), started.clock), ("42", 3));
    /// ```
    pub fn from_event(event: &Event) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event: event.decode()?,
            hostname: event.hostname().unwrap_or_default().to_owned(),
            clock: event.clock().unwrap_or_default(),
            timestamp: event.timestamp().unwrap_or_default(),
            utcoffset: event.utcoffset().unwrap_or_default(),
            pid: event.pid().unwrap_or_default(),
            local_received: event
                .get("local_received")
                .and_then(Value::as_f64)
                .unwrap_or_default(),
        })
    }

    /// Reads a borrowed [`EventRef`] as `E`, with its standard fields: what a
    /// typed handler is given.
    pub fn from_ref(event: &EventRef<'_>) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event: event.decode()?,
            hostname: event.hostname().map(Cow::into_owned).unwrap_or_default(),
            clock: event.clock().unwrap_or_default(),
            timestamp: event.timestamp().unwrap_or_default(),
            utcoffset: event.utcoffset().unwrap_or_default(),
            pid: event.pid().unwrap_or_default(),
            local_received: event.local_received().unwrap_or_default(),
        })
    }
}

impl<E: CeleryEvent> Received<E> {
    /// [`from_ref`](Self::from_ref) for a handler: a misfit is a
    /// [`ReceiveError::Decode`] naming the event type and `E`.
    pub(crate) fn read(event: &EventRef<'_>) -> Result<Self, ReceiveError> {
        Self::from_ref(event).map_err(|source| ReceiveError::Decode {
            kind: E::TYPE.to_owned(),
            type_name: std::any::type_name::<E>(),
            source,
        })
    }
}

impl<E> std::ops::Deref for Received<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.event
    }
}

/// What a receiver has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// Messages taken from the source (redeliveries included).
    pub messages: u64,
    /// Events handed to handlers.
    pub events: u64,
    /// Redelivered messages dropped by their delivery tag.
    pub duplicates: u64,
    /// [`ReceiveError::TooLarge`].
    pub too_large: u64,
    /// [`ReceiveError::NotJson`].
    pub not_json: u64,
    /// [`ReceiveError::Malformed`].
    pub malformed: u64,
    /// [`ReceiveError::Unsupported`].
    pub unsupported: u64,
    /// [`ReceiveError::Decode`].
    pub decode_errors: u64,
    /// [`ReceiveError::HandlerPanicked`].
    pub handler_panics: u64,
    /// [`ReceiveError::Source`].
    pub source_errors: u64,
}

impl ReceiverStats {
    /// All errors, of every kind.
    pub fn errors(&self) -> u64 {
        self.too_large
            + self.not_json
            + self.malformed
            + self.unsupported
            + self.decode_errors
            + self.handler_panics
            + self.source_errors
    }
}

#[derive(Default)]
struct Counters {
    messages: AtomicU64,
    events: AtomicU64,
    duplicates: AtomicU64,
    too_large: AtomicU64,
    not_json: AtomicU64,
    malformed: AtomicU64,
    unsupported: AtomicU64,
    decode_errors: AtomicU64,
    handler_panics: AtomicU64,
    source_errors: AtomicU64,
}

type Handler = Box<dyn Fn(&Incoming<'_>) -> Result<(), ReceiveError> + Send + Sync>;
type ErrorHandler = Box<dyn Fn(&ReceiveError) + Send + Sync>;

/// An event on its way to the handlers: borrowed from its message, with the
/// owned [`Event`] a raw handler or the remote signals take made at most once.
struct Incoming<'a> {
    event: EventRef<'a>,
    owned: OnceCell<Event>,
}

impl Incoming<'_> {
    fn owned(&self) -> &Event {
        self.owned.get_or_init(|| self.event.to_event())
    }
}

/// Celery's `EventReceiver`: reads messages from an [`EventSource`], and for
/// each event (each element of a `.multi` list):
///
/// 1. adjusts the shared [`LamportClock`] as Celery does: a `task-sent` event's
///    clock is replaced by the receiver's own value minus one (clients never
///    synchronize), an event with a clock is merged with
///    [`adjust`](LamportClock::adjust), an event without one (or a blind event,
///    `"clock": null`) gets [`forward`](LamportClock::forward);
/// 2. localizes `timestamp` as Celery does: `timestamp - (utcoffset - here) * 3600`;
/// 3. stamps `local_received`;
/// 4. calls the handlers of its type, or else those of `"*"` (Celery's
///    `handlers.get(type) or handlers.get('*')`), and, with
///    [`emit_signals`](EventReceiverBuilder::emit_signals), sends it on the
///    [`remote`](super::remote) signals.
///
/// Nothing stops it: a malformed, oversized or non-JSON message, an event a
/// typed handler cannot read, a panicking handler and a lost connection are
/// each a [`ReceiveError`], counted in [`stats`](Self::stats) and passed to
/// [`on_error`](EventReceiverBuilder::on_error). A message delivered twice (the
/// same kombu delivery tag, as the Redis transport resends after a failure) is
/// handled once.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use signals_celery::events::{EventDispatcher, EventReceiver, MemoryTransport, Received, TaskSucceeded};
///
/// let mut broker = MemoryTransport::new();
/// let dispatcher = EventDispatcher::builder(broker.clone()).hostname("w1@host").build();
/// dispatcher.send_event(&TaskSucceeded { uuid: "42".into(), result: "4".into(), runtime: 0.5 })?;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let receiver = EventReceiver::builder()
///     .on(move |event: &Received<TaskSucceeded>| {
///         log.lock().unwrap().push((event.hostname.clone(), event.uuid.clone()));
///     })
///     .build();
/// let report = receiver.capture(&mut broker, Some(1), None);
/// assert_eq!(report.events, 1);
/// assert_eq!(*seen.lock().unwrap(), [("w1@host".to_string(), "42".to_string())]);
/// # Ok::<(), signals_celery::events::EventError>(())
/// ```
#[derive(Clone)]
pub struct EventReceiver {
    inner: Arc<Inner>,
}

/// Handlers by event type. foldhash, randomly seeded: the map is looked up
/// twice per event (its type, then `*`), where SipHash cost more than the
/// rest of the lookup.
type Handlers = HashMap<String, Vec<Handler>, foldhash::fast::RandomState>;

struct Inner {
    handlers: Handlers,
    /// Cluster states fed every event, before the handlers.
    states: Vec<Arc<State>>,
    on_error: Vec<ErrorHandler>,
    clock: Arc<LamportClock>,
    localize: bool,
    max_message_size: usize,
    emit_signals: bool,
    seen: Mutex<RecentTags>,
    counters: Counters,
}

/// Builds an [`EventReceiver`].
pub struct EventReceiverBuilder {
    handlers: Handlers,
    states: Vec<Arc<State>>,
    on_error: Vec<ErrorHandler>,
    clock: Option<Arc<LamportClock>>,
    localize: bool,
    max_message_size: usize,
    dedup_window: usize,
    emit_signals: bool,
}

impl EventReceiverBuilder {
    /// Calls `handler` with every event of type `kind` (`"task-failed"`), raw;
    /// `"*"` catches the types that have no handler of their own. Several
    /// handlers of one type run in the order they were added.
    pub fn handler(
        self,
        kind: impl Into<String>,
        handler: impl Fn(&Event) + Send + Sync + 'static,
    ) -> Self {
        self.add(
            kind.into(),
            Box::new(move |incoming| {
                handler(incoming.owned());
                Ok(())
            }),
        )
    }

    /// Calls `handler` with every event of type `kind` (or `"*"`, as for
    /// [`handler`](Self::handler)), borrowed from its message: fields are
    /// read as they are asked for, and nothing is copied to call it. The
    /// cheapest way to follow a busy cluster.
    pub fn handler_ref(
        self,
        kind: impl Into<String>,
        handler: impl Fn(&EventRef<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.add(
            kind.into(),
            Box::new(move |incoming| {
                handler(&incoming.event);
                Ok(())
            }),
        )
    }

    /// Calls `handler` with every event of `E`'s type, read as `E` (an event
    /// that does not fit is a [`ReceiveError::Decode`]).
    pub fn on<E: CeleryEvent>(
        self,
        handler: impl Fn(&Received<E>) + Send + Sync + 'static,
    ) -> Self {
        self.add(
            E::TYPE.to_owned(),
            Box::new(move |incoming| {
                handler(&Received::<E>::read(&incoming.event)?);
                Ok(())
            }),
        )
    }

    /// Adds `handler` after those of `kind` added before.
    fn add(mut self, kind: String, handler: Handler) -> Self {
        self.handlers.entry(kind).or_default().push(handler);
        self
    }

    /// Applies every event to `state` (Celery's `State.event`), before the
    /// handlers see it: `state` then follows the cluster, and other threads
    /// read it while events arrive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use signals_celery::events::{EventDispatcher, EventReceiver, MemoryTransport, State, TaskState, TaskSucceeded};
    ///
    /// let mut broker = MemoryTransport::new();
    /// let dispatcher = EventDispatcher::builder(broker.clone()).hostname("w1@host").build();
    /// dispatcher.send_event(&TaskSucceeded { uuid: "42".into(), result: "4".into(), runtime: 0.5 })?;
    ///
    /// let state = Arc::new(State::new());
    /// let receiver = EventReceiver::builder().on_state(state.clone()).build();
    /// receiver.capture(&mut broker, Some(1), None);
    /// assert_eq!(state.task("42").unwrap().state, TaskState::Success);
    /// assert!(state.worker("w1@host").is_some());
    /// # Ok::<(), signals_celery::events::EventError>(())
    /// ```
    pub fn on_state(mut self, state: Arc<State>) -> Self {
        self.states.push(state);
        self
    }

    /// Calls `handler` with every error, after it is counted (default: errors
    /// are only counted and logged at `debug`).
    pub fn on_error(mut self, handler: impl Fn(&ReceiveError) + Send + Sync + 'static) -> Self {
        self.on_error.push(Box::new(handler));
        self
    }

    /// The clock to adjust (default: [`LamportClock::global`], the one the
    /// process's dispatchers share, as Celery's `app.clock`).
    pub fn clock(mut self, clock: Arc<LamportClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Whether to localize timestamps as Celery does (default `true`).
    pub fn localize(mut self, localize: bool) -> Self {
        self.localize = localize;
        self
    }

    /// The largest message accepted, in bytes (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How many delivery tags to remember to drop redelivered messages
    /// (default [`DEFAULT_DEDUP_WINDOW`]; 0 turns it off).
    pub fn dedup_window(mut self, tags: usize) -> Self {
        self.dedup_window = tags;
        self
    }

    /// Also sends every event on the [`remote`](super::remote) signals, so an
    /// in-process receiver (`#[receiver(remote::task_failed)]`) sees remote
    /// events (default `false`).
    pub fn emit_signals(mut self, emit: bool) -> Self {
        self.emit_signals = emit;
        self
    }

    /// The receiver.
    pub fn build(self) -> EventReceiver {
        EventReceiver {
            inner: Arc::new(Inner {
                handlers: self.handlers,
                states: self.states,
                on_error: self.on_error,
                clock: self.clock.unwrap_or_else(LamportClock::global),
                localize: self.localize,
                max_message_size: self.max_message_size,
                emit_signals: self.emit_signals,
                seen: Mutex::new(RecentTags::new(self.dedup_window)),
                counters: Counters::default(),
            }),
        }
    }
}

/// What [`EventReceiver::capture`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureReport {
    /// Messages taken from the source.
    pub messages: u64,
    /// Events handled.
    pub events: u64,
    /// Errors (each also counted in [`EventReceiver::stats`]).
    pub errors: u64,
}

impl EventReceiver {
    /// A builder with Celery's defaults.
    pub fn builder() -> EventReceiverBuilder {
        EventReceiverBuilder {
            handlers: Handlers::default(),
            states: Vec::new(),
            on_error: Vec::new(),
            clock: None,
            localize: true,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            emit_signals: false,
        }
    }

    /// The clock this receiver adjusts.
    pub fn clock(&self) -> &Arc<LamportClock> {
        &self.inner.clock
    }

    /// The counts so far.
    pub fn stats(&self) -> ReceiverStats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ReceiverStats {
            messages: get(&c.messages),
            events: get(&c.events),
            duplicates: get(&c.duplicates),
            too_large: get(&c.too_large),
            not_json: get(&c.not_json),
            malformed: get(&c.malformed),
            unsupported: get(&c.unsupported),
            decode_errors: get(&c.decode_errors),
            handler_panics: get(&c.handler_panics),
            source_errors: get(&c.source_errors),
        }
    }

    /// Reads from `source` until `limit` events were handled or `timeout`
    /// passed (each `None`: no bound), as Celery's `capture`. Errors are
    /// counted and reported, never returned: the capture goes on.
    pub fn capture(
        &self,
        source: &mut dyn EventSource,
        limit: Option<usize>,
        timeout: Option<Duration>,
    ) -> CaptureReport {
        self.capture_until(source, limit, timeout, &AtomicBool::new(false))
    }

    fn capture_until(
        &self,
        source: &mut dyn EventSource,
        limit: Option<usize>,
        timeout: Option<Duration>,
        stop: &AtomicBool,
    ) -> CaptureReport {
        // Short polls, so `stop` is seen promptly.
        const POLL: Duration = Duration::from_millis(100);
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        let mut report = CaptureReport::default();
        while !stop.load(Ordering::Acquire) && limit.is_none_or(|n| report.events < n as u64) {
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(POLL),
                    _ => break,
                },
                None => POLL,
            };
            match source.next_arrival(wait, self.inner.max_message_size) {
                Ok(None) => {}
                Ok(Some(arrival)) => {
                    report.messages += 1;
                    match self.receive_arrival(&arrival) {
                        Ok(events) => report.events += events as u64,
                        Err(_) => report.errors += 1,
                    }
                }
                Err(error) => {
                    // A message the source could not open still counts as one.
                    if !matches!(error, ReceiveError::Source(_)) {
                        report.messages += 1;
                        self.inner.counters.messages.fetch_add(1, Ordering::Relaxed);
                    }
                    report.errors += 1;
                    self.report(error);
                }
            }
        }
        report
    }

    /// Captures from `source` on a thread of its own until the returned handle
    /// is stopped or dropped.
    pub fn spawn<S: EventSource + Send + 'static>(
        &self,
        source: S,
    ) -> std::io::Result<Capturing<S>> {
        let stop = Arc::new(AtomicBool::new(false));
        let receiver = self.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("signals-event-receiver".into())
            .spawn(move || {
                let mut source = source;
                receiver.capture_until(&mut source, None, None, &flag);
                source
            })?;
        Ok(Capturing {
            stop,
            thread: Some(thread),
        })
    }

    /// Handles one message: drops a redelivery, checks its size and content
    /// type, parses the body (one event or a `.multi` list) and handles each
    /// event. Returns how many events were handled; an error of the whole
    /// message is returned, an error of one event of a list only reported. Every
    /// error is counted and passed to the error handlers.
    pub fn receive(&self, delivery: &Delivery) -> Result<usize, ReceiveError> {
        let texts = (&*delivery.content_type, &*delivery.content_encoding);
        let tag = delivery.delivery_tag.as_deref();
        self.receive_parts(&delivery.body, texts, tag, None)
    }

    /// [`receive`](Self::receive) for a message as a source handed it over.
    fn receive_arrival(&self, arrival: &Arrival) -> Result<usize, ReceiveError> {
        let (about, body, scanned) = match &arrival.0 {
            Arrived::Delivery(delivery) => return self.receive(delivery),
            Arrived::Opened { about, body } => (about, body.as_slice(), None),
            Arrived::Scanned(scanned) => {
                let (about, message) = &**scanned;
                let body = message.borrow_owner().as_slice();
                (about, body, Some(message.borrow_dependent()))
            }
        };
        let texts = (&*about.content_type, &*about.content_encoding);
        self.receive_parts(body, texts, about.delivery_tag.as_deref(), scanned)
    }

    /// Receives a message given as its parts: its body, content type and
    /// encoding, delivery tag, and the body's events if its source scanned
    /// them already.
    fn receive_parts(
        &self,
        body: &[u8],
        (content_type, encoding): (&str, &str),
        tag: Option<&str>,
        scanned: Option<&ScannedBody<'_>>,
    ) -> Result<usize, ReceiveError> {
        self.inner.counters.messages.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.check(body.len(), content_type, encoding) {
            return Err(self.report(error));
        }
        let scanned_here;
        let events = match scanned {
            Some(events) => events,
            None => match ScannedBody::scan(body) {
                Ok(events) => {
                    scanned_here = events;
                    &scanned_here
                }
                Err(error) => return Err(self.report(ReceiveError::json("the event body", error))),
            },
        };
        // Only a parsed message is remembered: a broken copy must not hide a
        // good redelivery.
        if self.is_redelivery(tag) {
            return Ok(0);
        }
        Ok(self.handle_body(events))
    }

    /// Handles each event of a scanned body; how many were handled.
    fn handle_body(&self, body: &ScannedBody<'_>) -> usize {
        let mut handled = 0;
        for index in 0..body.len() {
            match body.element(index) {
                Ok(fields) => {
                    if self.handle(&fields) {
                        handled += 1;
                    }
                }
                Err(shape) => {
                    self.report(ReceiveError::Malformed(format!(
                        "an element of a `.multi` list is {shape}, not an event object"
                    )));
                }
            }
        }
        handled
    }

    /// A message's size against the limit, and its content type and
    /// encoding against what the receiver reads.
    fn check(&self, size: usize, content_type: &str, encoding: &str) -> Result<(), ReceiveError> {
        let limit = self.inner.max_message_size;
        if size > limit {
            return Err(ReceiveError::TooLarge { size, limit });
        }
        if !reads_content_type(content_type) {
            return Err(ReceiveError::Unsupported(format!(
                "content type `{content_type}` (only application/json)"
            )));
        }
        if !reads_encoding(encoding) {
            return Err(ReceiveError::Unsupported(format!(
                "content encoding `{encoding}` (only utf-8)"
            )));
        }
        Ok(())
    }

    /// Whether a message with this tag was handled within the
    /// de-duplication window (it is remembered now if not).
    fn is_redelivery(&self, tag: Option<&str>) -> bool {
        let Some(tag) = tag else { return false };
        if self.inner.seen.lock().insert(tag) {
            return false;
        }
        self.inner
            .counters
            .duplicates
            .fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Celery's `event_from_message` and `process` for one event; `false` if
    /// it was refused (and reported).
    fn handle(&self, fields: &RawFields<'_>) -> bool {
        let Some(kind) = fields.get(FieldName::Type).and_then(|kind| kind.as_str()) else {
            self.report(ReceiveError::Malformed(
                "an event without a string `type`".into(),
            ));
            return false;
        };
        let clock = &self.inner.clock;
        let stamped = if kind == "task-sent" {
            let skewed = (clock.value().max(1) as i64 + CLIENT_CLOCK_SKEW) as u64;
            clock.adjust(skewed);
            skewed
        } else {
            match fields.get(FieldName::Clock) {
                // Celery's receiver raises on a blind event's `null` clock; here it
                // counts as no clock.
                None => clock.forward(),
                Some(value) if value.is_null() => clock.forward(),
                Some(value) => match value.as_u64() {
                    Some(remote) => {
                        clock.adjust(remote);
                        remote
                    }
                    None => {
                        self.report(ReceiveError::Malformed(format!(
                            "a `{kind}` event whose clock is {value:?}, not a counter"
                        )));
                        return false;
                    }
                },
            }
        };
        let received_at = now();
        let offset = if self.inner.localize {
            fields.get(FieldName::Utcoffset).and_then(|o| o.as_f64())
        } else {
            None
        };
        // Localized, or as sent (`None`: a non-numeric timestamp too).
        let timestamp = offset.and_then(|offset| {
            let timestamp = fields.get(FieldName::Timestamp)?.as_f64()?;
            Some(timestamp - (offset - utcoffset_at(received_at)) * 3600.0)
        });
        let incoming = Incoming {
            event: fields.received(&kind, stamped, timestamp, received_at),
            owned: OnceCell::new(),
        };
        self.dispatch(&kind, &incoming);
        self.inner.counters.events.fetch_add(1, Ordering::Relaxed);
        true
    }

    fn dispatch(&self, kind: &str, incoming: &Incoming<'_>) {
        for state in &self.inner.states {
            let _ = state.apply_ref(&incoming.event);
        }
        let handlers = self
            .inner
            .handlers
            .get(kind)
            .or_else(|| self.inner.handlers.get("*"));
        for handler in handlers.into_iter().flatten() {
            match catch_unwind(AssertUnwindSafe(|| handler(incoming))) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    self.report(error);
                }
                Err(payload) => {
                    self.report(ReceiveError::HandlerPanicked {
                        kind: kind.to_owned(),
                        message: crate::panic_message(payload.as_ref()),
                    });
                }
            }
        }
        if self.inner.emit_signals {
            if let Err(error) = remote::emit(kind, &incoming.event) {
                self.report(error);
            }
        }
    }

    /// Counts `error`, logs it and passes it to the error handlers.
    #[cold]
    fn report(&self, error: ReceiveError) -> ReceiveError {
        let c = &self.inner.counters;
        let counter = match &error {
            ReceiveError::TooLarge { .. } => &c.too_large,
            ReceiveError::NotJson { .. } => &c.not_json,
            ReceiveError::Malformed(_) => &c.malformed,
            ReceiveError::Unsupported(_) => &c.unsupported,
            ReceiveError::Decode { .. } => &c.decode_errors,
            ReceiveError::HandlerPanicked { .. } => &c.handler_panics,
            ReceiveError::Source(_) => &c.source_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%error, "event receiver");
        for handler in &self.inner.on_error {
            // An error handler that panics must not stop the receiver either.
            let _ = catch_unwind(AssertUnwindSafe(|| handler(&error)));
        }
        error
    }
}

impl fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<_> = self.inner.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("EventReceiver")
            .field("handlers", &kinds)
            .field("localize", &self.inner.localize)
            .field("max_message_size", &self.inner.max_message_size)
            .field("emit_signals", &self.inner.emit_signals)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A receiver capturing on its own thread ([`EventReceiver::spawn`]).
#[derive(Debug)]
pub struct Capturing<S> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<S>>,
}

impl<S> Capturing<S> {
    /// Stops capturing (within about 100 ms) and gives the source back; `None`
    /// if the capture thread panicked.
    pub fn stop(mut self) -> Option<S> {
        self.stop.store(true, Ordering::Release);
        self.thread.take()?.join().ok()
    }
}

impl<S> Drop for Capturing<S> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The delivery tags seen last, oldest first out, kept as 64-bit digests:
/// one hash per message and no allocation. The digest is keyed by a seed
/// drawn for each receiver, so two tags that collide (one chance in 2^64 per
/// pair) cannot be chosen by a sender.
struct RecentTags {
    digest: foldhash::fast::RandomState,
    // foldhash of a u64 is one multiply: cheap on a digest.
    set: HashSet<u64, foldhash::fast::FixedState>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl RecentTags {
    fn new(capacity: usize) -> Self {
        Self {
            digest: foldhash::fast::RandomState::default(),
            set: HashSet::default(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Remembers `tag`; `false` if it was already there.
    fn insert(&mut self, tag: &str) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let digest = self.digest.hash_one(tag);
        if !self.set.insert(digest) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.order.push_back(digest);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(body: &str, tag: Option<&str>) -> Delivery {
        Delivery {
            routing_key: "task.started".into(),
            content_type: "application/json".into(),
            content_encoding: "utf-8".into(),
            delivery_tag: tag.map(str::to_owned),
            body: body.as_bytes().to_vec(),
        }
    }

    /// A message opened, or opened and scanned, by its source on another
    /// thread is received as the same message delivered as it is: the same
    /// events, errors, counters and redeliveries dropped.
    #[test]
    fn a_message_opened_or_scanned_by_its_source_is_received_as_delivered() {
        let two =
            r#"[{"type": "task-started", "uuid": "a"}, {"type": "task-started", "uuid": "b"}]"#;
        let mut xml = delivery(two, Some("x"));
        xml.content_type = "application/xml".into();
        let messages = [
            delivery(two, Some("t1")),
            // A redelivery of the first.
            delivery(two, Some("t1")),
            delivery(r#"[{"type": "task-started"}, 3, "x"]"#, Some("t2")),
            delivery(r#"[{"type": "task-started"}"#, Some("t3")),
            delivery(r#"[{"uuid": "no type"}]"#, None),
            delivery(
                &format!("[{}]", vec![r#"{"type": "task-started"}"#; 40].join(",")),
                None,
            ),
            xml,
        ];
        // As delivered, as opened by the source, and scanned by it too.
        let run = |opened_by_source: Option<bool>| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            let receiver = EventReceiver::builder()
                .max_message_size(500)
                .handler("*", move |event| {
                    log.lock().push(event.fields().get("uuid").cloned());
                })
                .build();
            let results: Vec<_> = messages
                .iter()
                .map(|message| {
                    let arrival = match opened_by_source {
                        Some(scan) => opened(message.clone(), scan),
                        None => Arrival::from(message.clone()),
                    };
                    receiver
                        .receive_arrival(&arrival)
                        .map_err(|error| error.to_string())
                })
                .collect();
            let seen = seen.lock().clone();
            (results, seen, receiver.stats())
        };
        let (as_delivered, as_opened, as_scanned) = (run(None), run(Some(false)), run(Some(true)));
        assert_eq!(as_delivered.0[0], Ok(2));
        assert_eq!(as_delivered.0[1], Ok(0), "the redelivery is dropped");
        assert!(as_delivered.0[5].is_err(), "over the size limit");
        for by_source in [as_opened, as_scanned] {
            assert_eq!(by_source.0, as_delivered.0);
            assert_eq!(by_source.1, as_delivered.1);
            assert_eq!(by_source.2, as_delivered.2);
        }
        // Opened, scanned or not, and taken back, the message is the one
        // delivered.
        for message in &messages {
            for scan in [false, true] {
                assert_eq!(&opened(message.clone(), scan).into_delivery(), message);
            }
        }
    }

    /// `delivery` as a source that opened it hands it over.
    fn opened(delivery: Delivery, scan: bool) -> Arrival {
        let about = About {
            routing_key: delivery.routing_key.into(),
            content_type: delivery.content_type.into(),
            content_encoding: delivery.content_encoding.into(),
            delivery_tag: delivery.delivery_tag,
        };
        Arrival::opened(about, delivery.body, scan)
    }

    #[test]
    fn the_clock_follows_celery() {
        let clock = Arc::new(LamportClock::new());
        let receiver = EventReceiver::builder().clock(clock.clone()).build();
        // A worker's clock is merged.
        receiver
            .receive(&delivery(r#"{"type": "task-started", "clock": 10}"#, None))
            .unwrap();
        assert_eq!(clock.value(), 11);
        // A client's task-sent clock is replaced by ours minus one.
        let seen = Arc::new(Mutex::new(None));
        let log = seen.clone();
        let receiver = EventReceiver::builder()
            .clock(clock.clone())
            .handler("task-sent", move |event| *log.lock() = event.clock())
            .build();
        receiver
            .receive(&delivery(r#"{"type": "task-sent", "clock": 500}"#, None))
            .unwrap();
        assert_eq!(*seen.lock(), Some(10));
        assert_eq!(clock.value(), 12);
        // No clock, or a blind event's null: forward.
        receiver
            .receive(&delivery(r#"{"type": "x"}"#, None))
            .unwrap();
        receiver
            .receive(&delivery(r#"{"type": "x", "clock": null}"#, None))
            .unwrap();
        assert_eq!(clock.value(), 14);
    }

    #[test]
    fn task_sent_on_a_fresh_clock_counts_from_one() {
        let clock = Arc::new(LamportClock::new());
        let receiver = EventReceiver::builder().clock(clock.clone()).build();
        receiver
            .receive(&delivery(r#"{"type": "task-sent", "clock": 9}"#, None))
            .unwrap();
        // (0 or 1) - 1 = 0, then adjust(0) = 1.
        assert_eq!(clock.value(), 1);
    }

    #[test]
    fn timestamps_are_localized_as_celery_does() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let receiver = EventReceiver::builder()
            .clock(Arc::new(LamportClock::new()))
            .handler("*", move |event| {
                log.lock().push(event.timestamp().unwrap());
            })
            .build();
        let here = utcoffset_at(now());
        let body = format!(
            r#"{{"type": "t", "utcoffset": {}, "timestamp": 1000.0}}"#,
            here - 2.0
        );
        receiver.receive(&delivery(&body, None)).unwrap();
        // Two hours further east than here: shifted by +2 h.
        assert_eq!(*seen.lock(), [1000.0 + 7200.0]);
    }

    #[test]
    fn redeliveries_are_dropped_by_tag_within_the_window() {
        let receiver = EventReceiver::builder().dedup_window(2).build();
        let one = r#"{"type": "t"}"#;
        assert_eq!(receiver.receive(&delivery(one, Some("a"))).unwrap(), 1);
        assert_eq!(receiver.receive(&delivery(one, Some("a"))).unwrap(), 0);
        assert_eq!(receiver.receive(&delivery(one, Some("b"))).unwrap(), 1);
        assert_eq!(receiver.receive(&delivery(one, Some("c"))).unwrap(), 1);
        // "a" has left the window of two.
        assert_eq!(receiver.receive(&delivery(one, Some("a"))).unwrap(), 1);
        assert_eq!(receiver.stats().duplicates, 1);
    }

    #[test]
    fn garbage_is_counted_by_kind_and_the_rest_of_a_list_is_kept() {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let log = errors.clone();
        let receiver = EventReceiver::builder()
            .max_message_size(64)
            .on_error(move |error| log.lock().push(error.to_string()))
            .handler("boom", |_| panic!("handler bug"))
            .build();
        assert!(receiver.receive(&delivery("{not json", None)).is_err());
        assert!(receiver.receive(&delivery("42", None)).is_err());
        assert!(receiver.receive(&delivery(&" ".repeat(65), None)).is_err());
        let mut xml = delivery("<event/>", None);
        xml.content_type = "application/xml".into();
        assert!(receiver.receive(&xml).is_err());
        let list = r#"[{"type": "a"}, 7, {"no": "type"}, {"type": "boom"}]"#;
        assert_eq!(receiver.receive(&delivery(list, None)).unwrap(), 2);
        let stats = receiver.stats();
        assert_eq!(
            (
                stats.not_json,
                stats.malformed,
                stats.too_large,
                stats.unsupported,
                stats.handler_panics
            ),
            (1, 3, 1, 1, 1)
        );
        assert_eq!(stats.events, 2);
        assert_eq!(errors.lock().len(), 7);
        assert!(errors.lock().iter().any(|e| e.contains("handler bug")));
    }

    #[test]
    fn a_typed_handler_reports_an_event_that_does_not_fit() {
        use crate::events::TaskRevoked;
        let receiver = EventReceiver::builder()
            .on(|_: &Received<TaskRevoked>| {})
            .build();
        let body = r#"{"type": "task-revoked", "terminated": "yes"}"#;
        receiver.receive(&delivery(body, None)).unwrap();
        assert_eq!(receiver.stats().decode_errors, 1);
    }
}
