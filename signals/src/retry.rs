//! Retrying receivers: Celery's `connect(retry=True)`, with a bound.
//!
//! Celery re-runs a failing receiver after 2 s, 4 s, ... up to 30 s between tries,
//! forever, blocking the sending thread. We keep the schedule and require a bound
//! (a number of retries or a total time), so a receiver that never recovers cannot
//! hang the sender; when the bound is reached its last error is returned as
//! [`RetriesExhausted`].
//!
//! An async receiver's waits are awaited, never slept: through the timer the
//! policy was given ([`RetryPolicy::sleep_with`]), or else a helper thread
//! that sleeps and wakes the task, so it never blocks an executor's thread. A
//! sync receiver's waits are slept by the sending thread, as in Celery.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{AwaitRequired, BoxError, RetriesExhausted};
use crate::invoke::{BoxFuture, Invoke};
use crate::sleep::ThreadSleep;

/// A timer for a retrying async receiver's waits: returns a future that
/// completes once the duration has passed, such as a runtime's sleep.
///
/// ```
/// use std::time::Duration;
/// use signals::{RetryPolicy, Sleep};
///
/// fn sleep(delay: Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
///     // On tokio: Box::pin(tokio::time::sleep(delay))
///     Box::pin(async move { let _ = delay; })
/// }
/// let timer: Sleep = sleep;
/// let policy = RetryPolicy::max_retries(3).sleep_with(timer);
/// assert_eq!(policy.delays().count(), 3);
/// ```
pub type Sleep = fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;

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
/// An async receiver's waits are awaited with the timer given to
/// [`sleep_with`](Self::sleep_with), by default a helper thread's sleep; a sync
/// receiver's waits are slept by the sending thread.
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
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    start: Duration,
    step: Duration,
    max: Duration,
    limit: Limit,
    sleep: Option<Sleep>,
}

/// Two policies are equal when their schedules and bounds are; the timer is
/// how a wait is carried out, not part of the policy's meaning.
impl PartialEq for RetryPolicy {
    fn eq(&self, other: &Self) -> bool {
        (self.start, self.step, self.max, self.limit)
            == (other.start, other.step, other.max, other.limit)
    }
}

impl Eq for RetryPolicy {}

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
            sleep: None,
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
            sleep: None,
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

    /// Awaits an async receiver's waits with `timer` (for instance
    /// `|d| Box::pin(tokio::time::sleep(d))`), instead of the default, which
    /// is a helper thread that sleeps and then wakes the task: runtime-agnostic,
    /// but a thread per wait.
    pub const fn sleep_with(mut self, timer: Sleep) -> Self {
        self.sleep = Some(timer);
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

impl<A, S, R> Retrying<A, S, R> {
    /// Wraps a sync receiver: the form [`Receiver::new`](crate::Receiver::new)
    /// picks for a retry policy.
    pub(crate) fn wrap(
        inner: Arc<dyn Invoke<A, S, R>>,
        policy: RetryPolicy,
        name: &'static str,
    ) -> Arc<dyn Invoke<A, S, R>>
    where
        A: 'static,
        S: 'static,
        R: 'static,
    {
        Arc::new(Self {
            inner,
            policy,
            name,
        })
    }

    /// After failed attempt number `attempts`, with `error`: the wait before
    /// the next one, logged as Celery logs it, or the final error once the
    /// policy's bound is reached.
    fn next_wait(
        &self,
        started: Instant,
        delays: &mut impl Iterator<Item = Duration>,
        attempts: u32,
        error: BoxError,
    ) -> Result<Duration, BoxError> {
        let wait = delays.next().filter(|wait| match self.policy.limit {
            Limit::Retries(_) => true,
            Limit::Elapsed(total) => started.elapsed() + *wait <= total,
        });
        let Some(wait) = wait else {
            return Err(Box::new(RetriesExhausted {
                attempts,
                last: error,
            }));
        };
        tracing::error!(
            receiver = self.name,
            error = %error,
            "Could not process signal receiver {}. Retrying in {:.2} seconds...",
            self.name,
            wait.as_secs_f64()
        );
        Ok(wait)
    }
}

/// A sync receiver's retries: the sending thread sleeps between attempts, as
/// in Celery, under `send` and `asend` alike (a sync receiver holds its
/// caller's thread while it runs in any case).
impl<A, S, R> Invoke<A, S, R> for Retrying<A, S, R> {
    fn invoke(&self, sender: &S, args: &A) -> Result<R, BoxError> {
        let started = Instant::now();
        let mut delays = self.policy.delays();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let error = match self.inner.invoke(sender, args) {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let wait = self.next_wait(started, &mut delays, attempts, error)?;
            std::thread::sleep(wait);
        }
    }
}

/// An async receiver wrapped so that it is re-run on failure, its waits
/// awaited.
pub(crate) struct AsyncRetrying<A, S, R>(Retrying<A, S, R>);

impl<A, S, R> AsyncRetrying<A, S, R>
where
    A: Sync + 'static,
    S: Sync + 'static,
    R: 'static,
{
    /// Wraps an async receiver: the form
    /// [`Receiver::new_async`](crate::Receiver::new_async) picks for a retry
    /// policy.
    pub(crate) fn wrap(
        inner: Arc<dyn Invoke<A, S, R>>,
        policy: RetryPolicy,
        name: &'static str,
    ) -> Arc<dyn Invoke<A, S, R>> {
        Arc::new(Self(Retrying {
            inner,
            policy,
            name,
        }))
    }

    /// The retry loop: each attempt and each wait awaited.
    async fn retry(&self, sender: &S, args: &A) -> Result<R, BoxError> {
        let this = &self.0;
        let started = Instant::now();
        let mut delays = this.policy.delays();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            // One expression, so that no `Result<R, _>` lives across the
            // wait below (which would make the future `Send` only if `R` is).
            let error = match match this.inner.invoke_async(sender, args) {
                Some(future) => future.await,
                None => this.inner.invoke(sender, args),
            } {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let wait = this.next_wait(started, &mut delays, attempts, error)?;
            match this.policy.sleep {
                Some(timer) => timer(wait).await,
                None => ThreadSleep::new(wait).await,
            }
        }
    }
}

impl<A, S, R> Invoke<A, S, R> for AsyncRetrying<A, S, R>
where
    A: Sync + 'static,
    S: Sync + 'static,
    R: 'static,
{
    #[cold]
    fn invoke(&self, _sender: &S, _args: &A) -> Result<R, BoxError> {
        // Retrying cannot make an async receiver runnable here: say so at once.
        Err(Box::new(AwaitRequired))
    }

    fn is_async(&self) -> bool {
        true
    }

    fn invoke_async<'a>(
        &'a self,
        sender: &'a S,
        args: &'a A,
    ) -> Option<BoxFuture<'a, Result<R, BoxError>>> {
        Some(Box::pin(self.retry(sender, args)))
    }
}
