#![allow(unused_variables)]

use signals::{receiver, signal};

/// Sent when a task is published.
#[signal(providing_args = [task_id: String, retries: u32, eta: Option<u64>])]
pub static task_sent: Signal;

#[receiver(task_sent, sendr = "tasks.add", dispatch_uid = 7, retry_policy = 3)]
fn on_sent(task_id: &String) {}

fn main() {}
