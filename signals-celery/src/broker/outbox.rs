//! What the broker transports and subscribers (Redis, AMQP) share: the bounded
//! queue a transport's background thread sends from ([`Outbox`]), the hand-off
//! from a subscriber's reader thread ([`feed`]), the waits between
//! reconnection attempts ([`Backoff`]), and URLs as errors and logs show them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::events::transport::TransportError;

/// `url` with its password, if any, replaced by `***`.
pub(crate) fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    let user = credentials
        .split_once(':')
        .map_or(credentials, |(user, _)| user);
    if credentials.contains(':') {
        format!("{scheme}://{user}:***@{host}")
    } else {
        format!("{scheme}://***@{host}")
    }
}

/// The waits between reconnection attempts: the first one given, doubled after
/// each failure up to 2 s, back to the first after a success.
pub(crate) struct Backoff {
    first: Duration,
    next: Duration,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(2);

    pub(crate) fn new(first: Duration) -> Self {
        Self { first, next: first }
    }

    /// After a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }

    /// The wait before the next attempt, after a failure.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (wait * 2).min(Self::MAX);
        wait
    }
}

/// Messages queued for a broker, sent in order by one background thread: a
/// bounded queue, what that thread holds, and its last error. `publish` pushes,
/// the thread takes a batch and reports how it went, `flush` waits for both to
/// drain. A batch that failed goes back to the front, in order: nothing queued
/// is lost (a batch cut by a failure may be delivered twice: at least once).
pub(crate) struct Outbox<T> {
    state: Mutex<OutboxState<T>>,
    /// Wakes the sending thread: something queued, or closing.
    work: Condvar,
    /// Wakes flushers: the queue drained or the connection changed.
    progress: Condvar,
    capacity: usize,
}

struct OutboxState<T> {
    queue: VecDeque<T>,
    /// Messages taken by the sending thread and not yet confirmed.
    in_flight: usize,
    /// The last connection or command error, cleared by a successful batch.
    last_error: Option<String>,
    closing: bool,
}

impl<T> Outbox<T> {
    /// An empty outbox that holds at most `capacity` messages, sent or not.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(OutboxState {
                queue: VecDeque::new(),
                in_flight: 0,
                last_error: None,
                closing: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState<T>> {
        // The state stays consistent across a panic (plain pushes and pops).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `message`, or says why not: the queue is full, `broker` being
    /// too slow or away (its last error says which).
    pub(crate) fn push(&self, message: T, broker: &str) -> Result<(), TransportError> {
        let mut state = self.lock();
        if state.queue.len() + state.in_flight >= self.capacity {
            let why = state
                .last_error
                .clone()
                .unwrap_or_else(|| format!("{broker} is too slow"));
            return Err(TransportError::Unavailable(format!(
                "{} messages are waiting to be sent ({why})",
                self.capacity
            )));
        }
        state.queue.push_back(message);
        drop(state);
        self.work.notify_one();
        Ok(())
    }

    /// How many messages are queued or being sent.
    pub(crate) fn pending(&self) -> usize {
        let state = self.lock();
        state.queue.len() + state.in_flight
    }

    /// Waits until everything queued so far is sent, for at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), TransportError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.queue.is_empty() || state.in_flight > 0 {
            let now = Instant::now();
            if now >= deadline {
                let pending = state.queue.len() + state.in_flight;
                let why = state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "timed out".into());
                return Err(TransportError::Unavailable(format!(
                    "{pending} messages not yet sent: {why}"
                )));
            }
            state = self
                .progress
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Ok(())
    }

    /// Tells the sending thread to stop once the queue is empty.
    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.work.notify_all();
    }

    /// The sending thread's next batch, at most `max` messages, waiting for
    /// one; `None` once closing with nothing left.
    pub(crate) fn take(&self, max: usize) -> Option<Vec<T>> {
        let mut state = self.lock();
        while state.queue.is_empty() && !state.closing {
            state = self
                .work
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if state.queue.is_empty() {
            return None;
        }
        let n = state.queue.len().min(max.max(1));
        state.in_flight = n;
        Some(state.queue.drain(..n).collect())
    }

    /// The batch taken last is with the broker.
    pub(crate) fn sent(&self) {
        let mut state = self.lock();
        state.in_flight = 0;
        state.last_error = None;
        drop(state);
        self.progress.notify_all();
    }

    /// The batch taken last failed with `error`; `unsent` (its messages not
    /// delivered, in order) go back to the front. Returns whether the outbox
    /// is closing (then the thread stops rather than retry).
    pub(crate) fn failed(&self, unsent: Vec<T>, error: String) -> bool {
        let mut state = self.lock();
        for message in unsent.into_iter().rev() {
            state.queue.push_front(message);
        }
        state.in_flight = 0;
        state.last_error = Some(error);
        let closing = state.closing;
        drop(state);
        self.progress.notify_all();
        closing
    }
}

