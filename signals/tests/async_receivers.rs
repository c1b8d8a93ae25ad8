//! Async receivers: `asend` and `asend_robust`, and what a sync send does with
//! an async receiver.
//!
//! Every scenario is an `async` body run on three executors, to show that the
//! dispatcher needs none of its own: tokio's multi-thread runtime, tokio's
//! current-thread runtime, and `futures_executor::block_on`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signals::{
    AwaitRequired, ConnectOptions, Receiver, ReceiverError, RetriesExhausted, RetryPolicy, Signal,
};

/// Runs a scenario's future to its end on one executor.
type Executor<Fut> = fn(&(dyn Fn() -> Fut + Send + Sync));

/// Runs `scenario` to its end on each executor in turn. A scenario that hangs
/// (receivers run one after another, say) fails after a minute instead of
/// holding up the run.
fn on_every_executor<F, Fut>(scenario: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let scenario = Arc::new(scenario);
    let executors: [(&str, Executor<Fut>); 3] = [
        ("tokio multi-thread", |scenario| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("a multi-thread runtime")
                // Spawned, so that the future is polled from worker threads
                // (and must be `Send`), not from this one.
                .block_on(async { tokio::spawn(scenario()).await.expect("no panic") })
        }),
        ("tokio current-thread", |scenario| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime")
                .block_on(scenario())
        }),
        ("futures::executor", |scenario| {
            futures_executor::block_on(scenario())
        }),
    ];
    for (name, run) in executors {
        let scenario = scenario.clone();
        within_a_minute(name, move || run(&*scenario));
    }
}

/// Runs `body` on a thread of its own and fails if it panics or has not
/// finished within a minute (a deadlock fails the test rather than hanging it).
fn within_a_minute(name: &str, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("failed on {name}"),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within 60 s on {name}")
        }
    }
}

/// Sets a flag when dropped: tells whether a receiver's future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Yields to the executor `times` times, whatever the executor.
async fn yield_now(times: usize) {
    for _ in 0..times {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                std::task::Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await;
    }
}

#[test]
fn responses_follow_connection_order_across_kinds() {
    on_every_executor(|| async {
        let sig: Signal<u32, &'static str, String> = Signal::new("mixed");
        let calls = Arc::new(Mutex::new(Vec::new()));
        for (index, is_async) in [(0, true), (1, false), (2, true), (3, false), (4, true)] {
            let calls = calls.clone();
            if is_async {
                let _ = sig.connect(Receiver::new_async(move |_: &&str, n: &u32| {
                    let calls = calls.clone();
                    let n = *n;
                    async move {
                        // Later receivers finish first.
                        yield_now(10 - 2 * index).await;
                        calls.lock().unwrap().push(format!("async {index}"));
                        format!("async {index}: {n}")
                    }
                }));
            } else {
                let _ = sig.connect(move |_: &&str, n: &u32| {
                    calls.lock().unwrap().push(format!("sync {index}"));
                    format!("sync {index}: {n}")
                });
            }
        }
        let responses = sig.asend("app", &7).await.unwrap();
        assert_eq!(
            responses.values(),
            [
                "async 0: 7",
                "sync 1: 7",
                "async 2: 7",
                "sync 3: 7",
                "async 4: 7"
            ],
            "connection order, whatever the kinds and completion order"
        );
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls[..2],
            ["sync 1", "sync 3"],
            "sync receivers first, in order"
        );
        assert_eq!(
            calls[2..],
            ["async 4", "async 2", "async 0"],
            "then as they finish"
        );
        let robust = sig.asend_robust("app", &8).await;
        let robust: Vec<_> = robust.into_values().map(Result::unwrap).collect();
        assert_eq!(
            robust,
            [
                "async 0: 8",
                "sync 1: 8",
                "async 2: 8",
                "sync 3: 8",
                "async 4: 8"
            ]
        );
    });
}

