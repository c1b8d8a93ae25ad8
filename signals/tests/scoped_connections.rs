//! Scoped connections (`Signal::connect_scoped`): the receiver lives as long
//! as the guard, through early returns and panics, and a guard that did not
//! add its receiver never removes someone else's.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use signals::{ConnectOptions, Signal};

fn counter() -> (
    Arc<AtomicUsize>,
    impl Fn(&&'static str, &u32) + Send + Sync + 'static,
) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    (count, move |_: &&'static str, _: &u32| {
        seen.fetch_add(1, Ordering::Relaxed);
    })
}

#[test]
fn the_receiver_lives_as_long_as_the_guard() {
    let sig: Signal<u32> = Signal::new("scoped");
    let (count, receiver) = counter();
    {
        let scope = sig.connect_scoped(receiver);
        assert!(scope.connection().is_added());
        sig.send("a", &1).unwrap();
        assert_eq!(sig.receiver_count(), 1);
    }
    sig.send("a", &2).unwrap();
    assert_eq!(count.load(Ordering::Relaxed), 1);
    assert_eq!(sig.receiver_count(), 0);
}

#[test]
fn a_panic_in_the_scope_still_disconnects() {
    let sig: Signal<u32> = Signal::new("scoped");
    let (count, receiver) = counter();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _scope = sig.connect_scoped(receiver);
        sig.send("a", &1).unwrap();
        panic!("the test failed");
    }));
    assert!(outcome.is_err());
    assert_eq!(sig.receiver_count(), 0, "disconnected while unwinding");
    sig.send("a", &2).unwrap();
    assert_eq!(count.load(Ordering::Relaxed), 1);
}

#[test]
fn a_guard_that_did_not_add_leaves_the_earlier_connection() {
    let sig: Signal<u32> = Signal::new("scoped");
    let (count, receiver) = counter();
    let options = || ConnectOptions::new().dispatch_uid("audit");
    assert!(sig.connect_with(receiver, options()).is_added());
    let (_, other) = counter();
    {
        let scope = sig.connect_scoped_with(other, options());
        assert!(!scope.connection().is_added(), "the uid is taken");
    }
    sig.send("a", &1).unwrap();
    assert_eq!(
        count.load(Ordering::Relaxed),
        1,
        "the first connection stays"
    );
}

#[test]
fn an_explicit_disconnect_ends_it_early_once() {
    let sig: Signal<u32> = Signal::new("scoped");
    let (count, receiver) = counter();
    let scope = sig.connect_scoped_with(receiver, ConnectOptions::new().sender("only-this-sender"));
    sig.send("only-this-sender", &1).unwrap();
    sig.send("another", &1).unwrap();
    assert!(scope.disconnect());
    sig.send("only-this-sender", &1).unwrap();
    assert_eq!(count.load(Ordering::Relaxed), 1);
    assert_eq!(sig.receiver_count(), 0);
}

#[test]
fn a_receiver_disconnected_meanwhile_is_not_removed_twice() {
    let sig: Signal<u32> = Signal::new("scoped");
    let (_, receiver) = counter();
    let scope = sig.connect_scoped(receiver);
    assert!(sig.disconnect_id(scope.connection().id()));
    // Someone else connects after; the guard must not touch them.
    let (count, again) = counter();
    assert!(sig.connect(again).is_added());
    assert!(!scope.disconnect());
    sig.send("a", &1).unwrap();
    assert_eq!(count.load(Ordering::Relaxed), 1);
}
