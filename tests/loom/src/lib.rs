//! loom model tests of the protocol in `signals/src/publish.rs`: how a send
//! pins the snapshot it reads, how a writer replaces it, and who frees it.
//!
//! The module is compiled here as it is in `signals` (`#[path]`), with
//! `--cfg loom` swapping its `arc-swap` slot for a model of the same contract
//! built on loom's primitives (see the `model` module in that file). loom then
//! runs every interleaving of the threads below and checks that no value is
//! read after it is freed, none is freed twice and none leaks.
//!
//! Run by `./test.sh`:
//! `RUSTFLAGS="--cfg loom" cargo test --release -p signals-loom-model`.
#![cfg(loom)]

#[allow(dead_code, unreachable_pub)]
#[path = "../../../signals/src/panic.rs"]
mod panic;
#[allow(dead_code, unreachable_pub)]
#[path = "../../../signals/src/publish.rs"]
mod publish;
#[allow(dead_code, unreachable_pub)]
#[path = "../../../signals/src/sleep.rs"]
mod sleep;

/// A retry's wait under `asend`: the helper thread's wake-up is never lost,
/// whatever the interleaving of its hand-off with the future's polls.
#[cfg(test)]
mod sleep_tests {
    use std::time::Duration;

    use crate::sleep::ThreadSleep;

    #[test]
    fn the_helper_threads_wake_up_is_never_lost() {
        loom::model(|| {
            // `block_on` parks until woken: a lost wake-up deadlocks, which
            // loom reports.
            loom::future::block_on(ThreadSleep::new(Duration::from_secs(2)));
        });
    }
}

#[cfg(test)]
mod tests {
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;
    use loom::thread;

    use crate::publish::Published;

    const LIVE: usize = 1;
    const FREED: usize = 2;

    /// A published value that records its own freeing, and counts frees.
    struct Value {
        state: AtomicUsize,
        frees: Arc<AtomicUsize>,
    }

    impl Value {
        fn new(frees: &Arc<AtomicUsize>) -> Self {
            Self {
                state: AtomicUsize::new(LIVE),
                frees: frees.clone(),
            }
        }
    }

    impl Drop for Value {
        fn drop(&mut self) {
            assert_eq!(self.state.swap(FREED, SeqCst), LIVE, "freed twice");
            self.frees.fetch_add(1, SeqCst);
        }
    }

    /// What a send does: pin, read, leave.
    fn read(published: &Published<Value>) {
        let pin = published.load();
        let value = pin.get().expect("published before the threads start");
        assert_eq!(value.state.load(SeqCst), LIVE, "read after free");
        thread::yield_now();
        assert_eq!(value.state.load(SeqCst), LIVE, "freed while pinned");
    }

    #[test]
    fn one_reader_concurrent_with_a_replace_and_its_reclaim() {
        loom::model(|| {
            let frees = Arc::new(AtomicUsize::new(0));
            let published = Arc::new(Published::new(Value::new(&frees)));
            let reader = {
                let published = published.clone();
                thread::spawn(move || read(&published))
            };
            // The writer replaces, then drops what it replaced: freed here,
            // or by the reader when it leaves, never while it reads.
            drop(published.replace(Value::new(&frees)));
            reader.join().unwrap();
            assert_eq!(frees.load(SeqCst), 1, "the replaced value was freed");
            drop(published);
            assert_eq!(frees.load(SeqCst), 2);
        });
    }

    #[test]
    fn two_readers_and_one_writer() {
        loom::model(|| {
            let frees = Arc::new(AtomicUsize::new(0));
            let published = Arc::new(Published::new(Value::new(&frees)));
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let published = published.clone();
                    thread::spawn(move || read(&published))
                })
                .collect();
            drop(published.replace(Value::new(&frees)));
            for reader in readers {
                reader.join().unwrap();
            }
            assert_eq!(frees.load(SeqCst), 1);
            drop(published);
            assert_eq!(frees.load(SeqCst), 2);
        });
    }

    #[test]
    fn a_nested_read_while_two_replaces_free_what_no_read_pins() {
        loom::model(|| {
            let frees = Arc::new(AtomicUsize::new(0));
            let published = Arc::new(Published::new(Value::new(&frees)));
            let reader = {
                let published = published.clone();
                thread::spawn(move || {
                    // A receiver that sends again reads a second time.
                    let outer = published.load();
                    read(&published);
                    assert_eq!(outer.get().unwrap().state.load(SeqCst), LIVE);
                })
            };
            drop(published.replace(Value::new(&frees)));
            drop(published.replace(Value::new(&frees)));
            reader.join().unwrap();
            assert_eq!(frees.load(SeqCst), 2, "both replaced values were freed");
            drop(published);
            assert_eq!(frees.load(SeqCst), 3);
        });
    }

    #[test]
    fn a_kept_read_owned_and_moved_to_another_thread_is_freed_once() {
        loom::model(|| {
            let frees = Arc::new(AtomicUsize::new(0));
            let published = Arc::new(Published::new(Value::new(&frees)));
            // An async send: it keeps its read, suspends (owning it first),
            // and resumes on another thread, while a writer replaces.
            let sender = {
                let published = published.clone();
                thread::spawn(move || {
                    let mut kept = published.keep().expect("published");
                    kept.own();
                    thread::spawn(move || {
                        // SAFETY: not used after `kept` is dropped, below.
                        let value = unsafe { kept.value() };
                        assert_eq!(value.state.load(SeqCst), LIVE, "read after free");
                        thread::yield_now();
                        assert_eq!(value.state.load(SeqCst), LIVE, "freed while kept");
                        drop(kept);
                    })
                    .join()
                    .unwrap();
                })
            };
            drop(published.replace(Value::new(&frees)));
            sender.join().unwrap();
            assert_eq!(frees.load(SeqCst), 1, "the replaced value was freed");
            drop(published);
            assert_eq!(frees.load(SeqCst), 2);
        });
    }
}