#[test]
fn async_receivers_run_concurrently_in_the_callers_task() {
    on_every_executor(|| async {
        // Each receiver waits for the other's message: run one after the
        // other, the first would wait forever.
        let sig: Signal<()> = Signal::new("rendezvous");
        let (to_second, second_inbox) = tokio::sync::mpsc::unbounded_channel::<&str>();
        let (to_first, first_inbox) = tokio::sync::mpsc::unbounded_channel::<&str>();
        let first_inbox = Arc::new(tokio::sync::Mutex::new(first_inbox));
        let second_inbox = Arc::new(tokio::sync::Mutex::new(second_inbox));
        let _ = sig.connect(Receiver::new_async(move |_: &&str, _: &()| {
            let (outbox, inbox) = (to_second.clone(), first_inbox.clone());
            async move {
                outbox.send("from first").unwrap();
                assert_eq!(inbox.lock().await.recv().await, Some("from second"));
            }
        }));
        let _ = sig.connect(Receiver::new_async(move |_: &&str, _: &()| {
            let (outbox, inbox) = (to_first.clone(), second_inbox.clone());
            async move {
                assert_eq!(inbox.lock().await.recv().await, Some("from first"));
                outbox.send("from second").unwrap();
            }
        }));
        let responses = sig.asend("app", &()).await.unwrap();
        assert_eq!(responses.len(), 2, "both completed");
    });
}

