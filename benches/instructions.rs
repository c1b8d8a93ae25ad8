#![allow(missing_docs)]
//! Instructions per send, counted by callgrind rather than timed: run by
//! `scripts/instruction_counts.sh`, which runs each case twice under
//! `valgrind --tool=callgrind` with different iteration counts and divides the
//! difference, so set-up and start-up cancel out.
//!
//! `cargo bench --bench instructions -- CASE ITERATIONS` runs one case (no
//! timing is printed: criterion is not used). With no arguments, it runs every
//! case once, briefly, so that `cargo bench` does not fail on it.

mod support;

use std::hint::black_box;

use signals::ConnectOptions;
use support::{receiver, Args, Sig};

/// The cases: a name and the signal's set-up, then the call measured.
const CASES: &[&str] = &[
    "send_0",
    "send_1",
    "send_10",
    "send_robust_1",
    "send_robust_10",
    "send_filtered_10",
    "send_filtered_cached_1",
    "send_filtered_cached_10",
    "send_100",
    "send_filtered_cached_100",
    "has_listeners_miss",
    "receive_typed",
    "receive_state",
    "state_apply",
    "state_scan_apply",
];

fn signal_for(case: &str) -> Sig {
    let sig = if case.starts_with("send_filtered_cached") {
        Sig::new("counted").with_caching()
    } else {
        Sig::new("counted")
    };
    let (n, sender) = match case {
        "send_0" | "has_listeners_miss" => (0, None),
        "send_1" | "send_robust_1" => (1, None),
        "send_filtered_cached_1" => (1, Some("tasks.add")),
        "send_filtered_10" | "send_filtered_cached_10" => (10, Some("tasks.add")),
        "send_filtered_cached_100" => (100, Some("tasks.add")),
        "send_100" => (100, None),
        _ => (10, None),
    };
    for i in 0..n {
        let options = match sender {
            // Half for our sender, half for another one.
            Some(sender) if i % 2 == 0 => ConnectOptions::new().sender(sender),
            Some(_) => ConnectOptions::new().sender("tasks.mul"),
            None => ConnectOptions::new(),
        };
        let _ = sig.connect_with(receiver(i), options);
    }
    if case == "has_listeners_miss" {
        let _ = sig.connect_with(receiver(99), ConnectOptions::new().sender("tasks.mul"));
    }
    // Initialized before the loop: the first use is not measured.
    let _ = sig.has_listeners("tasks.add");
    sig
}

/// A `task.multi` body as a Celery worker's dispatcher groups it: 100
/// events, keys in Celery's order. `task` numbers the tasks, so that the
/// state sees new tasks.
fn multi_body(first_task: u64, kinds: &[&str]) -> Vec<u8> {
    let mut body = String::from("[");
    for i in 0..100u64 {
        let task = first_task + i / kinds.len() as u64;
        let kind = kinds[i as usize % kinds.len()];
        if i > 0 {
            body.push_str(", ");
        }
        body.push_str(&format!(
            "{{\"hostname\": \"celery@worker{w}\", \"utcoffset\": 0, \"pid\": {pid}, \"clock\": {clock}, \
             \"uuid\": \"9b7f1c2e-0000-4000-8000-{task:012}\", \"result\": \"4\", \"runtime\": 0.0123, \
             \"name\": \"proj.tasks.job{n}\", \"timestamp\": {at}, \"type\": \"{kind}\"}}",
            w = task % 8,
            pid = 1000 + task % 8,
            clock = first_task * 4 + i + 1,
            n = task % 50,
            at = 1_700_000_000.0 + (first_task * 4 + i) as f64 * 0.001,
        ));
    }
    body.push(']');
    body.into_bytes()
}

