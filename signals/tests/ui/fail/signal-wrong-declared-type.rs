#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [task_id: String])]
pub static mut task_sent: signals::Signal<String>;

fn main() {}