#[test]
fn asend_returns_the_first_error_and_cancels_the_rest() {
    on_every_executor(|| async {
        let sig: Signal<()> = Signal::new("first_error");
        let (started, dropped, finished) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (s, d, f) = (started.clone(), dropped.clone(), finished.clone());
        // Started first, then pending for good.
        let _ = sig.connect(Receiver::new_async(move |_: &&str, _: &()| {
            let (s, d, f) = (s.clone(), d.clone(), f.clone());
            async move {
                let _flag = DropFlag(d);
                s.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
                f.store(true, Ordering::SeqCst);
            }
        }));
        let failing = sig
            .connect(Receiver::new_async(
                async |_: &&str, _: &()| -> Result<(), std::io::Error> {
                    yield_now(2).await;
                    Err(std::io::Error::other("disk full"))
                },
            ))
            .id();
        let after = Arc::new(AtomicUsize::new(0));
        let counted = after.clone();
        let _ = sig.connect(move |_: &&str, _: &()| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let error = sig.asend("app", &()).await.unwrap_err();
        assert_eq!(error.receiver, failing);
        assert_eq!(error.source.to_string(), "disk full");
        assert!(
            started.load(Ordering::SeqCst),
            "the pending receiver had started"
        );
        assert!(
            dropped.load(Ordering::SeqCst),
            "and was cancelled (dropped)"
        );
        assert!(!finished.load(Ordering::SeqCst));
        assert_eq!(after.load(Ordering::SeqCst), 1, "sync receivers ran first");
    });
}

#[test]
fn a_sync_error_stops_asend_before_any_async_receiver_starts() {
    on_every_executor(|| async {
        let sig: Signal<()> = Signal::new("sync_error_first");
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let _ = sig.connect_async(move |_: &&str, _: &()| {
            let flag = flag.clone();
            async move { flag.store(true, Ordering::SeqCst) }
        });
        let failing = sig
            .connect(|_: &&str, _: &()| -> Result<(), std::fmt::Error> { Err(std::fmt::Error) })
            .id();
        let error = sig.asend("app", &()).await.unwrap_err();
        assert_eq!(error.receiver, failing);
        assert!(!started.load(Ordering::SeqCst), "no async receiver started");
    });
}

#[test]
fn asend_robust_returns_every_outcome_and_catches_panics() {
    on_every_executor(|| async {
        let sig: Signal<u32, &'static str, u32> = Signal::new("robust");
        let _ = sig.connect_async(async |_: &&str, n: &u32| -> Result<u32, std::io::Error> {
            yield_now(1).await;
            Err(std::io::Error::other(format!("failed on {n}")))
        });
        let _ = sig.connect_async(async |_: &&str, _: &u32| -> u32 {
            yield_now(3).await;
            panic!("async boom")
        });
        let _ = sig.connect(|_: &&str, _: &u32| -> u32 { panic!("sync boom") });
        let _ = sig.connect_async(async |_: &&str, n: &u32| {
            yield_now(2).await;
            n * 2
        });
        let _ = sig.connect(|_: &&str, n: &u32| n + 1);
        let outcomes = sig.asend_robust("app", &20).await;
        assert_eq!(outcomes.len(), 5);
        assert!(
            matches!(&outcomes[0], Err(ReceiverError::Failed(e)) if e.to_string() == "failed on 20")
        );
        assert!(matches!(&outcomes[1], Err(ReceiverError::Panicked(m)) if m == "async boom"));
        assert!(matches!(&outcomes[2], Err(ReceiverError::Panicked(m)) if m == "sync boom"));
        assert_eq!(*outcomes[3].as_ref().unwrap(), 40);
        assert_eq!(*outcomes[4].as_ref().unwrap(), 21);
        // The signal is whole after the panics.
        assert_eq!(sig.asend_robust("app", &1).await.len(), 5);
    });
}

#[test]
fn dropping_asend_midway_leaves_the_signal_usable() {
    on_every_executor(|| async {
        let sig: Signal<()> = Signal::new("dropped_midway");
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();
        let gate = Arc::new(tokio::sync::Notify::new());
        let waiting = gate.clone();
        let _ = sig.connect(Receiver::new_async(move |_: &&str, _: &()| {
            let (flag, waiting) = (flag.clone(), waiting.clone());
            async move {
                let _flag = DropFlag(flag);
                waiting.notified().await;
            }
        }));
        {
            let mut send = std::pin::pin!(sig.asend("app", &()));
            // Poll it a few times: the receiver is started and waiting.
            let polled = std::future::poll_fn(|cx| {
                let _ = send.as_mut().poll(cx);
                std::task::Poll::Ready(())
            });
            polled.await;
            assert!(!dropped.load(Ordering::SeqCst));
        }
        assert!(
            dropped.load(Ordering::SeqCst),
            "the receiver's future was dropped with it"
        );
        // Connections and sends work as before.
        let second = sig.connect(|_: &&str, _: &()| {}).id();
        assert_eq!(sig.receiver_count(), 2);
        gate.notify_one();
        let responses = sig.asend("app", &()).await.unwrap();
        assert_eq!(responses.len(), 2);
        assert_eq!(responses.ids()[1], second);
    });
}

#[test]
fn weak_async_receivers_go_with_their_last_handle() {
    on_every_executor(|| async {
        let sig: Signal<u32, &'static str, u32> = Signal::new("weak_async");
        let handle = Receiver::new_async(async |_: &&str, n: &u32| n * 3);
        let _ = sig.connect_with(handle.clone(), ConnectOptions::new().weak(true));
        assert_eq!(sig.asend("app", &2).await.unwrap().values(), [6]);
        assert!(sig.has_listeners("app"));
        drop(handle);
        assert!(sig.asend("app", &2).await.unwrap().is_empty());
        assert!(sig.asend_robust("app", &2).await.is_empty());
        assert!(!sig.has_listeners("app"));
        assert_eq!(sig.receiver_count(), 0, "purged");
    });
}

#[test]
fn sender_filters_and_dispatch_uids_work_across_kinds() {
    on_every_executor(|| async {
        let sig: Signal<(), &'static str, &'static str> = Signal::new("filters");
        let first = sig.connect_with(
            Receiver::new_async(async |_: &&str, _: &()| "async"),
            ConnectOptions::new().sender("shop").dispatch_uid("audit"),
        );
        // The same uid and sender: ignored, whatever the kind.
        let again = sig.connect_with(
            |_: &&str, _: &()| "sync",
            ConnectOptions::new().sender("shop").dispatch_uid("audit"),
        );
        assert!(first.is_added() && !again.is_added());
        assert_eq!(again.id(), first.id());
        let _ = sig.connect_with(
            |_: &&str, _: &()| "blog",
            ConnectOptions::new().sender("blog"),
        );
        assert_eq!(sig.asend("shop", &()).await.unwrap().values(), ["async"]);
        assert_eq!(sig.asend("blog", &()).await.unwrap().values(), ["blog"]);
        assert!(sig.asend("wiki", &()).await.unwrap().is_empty());
        assert!(sig.disconnect_uid("audit", Some("shop")));
        assert!(sig.asend("shop", &()).await.unwrap().is_empty());
    });
}

#[test]
fn the_sender_cache_serves_asend() {
    on_every_executor(|| async {
        static CACHED: Signal<u32, &'static str, u32> = Signal::new("cached_async").with_caching();
        let _ = CACHED.connect_with(
            Receiver::new_async(async |_: &&str, n: &u32| n + 1),
            ConnectOptions::new().sender("a").dispatch_uid("plus"),
        );
        let _ = CACHED.connect_with(
            |_: &&str, n: &u32| n * 10,
            ConnectOptions::new().sender("b").dispatch_uid("times"),
        );
        for _ in 0..3 {
            assert_eq!(CACHED.asend("a", &1).await.unwrap().values(), [2]);
            assert_eq!(CACHED.asend("b", &1).await.unwrap().values(), [10]);
        }
    });
}

#[test]
fn a_sync_send_reports_async_receivers_and_never_blocks() {
    within_a_minute("a sync send", sync_send_with_async_receivers);
}

fn sync_send_with_async_receivers() {
    let sig: Arc<Signal<()>> = Arc::new(Signal::new("sync_send"));
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let async_id = sig
        .connect_async(move |_: &&str, _: &()| {
            let flag = flag.clone();
            async move { flag.store(true, Ordering::SeqCst) }
        })
        .id();
    let after = Arc::new(AtomicUsize::new(0));
    let counted = after.clone();
    let _ = sig.connect(move |_: &&str, _: &()| {
        counted.fetch_add(1, Ordering::SeqCst);
    });

    let check = move |sig: &Signal<()>| {
        let error = sig.send("app", &()).unwrap_err();
        assert_eq!(error.receiver, async_id);
        assert!(error.source.is::<AwaitRequired>(), "{error}");
        let outcomes = sig.send_robust("app", &());
        assert_eq!(outcomes.len(), 2, "not skipped: its slot holds the error");
        assert!(matches!(&outcomes[0], Err(ReceiverError::Failed(e)) if e.is::<AwaitRequired>()));
        assert!(outcomes[1].is_ok());
    };
    // Outside any runtime.
    check(&sig);
    // Inside a current-thread runtime, where blocking on the receiver would
    // deadlock, and a multi-thread one.
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async { check(&sig) });
    let shared = sig.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
        .block_on(async move { tokio::spawn(async move { check(&shared) }).await.unwrap() });
    assert!(
        !ran.load(Ordering::SeqCst),
        "a sync send never runs an async receiver"
    );
    assert_eq!(
        after.load(Ordering::SeqCst),
        3,
        "send_robust went on past it"
    );
}

