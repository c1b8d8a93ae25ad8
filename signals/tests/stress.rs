//! Several threads connecting, disconnecting and sending for a bounded time: no
//! call is lost or duplicated, and the test ends by itself.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use signals::{ConnectOptions, Receiver, ReceiverId, Signal};

const STABLE: usize = 8;
/// What the receiver connected for another sender returns: never seen by "me".
const FILTERED_OUT: u64 = u64::MAX;
const RUN_FOR: Duration = Duration::from_millis(1500);

#[test]
fn concurrent_connect_disconnect_and_send_lose_and_duplicate_nothing() {
    for caching in [false, true] {
        run(caching);
    }
}

fn run(caching: bool) {
    let sig: Arc<Signal<u64, &'static str, u64>> = Arc::new(if caching {
        Signal::new("stress").with_caching()
    } else {
        Signal::new("stress")
    });
    // Receivers that stay connected throughout: every send must reach each exactly once.
    let calls = Arc::new(AtomicU64::new(0));
    let mut stable_ids = HashSet::new();
    for i in 0..STABLE {
        let calls = calls.clone();
        let conn = sig.connect_with(
            move |_: &&str, n: &u64| {
                calls.fetch_add(1, Ordering::Relaxed);
                *n
            },
            ConnectOptions::new().dispatch_uid(format!("stable-{i}")),
        );
        stable_ids.insert(conn.id());
    }
    let stable_ids = Arc::new(stable_ids);
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(4));
    let mut handles = Vec::new();

    // Two churn threads: strong, weak, filtered and uid connections come and go.
    for t in 0..2 {
        let (sig, stop, barrier) = (sig.clone(), stop.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = Receiver::new(move |_: &&str, n: &u64| n + t);
                let _ = sig.connect(r.clone());
                let weak = Receiver::new(move |_: &&str, n: &u64| n + 1);
                let _ = sig.connect_with(weak.clone(), ConnectOptions::new().weak(true));
                let _ = sig.connect_with(
                    |_: &&str, _: &u64| FILTERED_OUT,
                    ConnectOptions::new()
                        .sender("other")
                        .dispatch_uid(format!("churn-{t}")),
                );
                assert!(sig.disconnect(&r, None));
                drop(weak);
                assert!(sig.disconnect_uid(&format!("churn-{t}"), Some("other")));
                rounds += 1;
            }
            rounds
        }));
    }

    // Two sending threads check every response list.
    let sends = Arc::new(AtomicU64::new(0));
    for _ in 0..2 {
        let (sig, stop, barrier, ids, sends) = (
            sig.clone(),
            stop.clone(),
            barrier.clone(),
            stable_ids.clone(),
            sends.clone(),
        );
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let responses = if n.is_multiple_of(2) {
                    sig.send("me", &n).unwrap().into_vec()
                } else {
                    sig.send_robust("me", &n)
                        .into_iter()
                        .map(|(id, r)| (id, r.unwrap()))
                        .collect::<Vec<_>>()
                };
                let mut seen: HashSet<ReceiverId> = HashSet::new();
                for (id, _) in &responses {
                    assert!(seen.insert(*id), "receiver {id} called twice in one send");
                }
                assert!(
                    ids.iter().all(|id| seen.contains(id)),
                    "a stable receiver was skipped"
                );
                // The receiver filtered to "other" must never be called for "me".
                assert!(responses.iter().all(|(_, r)| *r != FILTERED_OUT));
                n += 1;
                sends.fetch_add(1, Ordering::Relaxed);
            }
            n
        }));
    }

    let started = Instant::now();
    std::thread::sleep(RUN_FOR);
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(started.elapsed() < RUN_FOR * 10);
    let total_sends = sends.load(Ordering::Relaxed);
    assert!(
        total_sends > 0 && counts.iter().all(|&c| c > 0),
        "{counts:?}"
    );
    assert_eq!(
        calls.load(Ordering::Relaxed),
        total_sends * STABLE as u64,
        "each stable receiver is called exactly once per send"
    );
    // Everything the churn threads added is gone again.
    assert_eq!(sig.send("me", &0).unwrap().len(), STABLE);
    assert_eq!(sig.receiver_count(), STABLE);
}
