//! Test capture: a [`Recorder`] connected to a signal for the length of a
//! test keeps what each send carried, with assertions that fail with a
//! readable message (what Django's never-merged `assertSignalSent` and
//! psygnal's `assert_emitted` do).
//!
//! ```
//! use signals::testing::{assert_sent_before, Recorder};
//! use signals::Signal;
//!
//! static SAVED: Signal<u32> = Signal::new("saved");
//! static MAILED: Signal<String> = Signal::new("mailed");
//!
//! fn code_under_test() {
//!     SAVED.send("users", &7).unwrap();
//!     MAILED.send("mailer", &"ada@example.com".to_string()).unwrap();
//! }
//!
//! let saved = Recorder::attach(&SAVED);
//! let mailed = Recorder::attach(&MAILED);
//! code_under_test();
//! saved.assert_sent_once_with("users", &7);
//! mailed.assert_sent_times(1);
//! assert_sent_before(&saved, &mailed);
//! ```
//!
//! By default a recorder keeps only the sends made on the thread that attached
//! it, so that tests running in parallel threads, sending the same signal, do
//! not see each other's sends; [`Recorder::attach_all_threads`] keeps every
//! send. The recorder is a receiver like any other: link-time `#[receiver]`s
//! still run, and a send's responses include the recorder's (`R::default()`).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use crate::lock::lock;
use crate::scoped::ScopedConnection;
use crate::signal::Signal;

/// Orders records across every recorder of the process.
static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// One send as a recorder kept it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<S, T> {
    /// The sender.
    pub sender: S,
    /// The arguments, or the projection of them the recorder was given.
    pub args: T,
    /// When, among every recorder's records in this process.
    pub sequence: u64,
}

/// Records the sends of one signal while it lives (it disconnects when
/// dropped, also while a failing test unwinds).
#[must_use = "the recorder stops recording when dropped"]
pub struct Recorder<'s, A, S, R, T = A>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    name: &'static str,
    records: Arc<Mutex<Vec<Record<S, T>>>>,
    _connection: ScopedConnection<'s, A, S, R>,
}

impl<'s, A, S, R> Recorder<'s, A, S, R, A>
where
    A: Clone + Send + Sync + 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: Default + 'static,
{
    /// Records `(sender, args.clone())` of each send made on this thread.
    pub fn attach(signal: &'s Signal<A, S, R>) -> Self {
        Self::attach_with(signal, A::clone)
    }

    /// Records `(sender, args.clone())` of each send, from any thread.
    pub fn attach_all_threads(signal: &'s Signal<A, S, R>) -> Self {
        Self::connect(signal, A::clone, None)
    }
}

impl<'s, A, S, R, T> Recorder<'s, A, S, R, T>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: Default + 'static,
    T: Send + 'static,
{
    /// Records `(sender, project(args))` of each send made on this thread:
    /// for arguments that are not `Clone`, or to keep only what the test
    /// checks.
    pub fn attach_with(
        signal: &'s Signal<A, S, R>,
        project: impl Fn(&A) -> T + Send + Sync + 'static,
    ) -> Self {
        Self::connect(signal, project, Some(std::thread::current().id()))
    }

    fn connect(
        signal: &'s Signal<A, S, R>,
        project: impl Fn(&A) -> T + Send + Sync + 'static,
        thread: Option<ThreadId>,
    ) -> Self {
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&records);
        let receiver = move |sender: &S, args: &A| {
            if thread.is_none_or(|thread| thread == std::thread::current().id()) {
                lock(&sink).push(Record {
                    sender: sender.clone(),
                    args: project(args),
                    sequence: NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed),
                });
            }
            R::default()
        };
        Self {
            name: signal.name(),
            records,
            _connection: signal.connect_scoped(receiver),
        }
    }
}

