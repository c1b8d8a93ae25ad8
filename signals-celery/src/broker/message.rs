//! What a broker carries: a message to publish ([`Message`]), one received
//! ([`Delivery`]), and why publishing failed ([`TransportError`]). Events and
//! remote control both speak in these; `signals_celery::events` re-exports
//! them.

/// Whether a message survives a broker restart (AMQP's `delivery_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeliveryMode {
    /// 1: kept in memory only; Celery's default for events.
    #[default]
    Transient = 1,
    /// 2: written to disk by brokers that can.
    Persistent = 2,
}

/// One message to publish, borrowed from the dispatcher.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The exchange (`celeryev` by default).
    pub exchange: &'a str,
    /// The routing key (`task.succeeded`, `task.multi`, ...).
    pub routing_key: &'a str,
    /// The serialized body: one event, or a list of them.
    pub body: &'a [u8],
    /// The body's content type (`application/json`).
    pub content_type: &'a str,
    /// The body's encoding (`utf-8`).
    pub content_encoding: &'a str,
    /// Message headers (Celery sends `hostname`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Transient or persistent.
    pub delivery_mode: DeliveryMode,
}

/// Why a transport could not publish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The broker cannot be reached now; a later attempt may succeed.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
    /// The broker or the transport refused this message.
    #[error("the message was refused: {0}")]
    Refused(String),
}

/// One message as the broker delivered it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delivery {
    /// The routing key it was published with (`task.succeeded`, `task.multi`).
    pub routing_key: String,
    /// Its content type (`application/json`).
    pub content_type: String,
    /// Its content encoding (`utf-8`).
    pub content_encoding: String,
    /// A tag that a message delivered twice keeps: kombu's delivery tag (a
    /// uuid4 per message) on Redis, a digest of the body on AMQP. The receiver
    /// handles a tag once within its de-duplication window.
    pub delivery_tag: Option<String>,
    /// The body: one event as a JSON object, or a list of them.
    pub body: Vec<u8>,
}
