//! [`EventDispatcher`]: Celery's event dispatcher, with buffers that lose nothing.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::buffer::{Buffers, Overflow, Pending};
use super::clock::LamportClock;
use super::event::{self, Fields, OutgoingEvent, RESERVED_FIELDS};
use super::gate::Gate;
use super::kinds::CeleryEvent;
use super::serializer::{Json, SerializeError, Serializer};
use super::transport::{DeliveryMode, Message, Transport, TransportError};

/// Why an event was not sent or buffered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A free-form field uses a name the dispatcher sets itself.
    #[error("the field `{0}` is set by the dispatcher; remove it from the event's fields")]
    ReservedField(String),
    /// The event could not be serialized.
    #[error(transparent)]
    Serialize(#[from] SerializeError),
    /// Publishing failed and `buffer_while_offline` is off.
    #[error("could not publish the event: {0}")]
    Transport(#[from] TransportError),
    /// The buffer is full and the overflow policy is [`Overflow::Reject`]: the
    /// event was not accepted (nothing else was dropped).
    #[error("the event buffer is full ({capacity} events): the event was not accepted; flush, raise `buffer_capacity`, or choose `Overflow::DropOldest`")]
    BufferFull {
        /// The buffer's capacity, in events.
        capacity: usize,
    },
    /// The dispatcher is closed and `buffer_while_offline` is off.
    #[error("the event dispatcher is closed and does not buffer while offline")]
    Closed,
    /// The transport cannot carry events (see
    /// [`DISABLED_TRANSPORTS`](super::DISABLED_TRANSPORTS)).
    #[error("the `{driver}` transport cannot carry events")]
    Unsupported {
        /// The transport's driver type.
        driver: String,
    },
}

/// What became of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Handed to the transport.
    Published,
    /// Kept in a buffer: its group's batch, or the outbound buffer while the
    /// broker is away or the dispatcher closed. A later [`flush`] publishes it.
    ///
    /// [`flush`]: EventDispatcher::flush
    Buffered,
    /// Not sent, by configuration: the dispatcher is disabled, or the event's
    /// group is not among `groups`.
    Skipped,
}

/// How often to retry a publish that failed because the broker was away (Celery's
/// `retry_policy`, with Celery's `task_publish_retry_policy` as the default).
/// Always bounded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PublishRetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The wait before the first retry.
    pub interval_start: Duration,
    /// How much longer each later wait is.
    pub interval_step: Duration,
    /// The longest wait.
    pub interval_max: Duration,
}

impl Default for PublishRetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            interval_start: Duration::ZERO,
            interval_step: Duration::from_millis(200),
            interval_max: Duration::from_secs(1),
        }
    }
}

/// Options of one [`EventDispatcher::send_with`].
///
/// ```
/// use signals_celery::events::SendOptions;
/// let options = SendOptions::new().blind(true).retry(true);
/// assert!(options.is_blind());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SendOptions {
    blind: bool,
    retry: bool,
    retry_policy: PublishRetryPolicy,
    utcoffset: Option<f64>,
}

impl SendOptions {
    /// The defaults: clocked, no retry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Don't stamp (or advance) the Lamport clock: the event carries
    /// `"clock": null`. Ignored for buffered groups, as in Celery.
    pub fn blind(mut self, blind: bool) -> Self {
        self.blind = blind;
        self
    }

    /// Whether the event is blind.
    pub fn is_blind(&self) -> bool {
        self.blind
    }

    /// Retry the publish while the broker is away, per the retry policy, before
    /// buffering the event.
    pub fn retry(mut self, retry: bool) -> Self {
        self.retry = retry;
        self
    }

    /// The retry policy (implies nothing unless `retry` is on).
    pub fn retry_policy(mut self, policy: PublishRetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// The `utcoffset` to send instead of this host's.
    pub fn utcoffset(mut self, hours_west: f64) -> Self {
        self.utcoffset = Some(hours_west);
        self
    }
}

/// What a [`flush`](EventDispatcher::flush) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Messages published (a `.multi` batch is one).
    pub messages: usize,
    /// Events in them.
    pub events: usize,
    /// Events still buffered afterwards (the broker was away, or events arrived
    /// meanwhile).
    pub buffered: usize,
}

