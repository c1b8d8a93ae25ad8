//! Introspection: a signal's connections with their
//! receiver, uid, sender filter, reference kind, retry policy, kind, priority
//! and origin; and every `#[signal]` of the program from the link-time
//! registry.

use std::borrow::Cow;
use std::time::Duration;

use signals::{
    declared_signals, receiver, signal, ConnectOptions, Origin, Receiver, Registrar, RetryPolicy,
    Signal,
};

/// A sender type without `Debug`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Opaque(u8);

/// A declared signal with typed arguments and a `Debug` sender.
#[signal(providing_args = [order_id: u64, lines: Vec<(String, u32)>, note: Option<Cow<'static, str>>], sender = String, response = Result<u8, String>)]
pub static order_placed: Signal;

/// A declared signal whose sender has no `Debug`.
#[signal(providing_args = [], sender = Opaque)]
pub static opaque_sent: Signal;

#[receiver(order_placed, sender = "shop", priority = 3)]
fn reserve_stock(order_id: &u64) -> Result<u8, String> {
    Ok((*order_id % 7) as u8)
}

#[receiver(opaque_sent, sender = Opaque(7), dispatch_uid = "opaque.watch")]
fn watch() {}

fn on_signal_up(_: &&str, _: &u32) {}

fn builtin(registrar: &mut Registrar<'_, u32>) {
    let _ = registrar.connect(on_signal_up, ConnectOptions::new());
}

#[test]
fn connections_describe_every_option() {
    static SIG: Signal<u32> = Signal::new("described").with_initializer(builtin);
    let weak = Receiver::new(|_: &&str, _: &u32| {});
    let policy = RetryPolicy::max_retries(3).intervals(
        Duration::from_millis(1),
        Duration::from_millis(1),
        Duration::from_millis(2),
    );
    let _ = SIG.connect_with(
        weak.clone(),
        ConnectOptions::new().weak(true).sender("users"),
    );
    let _ = SIG.connect_with(
        |_: &&str, _: &u32| {},
        ConnectOptions::new().retry(policy).dispatch_uid("retried"),
    );
    let _ = SIG.connect_with(
        Receiver::new_async(async |_: &&'static str, _: &u32| {}),
        ConnectOptions::new().priority(-2),
    );
    let connections = SIG.connections();
    assert_eq!(connections.len(), 4);

    let first = &connections[0];
    assert_eq!(first.origin, Origin::Initializer);
    assert_eq!(first.id.name(), std::any::type_name_of_val(&on_signal_up));
    assert!(first.sender.is_none() && first.dispatch_uid.is_none());

    let weakly = &connections[1];
    assert!(weakly.weak && weakly.alive);
    assert_eq!(weakly.sender, Some("users"));
    assert_eq!(weakly.origin, Origin::Runtime);

    let retried = &connections[2];
    assert_eq!(retried.dispatch_uid.as_deref(), Some("retried"));
    let delays: Vec<Duration> = retried.retry.unwrap().delays().collect();
    assert_eq!(delays, [1, 2, 2].map(Duration::from_millis));
    assert!(!retried.weak, "a retry policy holds the receiver strongly");

    let asynchronous = &connections[3];
    assert!(asynchronous.is_async);
    assert_eq!(asynchronous.priority, -2);

    drop(weak);
    let connections = SIG.connections();
    assert!(!connections[1].alive, "gone, not purged yet");
    assert_eq!(SIG.receiver_count(), 3, "counting purges it");
    assert_eq!(SIG.connections().len(), 3);
}

#[test]
fn declared_signals_list_names_arguments_and_types() {
    let all = declared_signals();
    let paths: Vec<&str> = all.iter().map(|signal| signal.path()).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "ordered by path");
    assert!(
        paths.iter().all(|path| path.starts_with("introspection::")),
        "only this program's own signals are registered (the core declares none): {paths:?}"
    );

    let order = all
        .iter()
        .find(|signal| signal.path() == "introspection::order_placed")
        .expect("this test's own signal");
    assert_eq!(order.name(), "order_placed");
    let args: Vec<(&str, &str)> = order.args().iter().map(|a| (a.name(), a.ty())).collect();
    assert_eq!(
        args,
        [
            ("order_id", "u64"),
            ("lines", "Vec<(String, u32)>"),
            ("note", "Option<Cow<'static, str>>"),
        ]
    );
    assert_eq!(order.sender_type(), "String");
    assert_eq!(order.response_type(), "Result<u8, String>");

    let connections = order.connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].id.name(), "introspection::reserve_stock");
    assert_eq!(
        connections[0].dispatch_uid.as_deref(),
        Some("introspection::reserve_stock")
    );
    assert_eq!(
        connections[0].sender.as_deref(),
        Some("\"shop\""),
        "its Debug"
    );
    assert_eq!(connections[0].priority, 3);
    assert_eq!(connections[0].origin, Origin::LinkTime);
}

#[test]
fn a_sender_without_debug_is_shown_as_a_placeholder() {
    let opaque = declared_signals()
        .into_iter()
        .find(|signal| signal.name() == "opaque_sent")
        .unwrap();
    assert!(opaque.args().is_empty());
    assert_eq!(opaque.response_type(), "()");
    let connections = opaque.connections();
    assert_eq!(connections[0].sender.as_deref(), Some("<no Debug>"));
    assert_eq!(connections[0].dispatch_uid.as_deref(), Some("opaque.watch"));
    // The typed listing still hands out the sender itself.
    assert!(opaque_sent.connections()[0].sender == Some(Opaque(7)));
}