/// A retrying async receiver that fails `failures` times, and the number of
/// calls made.
fn flaky(failures: usize) -> (Receiver<(), &'static str, usize>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let receiver = Receiver::new_async(move |_: &&str, _: &()| {
        let counted = counted.clone();
        async move {
            let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
            yield_now(1).await;
            if call <= failures {
                Err(std::io::Error::other(format!("attempt {call}")))
            } else {
                Ok(call)
            }
        }
    });
    (receiver, calls)
}

fn quick(retries: u32, wait: Duration) -> RetryPolicy {
    RetryPolicy::max_retries(retries).intervals(wait, Duration::ZERO, wait)
}

fn tokio_sleep(delay: Duration) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(tokio::time::sleep(delay))
}

#[test]
fn retry_waits_of_async_receivers_do_not_block_the_executor() {
    // One thread: while the receiver waits between attempts, another task on
    // the same thread must keep running.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for timer in [None, Some(tokio_sleep as signals::Sleep)] {
        runtime.block_on(async {
            let sig: Signal<(), &'static str, usize> = Signal::new("retry_async");
            let (receiver, calls) = flaky(2);
            let policy = match timer {
                Some(timer) => quick(5, Duration::from_millis(40)).sleep_with(timer),
                None => quick(5, Duration::from_millis(40)),
            };
            let _ = sig.connect_with(receiver, ConnectOptions::new().retry(policy));
            let ticks = Arc::new(AtomicUsize::new(0));
            let counted = ticks.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            });
            let started = Instant::now();
            let responses = sig.asend("app", &()).await.unwrap();
            ticker.abort();
            assert_eq!(responses.values(), [3], "succeeded on the third call");
            assert_eq!(calls.load(Ordering::SeqCst), 3);
            assert!(started.elapsed() >= Duration::from_millis(80), "two waits");
            assert!(
                ticks.load(Ordering::SeqCst) >= 4,
                "the thread ran other tasks during the waits ({} ticks)",
                ticks.load(Ordering::SeqCst)
            );
        });
    }
}