/// Receives `events / 100` grouped messages of 100 events: with a typed
/// handler (`receive_typed`), or into a cluster state (`receive_state`).
fn receive(case: &str, events: u64) {
    use signals::events::{Delivery, EventReceiver, Received, State, TaskSucceeded};
    use std::sync::Arc;
    let handled = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = handled.clone();
    let builder = EventReceiver::builder().dedup_window(0);
    let receiver = if case == "receive_state" {
        builder.on_state(Arc::new(State::new())).build()
    } else {
        builder
            .on(move |event: &Received<TaskSucceeded>| {
                counter.fetch_add(
                    black_box(event.runtime) as u64 + 1,
                    std::sync::atomic::Ordering::Relaxed,
                );
            })
            .build()
    };
    // Made before the loop, the same number whatever the iterations, so that
    // making them cancels out of the difference the script takes.
    let bodies: Vec<Vec<u8>> = if case == "receive_state" {
        // 25 tasks a message, each sent, received, started, succeeded.
        let kinds = [
            "task-sent",
            "task-received",
            "task-started",
            "task-succeeded",
        ];
        (0..MAX_RECEIVE_EVENTS / 100)
            .map(|m| multi_body(m * 25, &kinds))
            .collect()
    } else {
        vec![multi_body(0, &["task-succeeded"])]
    };
    assert!(
        events <= MAX_RECEIVE_EVENTS,
        "at most {MAX_RECEIVE_EVENTS} events"
    );
    let deliveries: Vec<Delivery> = bodies
        .into_iter()
        .map(|body| Delivery {
            routing_key: "task.multi".into(),
            content_type: "application/json".into(),
            content_encoding: "utf-8".into(),
            delivery_tag: None,
            body,
        })
        .collect();
    for message in 0..(events / 100) as usize {
        let delivery = &deliveries[message % deliveries.len()];
        black_box(
            receiver
                .receive(black_box(delivery))
                .expect("a good message"),
        );
    }
}

/// The most events a `receive_*` case takes (`scripts/instruction_counts.sh`
/// gives them 20,000 and 40,000).
const MAX_RECEIVE_EVENTS: u64 = 40_000;

/// Applies `events` recorded events to a cluster state: parsed ones
/// (`state_apply`, `State::apply`), or JSON text read by the scanner
/// (`state_scan_apply`, `State::apply_ref`). The events are those of
/// `receive_state`, with `local_received` as a receiver stamps it.
fn apply_state(case: &str, events: u64) {
    use signals::events::{Event, EventRef, State};
    assert!(
        events <= MAX_RECEIVE_EVENTS,
        "at most {MAX_RECEIVE_EVENTS} events"
    );
    let kinds = [
        "task-sent",
        "task-received",
        "task-started",
        "task-succeeded",
    ];
    let mut texts: Vec<Vec<u8>> = Vec::new();
    let mut parsed: Vec<Event> = Vec::new();
    for message in 0..MAX_RECEIVE_EVENTS / 100 {
        let body = multi_body(message * 25, &kinds);
        EventRef::scan_body(&body, |event| {
            let mut event = event.to_event();
            let at = event.timestamp().unwrap_or_default();
            event
                .fields_mut()
                .insert("local_received".into(), (at + 0.0004).into());
            texts.push(serde_json::to_vec(&event).expect("JSON"));
            parsed.push(event);
        })
        .expect("JSON");
    }
    let state = State::new();
    for index in 0..events as usize {
        if case == "state_apply" {
            black_box(state.apply(black_box(&parsed[index])));
        } else {
            let _ = EventRef::scan_body(black_box(&texts[index]), |event| {
                black_box(state.apply_ref(event));
            });
        }
    }
}

fn run(case: &str, iterations: u64) {
    if case.starts_with("state_") {
        return apply_state(case, iterations);
    }
    if case.starts_with("receive_") {
        return receive(case, iterations);
    }
    let sig = signal_for(case);
    let args = Args { a: 1, b: 2 };
    for _ in 0..iterations {
        match case {
            "send_robust_1" | "send_robust_10" => {
                black_box(sig.send_robust(black_box("tasks.add"), &args));
            }
            "has_listeners_miss" => {
                black_box(sig.has_listeners(black_box("tasks.add")));
            }
            _ => {
                let _ = black_box(sig.send(black_box("tasks.add"), &args));
            }
        }
    }
}

fn main() {
    // With the `tracing-spans` feature, `SIGNALS_BENCH_SUBSCRIBER=1` measures
    // the spans switched on: a registry subscriber records every span.
    if std::env::var_os("SIGNALS_BENCH_SUBSCRIBER").is_some() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber =
            tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new());
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    match args.as_slice() {
        [case, iterations] => run(case, iterations.parse().expect("ITERATIONS is a number")),
        _ => CASES.iter().for_each(|case| run(case, 1_000)),
    }
}
