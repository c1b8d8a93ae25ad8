//! `#[signal]` and `#[receiver]` end to end: link-time registration from several
//! modules, sender filters, dispatch_uid deduplication
//! across link-time and runtime connects, lists of signals, retries, and the
//! split between `send` and `send_robust`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use signals::{receiver, signal, ConnectOptions, RetryPolicy};

/// Receivers in several modules append their module's name here.
static CALLS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn calls_of(signal: &str) -> Vec<&'static str> {
    CALLS
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|call| call.starts_with(signal))
        .collect()
}

/// A signal of this test.
#[signal(providing_args = [order_id: u64, total: u64], use_caching)]
pub static order_paid: Signal;

mod billing {
    use super::*;

    #[receiver(order_paid)]
    fn invoice(order_id: &u64, total: &u64) {
        assert!(*order_id > 0 && *total > 0);
        CALLS.lock().unwrap().push("order_paid:billing");
    }
}

mod shipping {
    pub(crate) mod eu {
        use crate::*;

        #[receiver(crate::order_paid, sender = "eu")]
        fn ship(order_id: &u64) {
            assert!(*order_id > 0);
            CALLS.lock().unwrap().push("order_paid:shipping-eu");
        }
    }
}

#[test]
fn receivers_from_several_modules_are_live_before_the_first_send() {
    // No set-up call: the first use connects every registered receiver.
    assert_eq!(order_paid.receiver_count(), 2);
    order_paid
        .send(
            "us",
            &OrderPaidArgs {
                order_id: 1,
                total: 10,
            },
        )
        .unwrap();
    assert_eq!(calls_of("order_paid"), ["order_paid:billing"]);
    order_paid
        .send(
            "eu",
            &OrderPaidArgs {
                order_id: 2,
                total: 20,
            },
        )
        .unwrap();
    assert_eq!(
        calls_of("order_paid"),
        [
            "order_paid:billing",
            "order_paid:billing",
            "order_paid:shipping-eu"
        ]
    );
    assert!(order_paid.has_listeners("eu"));
}

/// A signal of this test.
#[signal(providing_args = [n: u32], sender = u8, response = u32)]
pub static numbered: Signal;

#[receiver(numbered, sender = 1)]
fn only_one(n: &u32) -> u32 {
    n + 100
}

#[receiver(numbered)]
fn any_sender(sender: &u8, n: &u32, signal: &signals::Signal<NumberedArgs, u8, u32>) -> u32 {
    assert_eq!(signal.name(), "numbered");
    n + u32::from(*sender)
}

#[test]
fn sender_filter_by_value() {
    assert_eq!(
        numbered.send(1, &NumberedArgs { n: 5 }).unwrap().values(),
        [6, 105]
    );
    assert_eq!(
        numbered.send(2, &NumberedArgs { n: 5 }).unwrap().values(),
        [7]
    );
}

/// A signal of this test.
#[signal(providing_args = [word: String], response = &'static str)]
pub static deduped: Signal;

#[receiver(deduped)]
fn by_path() -> &'static str {
    "link-time by path"
}

#[receiver(deduped, dispatch_uid = "custom-uid")]
fn by_uid() -> &'static str {
    "link-time by uid"
}

#[test]
fn dispatch_uid_dedups_link_time_and_runtime_connects() {
    // The default uid is the function's full path.
    let same_path = deduped.connect_with(
        |_: &&str, _: &DedupedArgs| "runtime",
        ConnectOptions::new().dispatch_uid(concat!(module_path!(), "::by_path")),
    );
    assert!(
        !same_path.is_added(),
        "the link-time receiver keeps the uid"
    );
    let same_uid = deduped.connect_with(
        |_: &&str, _: &DedupedArgs| "runtime",
        ConnectOptions::new().dispatch_uid("custom-uid"),
    );
    assert!(!same_uid.is_added());
    let fresh = deduped.connect_with(
        |_: &&str, _: &DedupedArgs| "runtime",
        ConnectOptions::new().dispatch_uid("fresh"),
    );
    assert!(fresh.is_added());
    let responses = deduped
        .send("x", &DedupedArgs { word: "w".into() })
        .unwrap();
    // Link-time receivers first, ordered by dispatch uid ("custom-uid" <
    // "macros::by_path"), then runtime ones.
    assert_eq!(
        responses.values(),
        ["link-time by uid", "link-time by path", "runtime"]
    );

    assert!(deduped.disconnect_uid(concat!(module_path!(), "::by_path"), None));
    assert!(deduped.disconnect_uid("custom-uid", None));
    assert_eq!(
        deduped
            .send("x", &DedupedArgs { word: "w".into() })
            .unwrap()
            .values(),
        ["runtime"]
    );
}

