#![allow(missing_docs)] // criterion's macros generate undocumented functions
//! `events::State` against Celery 5.7's own `State`, fed the same recorded
//! events in the same run, and our State's memory over 10 million events.
//!
//! The stream: 8 workers sending heartbeats, and tasks of 50 names going
//! sent -> received -> started -> succeeded (one in ten failed), with Lamport
//! clocks and timestamps as a receiver hands them over (`local_received`
//! set). 200,000 events: 50,000 tasks, five times the default bound, so
//! eviction is part of what is measured. Celery's figures come from
//! `scripts/celery_state_bench.py` in the Celery virtualenv `./test.sh`
//! creates, reading the very events written to a temporary file.
//!
//! Three ways to feed the state, each measured for both:
//! - parsed: every event decoded first (a `serde_json` map here, a dict in
//!   Python), then applying them all timed. 200,000 decoded events do not fit
//!   in a cache, so this reads each one cold.
//! - batched: the events decoded 100 at a time (a `.multi` message's
//!   worth) just before they are applied, as a receiver hands them over;
//!   only the applying is timed.
//! - from text: decoding and applying both timed (here the receiver's
//!   scanner and `State::apply_ref`, there `json.loads` and `State.event`).

#[path = "../tests/support/celery.rs"]
#[allow(dead_code)]
mod celery;

use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use signals_celery::events::{Event, EventRef, State};

const EVENTS: usize = 200_000;

/// The `index`-th event of the stream.
fn event_at(index: u64) -> Event {
    let at = 1_700_000_000.0 + index as f64 * 0.001;
    // Every 25th event is a heartbeat of one of 8 workers.
    let fields = if index.is_multiple_of(25) {
        json!({
            "type": "worker-heartbeat", "hostname": format!("celery@worker{}", index % 8),
            "timestamp": at, "local_received": at + 0.0004, "utcoffset": 0, "pid": 1000 + index % 8,
            "clock": index + 1, "freq": 2.0, "active": 4, "processed": index,
            "loadavg": [0.5, 0.4, 0.3], "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux",
        })
    } else {
        let task = index / 4;
        let uuid = format!("9b7f1c2e-0000-4000-8000-{task:012}");
        let worker = format!("celery@worker{}", task % 8);
        let name = format!("proj.tasks.job{}", task % 50);
        match index % 4 {
            0 => {
                json!({"type": "task-sent", "uuid": uuid, "hostname": "client@web1", "timestamp": at,
                "local_received": at + 0.0004, "clock": index + 1, "utcoffset": 0, "pid": 77,
                "name": name, "args": "(1, 2)", "kwargs": "{}", "retries": 0, "eta": null,
                "expires": null, "queue": "celery", "exchange": "", "routing_key": "celery",
                "root_id": uuid, "parent_id": null})
            }
            1 => json!({"type": "task-received", "uuid": uuid, "hostname": worker, "timestamp": at,
                "local_received": at + 0.0004, "clock": index + 1, "utcoffset": 0, "pid": 1000 + task % 8,
                "name": name, "args": "(1, 2)", "kwargs": "{}", "root_id": uuid, "parent_id": null,
                "retries": 0, "eta": null, "expires": null}),
            2 => json!({"type": "task-started", "uuid": uuid, "hostname": worker, "timestamp": at,
                "local_received": at + 0.0004, "clock": index + 1, "utcoffset": 0, "pid": 1000 + task % 8}),
            _ if task % 10 == 9 => json!({"type": "task-failed", "uuid": uuid, "hostname": worker,
                "timestamp": at, "local_received": at + 0.0004, "clock": index + 1, "utcoffset": 0,
                "pid": 1000 + task % 8, "exception": "ValueError('bad input')",
                "traceback": "Traceback (most recent call last):\n  ...\nValueError: bad input\n"}),
            _ => {
                json!({"type": "task-succeeded", "uuid": uuid, "hostname": worker, "timestamp": at,
                "local_received": at + 0.0004, "clock": index + 1, "utcoffset": 0, "pid": 1000 + task % 8,
                "result": "3", "runtime": 0.0123})
            }
        }
    };
    match fields {
        Value::Object(fields) => Event::from_fields(fields),
        _ => unreachable!(),
    }
}

/// Events per message in the batched case.
const BATCH: usize = 100;

