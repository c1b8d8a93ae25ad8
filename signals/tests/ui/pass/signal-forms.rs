//! Every form `#[signal]` accepts.
use signals::signal;
use std::borrow::Cow;

/// Arguments in brackets, the default sender (`&'static str`) and response (`()`).
#[signal(providing_args = [task_id: String, eta: Option<u64>])]
pub static task_sent: Signal;

/// Arguments in parentheses, with doc comments that carry over to the fields.
#[signal(providing_args = (
    /// The request's id.
    request_id: u64,
    /// Its headers.
    headers: Vec<(String, String)>,
))]
pub static request_started: Signal;

/// No arguments; a typed sender; cached per sender.
#[signal(sender = Cow<'static, str>, use_caching)]
pub static worker_ready: Signal;

/// Every key.
#[signal(
    providing_args = [count: usize],
    sender = u32,
    response = Result<u8, String>,
    use_caching = false,
    name = "custom.name",
    args = Counted,
)]
pub(crate) static counted: Signal;

mod nested {
    /// Declared in a module, private to the crate.
    #[signals::signal(providing_args = [value: i64])]
    pub(crate) static changed: Signal;
}

fn main() {
    let _ = task_sent.send("tasks.add", &TaskSentArgs { task_id: "t1".into(), eta: None });
    let _ = request_started.send("web", &RequestStartedArgs { request_id: 1, headers: Vec::new() });
    let _ = worker_ready.send(Cow::Borrowed("w1"), &WorkerReadyArgs {});
    assert!(worker_ready.uses_caching());
    assert!(!counted.uses_caching());
    assert_eq!(counted.name(), "custom.name");
    let _ = counted.send(7, &Counted { count: 3 });
    let _ = nested::changed.send("x", &nested::ChangedArgs { value: -1 });
}
