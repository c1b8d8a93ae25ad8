//! Django's and Celery's dispatcher behaviours, case by case.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signals::{ConnectOptions, Receiver, ReceiverError, RetriesExhausted, RetryPolicy, Signal};

#[derive(Debug)]
struct Args {
    value: u32,
}

type Sig = Signal<Args, &'static str, u32>;

fn plus_one(_: &&str, args: &Args) -> u32 {
    args.value + 1
}

fn times_two(_: &&str, args: &Args) -> u32 {
    args.value * 2
}

#[test]
fn send_with_no_receivers_returns_nothing() {
    let sig = Sig::new("empty");
    assert!(sig.send("anyone", &Args { value: 1 }).unwrap().is_empty());
    assert!(sig.send_robust("anyone", &Args { value: 1 }).is_empty());
    assert!(!sig.has_listeners("anyone"));
}

#[test]
fn receivers_are_called_in_connection_order_with_their_identity() {
    let sig = Sig::new("ordered");
    let a = sig.connect(plus_one);
    let b = sig.connect(times_two);
    let responses = sig.send("x", &Args { value: 10 }).unwrap();
    assert_eq!(responses, vec![(a.id(), 11), (b.id(), 20)]);
    assert!(a.id().name().ends_with("plus_one"));
    assert_ne!(a.id().id(), b.id().id());
}

#[test]
fn multiple_registration_of_one_receiver_is_ignored() {
    // Django's test_multiple_registration: the same receiver connected many times
    // is called once.
    let sig = Sig::new("multi");
    let first = sig.connect(plus_one);
    for _ in 0..5 {
        let again = sig.connect(plus_one);
        assert!(!again.is_added());
        assert_eq!(again.id(), first.id(), "the first connection wins");
    }
    assert_eq!(sig.send("x", &Args { value: 1 }).unwrap().len(), 1);
    assert_eq!(sig.receiver_count(), 1);
    // The same receiver for two different senders is two connections.
    assert!(sig
        .connect_with(plus_one, ConnectOptions::new().sender("a"))
        .is_added());
}

#[test]
fn uid_registration_keeps_the_first_receiver() {
    // Django's test_uid_registration: two different receivers, one dispatch_uid.
    let sig = Sig::new("uid");
    assert!(sig
        .connect_with(plus_one, ConnectOptions::new().dispatch_uid("uid"))
        .is_added());
    assert!(!sig
        .connect_with(times_two, ConnectOptions::new().dispatch_uid("uid"))
        .is_added());
    let responses = sig.send("x", &Args { value: 5 }).unwrap();
    assert_eq!(responses.values(), [6]);
    // Same uid for another sender is another connection.
    assert!(sig
        .connect_with(
            times_two,
            ConnectOptions::new().dispatch_uid("uid").sender("y")
        )
        .is_added());
    assert_eq!(sig.send("y", &Args { value: 5 }).unwrap().len(), 2);
}

#[test]
fn distinct_closures_and_arcs_are_distinct_receivers() {
    let sig = Sig::new("closures");
    let offset = 3;
    // Capturing closures built twice are two receivers (two allocations)...
    assert!(sig
        .connect(move |_: &&str, a: &Args| a.value + offset)
        .is_added());
    assert!(sig
        .connect(move |_: &&str, a: &Args| a.value + offset)
        .is_added());
    // ...but a Receiver handle, or one Arc, connected twice is one.
    let handle = Receiver::new(move |_: &&str, a: &Args| a.value * offset);
    assert!(sig.connect(handle.clone()).is_added());
    assert!(!sig.connect(handle.clone()).is_added());
    let shared = Arc::new(|_: &&str, a: &Args| a.value);
    assert!(sig.connect(Receiver::from_arc(shared.clone())).is_added());
    assert!(!sig.connect(Receiver::from_arc(shared.clone())).is_added());
    // Function pointers work as receivers.
    let pointer: fn(&&str, &Args) -> u32 = plus_one;
    assert!(sig.connect(pointer).is_added());
    let values: Vec<u32> = sig
        .send("x", &Args { value: 2 })
        .unwrap()
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(values, [5, 5, 6, 2, 3]);
}

