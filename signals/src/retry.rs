//! Retrying receivers: Celery's `connect(retry=True)`, with a bound.
//!
//! Celery re-runs a failing receiver after 2 s, 4 s, ... up to 30 s between tries,
//! forever, blocking the sending thread. We keep the schedule and require a bound
//! (a number of retries or a total time), so a receiver that never recovers cannot
//! hang the sender; when the bound is reached its last error is returned as
//! [`RetriesExhausted`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{BoxError, RetriesExhausted};
use crate::receiver::Invoke;

/// When a retrying receiver gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Retries(u32),
    Elapsed(Duration),
}

/// How a retrying receiver is re-run: Celery's backoff (start 2 s, step 2 s, at most
/// 30 s between tries) and a bound that you choose.
///
/// There is no unbounded constructor: build one with [`RetryPolicy::max_retries`]
/// or [`RetryPolicy::timeout`].
///
/// ```
/// use std::time::Duration;
/// use signals::RetryPolicy;
///
/// let policy = RetryPolicy::max_retries(4);
/// let waits: Vec<_> = policy.delays().collect();
/// assert_eq!(waits, [2, 4, 6, 8].map(Duration::from_secs));
///
/// let quick = RetryPolicy::max_retries(3).intervals(
///     Duration::from_millis(1), Duration::from_millis(1), Duration::from_millis(2));
/// assert_eq!(quick.delays().collect::<Vec<_>>(), [1, 2, 2].map(Duration::from_millis));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    start: Duration,
    step: Duration,
    max: Duration,
    limit: Limit,
}

impl RetryPolicy {
    const CELERY_START: Duration = Duration::from_secs(2);
    const CELERY_STEP: Duration = Duration::from_secs(2);
    const CELERY_MAX: Duration = Duration::from_secs(30);

    /// Retry at most `retries` times after the first failure.
    pub const fn max_retries(retries: u32) -> Self {
        Self {
            start: Self::CELERY_START,
            step: Self::CELERY_STEP,
            max: Self::CELERY_MAX,
            limit: Limit::Retries(retries),
        }
    }

    /// Keep retrying while less than `total` has passed since the first call; no
    /// wait is started that would end past that deadline.
    pub const fn timeout(total: Duration) -> Self {
        Self {
            start: Self::CELERY_START,
            step: Self::CELERY_STEP,
            max: Self::CELERY_MAX,
            limit: Limit::Elapsed(total),
        }
    }

    /// Replaces Celery's backoff: wait `start` before the first retry, `step` more
    /// before each next one, never more than `max`.
    pub const fn intervals(mut self, start: Duration, step: Duration, max: Duration) -> Self {
        self.start = start;
        self.step = step;
        self.max = max;
        self
    }

    /// The waits before each retry, in order (as many as the retry bound allows;
    /// for a time bound, an endless clamped sequence).
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        let (start, step, max) = (self.start, self.step, self.max);
        let count = match self.limit {
            Limit::Retries(n) => n as usize,
            Limit::Elapsed(_) => usize::MAX,
        };
        (0u32..)
            .map(move |i| start.saturating_add(step.saturating_mul(i)).min(max))
            .take(count)
    }
}

/// A receiver wrapped so that it is re-run on failure.
///
/// The wrapper is internal: the connection keeps the original receiver's identity
/// and dispatch_uid, so it is disconnected through the original (Celery #9119).
pub(crate) struct Retrying<A, S, R> {
    pub(crate) inner: Arc<dyn Invoke<A, S, R>>,
    pub(crate) policy: RetryPolicy,
    pub(crate) name: &'static str,
}

impl<A, S, R> Invoke<A, S, R> for Retrying<A, S, R> {
    fn invoke(&self, sender: &S, args: &A) -> Result<R, BoxError> {
        let started = Instant::now();
        let mut delays = self.policy.delays();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let err = match self.inner.invoke(sender, args) {
                Ok(response) => return Ok(response),
                Err(err) => err,
            };
            let wait = delays.next().filter(|wait| match self.policy.limit {
                Limit::Retries(_) => true,
                Limit::Elapsed(total) => started.elapsed() + *wait <= total,
            });
            let Some(wait) = wait else {
                return Err(Box::new(RetriesExhausted {
                    attempts,
                    last: err,
                }));
            };
            tracing::error!(
                receiver = self.name,
                error = %err,
                "Could not process signal receiver {}. Retrying in {:.2} seconds...",
                self.name,
                wait.as_secs_f64()
            );
            std::thread::sleep(wait);
        }
    }
}
