#![allow(unused_variables)]

use signals::signal;

#[signal(providing_args = [task_id: String])]
pub fn task_sent() {}

fn main() {}
