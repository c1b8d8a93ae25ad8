#![allow(unused_variables)]

use signals::signal;

#[signal(sender = String, sender = u64)]
pub static task_sent: Signal;

fn main() {}
