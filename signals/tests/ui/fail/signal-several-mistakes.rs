#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [task_id, task_id: u64, signal: u8], cache, name = 5)]
pub static task_sent: Signal;

fn main() {}
