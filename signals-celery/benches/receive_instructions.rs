#![allow(missing_docs)]
//! Instructions per received event, counted by callgrind rather than timed: run
//! by `scripts/instruction_counts.sh` (at the workspace root) with the core's
//! send cases, which runs each case twice under `valgrind --tool=callgrind`
//! with different iteration counts and divides the difference, so set-up and
//! start-up cancel out.
//!
//! `cargo bench -p signals-celery --bench receive_instructions -- CASE EVENTS`
//! runs one case. With no arguments, it runs every case once, briefly, so that
//! `cargo bench` does not fail on it.

use std::hint::black_box;

/// The cases: the receiver with a typed handler or a cluster state, and the
/// state fed directly.
const CASES: &[&str] = &[
    "receive_typed",
    "receive_state",
    "state_apply",
    "state_scan_apply",
];

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
    use signals_celery::events::{Delivery, EventReceiver, Received, State, TaskSucceeded};
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
    use signals_celery::events::{Event, EventRef, State};
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

fn run(case: &str, events: u64) {
    if case.starts_with("state_") {
        apply_state(case, events)
    } else {
        receive(case, events)
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    match args.as_slice() {
        [case, events] => run(case, events.parse().expect("EVENTS is a number")),
        _ => CASES.iter().for_each(|case| run(case, 1_000)),
    }
}
