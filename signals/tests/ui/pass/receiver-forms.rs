//! Every form `#[receiver]` accepts.
use signals::{receiver, signal, RetryPolicy};
use std::time::Duration;

/// The signal most receivers below listen to.
#[signal(providing_args = [task_id: String, tags: Vec<String>, eta: Option<u64>, retries: u32])]
pub static task_sent: Signal;

/// A second signal sharing `task_id`, for receivers on a list of signals.
#[signal(providing_args = [task_id: String])]
pub static task_prerun: Signal;

/// A signal whose receivers return a value.
#[signal(providing_args = [n: u64], sender = u8, response = u64)]
pub static doubled: Signal;

pub mod signals_mod {
    /// A signal in a module, named by path.
    #[signals::signal(providing_args = [value: i32])]
    pub static changed: Signal;
}

// No parameters at all.
#[receiver(task_sent)]
fn nothing() {}

// A subset, in any order, borrowed forms: `&str` for `String`, `&[T]` for
// `Vec<T>`, `Option<&U>` for `Option<U>`, `&Option<U>` as it is.
#[receiver(task_sent)]
fn subset(eta: Option<&u64>, task_id: &str, tags: &[String], retries: &u32) {
    let _ = (eta, task_id, tags, retries);
}

#[receiver(task_sent)]
fn whole_option(eta: &Option<u64>) {
    let _ = eta;
}

// The sender and the signal itself.
#[receiver(task_sent, sender = "tasks.add")]
fn with_sender(sender: &&str, signal: &signals::Signal<TaskSentArgs>) {
    let _ = (sender, signal.name());
}

// A list of signals: only what both provide.
#[receiver([task_sent, task_prerun], dispatch_uid = "audit")]
fn on_either(task_id: &String) {
    let _ = task_id;
}

// A value, and a fallible receiver.
#[receiver(doubled)]
fn double(n: &u64) -> u64 {
    n * 2
}

#[receiver(doubled, sender = 1u8, retry = RetryPolicy::max_retries(1).intervals(Duration::ZERO, Duration::ZERO, Duration::ZERO))]
fn checked(n: &u64) -> Result<u64, std::io::Error> {
    Ok(n + 1)
}

// A signal named by path, with a `Result<(), E>` on a `()` signal.
#[receiver(signals_mod::changed)]
fn on_changed(value: &i32) -> Result<(), String> {
    if *value < 0 {
        return Err("negative".into());
    }
    Ok(())
}

// A public receiver, callable as a plain function too.
#[receiver(crate::task_prerun)]
pub fn public(task_id: &String) {
    let _ = task_id;
}

fn main() {
    let args = TaskSentArgs { task_id: "t".into(), tags: vec![], eta: Some(1), retries: 0 };
    assert_eq!(task_sent.send("tasks.add", &args).unwrap().len(), 5);
    assert_eq!(task_prerun.send("x", &TaskPrerunArgs { task_id: "t".into() }).unwrap().len(), 2);
    assert_eq!(doubled.send(1, &DoubledArgs { n: 4 }).unwrap().values(), [5, 8]); // by function path: `checked` < `double`
    assert!(signals_mod::changed.send("x", &signals_mod::ChangedArgs { value: -1 }).is_err());
    public(&"direct".to_string());
}
