//! loom model tests of the protocol in `signals/src/publish.rs`: how a send
//! pins the snapshot it reads, how a writer replaces it, and who frees it;
//! of the retry timer (`sleep.rs`); and of the event dispatcher's close gate
//! (`events/gate.rs`).
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
#[path = "../../../signals-celery/src/events/gate.rs"]
mod gate;
#[allow(dead_code, unreachable_pub)]
#[path = "../../../signals/src/panic.rs"]
mod panic;
#[allow(dead_code, unreachable_pub)]
#[path = "../../../signals/src/publish.rs"]
mod publish;
#[allow(dead_code, unreachable_pub)]
#[path = "../../../signals/src/sleep.rs"]
mod sleep;

/// The event dispatcher's close gate: whatever the interleaving, a publish
/// either finds the gate closed and does nothing, or ends before `close`
/// returns.
#[cfg(test)]
mod gate_tests {
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;
    use loom::thread;

    use crate::gate::Gate;

    const NOT_YET: usize = 0;
    const STARTED: usize = 1;
    const DONE: usize = 2;

    /// One publisher on `stripe`: marks its publish started and done while in
    /// flight; returns whether it published. An explicit publish (a caller's
    /// producer) also says when it has entered.
    fn publish(
        gate: &Gate,
        stripe: usize,
        explicit: Option<&AtomicBool>,
        mark: &AtomicUsize,
    ) -> bool {
        let pass = match explicit {
            Some(entered) => {
                let pass = gate.enter_always(stripe);
                entered.store(true, SeqCst);
                Some(pass)
            }
            None => gate.enter(stripe),
        };
        match pass {
            Some(_in_flight) => {
                mark.store(STARTED, SeqCst);
                mark.store(DONE, SeqCst);
                true
            }
            None => false,
        }
    }

    /// Sends (`false`) and explicit publishes (`true`) on their stripes, racing
    /// one `close`. An explicit publish ignores `close`, so the guarantee for it
    /// is only that `close` waits for one that entered before: `close` is called
    /// once the explicit ones have entered.
    fn close_against(publishers: &[(usize, bool)]) {
        loom::model({
            let publishers = publishers.to_vec();
            move || {
                let gate = Arc::new(Gate::new(2));
                let marks: Vec<_> = publishers
                    .iter()
                    .map(|_| Arc::new(AtomicUsize::new(NOT_YET)))
                    .collect();
                let entered: Vec<_> = publishers
                    .iter()
                    .map(|&(_, explicit)| explicit.then(|| Arc::new(AtomicBool::new(false))))
                    .collect();
                let threads: Vec<_> = publishers
                    .iter()
                    .zip(&marks)
                    .zip(&entered)
                    .map(|((&(stripe, _), mark), entered)| {
                        let gate = Arc::clone(&gate);
                        let mark = Arc::clone(mark);
                        let entered = entered.clone();
                        thread::spawn(move || publish(&gate, stripe, entered.as_deref(), &mark))
                    })
                    .collect();
                for flag in entered.iter().flatten() {
                    while !flag.load(SeqCst) {
                        thread::yield_now();
                    }
                }
                gate.close();
                // What each publisher had done when `close` returned.
                let seen: Vec<usize> = marks.iter().map(|mark| mark.load(SeqCst)).collect();
                for (thread, seen) in threads.into_iter().zip(seen) {
                    let published = thread.join().unwrap();
                    assert_ne!(seen, STARTED, "close returned during a publish");
                    if published {
                        assert_eq!(seen, DONE, "a publish began after close returned");
                    }
                }
                assert!(gate.is_closed());
            }
        });
    }

    #[test]
    fn a_send_on_its_own_stripe() {
        close_against(&[(0, false)]);
    }

    #[test]
    fn two_sends_sharing_a_stripe() {
        close_against(&[(1, false), (1, false)]);
    }

    #[test]
    fn a_send_and_an_explicit_publish_on_two_stripes() {
        close_against(&[(0, false), (1, true)]);
    }
}

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
