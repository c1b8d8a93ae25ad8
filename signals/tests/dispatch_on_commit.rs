//! Dispatch on commit: `signals::defer()` scopes,
//! committed, dropped, discarded and nested; `send_on_commit` outside a
//! scope; failing receivers at commit; a scope per thread.

use std::sync::Mutex;

use signals::defer::{discarded_total, SentOrQueued};
use signals::testing::Recorder;
use signals::{ReceiverError, Signal};

/// What the receivers of each signal saw, in order, across the test's thread.
static SAVED: Signal<String> = Signal::new("saved");
static MAILED: Signal<String> = Signal::new("mailed");

fn sends_of(recorder: &Recorder<'_, String, &'static str, ()>) -> Vec<String> {
    recorder.records().into_iter().map(|r| r.args).collect()
}

#[test]
fn a_committed_scope_sends_in_order_across_signals() {
    let saved = Recorder::attach(&SAVED);
    let mailed = Recorder::attach(&MAILED);
    let tx = signals::defer();
    assert!(matches!(
        SAVED.send_on_commit("users", "ada".into()),
        SentOrQueued::Queued
    ));
    let _ = MAILED.send_on_commit("mailer", "welcome ada".into());
    let _ = SAVED.send_on_commit("users", "grace".into());
    SAVED.send("users", &"immediate".to_string()).unwrap();
    assert_eq!(tx.len(), 3);
    assert_eq!(
        sends_of(&saved),
        ["immediate"],
        "a plain send is not deferred"
    );
    let committed = tx.commit();
    assert_eq!(
        (committed.sent(), committed.failed(), committed.moved()),
        (3, 0, 0)
    );
    assert_eq!(sends_of(&saved), ["immediate", "ada", "grace"]);
    assert_eq!(sends_of(&mailed), ["welcome ada"]);
    // Committed in queue order: the mail went out between the two saves.
    let all: Vec<u64> = saved
        .records()
        .iter()
        .chain(mailed.records().iter())
        .map(|r| r.sequence)
        .collect();
    let mailed_at = mailed.records()[0].sequence;
    assert!(
        saved.records()[1].sequence < mailed_at && mailed_at < saved.records()[2].sequence,
        "{all:?}"
    );
}

#[test]
fn a_dropped_scope_discards_and_counts() {
    let saved = Recorder::attach(&SAVED);
    let before = discarded_total();
    {
        let _tx = signals::defer();
        let _ = SAVED.send_on_commit("users", "rolled back".into());
        let _ = SAVED.send_on_commit("users", "rolled back too".into());
    }
    assert!(sends_of(&saved).is_empty());
    // Other tests discard in parallel: at least ours were counted.
    assert!(discarded_total() >= before + 2);
    let tx = signals::defer();
    let _ = SAVED.send_on_commit("users", "discarded".into());
    assert_eq!(tx.discard(), 1);
    assert!(sends_of(&saved).is_empty());
}

#[test]
fn nested_scopes_commit_into_the_outer_one() {
    let saved = Recorder::attach(&SAVED);
    let outer = signals::defer();
    let _ = SAVED.send_on_commit("users", "outer 1".into());
    {
        let inner = signals::defer();
        let _ = SAVED.send_on_commit("users", "inner".into());
        let committed = inner.commit();
        assert_eq!((committed.sent(), committed.moved()), (0, 1));
    }
    {
        let _rolled_back = signals::defer();
        let _ = SAVED.send_on_commit("users", "inner, rolled back".into());
    }
    let _ = SAVED.send_on_commit("users", "outer 2".into());
    assert!(
        sends_of(&saved).is_empty(),
        "nothing is sent before the outer commit"
    );
    assert_eq!(outer.len(), 3);
    assert_eq!(outer.commit().sent(), 3);
    assert_eq!(sends_of(&saved), ["outer 1", "inner", "outer 2"]);
}

#[test]
fn an_inner_commit_after_the_outer_one_sends_at_once() {
    let saved = Recorder::attach(&SAVED);
    let outer = signals::defer();
    let inner = signals::defer();
    let _ = SAVED.send_on_commit("users", "inner".into());
    // Guards committed out of order: the outer one holds nothing yet.
    assert_eq!(outer.commit().sent(), 0);
    assert_eq!(inner.commit().sent(), 1);
    assert_eq!(sends_of(&saved), ["inner"]);
}

#[test]
fn outside_a_scope_send_on_commit_sends_at_once() {
    let saved = Recorder::attach(&SAVED);
    match SAVED.send_on_commit("users", "now".into()) {
        SentOrQueued::Sent(outcomes) => assert!(!outcomes.is_empty()),
        SentOrQueued::Queued => panic!("no scope is open"),
    }
    assert_eq!(sends_of(&saved), ["now"]);
}

#[test]
fn receivers_that_fail_at_commit_are_counted_and_the_rest_still_run() {
    static CHECKED: Signal<u32> = Signal::new("checked");
    let _ = CHECKED.connect(|_: &&str, n: &u32| -> Result<(), std::fmt::Error> {
        if *n == 2 {
            Err(std::fmt::Error)
        } else {
            Ok(())
        }
    });
    let _ = CHECKED.connect(|_: &&str, n: &u32| {
        assert!(*n != 3, "boom");
    });
    let seen = Recorder::attach(&CHECKED);
    let tx = signals::defer();
    for n in 1..=4 {
        let _ = CHECKED.send_on_commit("app", n);
    }
    let committed = tx.commit();
    assert_eq!((committed.sent(), committed.failed()), (4, 2));
    let args: Vec<u32> = seen.records().into_iter().map(|r| r.args).collect();
    assert_eq!(args, [1, 2, 3, 4]);
    if let SentOrQueued::Sent(outcomes) = CHECKED.send_on_commit("app", 2) {
        assert!(matches!(outcomes[0], Err(ReceiverError::Failed(_))));
    }
}

#[test]
fn a_scope_defers_only_its_own_threads_sends() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static SHARED: Signal<String> = Signal::new("shared");
    let _ = SHARED.connect(|_: &&str, who: &String| SEEN.lock().unwrap().push(who.clone()));
    let tx = signals::defer();
    let _ = SHARED.send_on_commit("app", "this thread".into());
    std::thread::spawn(|| {
        let _ = SHARED.send_on_commit("app", "other thread".into());
    })
    .join()
    .unwrap();
    assert_eq!(*SEEN.lock().unwrap(), ["other thread"]);
    let _ = tx.commit();
    assert_eq!(*SEEN.lock().unwrap(), ["other thread", "this thread"]);
}

#[test]
fn a_receiver_that_defers_during_commit_sends_at_once() {
    static FIRST: Signal<u32> = Signal::new("first");
    static SECOND: Signal<u32> = Signal::new("second");
    let _ = FIRST.connect(|_: &&str, n: &u32| {
        // The scope is closed while its queue runs.
        assert!(matches!(
            SECOND.send_on_commit("chained", n + 1),
            SentOrQueued::Sent(_)
        ));
    });
    let second = Recorder::attach(&SECOND);
    let tx = signals::defer();
    let _ = FIRST.send_on_commit("app", 1);
    let _ = tx.commit();
    assert_eq!(second.records()[0].args, 2);
}
