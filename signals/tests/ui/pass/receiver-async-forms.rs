//! `#[receiver]` on an `async fn`: the same forms as a sync receiver.
use signals::{receiver, signal, RetryPolicy};
use std::time::Duration;

/// The signal the receivers below listen to.
#[signal(providing_args = [task_id: String, tags: Vec<String>, eta: Option<u64>], response = usize)]
pub static task_sent: Signal;

/// A second signal sharing `task_id`.
#[signal(providing_args = [task_id: String], response = usize)]
pub static task_prerun: Signal;

// Borrowed forms, held across an await.
#[receiver(task_sent)]
async fn subset(eta: Option<&u64>, task_id: &str, tags: &[String]) -> usize {
    std::future::ready(()).await;
    task_id.len() + tags.len() + eta.map_or(0, |_| 1)
}

// The sender, a filter and a uid, a list of signals, a fallible receiver.
#[receiver([task_sent, task_prerun], sender = "tasks.add", dispatch_uid = "audit")]
async fn audit(sender: &&str, task_id: &String) -> Result<usize, std::io::Error> {
    Ok(sender.len() + task_id.len())
}

// A retry policy: its waits are awaited.
#[receiver(task_prerun, retry = RetryPolicy::max_retries(1).intervals(Duration::ZERO, Duration::ZERO, Duration::ZERO))]
async fn retried(task_id: &String) -> usize {
    task_id.len()
}

// A sync receiver beside them.
#[receiver(task_sent)]
fn sync_one() -> usize {
    100
}

fn main() {
    let args = TaskSentArgs { task_id: "t".into(), tags: vec!["a".into()], eta: Some(1) };
    let responses = futures_executor::block_on(task_sent.asend("tasks.add", &args)).unwrap();
    // By dispatch uid: "audit" < "…::subset" < "…::sync_one".
    assert_eq!(responses.values(), [10, 3, 100]);
    let prerun = TaskPrerunArgs { task_id: "abc".into() };
    let responses = futures_executor::block_on(task_prerun.asend("tasks.mul", &prerun)).unwrap();
    assert_eq!(responses.values(), [3]);
    // A sync send cannot run them, and says so.
    assert!(task_sent.send("tasks.add", &args).is_err());
}
