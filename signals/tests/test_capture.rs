//! Test capture (`signals::testing::Recorder`): what each send carried, the
//! assertions and their messages, order across signals, a signal with
//! link-time `#[receiver]`s, and a test thread that sends the same signal
//! while another test records it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use signals::testing::{assert_sent_before, Recorder};
use signals::{receiver, signal, Signal};

static SAVED: Signal<u32> = Signal::new("saved");
static MAILED: Signal<String> = Signal::new("mailed");

/// The panic message of `check`, which must fail.
fn failure(check: impl FnOnce()) -> String {
    let panic = catch_unwind(AssertUnwindSafe(check)).expect_err("the assertion fails");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_default()
}

#[test]
fn the_assertions_and_their_messages() {
    let sig: Signal<u32> = Signal::new("numbers");
    let recorder = Recorder::attach(&sig);
    recorder.assert_not_sent();
    assert_eq!(
        failure(|| recorder.assert_sent()),
        "expected `numbers` to be sent, but it was not sent"
    );
    sig.send("a", &1).unwrap();
    sig.send("b", &2).unwrap();
    recorder.assert_sent();
    recorder.assert_sent_times(2);
    recorder.assert_sent_with("b", &2);
    assert_eq!(
        failure(|| recorder.assert_sent_once_with("a", &1)),
        "expected `numbers` to be sent once by \"a\" with 1, but it was sent 2 time(s):\n  \
         1. sender \"a\", args 1\n  2. sender \"b\", args 2"
    );
    assert!(failure(|| recorder.assert_not_sent()).contains("it was sent 2 time(s)"));
    assert!(failure(|| recorder.assert_sent_times(3)).contains("to be sent 3 time(s)"));
    assert!(failure(|| recorder.assert_sent_with("c", &3)).contains("by \"c\" with 3"));
    recorder.clear();
    sig.send("a", &1).unwrap();
    recorder.assert_sent_once_with("a", &1);
    drop(recorder);
    assert_eq!(
        sig.receiver_count(),
        0,
        "the recorder disconnects when dropped"
    );
}

#[test]
fn a_projection_and_the_order_across_signals() {
    let saved = Recorder::attach(&SAVED);
    let mailed = Recorder::attach_with(&MAILED, |address: &String| address.len());
    SAVED.send("users", &7).unwrap();
    MAILED
        .send("mailer", &"ada@example.com".to_owned())
        .unwrap();
    saved.assert_sent_once_with("users", &7);
    mailed.assert_sent_once_with("mailer", &15);
    assert_sent_before(&saved, &mailed);
    assert_eq!(
        failure(|| assert_sent_before(&mailed, &saved)),
        "expected `mailed` to be sent before `saved`, but it came after"
    );
}

#[test]
fn parallel_tests_sending_the_same_signal_do_not_see_each_other() {
    static SHARED: Signal<u32> = Signal::new("shared");
    let mine = Recorder::attach(&SHARED);
    let everyone = Recorder::attach_all_threads(&SHARED);
    // Another "test" sends the same signal on its own thread meanwhile.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 0..100 {
                SHARED.send("other-test", &n).unwrap();
            }
        });
        SHARED.send("this-test", &1).unwrap();
    });
    mine.assert_sent_once_with("this-test", &1);
    everyone.assert_sent_times(101);
}

/// A signal with a link-time receiver.
#[signal(providing_args = [n: u32])]
pub static counted: Signal;

static LINKED_CALLS: AtomicUsize = AtomicUsize::new(0);

#[receiver(counted)]
fn linked(n: &u32) {
    LINKED_CALLS.fetch_add(*n as usize, Ordering::Relaxed);
}

#[test]
fn link_time_receivers_still_run() {
    let recorder = Recorder::attach_with(&counted, |args: &CountedArgs| args.n);
    let responses = counted.send("app", &CountedArgs { n: 5 }).unwrap();
    assert_eq!(
        responses.len(),
        2,
        "the link-time receiver and the recorder"
    );
    recorder.assert_sent_once_with("app", &5);
    assert_eq!(LINKED_CALLS.load(Ordering::Relaxed), 5);
}
