//! The bounded queue a publisher's background thread sends from.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::TransportError;

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