type Callback = Arc<dyn Fn() + Send + Sync>;

/// Sends Celery events: the same options, the same messages, and buffers that
/// never lose an event (see the module docs for what differs from Celery).
///
/// `Send + Sync`: share it between threads behind an `Arc` or a `static`.
///
/// ```
/// use signals_celery::events::{EventDispatcher, MemoryTransport, Sent, TaskSucceeded};
/// let broker = MemoryTransport::new();
/// let dispatcher = EventDispatcher::builder(broker.clone())
///     .hostname("worker1@example")
///     .buffer_group(["task"])
///     .buffer_limit(2)
///     .build();
/// let done = TaskSucceeded { uuid: "1".into(), result: "3".into(), runtime: 0.1 };
/// assert_eq!(dispatcher.send_event(&done).unwrap(), Sent::Buffered);
/// assert!(broker.is_empty());
/// // The second event fills the group's buffer: both go as one `task.multi` message.
/// dispatcher.send_event(&done).unwrap();
/// let message = broker.try_recv().unwrap();
/// assert_eq!(message.routing_key, "task.multi");
/// assert_eq!(message.events().unwrap().len(), 2);
/// ```
pub struct EventDispatcher<Z: Serializer = Json> {
    config: Config,
    serializer: Z,
    clock: Arc<LamportClock>,
    transport: Arc<dyn Transport>,
    enabled: AtomicBool,
    /// Whether the dispatcher is closed, and the publishes in flight: `close`
    /// returns only after them, and a send checks it only once its event is
    /// written (Celery 5.7's guarantee), without making concurrent sends wait
    /// for one another.
    gate: Gate,
    state: Mutex<State>,
    on_enabled: Mutex<Vec<Callback>>,
    on_disabled: Mutex<Vec<Callback>>,
    on_send_buffered: Option<Callback>,
}

struct Config {
    hostname: String,
    exchange: String,
    /// A handful of names: scanned, which beats hashing them.
    groups: Option<Vec<String>>,
    buffer_group: Vec<String>,
    buffer_limit: usize,
    buffer_while_offline: bool,
    delivery_mode: DeliveryMode,
    headers: Vec<(String, String)>,
    pid: u32,
    utcoffset: Option<f64>,
}

struct State {
    buffers: Buffers,
}

/// Builds an [`EventDispatcher`] with Celery's options and their defaults.
pub struct EventDispatcherBuilder<Z: Serializer = Json> {
    serializer: Z,
    /// Everything else: kept apart so that changing the serializer's type moves
    /// the options over whole.
    options: BuilderOptions,
}

/// The builder's options other than the serializer.
struct BuilderOptions {
    transport: Arc<dyn Transport>,
    hostname: Option<String>,
    enabled: bool,
    buffer_while_offline: bool,
    groups: Option<HashSet<String>>,
    delivery_mode: DeliveryMode,
    buffer_group: HashSet<String>,
    buffer_limit: usize,
    buffer_capacity: usize,
    overflow: Overflow,
    on_send_buffered: Option<Callback>,
    exchange: String,
    headers: Vec<(String, String)>,
    clock: Option<Arc<LamportClock>>,
    utcoffset: Option<f64>,
}

/// The default bound of the buffers, in events.
pub const DEFAULT_BUFFER_CAPACITY: usize = 100_000;

impl EventDispatcher<Json> {
    /// A builder publishing to `transport`, with Celery's defaults: hostname
    /// `gen<pid>@<host>`, enabled, buffering while offline, JSON, every group,
    /// transient delivery, no buffered group, `buffer_limit` 24, exchange
    /// `celeryev`, the process-wide clock; plus a bound of
    /// [`DEFAULT_BUFFER_CAPACITY`] buffered events that rejects more.
    pub fn builder(transport: impl Transport + 'static) -> EventDispatcherBuilder<Json> {
        Self::builder_arc(Arc::new(transport))
    }