#[test]
fn an_async_receiver_that_keeps_failing_exhausts_its_retries() {
    on_every_executor(|| async {
        let sig: Signal<(), &'static str, usize> = Signal::new("retry_exhausted");
        let (receiver, calls) = flaky(10);
        let _ = sig.connect_with(
            receiver,
            ConnectOptions::new().retry(quick(2, Duration::from_millis(1))),
        );
        let error = sig.asend("app", &()).await.unwrap_err();
        let exhausted = error.source.downcast_ref::<RetriesExhausted>().unwrap();
        assert_eq!(exhausted.attempts, 3);
        assert_eq!(exhausted.last.to_string(), "attempt 3");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // A sync send does not retry what it cannot run.
        let error = sig.send("app", &()).unwrap_err();
        assert!(error.source.is::<AwaitRequired>());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn asend_with_only_sync_receivers_is_send() {
    on_every_executor(|| async {
        let sig: Signal<u32, &'static str, u32> = Signal::new("sync_only");
        assert!(sig.asend("app", &1).await.unwrap().is_empty());
        let _ = sig.connect(|_: &&str, n: &u32| n + 1);
        let _ = sig.connect_with(
            |_: &&str, n: &u32| n + 2,
            ConnectOptions::new().sender("app"),
        );
        assert_eq!(sig.asend("app", &1).await.unwrap().values(), [2, 3]);
        assert_eq!(sig.asend("other", &1).await.unwrap().values(), [2]);
        let failing: Signal<()> = Signal::new("sync_failure");
        let _ = failing
            .connect(|_: &&str, _: &()| -> Result<(), std::fmt::Error> { Err(std::fmt::Error) });
        assert!(failing.asend("app", &()).await.is_err());
        assert!(failing.asend_robust("app", &()).await[0].is_err());
    });
}

#[test]
fn the_asend_future_stays_small() {
    // It is moved before it is polled, and most sends finish without an
    // await: the awaiting part is boxed, so the future is a few words.
    let sig: Signal<u64> = Signal::new("small");
    let send = sig.asend("app", &1);
    assert!(
        std::mem::size_of_val(&send) <= 96,
        "{} bytes",
        std::mem::size_of_val(&send)
    );
    let robust = sig.asend_robust("app", &1);
    assert!(
        std::mem::size_of_val(&robust) <= 96,
        "{} bytes",
        std::mem::size_of_val(&robust)
    );
}
