#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [sender: String])]
pub static task_sent: Signal;

fn main() {}
