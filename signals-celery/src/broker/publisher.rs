//! The background publisher every broker's transport is: `publish` queues, a
//! thread of its own sends the queue in batches, in order, reconnecting with a
//! backoff after a failure and sending the unsent part of the batch again, so
//! nothing queued is lost (a batch cut by a failure may be delivered twice: at
//! least once). Dropping it flushes, for up to the flush timeout.
//!
//! A broker supplies only a [`Link`]: how one batch is sent on its
//! connection, which the link opens, keeps and drops itself.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::outbox::Outbox;
use super::{Backoff, PublisherOptions, TransportError};

/// Why a batch was not all sent.
pub(crate) struct Unsent {
    /// How many of the batch's first messages the broker has; the rest are
    /// queued again.
    pub(crate) delivered: usize,
    /// What went wrong, for the log and for `flush`'s error.
    pub(crate) error: String,
}

impl Unsent {
    /// Nothing of the batch was sent.
    pub(crate) fn none(error: impl Into<String>) -> Self {
        Self {
            delivered: 0,
            error: error.into(),
        }
    }
}

/// A broker's side of a publisher: sends batches on a connection it opens
/// when it has none, and drops after a failure (the next batch opens a new
/// one).
pub(crate) trait Link: Send + 'static {
    /// A message ready to go, as the link sends it.
    type Message: Send + 'static;

    /// Sends `batch` in order: all of it, or says how much went.
    fn send(&mut self, batch: &[Self::Message]) -> Result<(), Unsent>;

    /// The queue is closed and sent: close the connection, if open.
    fn close(&mut self) {}
}

/// A queue of messages for one broker, sent by a background thread.
pub(crate) struct Publisher<M> {
    outbox: Arc<Outbox<M>>,
    flush_timeout: Duration,
    /// The broker, as errors and logs name it (`Redis`, `the AMQP broker`).
    broker: &'static str,
    worker: Option<JoinHandle<()>>,
}

impl<M: Send + 'static> Publisher<M> {
    /// Starts the thread `thread_name`, which sends through `link`.
    pub(crate) fn spawn<L: Link<Message = M>>(
        link: L,
        options: PublisherOptions,
        thread_name: &str,
        broker: &'static str,
        url: String,
    ) -> std::io::Result<Self> {
        let outbox = Arc::new(Outbox::new(options.capacity));
        let sender = Sender {
            outbox: outbox.clone(),
            link,
            batch: options.batch.max(1),
            reconnect_delay: options.reconnect_delay,
            broker,
            url,
        };
        let worker = std::thread::Builder::new()
            .name(thread_name.into())
            .spawn(move || sender.run())?;
        Ok(Self {
            outbox,
            flush_timeout: options.flush_timeout,
            broker,
            worker: Some(worker),
        })
    }

    /// Queues `message`, or says why not (the queue is full).
    pub(crate) fn push(&self, message: M) -> Result<(), TransportError> {
        self.outbox.push(message, self.broker)
    }

    /// Waits until everything queued so far is sent, for at most the flush
    /// timeout.
    pub(crate) fn flush(&self) -> Result<(), TransportError> {
        self.outbox.flush(self.flush_timeout)
    }

    /// How many messages are queued or being sent.
    pub(crate) fn pending(&self) -> usize {
        self.outbox.pending()
    }
}

impl<M> Drop for Publisher<M> {
    fn drop(&mut self) {
        if let Err(error) = self.outbox.flush(self.flush_timeout) {
            tracing::warn!(broker = self.broker, %error, "dropping a publisher with messages not sent");
        }
        self.outbox.close();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The background thread: takes a batch, sends it, and on a failure queues
/// the unsent part again and waits before the next attempt.
struct Sender<L: Link> {
    outbox: Arc<Outbox<L::Message>>,
    link: L,
    batch: usize,
    reconnect_delay: Duration,
    broker: &'static str,
    /// For logs, password masked.
    url: String,
}

impl<L: Link> Sender<L> {
    fn run(mut self) {
        let mut backoff = Backoff::new(self.reconnect_delay);
        while let Some(batch) = self.outbox.take(self.batch) {
            match self.link.send(&batch) {
                Ok(()) => {
                    backoff.reset();
                    self.outbox.sent();
                }
                Err(Unsent { delivered, error }) => {
                    tracing::warn!(broker = self.broker, url = %self.url, %error, "publish failed; will retry");
                    let unsent = batch.into_iter().skip(delivered).collect();
                    if self.outbox.failed(unsent, error) {
                        break;
                    }
                    std::thread::sleep(backoff.next_wait());
                }
            }
        }
        self.link.close();
    }
}
