//! The hand-off from a subscriber's reader thread to the subscriber: each
//! message or connection error through a bounded channel, and whether the
//! subscription is active.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// A subscriber's reader thread with its feed: the thread reads the broker
/// and delivers into the feed; dropping this stops the thread and joins it.
pub(crate) struct Subscription<T> {
    feed: FeedReader<T>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Subscription<T> {
    /// Starts `read` on the thread `thread_name`, with a feed of at most
    /// `backlog` messages the subscriber has not taken.
    pub(crate) fn spawn(
        thread_name: &str,
        backlog: usize,
        read: impl FnOnce(FeedWriter<T>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (writer, feed) = feed(backlog);
        let reader = std::thread::Builder::new()
            .name(thread_name.into())
            .spawn(move || read(writer))?;
        Ok(Self {
            feed,
            reader: Some(reader),
        })
    }
}

impl<T> std::ops::Deref for Subscription<T> {
    type Target = FeedReader<T>;

    fn deref(&self) -> &FeedReader<T> {
        &self.feed
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.feed.stop();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
