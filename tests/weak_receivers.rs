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