#[test]
fn disconnect_returns_whether_anything_was_removed() {
    let sig = Sig::new("disconnect");
    assert!(!sig.disconnect(plus_one, None), "nothing connected yet");
    let _ = sig.connect(plus_one);
    let _ = sig.connect_with(times_two, ConnectOptions::new().sender("s"));
    let _ = sig.connect_with(
        |_: &&str, _: &Args| 0,
        ConnectOptions::new().dispatch_uid("zero"),
    );
    assert!(sig.disconnect(plus_one, None));
    assert!(!sig.disconnect(plus_one, None));
    assert!(
        !sig.disconnect(times_two, None),
        "connected for sender s only"
    );
    assert!(sig.disconnect(times_two, Some("s")));
    assert!(!sig.disconnect_uid("zero", Some("s")));
    assert!(sig.disconnect_uid("zero", None));
    assert!(!sig.disconnect_uid("zero", None));
    assert_eq!(sig.receiver_count(), 0);
    assert!(!sig.has_listeners("s"));

    let handle = Receiver::new(move |_: &&str, _: &Args| 1);
    let conn = sig.connect(handle.clone());
    assert!(sig.disconnect_id(conn.id()));
    assert!(!sig.disconnect_id(conn.id()));
    let _ = sig.connect(handle.clone());
    assert!(sig.disconnect(&handle, None));
}

#[test]
fn sender_filters_match_by_value() {
    let sig = Sig::new("filters");
    let _ = sig.connect_with(plus_one, ConnectOptions::new().sender("tasks.add"));
    let _ = sig.connect(times_two);
    let task_name = String::from("tasks.add");
    // An equal string from elsewhere matches (Celery #2475, unlike Django's id()).
    let leaked: &'static str = Box::leak(task_name.into_boxed_str());
    assert_eq!(sig.send(leaked, &Args { value: 3 }).unwrap().len(), 2);
    assert_eq!(sig.send("tasks.mul", &Args { value: 3 }).unwrap().len(), 1);
    assert!(sig.has_listeners("tasks.mul"), "the any-sender receiver");
    assert!(sig.disconnect(times_two, None));
    assert!(!sig.has_listeners("tasks.mul"));
    assert!(sig.has_listeners("tasks.add"));
}

#[test]
fn senders_can_be_owned_values_and_types() {
    let by_host: Signal<(), String> = Signal::new("by_host");
    let _ = by_host.connect_with(
        |_: &String, _: &()| {},
        ConnectOptions::new().sender("w1@h".into()),
    );
    let host = String::from("w1@h");
    assert_eq!(by_host.send(&host, &()).unwrap().len(), 1);
    assert!(by_host.send(String::from("w2@h"), &()).unwrap().is_empty());

    struct Model;
    let by_type: Signal<(), std::any::TypeId> = Signal::new("by_type");
    let _ = by_type.connect_with(
        |_: &std::any::TypeId, _: &()| {},
        ConnectOptions::new().sender(std::any::TypeId::of::<Model>()),
    );
    assert!(by_type.has_listeners(std::any::TypeId::of::<Model>()));
    assert!(!by_type.has_listeners(std::any::TypeId::of::<String>()));
}

#[derive(Debug, thiserror::Error)]
#[error("refused {0}")]
struct Refused(u32);

#[test]
fn send_stops_at_the_first_error() {
    let sig = Sig::new("fallible");
    let calls = Arc::new(AtomicUsize::new(0));
    let first = sig.connect(plus_one);
    let failing =
        sig.connect(|_: &&str, a: &Args| -> Result<u32, Refused> { Err(Refused(a.value)) });
    let counted = calls.clone();
    let _ = sig.connect(move |_: &&str, _: &Args| {
        counted.fetch_add(1, Ordering::SeqCst);
        0
    });
    let err = sig.send("x", &Args { value: 9 }).unwrap_err();
    assert_eq!(err.receiver, failing.id());
    assert_eq!(
        err.to_string(),
        format!("receiver {} failed: refused 9", failing.id())
    );
    assert!(err.source.downcast_ref::<Refused>().is_some());
    assert_eq!(calls.load(Ordering::SeqCst), 0, "dispatch stopped");
    assert_ne!(first.id(), failing.id());
}