    /// [`builder`](Self::builder) for a transport already shared.
    pub fn builder_arc(transport: Arc<dyn Transport>) -> EventDispatcherBuilder<Json> {
        EventDispatcherBuilder {
            serializer: Json,
            options: BuilderOptions {
                transport,
                hostname: None,
                enabled: true,
                buffer_while_offline: true,
                groups: None,
                delivery_mode: DeliveryMode::Transient,
                buffer_group: HashSet::new(),
                buffer_limit: 24,
                buffer_capacity: DEFAULT_BUFFER_CAPACITY,
                overflow: Overflow::Reject,
                on_send_buffered: None,
                exchange: "celeryev".to_owned(),
                headers: Vec::new(),
                clock: None,
                utcoffset: None,
            },
        }
    }
}

impl<Z: Serializer> EventDispatcherBuilder<Z> {
    /// The node name events carry (default `gen<pid>@<host>`).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.options.hostname = Some(hostname.into());
        self
    }

    /// Start enabled (the default) or disabled, where `send` does nothing.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.options.enabled = enabled;
        self
    }

    /// Buffer events the broker did not take (the default), or return the error.
    pub fn buffer_while_offline(mut self, buffer: bool) -> Self {
        self.options.buffer_while_offline = buffer;
        self
    }

    /// The serializer (JSON by default).
    pub fn serializer<Y: Serializer>(self, serializer: Y) -> EventDispatcherBuilder<Y> {
        EventDispatcherBuilder {
            serializer,
            options: self.options,
        }
    }

    /// Send only events of these groups (`task`, `worker`, ...); default all.
    pub fn groups<G: Into<String>>(mut self, groups: impl IntoIterator<Item = G>) -> Self {
        self.options.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Transient (default) or persistent messages.
    pub fn delivery_mode(mut self, mode: DeliveryMode) -> Self {
        self.options.delivery_mode = mode;
        self
    }

    /// Groups whose events are batched and published `buffer_limit` at a time
    /// as one `<group>.multi` message (Celery's worker uses `task`).
    pub fn buffer_group<G: Into<String>>(mut self, groups: impl IntoIterator<Item = G>) -> Self {
        self.options.buffer_group = groups.into_iter().map(Into::into).collect();
        self
    }

    /// How many events a group buffer holds before it is flushed (default 24).
    pub fn buffer_limit(mut self, limit: usize) -> Self {
        self.options.buffer_limit = limit.max(1);
        self
    }

    /// The bound of all buffered events together (default
    /// [`DEFAULT_BUFFER_CAPACITY`]); Celery has none.
    pub fn buffer_capacity(mut self, capacity: usize) -> Self {
        self.options.buffer_capacity = capacity;
        self
    }

    /// What a full buffer does (default [`Overflow::Reject`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.options.overflow = overflow;
        self
    }

    /// Called after an event is added to a group buffer that is not yet full
    /// (Celery's worker schedules a flush from it).
    pub fn on_send_buffered(mut self, callback: impl Fn() + Send + Sync + 'static) -> Self {
        self.options.on_send_buffered = Some(Arc::new(callback));
        self
    }

    /// The exchange (default `celeryev`).
    pub fn exchange(mut self, exchange: impl Into<String>) -> Self {
        self.options.exchange = exchange.into();
        self
    }

    /// An extra message header, beside `hostname`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.headers.push((name.into(), value.into()));
        self
    }

    /// The Lamport clock to share (default [`LamportClock::global`]).
    pub fn clock(mut self, clock: Arc<LamportClock>) -> Self {
        self.options.clock = Some(clock);
        self
    }

    /// A fixed `utcoffset` (hours west) instead of this host's.
    pub fn utcoffset(mut self, hours_west: f64) -> Self {
        self.options.utcoffset = Some(hours_west);
        self
    }

    /// The dispatcher. Enabled if asked and if the transport can carry events.
    pub fn build(self) -> EventDispatcher<Z> {
        let Self {
            serializer,
            options: this,
        } = self;
        let hostname = this.hostname.unwrap_or_else(event::anon_nodename);
        let mut headers = vec![("hostname".to_owned(), hostname.clone())];
        headers.extend(this.headers);
        let enabled = this.enabled && this.transport.can_carry_events();
        EventDispatcher {
            config: Config {
                hostname,
                exchange: this.exchange,
                groups: this
                    .groups
                    .filter(|groups| !groups.is_empty())
                    .map(|groups| groups.into_iter().collect()),
                buffer_group: this.buffer_group.into_iter().collect(),
                buffer_limit: this.buffer_limit,
                buffer_while_offline: this.buffer_while_offline,
                delivery_mode: this.delivery_mode,
                headers,
                pid: std::process::id(),
                utcoffset: this.utcoffset,
            },
            serializer,
            clock: this.clock.unwrap_or_else(LamportClock::global),
            transport: this.transport,
            enabled: AtomicBool::new(enabled),
            gate: Gate::new(super::gate::stripe_count()),
            state: Mutex::new(State {
                buffers: Buffers::new(this.buffer_capacity, this.overflow),
            }),
            on_enabled: Mutex::new(Vec::new()),
            on_disabled: Mutex::new(Vec::new()),
            on_send_buffered: this.on_send_buffered,
        }
    }
}

