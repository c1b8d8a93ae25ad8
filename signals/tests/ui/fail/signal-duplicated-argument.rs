#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [task_id: String, task_id: u64])]
pub static task_sent: Signal;

fn main() {}