/// Past two receivers the responses are written straight into a list: every
/// one is kept in order, and those collected before an error are dropped with
/// the list (none leaks).
#[test]
fn responses_before_an_error_are_dropped_and_the_rest_kept_in_order() {
    let token = Arc::new(());
    let sig: Signal<u32, &'static str, (u32, Arc<()>)> = Signal::new("owned");
    for i in 0..5u32 {
        let token = token.clone();
        let _ = sig.connect(
            move |_: &&str, fail_at: &u32| -> Result<(u32, Arc<()>), Refused> {
                if i == *fail_at {
                    Err(Refused(i))
                } else {
                    Ok((i, token.clone()))
                }
            },
        );
    }
    let before = Arc::strong_count(&token);
    let responses = sig.send("x", &99).unwrap();
    let order: Vec<u32> = responses.values().iter().map(|(i, _)| *i).collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    assert_eq!(Arc::strong_count(&token), before + 5);
    drop(responses);
    let err = sig.send("x", &3).unwrap_err();
    assert!(err.to_string().ends_with("refused 3"), "{err}");
    assert_eq!(
        Arc::strong_count(&token),
        before,
        "the three responses before the error leaked"
    );
}

#[test]
fn send_robust_calls_everyone_and_reports_errors_and_panics() {
    let sig = Sig::new("robust");
    let _ = sig.connect(plus_one);
    let _ = sig.connect(|_: &&str, a: &Args| -> Result<u32, Refused> { Err(Refused(a.value)) });
    let _ = sig.connect(|_: &&str, a: &Args| -> u32 { panic!("receiver exploded on {}", a.value) });
    let _ = sig.connect(times_two);
    let outcomes = sig.send_robust("x", &Args { value: 4 });
    assert_eq!(outcomes.len(), 4);
    assert_eq!(*outcomes[0].as_ref().unwrap(), 5);
    match &outcomes[1] {
        Err(ReceiverError::Failed(e)) => assert_eq!(e.to_string(), "refused 4"),
        other => panic!("expected a failure, got {other:?}"),
    }
    match &outcomes[2] {
        Err(ReceiverError::Panicked(msg)) => assert_eq!(msg, "receiver exploded on 4"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(*outcomes[3].as_ref().unwrap(), 8);
}

/// Panics in a row, at the start and at the end, on each of the three ways a
/// send finds its receivers: all of them held strongly, a cached sender route,
/// and a list with a weak receiver in it.
#[test]
fn send_robust_goes_on_after_consecutive_panics_on_every_path() {
    let plain = Sig::new("robust_plain");
    let cached = Sig::new("robust_cached").with_caching();
    let with_weak = Sig::new("robust_weak");
    let keep = Receiver::new(|_: &&str, a: &Args| a.value + 100);
    for sig in [&plain, &cached, &with_weak] {
        let options = || {
            if std::ptr::eq(sig, &cached) {
                ConnectOptions::new().sender("x")
            } else {
                ConnectOptions::new()
            }
        };
        let _ = sig.connect_with(|_: &&str, _: &Args| -> u32 { panic!("first") }, options());
        let _ = sig.connect_with(|_: &&str, _: &Args| -> u32 { panic!("second") }, options());
        let _ = sig.connect_with(plus_one, options());
        let _ = sig.connect_with(
            |_: &&str, a: &Args| -> Result<u32, Refused> { Err(Refused(a.value)) },
            options(),
        );
        if std::ptr::eq(sig, &with_weak) {
            let _ = sig.connect_with(keep.clone(), options().weak(true));
        } else {
            let _ = sig.connect_with(keep.clone(), options());
        }
        let _ = sig.connect_with(|_: &&str, _: &Args| -> u32 { panic!("last") }, options());
        for _ in 0..2 {
            // The second send of the cached signal reads its cache.
            let outcomes = sig.send_robust("x", &Args { value: 1 });
            assert_eq!(outcomes.len(), 6, "{}", sig.name());
            let panicked = |i: usize| match &outcomes[i] {
                Err(ReceiverError::Panicked(message)) => message.clone(),
                other => panic!("{}: expected a panic at {i}, got {other:?}", sig.name()),
            };
            assert_eq!(panicked(0), "first");
            assert_eq!(panicked(1), "second");
            assert_eq!(*outcomes[2].as_ref().unwrap(), 2);
            assert!(matches!(outcomes[3], Err(ReceiverError::Failed(_))));
            assert_eq!(*outcomes[4].as_ref().unwrap(), 101);
            assert_eq!(panicked(5), "last");
            assert_eq!(outcomes.ids().len(), 6);
            assert!(outcomes.ids()[4].name().contains("signal_semantics"));
        }
    }
}

#[test]
fn has_listeners_tracks_connections() {
    let sig = Sig::new("listeners");
    assert!(!sig.has_listeners("a"));
    let _ = sig.connect_with(plus_one, ConnectOptions::new().sender("a"));
    assert!(sig.has_listeners("a"));
    assert!(!sig.has_listeners("b"));
    let _ = sig.connect(times_two);
    assert!(sig.has_listeners("b"));
    assert!(sig.disconnect(times_two, None));
    assert!(!sig.has_listeners("b"));
}

#[test]
fn caching_is_invalidated_on_connect_disconnect_and_weak_death() {
    let sig = Sig::new("cached").with_caching();
    assert!(sig.uses_caching());
    let _ = sig.connect_with(plus_one, ConnectOptions::new().sender("a"));
    assert_eq!(sig.send("a", &Args { value: 1 }).unwrap().len(), 1);
    assert_eq!(sig.send("b", &Args { value: 1 }).unwrap().len(), 0);
    // Connect: both cached entries must see the new receiver.
    let _ = sig.connect(times_two);
    assert_eq!(sig.send("a", &Args { value: 1 }).unwrap().len(), 2);
    assert_eq!(sig.send("b", &Args { value: 1 }).unwrap().len(), 1);
    // Weak death.
    let handle = Receiver::new(move |_: &&str, _: &Args| 100);
    let _ = sig.connect_with(handle.clone(), ConnectOptions::new().weak(true).sender("b"));
    assert_eq!(sig.send("b", &Args { value: 1 }).unwrap().len(), 2);
    drop(handle);
    assert_eq!(sig.send("b", &Args { value: 1 }).unwrap().len(), 1);
    assert_eq!(sig.receiver_count(), 2, "the dead receiver was purged");
    // Disconnect.
    assert!(sig.disconnect(plus_one, Some("a")));
    assert_eq!(sig.send("a", &Args { value: 1 }).unwrap().len(), 1);
    assert!(sig.has_listeners("c"), "times_two listens to every sender");
}

#[test]
fn many_senders_do_not_grow_the_cache_without_bound_yet_stay_correct() {
    let sig: Signal<(), u32> = Signal::new("many").with_caching();
    let _ = sig.connect_with(|_: &u32, _: &()| {}, ConnectOptions::new().sender(7));
    for sender in 0..5_000u32 {
        let expected = usize::from(sender == 7);
        assert_eq!(sig.send(sender, &()).unwrap().len(), expected);
    }
}

#[test]
fn a_receiver_may_disconnect_itself_and_connect_others_during_dispatch() {
    static SIG: Signal<u32> = Signal::new("reentrant");
    static OTHER: Signal<u32> = Signal::new("other");
    let other_calls = Arc::new(AtomicUsize::new(0));
    let counted = other_calls.clone();
    let _ = OTHER.connect(move |_: &&str, _: &u32| {
        counted.fetch_add(1, Ordering::SeqCst);
    });

    fn late(_: &&str, _: &u32) {}
    fn once(_: &&str, n: &u32) {
        // Disconnect ourselves, connect another, and send a second signal.
        assert!(SIG.disconnect(once, None));
        let _ = SIG.connect(late);
        OTHER.send("nested", n).unwrap();
    }
    let _ = SIG.connect(once);
    let after = SIG.connect(|_: &&str, _: &u32| {});
    // The send in progress keeps its snapshot: `after` is still called, `late` not yet.
    let first = SIG.send("x", &1).unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first.ids()[1], after.id());
    assert_eq!(other_calls.load(Ordering::SeqCst), 1);
    // The next send sees the changes.
    let second = SIG.send("x", &2).unwrap();
    assert_eq!(second.len(), 2);
    assert!(second.ids()[1].name().ends_with("late"));
}

#[test]
fn retrying_receiver_is_rerun_until_it_succeeds() {
    let sig = Sig::new("retry");
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let flaky = Receiver::new(move |_: &&str, a: &Args| -> Result<u32, Refused> {
        if seen.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(Refused(a.value))
        } else {
            Ok(a.value)
        }
    });
    let quick = RetryPolicy::max_retries(5).intervals(
        Duration::from_millis(1),
        Duration::from_millis(1),
        Duration::from_millis(3),
    );
    let _ = sig.connect_with(flaky.clone(), ConnectOptions::new().retry(quick).weak(true));
    drop(flaky); // retry forces a strong reference, as in Celery
    assert_eq!(sig.send("x", &Args { value: 8 }).unwrap()[0], 8);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[test]
fn retrying_receiver_gives_up_at_its_bound() {
    let sig = Sig::new("retry_bound");
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let _ = sig.connect_with(
        move |_: &&str, a: &Args| -> Result<u32, Refused> {
            seen.fetch_add(1, Ordering::SeqCst);
            Err(Refused(a.value))
        },
        ConnectOptions::new().retry(RetryPolicy::max_retries(2).intervals(
            Duration::from_millis(1),
            Duration::ZERO,
            Duration::from_millis(1),
        )),
    );
    let err = sig.send("x", &Args { value: 1 }).unwrap_err();
    let exhausted = err
        .source
        .downcast_ref::<RetriesExhausted>()
        .expect("typed");
    assert_eq!(exhausted.attempts, 3);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);

    // A time bound: no wait starts that would end past the deadline.
    let timed = Sig::new("retry_timeout");
    let _ = timed.connect_with(
        |_: &&str, a: &Args| -> Result<u32, Refused> { Err(Refused(a.value)) },
        ConnectOptions::new().retry(RetryPolicy::timeout(Duration::from_millis(1))),
    );
    let started = std::time::Instant::now();
    assert!(timed.send("x", &Args { value: 1 }).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the 2 s wait was never begun"
    );
}