/// Which transport an event goes to.
#[derive(Clone, Copy)]
enum Producer<'a> {
    /// The dispatcher's own, unless it is closed.
    Own,
    /// A caller's ([`EventDispatcher::publish`]), which ignores `close` as
    /// Celery's `publish` does.
    Given(&'a dyn Transport),
}

/// The fields of one event on its way out.
struct Draft<'a, F: ?Sized> {
    kind: &'a str,
    fields: &'a F,
    /// Whether `fields` brings its own `timestamp`.
    has_timestamp: bool,
}

impl<'a> Draft<'a, Fields> {
    /// A free-form event, unless its fields use a name the dispatcher sets.
    fn free_form(kind: &'a str, fields: &'a Fields) -> Result<Self, EventError> {
        if let Some(reserved) = RESERVED_FIELDS
            .iter()
            .find(|name| fields.contains_key(**name))
        {
            return Err(EventError::ReservedField((*reserved).to_owned()));
        }
        Ok(Self {
            kind,
            fields,
            has_timestamp: fields.contains_key("timestamp"),
        })
    }
}

impl<Z: Serializer> EventDispatcher<Z> {
    /// Sends a free-form event: `kind` such as `task-succeeded`, and its fields
    /// (which may not use the names the dispatcher sets: `hostname`,
    /// `utcoffset`, `pid`, `clock`, `type`; a `timestamp` is kept).
    pub fn send(&self, kind: &str, fields: &Fields) -> Result<Sent, EventError> {
        self.send_with(kind, fields, SendOptions::default())
    }

    /// [`send`](Self::send) with options (`blind`, `retry`, `retry_policy`,
    /// `utcoffset`).
    pub fn send_with(
        &self,
        kind: &str,
        fields: &Fields,
        options: SendOptions,
    ) -> Result<Sent, EventError> {
        self.dispatch(&Draft::free_form(kind, fields)?, options)
    }

    /// Sends a typed event.
    pub fn send_event<E: CeleryEvent>(&self, event: &E) -> Result<Sent, EventError> {
        self.send_event_with(event, SendOptions::default())
    }

    /// [`send_event`](Self::send_event) with options.
    pub fn send_event_with<E: CeleryEvent>(
        &self,
        event: &E,
        options: SendOptions,
    ) -> Result<Sent, EventError> {
        let draft = Draft {
            kind: E::TYPE,
            fields: event,
            has_timestamp: false,
        };
        self.dispatch(&draft, options)
    }

    fn dispatch<F: Serialize + ?Sized>(
        &self,
        draft: &Draft<'_, F>,
        options: SendOptions,
    ) -> Result<Sent, EventError> {
        if !self.enabled.load(Ordering::Acquire) {
            return Ok(Sent::Skipped);
        }
        let group = event::group_from(draft.kind);
        if let Some(groups) = &self.config.groups {
            if !groups.iter().any(|name| name == group) {
                return Ok(Sent::Skipped);
            }
        }
        if self.config.buffer_group.iter().any(|name| name == group) {
            return self.send_grouped(group, draft, options);
        }
        let clock = (!options.blind).then(|| self.clock.forward());
        let retry = options.retry.then_some(&options.retry_policy);
        self.publish_event(Producer::Own, draft, clock, options.utcoffset, retry)
    }