/// A signal of this test.
#[signal(providing_args = [instance: String, created: bool])]
pub static post_save: Signal;

/// A signal of this test.
#[signal(providing_args = [instance: String])]
pub static pre_save: Signal;

static SAVES: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[receiver([pre_save, post_save], sender = "Article")]
fn audit_saves(instance: &str) {
    SAVES.lock().unwrap().push(format!("save {instance}"));
}

#[receiver(post_save)]
fn created_only(instance: &String, created: &bool) {
    if *created {
        SAVES.lock().unwrap().push(format!("created {instance}"));
    }
}

#[test]
fn a_receiver_on_a_list_of_signals() {
    pre_save
        .send(
            "Article",
            &PreSaveArgs {
                instance: "a1".into(),
            },
        )
        .unwrap();
    post_save
        .send(
            "Article",
            &PostSaveArgs {
                instance: "a1".into(),
                created: true,
            },
        )
        .unwrap();
    post_save
        .send(
            "Comment",
            &PostSaveArgs {
                instance: "c1".into(),
                created: true,
            },
        )
        .unwrap();
    assert_eq!(
        *SAVES.lock().unwrap(),
        ["save a1", "save a1", "created a1", "created c1"]
    );
}

#[derive(Debug, thiserror::Error)]
#[error("card declined")]
struct Declined;

/// A signal of this test.
#[signal(providing_args = [amount: u64], response = u64)]
pub static charge: Signal;

static AFTER_FAILURE: AtomicUsize = AtomicUsize::new(0);

#[receiver(charge)]
fn a_fails(amount: &u64) -> Result<u64, Declined> {
    if *amount > 100 {
        return Err(Declined);
    }
    Ok(*amount)
}

#[receiver(charge)]
fn b_panics(amount: &u64) -> u64 {
    if *amount > 1000 {
        panic!("amount {amount} overflows the ledger");
    }
    *amount * 2
}

#[receiver(charge)]
fn c_counts(amount: &u64) -> u64 {
    AFTER_FAILURE.fetch_add(1, Ordering::SeqCst);
    *amount * 3
}

#[test]
fn send_stops_at_the_first_error_send_robust_runs_every_receiver() {
    let ok = charge.send("shop", &ChargeArgs { amount: 10 }).unwrap();
    assert_eq!(ok.values(), [10, 20, 30]);
    let calls = AFTER_FAILURE.load(Ordering::SeqCst);

    let error = charge
        .send("shop", &ChargeArgs { amount: 200 })
        .unwrap_err();
    assert_eq!(error.receiver.name(), concat!(module_path!(), "::a_fails"));
    assert_eq!(
        AFTER_FAILURE.load(Ordering::SeqCst),
        calls,
        "send stopped at the error"
    );

    let robust = charge.send_robust("shop", &ChargeArgs { amount: 2000 });
    assert_eq!(robust.len(), 3);
    assert!(robust[0].is_err());
    let panic = robust[1].as_ref().unwrap_err();
    assert!(
        panic.to_string().contains("overflows the ledger"),
        "{panic}"
    );
    assert_eq!(*robust[2].as_ref().unwrap(), 6000);
    assert_eq!(AFTER_FAILURE.load(Ordering::SeqCst), calls + 1);
}

/// A signal of this test.
#[signal(providing_args = [attempt_limit: u32], response = u32)]
pub static flaky: Signal;

static FLAKY_ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

#[receiver(flaky, retry = RetryPolicy::max_retries(3).intervals(Duration::ZERO, Duration::ZERO, Duration::ZERO))]
fn succeeds_on_third_attempt(attempt_limit: &u32) -> Result<u32, Declined> {
    let attempt = FLAKY_ATTEMPTS.fetch_add(1, Ordering::SeqCst) as u32 + 1;
    if attempt < *attempt_limit {
        return Err(Declined);
    }
    Ok(attempt)
}

#[test]
fn a_registered_receiver_retries_with_its_policy() {
    let responses = flaky.send("x", &FlakyArgs { attempt_limit: 3 }).unwrap();
    assert_eq!(responses.values(), [3]);
    assert_eq!(FLAKY_ATTEMPTS.load(Ordering::SeqCst), 3);
}
