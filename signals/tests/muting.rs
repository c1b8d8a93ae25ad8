//! Muting: `Signal::mute`, `mute_receiver` and `mute_uid`
//! guards, nested mutes, every send form, and a mute that stays on its own
//! signal while other threads send others.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;

use signals::{receiver, signal, ConnectOptions, Signal};

fn counting(sig: &Signal<(), &'static str, u32>, value: u32) -> signals::ReceiverId {
    sig.connect(move |_: &&str, _: &()| value).id()
}

fn values(sig: &Signal<(), &'static str, u32>) -> Vec<u32> {
    sig.send("app", &()).unwrap().values().to_vec()
}

#[test]
fn a_muted_signal_calls_no_receiver_in_any_send_form() {
    let sig: Signal<(), &'static str, u32> = Signal::new("muted");
    counting(&sig, 1);
    let _ = sig.connect_async(async |_: &&'static str, _: &()| 2);
    let muted = sig.mute();
    assert!(sig.is_muted());
    assert!(values(&sig).is_empty());
    assert!(sig.send_robust("app", &()).is_empty());
    assert!(futures_executor::block_on(sig.asend("app", &()))
        .unwrap()
        .is_empty());
    assert!(futures_executor::block_on(sig.asend_robust("app", &())).is_empty());
    assert!(!sig.has_listeners("app"), "a muted signal has no listener");
    assert_eq!(sig.receiver_count(), 2, "muted receivers stay connected");
    assert!(sig.connections().iter().all(|c| c.muted));
    drop(muted);
    assert!(!sig.is_muted());
    assert_eq!(sig.send_robust("app", &()).len(), 2, "both called again");
    let awaited = futures_executor::block_on(sig.asend("app", &())).unwrap();
    assert_eq!(awaited.values(), [1, 2]);
}

#[test]
fn mutes_nest() {
    let sig: Signal<(), &'static str, u32> = Signal::new("nested");
    counting(&sig, 1);
    let outer = sig.mute();
    let inner = sig.mute();
    drop(inner);
    assert!(values(&sig).is_empty(), "the outer mute still holds");
    let inner_again = sig.mute();
    drop(outer);
    assert!(values(&sig).is_empty(), "guards may drop in any order");
    drop(inner_again);
    assert_eq!(values(&sig), [1]);
}

#[test]
fn one_receiver_muted_by_id_or_uid() {
    let sig: Signal<(), &'static str, u32> = Signal::new("one");
    let first = counting(&sig, 1);
    counting(&sig, 2);
    let _ = sig.connect_with(
        |_: &&str, _: &()| 3,
        ConnectOptions::new().dispatch_uid("search.reindex"),
    );
    let _ = sig.connect_with(
        |_: &&str, _: &()| 4,
        ConnectOptions::new()
            .dispatch_uid("search.reindex")
            .sender("users"),
    );
    {
        let _by_id = sig.mute_receiver(first);
        assert_eq!(values(&sig), [2, 3]);
        let _by_id_again = sig.mute_receiver(first);
        let _by_uid = sig.mute_uid("search.reindex");
        assert_eq!(values(&sig), [2]);
        assert_eq!(sig.send("users", &()).unwrap().values(), [2], "any sender");
        let muted: Vec<bool> = sig.connections().iter().map(|c| c.muted).collect();
        assert_eq!(muted, [true, false, true, true]);
    }
    assert_eq!(values(&sig), [1, 2, 3]);
    assert_eq!(sig.send("users", &()).unwrap().values(), [1, 2, 3, 4]);
}

#[test]
fn a_uid_mute_covers_a_receiver_connected_while_it_lives() {
    let sig: Signal<(), &'static str, u32> = Signal::new("later");
    let muted = sig.mute_uid("late");
    let _ = sig.connect_with(
        |_: &&str, _: &()| 9,
        ConnectOptions::new().dispatch_uid("late"),
    );
    counting(&sig, 1);
    assert_eq!(values(&sig), [1]);
    drop(muted);
    assert_eq!(values(&sig), [9, 1]);
}

/// A link-time signal and receiver: muting by the receiver's uid, its path.
#[signal(providing_args = [n: u32])]
pub static audited: Signal;

static AUDITS: AtomicUsize = AtomicUsize::new(0);

#[receiver(audited)]
fn audit(n: &u32) {
    AUDITS.fetch_add(*n as usize, Ordering::SeqCst);
}

#[test]
fn a_link_time_receiver_is_muted_by_its_path() {
    let uid = audited.connections()[0].dispatch_uid.clone().unwrap();
    assert_eq!(uid, "muting::audit");
    {
        let _quiet = audited.mute_uid(uid);
        audited.send("app", &AuditedArgs { n: 1 }).unwrap();
    }
    audited.send("app", &AuditedArgs { n: 10 }).unwrap();
    assert_eq!(AUDITS.load(Ordering::SeqCst), 10);
}

#[test]
fn a_mute_does_not_reach_another_signal_sent_from_other_threads() {
    static MUTED: Signal<(), &'static str, u32> = Signal::new("muted here");
    static OTHER: Signal<(), &'static str, u32> = Signal::new("sent elsewhere");
    let _ = MUTED.connect(|_: &&str, _: &()| 1);
    let _ = OTHER.connect(|_: &&str, _: &()| 2);
    let start = Barrier::new(5);
    let stop = AtomicBool::new(false);
    let other_sends = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let senders: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    while !stop.load(Ordering::Relaxed) {
                        // Another test's signal: never muted.
                        assert_eq!(OTHER.send("app", &()).unwrap().values(), [2]);
                        other_sends.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        start.wait();
        // Mute and unmute until the other threads have sent plenty.
        let mut mutes = 0;
        while mutes < 2_000 || other_sends.load(Ordering::Relaxed) < 40_000 {
            let _muted = MUTED.mute();
            assert!(MUTED.send("app", &()).unwrap().is_empty());
            mutes += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for sender in senders {
            sender.join().unwrap();
        }
    });
    assert_eq!(MUTED.send("app", &()).unwrap().values(), [1]);
}
