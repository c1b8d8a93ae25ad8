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

fn run(case: &str, iterations: u64) {
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
