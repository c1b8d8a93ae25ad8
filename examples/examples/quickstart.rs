//! The main example: declare a typed signal with `#[signal]`, register
//! receivers with `#[receiver]` and at runtime, send, and see what happened:
//! sender filters, `dispatch_uid`, a weak receiver, `send` against
//! `send_robust`, and a retrying receiver. In-process only; nothing to set up.
//!
//! `cargo run --example quickstart`

use std::sync::Arc;
use std::time::Duration;

use signals::{receiver, signal, ConnectOptions, Receiver, ReceiverError, RetryPolicy, Signal};

/// Sent when a task is published; the sender is the task's name. Every
/// receiver returns a line of text.
#[signal(
    providing_args = [
        /// The id the task was published under.
        task_id: String,
        /// How long until the task may run, if it was scheduled.
        eta: Option<Duration>,
    ],
    response = String,
    use_caching,
)]
pub static task_published: Signal;

// Registered at link time: live before the first send, no set-up call in main.
// A receiver takes the arguments it needs, by name.
#[receiver(task_published)]
fn audit(sender: &&str, task_id: &str) -> String {
    format!("audit: {sender} [{task_id}]")
}

// Only for one sender (Celery's `sender="tasks.add"`).
#[receiver(task_published, sender = "tasks.add")]
fn add_schedule(eta: Option<&Duration>) -> String {
    match eta {
        Some(eta) => format!("tasks.add scheduled in {eta:?}"),
        None => "tasks.add runs now".to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("metrics backend unavailable")]
struct MetricsDown;

fn main() {
    println!(
        "{} receivers registered at link time",
        task_published.receiver_count()
    );
    // Connecting again with the same dispatch_uid is ignored: the first one wins.
    for _ in 0..3 {
        let conn = task_published.connect_with(
            |_: &&'static str, _: &TaskPublishedArgs| "counted once".to_owned(),
            ConnectOptions::new().dispatch_uid("counter"),
        );
        println!("connect counter: added = {}", conn.is_added());
    }
    // A weak receiver: gone once its owner is dropped.
    let owner = Arc::new(|_: &&'static str, _: &TaskPublishedArgs| "weak listener".to_owned());
    let _ = task_published.connect_with(
        Receiver::from_arc(owner.clone()),
        ConnectOptions::new().weak(true),
    );

    let send = |task: &'static str, eta| {
        let args = TaskPublishedArgs {
            task_id: format!("{task}-1"),
            eta,
        };
        let responses = task_published.send(task, &args).expect("no receiver fails");
        println!("send({task}):");
        for (receiver, response) in &responses {
            println!("  {receiver} -> {response}");
        }
    };
    send("tasks.add", Some(Duration::from_secs(10)));
    send("tasks.mul", None);

    drop(owner);
    println!("after dropping the weak owner:");
    send("tasks.mul", None);

    // send stops at the first error; send_robust calls everyone and reports each.
    static METRICS: Signal<u32> = Signal::new("metrics");
    let _ = METRICS
        .connect(|_: &&'static str, _: &u32| -> Result<(), MetricsDown> { Err(MetricsDown) });
    let _ = METRICS.connect(|_: &&'static str, n: &u32| -> () {
        if *n > 1 {
            panic!("too many: {n}")
        }
    });
    let _ = METRICS.connect(|_: &&'static str, n: &u32| println!("  metrics receiver 3 got {n}"));
    match METRICS.send("app", &2) {
        Ok(_) => println!("metrics send: ok"),
        Err(error) => println!("metrics send stopped: {error}"),
    }
    println!(
        "metrics send_robust (this demo's panic hook keeps the panic message out of the output):"
    );
    // send_robust catches the second receiver's panic and reports it below.
    // This demo silences the default panic hook meanwhile, so that its message
    // (and a backtrace, under RUST_BACKTRACE=1) does not land mid-output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcomes = METRICS.send_robust("app", &2);
    std::panic::set_hook(default_hook);
    for (receiver, outcome) in outcomes {
        match outcome {
            Ok(()) => println!("  {receiver}: ok"),
            Err(ReceiverError::Failed(error)) => println!("  {receiver}: failed: {error}"),
            Err(ReceiverError::Panicked(message)) => println!("  {receiver}: panicked: {message}"),
        }
    }

    // A retrying receiver (Celery's retry=True), bounded.
    static FLAKY: Signal<()> = Signal::new("flaky");
    let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = attempts.clone();
    let _ = FLAKY.connect_with(
        move |_: &&'static str, _: &()| -> Result<(), MetricsDown> {
            if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                Err(MetricsDown)
            } else {
                Ok(())
            }
        },
        ConnectOptions::new().retry(RetryPolicy::max_retries(5).intervals(
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_millis(50),
        )),
    );
    let ok = FLAKY.send("app", &()).is_ok();
    println!(
        "flaky receiver succeeded = {ok} after {} attempts",
        attempts.load(std::sync::atomic::Ordering::SeqCst)
    );
    println!("{:?}", task_published);
}
