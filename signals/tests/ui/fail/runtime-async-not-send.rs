use std::rc::Rc;

use signals::Signal;

static SAVED: Signal<u32> = Signal::new("saved");

async fn audit(_: &&'static str, id: &u32) {
    let shared = Rc::new(*id);
    std::future::ready(()).await;
    println!("{shared}");
}

fn main() {
    SAVED.connect_async(audit);
}
