#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [task_id: String])]
pub static task_sent: Signal = Signal::new("x");

fn main() {}
