#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [task_id, eta: Option<u64>])]
pub static task_sent: Signal;

fn main() {}