/// What a subscriber's reader thread hands to the subscriber: each message or
/// connection error through a bounded channel, whether the subscription is
/// active (and how many times it was made), and the flag that stops the
/// thread. [`feed`] makes the two ends.
struct FeedState {
    stop: AtomicBool,
    /// How many times the subscription was made, and whether it is active.
    subscribed: Mutex<(u64, bool)>,
    changed: Condvar,
}

impl FeedState {
    fn lock(&self) -> MutexGuard<'_, (u64, bool)> {
        self.subscribed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The reader thread's end of a feed.
pub(crate) struct FeedWriter<T> {
    messages: SyncSender<Result<T, String>>,
    state: Arc<FeedState>,
}

/// The subscriber's end of a feed.
pub(crate) struct FeedReader<T> {
    messages: Receiver<Result<T, String>>,
    state: Arc<FeedState>,
}

/// What [`FeedReader::next`] got.
pub(crate) enum Next<T> {
    Message(T),
    /// The reader thread lost its connection (and will reconnect).
    Error(String),
    Timeout,
    /// The reader thread has ended.
    Ended,
}

/// A feed that holds at most `backlog` messages the subscriber has not taken.
pub(crate) fn feed<T>(backlog: usize) -> (FeedWriter<T>, FeedReader<T>) {
    let state = Arc::new(FeedState {
        stop: AtomicBool::new(false),
        subscribed: Mutex::new((0, false)),
        changed: Condvar::new(),
    });
    let (sender, receiver) = mpsc::sync_channel(backlog.max(1));
    (
        FeedWriter {
            messages: sender,
            state: state.clone(),
        },
        FeedReader {
            messages: receiver,
            state,
        },
    )
}

impl<T> FeedWriter<T> {
    /// Queues for the subscriber, waiting while the backlog is full; `false`
    /// once the subscriber is gone.
    pub(crate) fn deliver(&self, message: Result<T, String>) -> bool {
        let mut message = message;
        loop {
            match self.messages.try_send(message) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if self.stopped() {
                        return false;
                    }
                    message = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Whether the subscriber was dropped.
    pub(crate) fn stopped(&self) -> bool {
        self.state.stop.load(Ordering::Acquire)
    }

    /// Records that the subscription is now active or not.
    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        let mut state = self.state.lock();
        if subscribed {
            state.0 += 1;
        }
        state.1 = subscribed;
        drop(state);
        self.state.changed.notify_all();
    }

    /// Sleeps `wait` in short steps, so that a dropped subscriber is seen
    /// promptly.
    pub(crate) fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while Instant::now() < until && !self.stopped() {
            std::thread::sleep(Duration::from_millis(20).min(wait));
        }
    }
}

impl<T> FeedReader<T> {
    /// The next message or error, waiting up to `timeout`.
    pub(crate) fn next(&self, timeout: Duration) -> Next<T> {
        match self.messages.recv_timeout(timeout) {
            Ok(Ok(message)) => Next::Message(message),
            Ok(Err(error)) => Next::Error(error),
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
            Err(RecvTimeoutError::Disconnected) => Next::Ended,
        }
    }

    /// Whether the subscription is active now.
    pub(crate) fn is_subscribed(&self) -> bool {
        self.state.lock().1
    }

    /// How many times the subscription was made (1 + reconnections).
    pub(crate) fn subscriptions(&self) -> u64 {
        self.state.lock().0
    }

    /// Waits up to `timeout` until the subscription is active; `true` if it is.
    pub(crate) fn wait_subscribed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while !state.1 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            state = self
                .state
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }

    /// Tells the reader thread to stop, and unblocks it if it waits for room
    /// in a full backlog.
    pub(crate) fn stop(&self) {
        self.state.stop.store(true, Ordering::Release);
        while self.messages.try_recv().is_ok() {}
    }
}
