//! Receiver order: an explicit priority on `connect_with`
//! and on `#[receiver(..., priority = N)]`, connection order among equals,
//! link-time receivers by priority then uid, responses in call order.

use signals::{receiver, signal, ConnectOptions, Origin, Signal};

/// Every receiver of `ordered` returns its own name.
#[signal(providing_args = [n: u32], response = &'static str)]
pub static ordered: Signal;

// Named so that uid order (the function paths) is the reverse of priority
// order: `a_low` would come first by uid alone.
#[receiver(ordered, priority = -5)]
fn a_low(n: &u32) -> &'static str {
    assert!(*n > 0);
    "a_low"
}

#[receiver(ordered)]
fn b_default() -> &'static str {
    "b_default"
}

#[receiver(ordered)]
fn c_default() -> &'static str {
    "c_default"
}

const HIGH: i32 = 100;

#[receiver(ordered, priority = HIGH)]
fn z_high() -> &'static str {
    "z_high"
}

#[test]
fn link_time_receivers_run_by_priority_then_by_uid() {
    let responses = ordered.send("app", &OrderedArgs { n: 1 }).unwrap();
    assert_eq!(
        responses.values(),
        ["z_high", "b_default", "c_default", "a_low"],
        "priority first; equal priorities in uid (function path) order, whatever the link order"
    );
    let connections = ordered.connections();
    let priorities: Vec<i32> = connections.iter().map(|c| c.priority).collect();
    assert_eq!(priorities, [100, 0, 0, -5]);
    assert!(connections.iter().all(|c| c.origin == Origin::LinkTime));
}

#[test]
fn runtime_receivers_run_by_priority_then_in_connection_order() {
    // Its own signal: the test above reads `ordered` in parallel.
    let sig: Signal<(), &'static str, &'static str> = Signal::new("mixed");
    let _ = sig.connect(|_: &&str, _: &()| "first default");
    let _ = sig.connect_with(
        |_: &&str, _: &()| "urgent",
        ConnectOptions::new().priority(10),
    );
    let _ = sig.connect(|_: &&str, _: &()| "second default");
    let _ = sig.connect_with(
        |_: &&str, _: &()| "late",
        ConnectOptions::new().priority(-1),
    );
    let _ = sig.connect_with(
        |_: &&str, _: &()| "urgent too",
        ConnectOptions::new().priority(10),
    );
    let expected = [
        "urgent",
        "urgent too",
        "first default",
        "second default",
        "late",
    ];
    assert_eq!(sig.send("app", &()).unwrap().values(), expected);
    let robust: Vec<&str> = sig
        .send_robust("app", &())
        .into_iter()
        .map(|(_, outcome)| outcome.unwrap())
        .collect();
    assert_eq!(robust, expected, "send_robust calls in the same order");
    let awaited = futures_executor::block_on(sig.asend("app", &())).unwrap();
    assert_eq!(awaited.values(), expected, "and asend");
}

#[test]
fn priority_orders_filtered_and_async_receivers_too() {
    let sig: Signal<(), &'static str, &'static str> = Signal::new("filtered").with_caching();
    let _ = sig.connect_with(
        |_: &&str, _: &()| "users only",
        ConnectOptions::new().sender("users"),
    );
    let _ = sig.connect_with(
        |_: &&str, _: &()| "users, urgent",
        ConnectOptions::new().sender("users").priority(5),
    );
    let _ = sig.connect_with(
        Signal::<(), &'static str, &'static str>::async_receiver(),
        ConnectOptions::new().priority(7),
    );
    let _ = sig.connect(|_: &&str, _: &()| "anyone");
    let responses = futures_executor::block_on(sig.asend("users", &())).unwrap();
    assert_eq!(
        responses.values(),
        ["async, first", "users, urgent", "users only", "anyone"],
        "responses follow call order across sync and async receivers"
    );
    let groups = futures_executor::block_on(sig.asend("groups", &())).unwrap();
    assert_eq!(groups.values(), ["async, first", "anyone"]);
}

trait AsyncReceiver {
    fn async_receiver() -> signals::Receiver<(), &'static str, &'static str>;
}

impl AsyncReceiver for Signal<(), &'static str, &'static str> {
    fn async_receiver() -> signals::Receiver<(), &'static str, &'static str> {
        signals::Receiver::new_async(async |_: &&'static str, _: &()| "async, first")
    }
}

#[test]
fn a_duplicate_connect_keeps_the_first_priority() {
    let sig: Signal<(), &'static str, &'static str> = Signal::new("dedup");
    let _ = sig.connect_with(
        |_: &&str, _: &()| "audit",
        ConnectOptions::new().dispatch_uid("audit").priority(1),
    );
    let again = sig.connect_with(
        |_: &&str, _: &()| "audit again",
        ConnectOptions::new().dispatch_uid("audit").priority(50),
    );
    assert!(!again.is_added());
    assert_eq!(sig.connections()[0].priority, 1);
}
