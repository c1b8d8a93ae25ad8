use signals::{receiver, signal};

#[signal(providing_args = [n: u32])]
pub static counted: Signal;

#[receiver(counted, priority = "high")]
fn first(n: &u32) {
    let _ = n;
}

fn main() {}