    /// Writes one event and publishes it through `producer` (retrying as
    /// `retry` says); an event that could not be published, or that finds the
    /// dispatcher closed once it is written, is buffered.
    fn publish_event<F: Serialize + ?Sized>(
        &self,
        producer: Producer<'_>,
        draft: &Draft<'_, F>,
        clock: Option<u64>,
        utcoffset: Option<f64>,
        retry: Option<&PublishRetryPolicy>,
    ) -> Result<Sent, EventError> {
        let mut body = Vec::with_capacity(256);
        self.write_event(draft, clock, utcoffset, &mut body)?;
        let routing_key = event::routing_key_for(draft.kind);
        // Entered once the event is written: a `close` that ran meanwhile wins,
        // and one that comes now waits for this publish.
        let stripe = super::gate::thread_stripe();
        let entered = match producer {
            Producer::Own => self.gate.enter(stripe).map(|pass| (pass, &*self.transport)),
            Producer::Given(given) => Some((self.gate.enter_always(stripe), given)),
        };
        let error = match entered {
            None => EventError::Closed,
            Some((_in_flight, transport)) => {
                match self.publish_message(transport, &routing_key, &body, retry) {
                    Ok(()) => return Ok(Sent::Published),
                    Err(error) => EventError::Transport(error),
                }
            }
        };
        self.buffer(
            Pending {
                routing_key: routing_key.into(),
                body,
                events: 1,
            },
            error,
        )
    }

    /// Adds an event to its group's buffer; a full buffer flushes everything, as
    /// Celery does.
    fn send_grouped<F: Serialize + ?Sized>(
        &self,
        group: &str,
        draft: &Draft<'_, F>,
        options: SendOptions,
    ) -> Result<Sent, EventError> {
        // Celery forwards the clock for grouped events even when blind.
        let clock = Some(self.clock.forward());
        let full = {
            let mut state = self.state.lock();
            let buffers = &mut state.buffers;
            if buffers.admit(1).is_err() {
                return Err(EventError::BufferFull {
                    capacity: buffers.capacity(),
                });
            }
            let buffer = buffers.group(group);
            let start = buffer.bytes.len();
            if let Err(error) = self.write_event(draft, clock, options.utcoffset, &mut buffer.bytes)
            {
                buffer.bytes.truncate(start);
                return Err(error.into());
            }
            buffer.ends.push(buffer.bytes.len());
            let full = buffer.len() >= self.config.buffer_limit;
            buffers.note_grouped();
            full
        };
        if full {
            // The event is accepted; a flush that fails keeps it buffered.
            let _ = self.flush_buffers(true, true, false);
        } else if let Some(callback) = &self.on_send_buffered {
            callback();
        }
        Ok(Sent::Buffered)
    }

    /// Keeps an unpublished event in the outbound buffer, or gives back `error`
    /// when buffering is off.
    fn buffer(&self, pending: Pending, error: EventError) -> Result<Sent, EventError> {
        if !self.config.buffer_while_offline {
            return Err(error);
        }
        let mut state = self.state.lock();
        if state.buffers.admit(pending.events).is_err() {
            return Err(EventError::BufferFull {
                capacity: state.buffers.capacity(),
            });
        }
        state.buffers.push_outbound(pending);
        Ok(Sent::Buffered)
    }

