//! Weak receivers: removed once their owner is gone, with nothing left behind.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use signals::{ConnectOptions, Receiver, Signal};

#[test]
fn weak_receiver_garbage_is_removed() {
    // Django's test_garbage_collected.
    let sig: Signal<u32> = Signal::new("weak");
    let owner = Arc::new(|_: &&str, _: &u32| {});
    let _ = sig.connect_with(
        Receiver::from_arc(owner.clone()),
        ConnectOptions::new().weak(true),
    );
    assert!(sig.has_listeners("x"));
    assert_eq!(sig.send("x", &1).unwrap().len(), 1);
    drop(owner);
    assert!(sig.send("x", &1).unwrap().is_empty());
    assert!(!sig.has_listeners("x"));
    assert_eq!(sig.receiver_count(), 0);
}

#[test]
fn weak_receiver_lives_while_a_handle_does() {
    let sig: Signal<u32> = Signal::new("weak_handle");
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handle = Receiver::new(move |_: &&str, _: &u32| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let _ = sig.connect_with(handle.clone(), ConnectOptions::new().weak(true));
    let keep = handle.clone();
    drop(handle);
    sig.send("x", &1).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a clone still holds it");
    drop(keep);
    sig.send("x", &1).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The receiver's captured state is freed, not held by the signal.
    assert_eq!(Arc::strong_count(&calls), 1);
}

#[test]
fn a_million_connect_drop_cycles_leave_nothing_behind() {
    let sig: Signal<u32> = Signal::new("churn").with_caching();
    let state = Arc::new(0u64);
    for round in 0..1_000_000u32 {
        let captured = state.clone();
        let owner = Receiver::new(move |_: &&str, n: &u32| {
            let _ = (&captured, n);
        });
        let _ = sig.connect_with(owner.clone(), ConnectOptions::new().weak(true));
        if round.is_multiple_of(100_000) {
            assert_eq!(sig.send("x", &round).unwrap().len(), 1);
        }
        drop(owner);
    }
    // Each connect purged the previous dead receiver; the last one is purged by the
    // next send.
    assert!(sig.receiver_count() <= 1);
    assert!(sig.send("x", &0).unwrap().is_empty());
    assert_eq!(sig.receiver_count(), 0);
    // Every captured clone of `state` was freed.
    assert_eq!(Arc::strong_count(&state), 1);
}

/// Sends through each of the dispatcher's plans (every receiver; a cached route;
/// filtering) with a dead weak receiver in the middle: the responses still pair
/// each value with the receiver that returned it, for sized and zero-sized
/// responses alike.
#[test]
fn responses_pair_values_with_their_receivers_when_a_weak_one_dies() {
    fn check<R: PartialEq + std::fmt::Debug + 'static>(
        make: fn(u32) -> R,
        caching: bool,
        filtered: bool,
    ) {
        let sig: Signal<u32, &'static str, R> = if caching {
            Signal::new("pairs").with_caching()
        } else {
            Signal::new("pairs")
        };
        let options = || {
            let options = ConnectOptions::new();
            if filtered {
                options.sender("x")
            } else {
                options
            }
        };
        let mut expected = Vec::new();
        let mut doomed = None;
        for i in 0..6u32 {
            let receiver = Receiver::new(move |_: &&str, _: &u32| make(i));
            if i == 2 {
                let id = sig
                    .connect_with(receiver.clone(), options().weak(true))
                    .id();
                doomed = Some((receiver, id));
            } else {
                let id = sig.connect_with(receiver, options()).id();
                expected.push((id, i));
            }
            if filtered {
                // Receivers for another sender, interleaved, are skipped.
                let _ = sig.connect_with(
                    move |_: &&str, _: &u32| make(100 + i),
                    ConnectOptions::new().sender("y"),
                );
            }
        }
        let expected: Vec<_> = expected.into_iter().map(|(id, i)| (id, make(i))).collect();
        let (doomed, doomed_id) = doomed.unwrap();
        // While it lives, the weak receiver answers in its place.
        let alive = sig.send("x", &0).unwrap();
        assert_eq!(alive.len(), 6);
        assert_eq!(alive.ids()[2], doomed_id);
        drop(doomed);
        // The first send after its death skips it (and purges it); the next one
        // no longer sees it.
        for _ in 0..2 {
            let responses = sig.send("x", &0).unwrap();
            assert_eq!(
                responses, expected,
                "caching {caching}, filtered {filtered}"
            );
            let robust = sig.send_robust("x", &0);
            assert_eq!(robust.ids(), responses.ids());
        }
    }
    for caching in [false, true] {
        for filtered in [false, true] {
            check(|i| i, caching, filtered);
            check(|_| (), caching, filtered);
        }
    }
}
