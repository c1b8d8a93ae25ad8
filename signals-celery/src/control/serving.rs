//! The thread a mailbox serves its node on, whatever the broker: started
//! with the flags it shares with its handle, told to stop when the handle is
//! dropped, and joined then.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::node::Node;

/// What the serving thread and its handle share.
#[derive(Clone, Default)]
pub(crate) struct Flags {
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
}

impl Flags {
    /// Whether the handle was dropped.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Whether the node's requests are being consumed now.
    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// The handle: the node served, and the thread, stopped and joined when the
/// handle is dropped. What a mailbox is, whatever its broker.
pub(crate) struct Serving {
    node: Node,
    flags: Flags,
    thread: Option<JoinHandle<()>>,
}

impl Serving {
    /// Serves `node`, whose `stats` report `broker` as the broker, with
    /// `serve` on a thread of its own.
    pub(crate) fn spawn(
        node: Node,
        broker: serde_json::Map<String, serde_json::Value>,
        serve: impl FnOnce(Node, Flags) + Send + 'static,
    ) -> std::io::Result<Self> {
        node.set_broker(broker);
        let flags = Flags::default();
        let (shared, served) = (flags.clone(), node.clone());
        let thread = std::thread::Builder::new()
            .name("signals-control".into())
            .spawn(move || serve(served, shared))?;
        Ok(Self {
            node,
            flags,
            thread: Some(thread),
        })
    }

    /// The node served.
    pub(crate) fn node(&self) -> &Node {
        &self.node
    }

    /// The mailbox's `Debug`, under its type's `name`.
    pub(crate) fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("node", &self.node)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }

    /// Whether requests are being consumed now.
    pub(crate) fn is_ready(&self) -> bool {
        self.flags.ready.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` until requests are consumed; `true` if they are.
    pub(crate) fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.is_ready() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.flags.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