    fn write_event<F: Serialize + ?Sized>(
        &self,
        draft: &Draft<'_, F>,
        clock: Option<u64>,
        utcoffset: Option<f64>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerializeError> {
        // One clock read serves both the timestamp and the offset.
        let now = event::now();
        let outgoing = OutgoingEvent {
            hostname: &self.config.hostname,
            utcoffset: utcoffset
                .or(self.config.utcoffset)
                .unwrap_or_else(|| event::utcoffset_at(now)),
            pid: self.config.pid,
            clock,
            fields: draft.fields,
            timestamp: (!draft.has_timestamp).then_some(now),
            kind: draft.kind,
        };
        self.serializer.write_event(&outgoing, out)
    }

    /// Publishes one message; with a `retry` policy, retries while the broker is
    /// unavailable.
    fn publish_message(
        &self,
        producer: &dyn Transport,
        routing_key: &str,
        body: &[u8],
        retry: Option<&PublishRetryPolicy>,
    ) -> Result<(), TransportError> {
        let headers: smallvec::SmallVec<[(&str, &str); 2]> = self
            .config
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let message = Message {
            exchange: &self.config.exchange,
            routing_key,
            body,
            content_type: self.serializer.content_type(),
            content_encoding: self.serializer.content_encoding(),
            headers: &headers,
            delivery_mode: self.config.delivery_mode,
        };
        let Some(policy) = retry else {
            return producer.publish(&message);
        };
        let mut wait = policy.interval_start;
        let mut attempt = 0;
        loop {
            match producer.publish(&message) {
                Ok(()) => return Ok(()),
                Err(TransportError::Unavailable(reason)) if attempt < policy.max_retries => {
                    tracing::debug!(attempt, %reason, "event publish failed; retrying");
                    std::thread::sleep(wait);
                    wait = (wait + policy.interval_step).min(policy.interval_max);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Publishes an event through `producer` now (Celery's `publish`), whatever
    /// the dispatcher's groups and state; a failed publish is buffered as `send`
    /// would.
    pub fn publish(
        &self,
        kind: &str,
        fields: &Fields,
        producer: &dyn Transport,
        blind: bool,
    ) -> Result<Sent, EventError> {
        let draft = Draft::free_form(kind, fields)?;
        let clock = (!blind).then(|| self.clock.forward());
        self.publish_event(Producer::Given(producer), &draft, clock, None, None)
    }

    /// Publishes what is buffered: the outbound buffer (if `errors`) and each
    /// group's batch as one `<group>.multi` message (if `groups`).
    ///
    /// Unlike Celery up to 5.6, nothing is lost: a message the broker does not
    /// take goes back to the buffer, in order, and events added meanwhile by
    /// other threads stay. Once the broker reports itself unavailable, the flush
    /// stops trying (one failed attempt, not a spin). A closed dispatcher keeps
    /// its buffers for after [`enable`](Self::enable).
    ///
    /// With `buffer_while_offline` off, the first failure is returned and the
    /// unpublished messages stay buffered.
    pub fn flush(&self, errors: bool, groups: bool) -> Result<FlushReport, EventError> {
        self.flush_buffers(errors, groups, true)
    }

    /// [`flush`](Self::flush), waiting for the transport to hand everything to
    /// the broker only if `wait_for_broker`: a group that fills up is published
    /// without waiting, so a batching transport keeps batching.
    fn flush_buffers(
        &self,
        errors: bool,
        groups: bool,
        wait_for_broker: bool,
    ) -> Result<FlushReport, EventError> {
        // Held over the publishes below, so that `close` waits for them.
        let in_flight = self.gate.enter(super::gate::thread_stripe());
        let (taken, taken_events) = {
            let mut state = self.state.lock();
            if in_flight.is_none() {
                return Ok(FlushReport {
                    buffered: state.buffers.held(),
                    ..FlushReport::default()
                });
            }
            let taken = state.buffers.take(errors, groups, |buffer, body| {
                self.serializer.write_list(buffer.items(), body);
            });
            let events = taken.iter().map(|pending| pending.events).sum::<usize>();
            (taken, events)
        };
        let mut report = FlushReport::default();
        let mut unpublished = Vec::new();
        let mut failure = None;
        let mut broker_away = false;
        for pending in taken {
            if broker_away {
                unpublished.push(pending);
                continue;
            }
            match self.publish_message(&*self.transport, &pending.routing_key, &pending.body, None)
            {
                Ok(()) => {
                    report.messages += 1;
                    report.events += pending.events;
                }
                Err(error) => {
                    broker_away = matches!(error, TransportError::Unavailable(_))
                        || !self.config.buffer_while_offline;
                    if failure.is_none() {
                        failure = Some(error);
                    }
                    unpublished.push(pending);
                }
            }
        }
        drop(in_flight);
        // Also what was published unbuffered may still sit in the transport.
        let transport_flush = if wait_for_broker && !broker_away {
            self.transport.flush()
        } else {
            Ok(())
        };
        let mut state = self.state.lock();
        state.buffers.settle(taken_events, unpublished);
        report.buffered = state.buffers.held();
        drop(state);
        match (failure, self.config.buffer_while_offline) {
            (Some(error), false) => Err(EventError::Transport(error)),
            _ => transport_flush
                .map(|()| report)
                .map_err(EventError::Transport),
        }
    }

    /// Moves the outbound buffer of `other` (a dispatcher being replaced, as
    /// Celery's worker does on reconnect) into this one; returns how many events
    /// moved. Unlike Celery, which copies, the events leave `other`, so no event
    /// can be published twice; what does not fit stays in `other`.
    pub fn extend_buffer<Y: Serializer>(&self, other: &EventDispatcher<Y>) -> usize {
        if std::ptr::eq(
            self as *const _ as *const (),
            other as *const _ as *const (),
        ) {
            return 0;
        }
        let mut theirs = other.state.lock();
        let mut ours = self.state.lock();
        ours.buffers.take_from(&mut theirs.buffers)
    }

    /// Enables the dispatcher (and reopens it after [`close`](Self::close)),
    /// then calls the `on_enabled` callbacks. A transport that cannot carry
    /// events leaves it disabled.
    pub fn enable(&self) -> Result<(), EventError> {
        if !self.transport.can_carry_events() {
            return Err(EventError::Unsupported {
                driver: self.transport.driver_type().to_owned(),
            });
        }
        self.gate.open();
        self.enabled.store(true, Ordering::Release);
        let callbacks = self.on_enabled.lock().clone();
        for callback in callbacks {
            callback();
        }
        Ok(())
    }

    /// Disables the dispatcher (`send` then does nothing), closes it, and calls
    /// the `on_disabled` callbacks. Does nothing if already disabled.
    pub fn disable(&self) {
        if self.enabled.swap(false, Ordering::AcqRel) {
            self.close();
            let callbacks = self.on_disabled.lock().clone();
            for callback in callbacks {
                callback();
            }
        }
    }

    /// Closes the dispatcher: nothing is published until [`enable`](Self::enable);
    /// events sent meanwhile are buffered (with `buffer_while_offline`), and the
    /// buffers are kept.
    ///
    /// As in Celery 5.7, `close` first waits for the publishes in flight (a
    /// `send`, an explicit [`publish`](Self::publish) or a flush that is handing
    /// a message to the transport, retries included), so that nothing is
    /// published once it has returned. A send whose event is still being
    /// written when `close` runs finds the dispatcher closed and buffers it.
    /// A [`Transport`] must therefore not call back into its own dispatcher's
    /// `close` from `publish`.
    pub fn close(&self) {
        self.gate.close();
    }

    /// Adds a callback run by each [`enable`](Self::enable).
    pub fn on_enabled(&self, callback: impl Fn() + Send + Sync + 'static) {
        self.on_enabled.lock().push(Arc::new(callback));
    }

    /// Adds a callback run when [`disable`](Self::disable) disables.
    pub fn on_disabled(&self, callback: impl Fn() + Send + Sync + 'static) {
        self.on_disabled.lock().push(Arc::new(callback));
    }

    /// The transport events are published to, unless the dispatcher is closed
    /// (Celery's `publisher`, its producer).
    pub fn publisher(&self) -> Option<Arc<dyn Transport>> {
        if self.gate.is_closed() {
            None
        } else {
            Some(Arc::clone(&self.transport))
        }
    }

    /// Whether `send` sends.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Whether the dispatcher is closed.
    pub fn is_closed(&self) -> bool {
        self.gate.is_closed()
    }

    /// The node name events carry.
    pub fn hostname(&self) -> &str {
        &self.config.hostname
    }

    /// The exchange events are published to.
    pub fn exchange(&self) -> &str {
        &self.config.exchange
    }

    /// The Lamport clock.
    pub fn clock(&self) -> &Arc<LamportClock> {
        &self.clock
    }

    /// The serializer.
    pub fn serializer(&self) -> &Z {
        &self.serializer
    }

    /// Events buffered now, in groups and waiting for the broker.
    pub fn buffered(&self) -> usize {
        self.state.lock().buffers.held()
    }

    /// Events refused or dropped so far because the buffer was full.
    pub fn overflowed(&self) -> u64 {
        self.state.lock().buffers.overflowed()
    }
}

impl<Z: Serializer> fmt::Debug for EventDispatcher<Z> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventDispatcher")
            .field("hostname", &self.config.hostname)
            .field("exchange", &self.config.exchange)
            .field("serializer", &self.serializer.name())
            .field("transport", &self.transport.driver_type())
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}
