#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [task_id: String], caching)]
pub static task_sent: Signal;

fn main() {}