impl<A, S, R, T> Recorder<'_, A, S, R, T>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + Debug + 'static,
    R: 'static,
    T: Clone + PartialEq + Debug,
{
    /// The sends recorded so far, in order.
    pub fn records(&self) -> Vec<Record<S, T>> {
        lock(&self.records).clone()
    }

    /// How many sends were recorded.
    pub fn count(&self) -> usize {
        lock(&self.records).len()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        lock(&self.records).clear();
    }

    /// Fails unless the signal was sent at least once.
    #[track_caller]
    pub fn assert_sent(&self) {
        if self.count() == 0 {
            panic!("expected `{}` to be sent, but it was not sent", self.name);
        }
    }

    /// Fails if the signal was sent.
    #[track_caller]
    pub fn assert_not_sent(&self) {
        let records = lock(&self.records);
        if !records.is_empty() {
            panic!(
                "expected `{}` not to be sent, but it was sent {} time(s):\n{}",
                self.name,
                records.len(),
                listing(&records)
            );
        }
    }

    /// Fails unless the signal was sent exactly `times` times.
    #[track_caller]
    pub fn assert_sent_times(&self, times: usize) {
        let records = lock(&self.records);
        if records.len() != times {
            panic!(
                "expected `{}` to be sent {times} time(s), but it was sent {} time(s):\n{}",
                self.name,
                records.len(),
                listing(&records)
            );
        }
    }

    /// Fails unless the signal was sent exactly once, by `sender`, with `args`.
    #[track_caller]
    pub fn assert_sent_once_with(&self, sender: impl Into<S>, args: &T) {
        let sender = sender.into();
        let records = lock(&self.records);
        let matches = records.len() == 1 && records[0].sender == sender && &records[0].args == args;
        if !matches {
            panic!(
                "expected `{}` to be sent once by {sender:?} with {args:?}, \
                 but it was sent {} time(s):\n{}",
                self.name,
                records.len(),
                listing(&records)
            );
        }
    }

    /// Fails unless some send came from `sender` with `args`.
    #[track_caller]
    pub fn assert_sent_with(&self, sender: impl Into<S>, args: &T) {
        let sender = sender.into();
        let records = lock(&self.records);
        if !records
            .iter()
            .any(|record| record.sender == sender && &record.args == args)
        {
            panic!(
                "expected `{}` to be sent by {sender:?} with {args:?}; its {} send(s):\n{}",
                self.name,
                records.len(),
                listing(&records)
            );
        }
    }
}

/// What a recorder saw first, for ordering across signals.
pub trait Recorded {
    /// The signal's name.
    fn signal_name(&self) -> &'static str;
    /// The sequence number of the first record, if any.
    fn first_sequence(&self) -> Option<u64>;
}

impl<A, S, R, T> Recorded for Recorder<'_, A, S, R, T>
where
    A: 'static,
    S: Eq + Hash + Clone + Send + Sync + 'static,
    R: 'static,
{
    fn signal_name(&self) -> &'static str {
        self.name
    }

    fn first_sequence(&self) -> Option<u64> {
        lock(&self.records).first().map(|record| record.sequence)
    }
}

/// Fails unless `earlier`'s signal was first sent before `later`'s.
#[track_caller]
pub fn assert_sent_before(earlier: &dyn Recorded, later: &dyn Recorded) {
    match (earlier.first_sequence(), later.first_sequence()) {
        (Some(first), Some(second)) if first < second => {}
        (None, _) => panic!(
            "expected `{}` to be sent first, but it was not sent",
            earlier.signal_name()
        ),
        (_, None) => panic!(
            "expected `{}` to be sent after `{}`, but it was not sent",
            later.signal_name(),
            earlier.signal_name()
        ),
        _ => panic!(
            "expected `{}` to be sent before `{}`, but it came after",
            earlier.signal_name(),
            later.signal_name()
        ),
    }
}

fn listing<S: Debug, T: Debug>(records: &[Record<S, T>]) -> String {
    if records.is_empty() {
        return "  (no sends)".into();
    }
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            format!(
                "  {}. sender {:?}, args {:?}",
                i + 1,
                record.sender,
                record.args
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
