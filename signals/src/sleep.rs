//! The default timer of a retrying async receiver's waits: a helper thread
//! sleeps, then wakes the task. It needs no runtime, and a retry's waits
//! (seconds, by Celery's schedule) dwarf a thread's start.
//!
//! The hand-off between the helper thread and the future is checked by a
//! loom model (`tests/loom`), which compiles this file with `--cfg loom`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[cfg(not(loom))]
use std::sync::{Arc, Mutex};
#[cfg(not(loom))]
use std::thread;

#[cfg(loom)]
use loom::sync::{Arc, Mutex};
#[cfg(loom)]
use loom::thread;

/// Completes once `delay` has passed, counted by a helper thread started at
/// the first poll.
pub(crate) struct ThreadSleep {
    delay: Duration,
    /// Set once the helper thread is started.
    shared: Option<Arc<Mutex<Wake>>>,
}

/// What the helper thread and the future share. Both sides act under the lock,
/// so a wake cannot fall between the future's check and its waker's update.
struct Wake {
    done: bool,
    waker: Option<Waker>,
}

impl ThreadSleep {
    pub(crate) fn new(delay: Duration) -> Self {
        Self {
            delay,
            shared: None,
        }
    }
}

/// A poisoned lock only means the other side panicked mid-update of two
/// plain fields: the state is still meaningful.
fn lock(shared: &Mutex<Wake>) -> impl std::ops::DerefMut<Target = Wake> + '_ {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The helper thread's work.
fn wait_then_wake(shared: &Mutex<Wake>, delay: Duration) {
    #[cfg(not(loom))]
    thread::sleep(delay);
    #[cfg(loom)]
    {
        let _ = delay;
        thread::yield_now();
    }
    let waker = {
        let mut wake = lock(shared);
        wake.done = true;
        wake.waker.take()
    };
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl Future for ThreadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(shared) = &self.shared {
            let mut wake = lock(shared);
            if wake.done {
                return Poll::Ready(());
            }
            wake.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let shared = Arc::new(Mutex::new(Wake {
            done: false,
            waker: Some(cx.waker().clone()),
        }));
        let delay = self.delay;
        let helper = Arc::clone(&shared);
        let started = thread::Builder::new()
            .name("signals-retry-wait".into())
            .spawn(move || wait_then_wake(&helper, delay));
        match started {
            Ok(_) => {
                self.shared = Some(shared);
                Poll::Pending
            }
            Err(error) => {
                // No thread to wait on: retry now rather than never.
                tracing::error!(
                    %error,
                    "cannot start a thread to wait before a retry; retrying without the wait"
                );
                Poll::Ready(())
            }
        }
    }
}