/// Applies every event, all decoded up front, to a new state; returns the
/// time spent applying.
fn apply_parsed(events: &[Event]) -> Duration {
    let state = State::new();
    let start = std::time::Instant::now();
    for event in events {
        let _ = state.apply(event);
    }
    start.elapsed()
}

/// Applies `texts` decoded `BATCH` at a time into a new state; returns the
/// time spent applying.
fn apply_batched(texts: &[Vec<u8>]) -> Duration {
    let state = State::new();
    let mut applying = Duration::ZERO;
    for batch in texts.chunks(BATCH) {
        let events: Vec<Event> = batch
            .iter()
            .map(|text| serde_json::from_slice(text).expect("recorded JSON"))
            .collect();
        let start = std::time::Instant::now();
        for event in &events {
            let _ = state.apply(event);
        }
        applying += start.elapsed();
    }
    applying
}

/// Reads each of `texts` with the scanner the receiver uses and applies it
/// borrowed to a new state (what a state fed from the wire does); returns
/// the time both took.
fn scan_and_apply(texts: &[Vec<u8>]) -> Duration {
    let state = State::new();
    let start = std::time::Instant::now();
    for text in texts {
        let _ = EventRef::scan_body(text, |event| {
            state.apply_ref(event);
        });
    }
    start.elapsed()
}

/// Celery's rates on the same events (parsed, batched, from text), through
/// the Python script.
fn celery_rates(events: &[Event]) -> Option<[f64; 3]> {
    let path =
        std::env::temp_dir().join(format!("signals-state-bench-{}.jsonl", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).ok()?);
    for event in events {
        serde_json::to_writer(&mut file, event.fields()).ok()?;
        file.write_all(b"\n").ok()?;
    }
    file.flush().ok()?;
    drop(file);
    let output = std::process::Command::new(celery::venv_program("python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/celery_state_bench.py"
        ))
        .arg(&path)
        .output()
        .expect("python runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    println!("celery State: {report}");
    Some([
        report["events_per_second"].as_f64()?,
        report["events_per_second_batched"].as_f64()?,
        report["events_per_second_from_text"].as_f64()?,
    ])
}

/// Resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

fn state(c: &mut Criterion) {
    let events: Vec<Event> = (0..EVENTS as u64).map(event_at).collect();
    let mut group = c.benchmark_group("state");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    let texts: Vec<Vec<u8>> = events
        .iter()
        .map(|event| serde_json::to_vec(event).expect("JSON"))
        .collect();
    group.bench_function("signals_apply_200k", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| apply_parsed(&events)).sum())
    });
    group.bench_function("signals_apply_batched_200k", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| apply_batched(&texts)).sum())
    });
    group.bench_function("signals_scan_apply_200k", |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| scan_and_apply(&texts)).sum())
    });
    group.finish();

    // Our rates, measured once more outside criterion to print beside
    // Celery's (the median of three).
    let median = |run: &dyn Fn() -> Duration| {
        let mut rates: Vec<f64> = (0..3)
            .map(|_| EVENTS as f64 / run().as_secs_f64())
            .collect();
        rates.sort_by(f64::total_cmp);
        rates[1]
    };
    let maps = median(&|| apply_parsed(&events));
    let batched = median(&|| apply_batched(&texts));
    let scanned = median(&|| scan_and_apply(&texts));
    match celery_rates(&events) {
        Some([parsed, in_batches, text]) => println!(
            "state, events/s (signals / Celery = ratio): parsed {maps:.0} / {parsed:.0} = {:.1}x; \
             batched {batched:.0} / {in_batches:.0} = {:.1}x; from text {scanned:.0} / {text:.0} = {:.1}x",
            maps / parsed,
            batched / in_batches,
            scanned / text
        ),
        None => println!(
            "state: signals {maps:.0} / {batched:.0} / {scanned:.0} events/s; Celery's figures are missing"
        ),
    }

    // Memory over 10 million events with the default bounds.
    let state = State::new();
    let mut samples = Vec::new();
    for index in 0..10_000_000u64 {
        let _ = state.apply(&event_at(index));
        if (index + 1) % 2_000_000 == 0 {
            samples.push((index + 1, rss_kib()));
        }
    }
    let view = state.read();
    println!(
        "state memory (RSS KiB after N events): {samples:?}; tasks kept {}, time index {}",
        view.task_len(),
        view.time_index_len()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = state
}
criterion_main!(benches);
