//! `tracing` spans for sends (feature `tracing-spans`): one span per send
//! (`signal.send`: signal name, sender, receiver count) and one per receiver
//! called by a sync send (`signal.receiver`: receiver name, outcome,
//! duration; made where receivers are called, in `dispatch`).
//!
//! Without the feature none of this is compiled and the send path is the
//! same machine code. With it, a send that has receivers asks `tracing`
//! whether a subscriber wants `DEBUG` spans of target `signals` (a load and a
//! compare while no subscriber is interested, cached per call site), and only
//! then takes the traced path, out of line. Sentry made its per-receiver
//! spans optional after they cost Django users 25%; here they are off unless
//! a subscriber asks for them.

use tracing::field;

use crate::introspect::{Describe, DescribeSender};

/// Whether a subscriber wants the spans.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: "signals", tracing::Level::DEBUG)
}

/// The span of one send; `kind` says which call (`send`, `send_robust`,
/// `asend`, `asend_robust`).
#[cold]
pub(crate) fn send_span<S>(
    signal: &'static str,
    kind: &'static str,
    sender: &S,
    describe: Option<DescribeSender<S>>,
) -> tracing::Span {
    let span = tracing::debug_span!(
        target: "signals",
        "signal.send",
        signal,
        call = kind,
        sender = field::Empty,
        receivers = field::Empty,
        failed = field::Empty,
    );
    if let Some(describe) = describe {
        span.record("sender", field::display(Describe(sender, describe)));
    }
    span
}

/// Records on a send's span how many receivers it called and how many of
/// them failed.
pub(crate) fn record(span: &tracing::Span, called: usize, failed: usize) {
    span.record("receivers", called);
    span.record("failed", failed);
}
