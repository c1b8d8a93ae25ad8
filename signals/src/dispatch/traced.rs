//! A receiver called inside its own `signal.receiver` span (feature
//! `tracing-spans`): receiver name and id, outcome, duration.

use std::time::Instant;

use tracing::field;

use crate::error::BoxError;
use crate::ids::ReceiverId;
use crate::invoke::Invoke;

/// Calls `receiver` inside its span, recording its outcome and duration when
/// the call ends, also when it panics.
pub(super) fn invoke<A, S, R>(
    receiver: &dyn Invoke<A, S, R>,
    id: ReceiverId,
    sender: &S,
    args: &A,
) -> Result<R, BoxError> {
    let span = tracing::debug_span!(
        target: "signals",
        "signal.receiver",
        receiver = id.name(),
        id = id.id(),
        outcome = field::Empty,
        duration_us = field::Empty,
    );
    let _entered = span.enter();
    let mut call = Call {
        span: &span,
        start: Instant::now(),
        outcome: "panicked",
    };
    let result = receiver.invoke(sender, args);
    call.outcome = if result.is_ok() { "ok" } else { "error" };
    result
}

/// Records a receiver's outcome and duration when its call ends.
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
