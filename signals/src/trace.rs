//! `tracing` spans for sends (feature `tracing-spans`): one span per send
//! (`signal.send`: signal name, sender, receiver count) and one per receiver
//! called by a sync send (`signal.receiver`: receiver name, outcome,
//! duration).
//!
//! Without the feature none of this is compiled and the send path is the
//! same machine code. With it, a send that has receivers asks `tracing`
//! whether a subscriber wants `DEBUG` spans of target `signals` (a load and a
//! compare while no subscriber is interested, cached per call site), and only
//! then takes the traced path, out of line. Sentry made its per-receiver
//! spans optional after they cost Django users 25%; here they are off unless
//! a subscriber asks for them.

use std::ops::ControlFlow;
use std::time::Instant;

use tracing::field;

use crate::error::BoxError;
use crate::receiver::{Invoke, ReceiverId};
use crate::registry::Visit;
use crate::responses::RobustResponses;
use crate::signal::{Describe, DescribeSender};

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

/// Records a robust send's receivers and failures on its span.
pub(crate) fn record_robust<R>(span: &tracing::Span, responses: &RobustResponses<R>) {
    span.record("receivers", responses.len());
    let failed = responses
        .iter()
        .filter(|(_, outcome)| outcome.is_err())
        .count();
    span.record("failed", failed);
}

/// A receiver called inside its own span.
pub(crate) struct TracedReceiver<'a, A, S, R> {
    pub(crate) inner: &'a dyn Invoke<A, S, R>,
    pub(crate) id: ReceiverId,
}

impl<A, S, R> Invoke<A, S, R> for TracedReceiver<'_, A, S, R> {
    fn invoke(&self, sender: &S, args: &A) -> Result<R, BoxError> {
        let span = tracing::debug_span!(
            target: "signals",
            "signal.receiver",
            receiver = self.id.name(),
            id = self.id.id(),
            outcome = field::Empty,
            duration_us = field::Empty,
        );
        let _entered = span.enter();
        let mut call = Call {
            span: &span,
            start: Instant::now(),
            outcome: "panicked",
        };
        let result = self.inner.invoke(sender, args);
        call.outcome = if result.is_ok() { "ok" } else { "error" };
        result
    }
}

/// Records a receiver's outcome and duration when its call ends, also when
/// it panics.
struct Call<'a> {
    span: &'a tracing::Span,
    start: Instant,
    outcome: &'static str,
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.span.record("outcome", self.outcome);
        self.span
            .record("duration_us", self.start.elapsed().as_micros() as u64);
    }
}

/// A send's visit with each receiver traced.
pub(crate) struct Traced<'v, V>(pub(crate) &'v mut V);

impl<A, S, R, V: Visit<A, S, R>> Visit<A, S, R> for Traced<'_, V> {
    fn visit(
        &mut self,
        position: usize,
        id: ReceiverId,
        receiver: &dyn Invoke<A, S, R>,
    ) -> ControlFlow<()> {
        self.0.visit(
            position,
            id,
            &TracedReceiver {
                inner: receiver,
                id,
            },
        )
    }
}
