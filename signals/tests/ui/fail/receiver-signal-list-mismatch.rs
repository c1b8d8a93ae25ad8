#![allow(unused_variables)]

use signals::{receiver, signal};

/// Sent when a task is published.
#[signal(providing_args = [task_id: String, retries: u32, eta: Option<u64>])]
pub static task_sent: Signal;

/// Sent when a task starts.
#[signal(providing_args = [task_id: String])]
pub static task_prerun: Signal;

#[receiver([task_sent, task_prerun])]
fn on_task(task_id: &String, retries: &u32) {}

fn main() {}