#[test]
fn retrying_receiver_is_disconnectable_by_the_original_and_by_uid() {
    // Celery #9119: the retry wrapper could not be disconnected.
    let policy = RetryPolicy::max_retries(1);
    let sig = Sig::new("retry_disconnect");
    let _ = sig.connect_with(plus_one, ConnectOptions::new().retry(policy));
    assert!(!sig
        .connect_with(plus_one, ConnectOptions::new().retry(policy))
        .is_added());
    assert!(sig.disconnect(plus_one, None));
    assert!(!sig.has_listeners("x"));
    let _ = sig.connect_with(
        plus_one,
        ConnectOptions::new().retry(policy).dispatch_uid("p1"),
    );
    assert!(sig.disconnect_uid("p1", None));
    assert_eq!(sig.receiver_count(), 0);
}

#[test]
fn retry_delays_follow_celery() {
    let waits: Vec<u64> = RetryPolicy::max_retries(17)
        .delays()
        .map(|d| d.as_secs())
        .collect();
    assert_eq!(
        waits,
        [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 30, 30]
    );
}

#[test]
fn debug_output_names_the_signal() {
    let sig = Sig::new("task_sent").with_caching();
    let _ = sig.connect(plus_one);
    let shown = format!("{sig:?}");
    assert_eq!(
        shown,
        r#"Signal { name: "task_sent", use_caching: true, receivers: 1 }"#
    );
    assert_eq!(sig.name(), "task_sent");
}

#[test]
fn signals_are_send_and_sync_and_static() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Signal<Args>>();
    assert_send_sync::<Signal<std::rc::Rc<u8>>>();
    static STATIC: Signal<u8> = Signal::new("static").with_caching();
    let _ = STATIC.connect(|_: &&str, _: &u8| {});
    assert!(STATIC.has_listeners("x"));
}
