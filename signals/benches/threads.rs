#![allow(missing_docs)]
//! Throughput of `send`, `has_listeners` and `asend` with 1, 2, 4 and 8 threads
//! sending to one signal, beside a plain `ArcSwap<Vec<Arc<dyn Fn>>>` snapshot,
//! `join_all` over the async receivers' futures, and the Rust peer `signals2`,
//! all in one run.
//!
//! Each configuration runs `ROUND` with every thread sending in a loop; the
//! total sends per second is recorded. Configurations are interleaved over
//! `ROUNDS` rounds (so a slow moment of the machine hits them all alike), and
//! the median round is reported, with the scaling against one thread.
//!
//! `cargo bench --bench threads` (set `THREADS_ROUNDS` / `THREADS_ROUND_MS`
//! to change the rounds).

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures_util::future::join_all;
use signals::Receiver;
use signals::{ReceiverId, Signal};
use signals2::{Connect2, Emit2};
use support::{async_receiver, receiver, run, Args, Sig};

const THREADS: [usize; 4] = [1, 2, 4, 8];

type Callback = Arc<dyn Fn(&&'static str, &Args) + Send + Sync>;

/// One contender: what one thread does per operation.
struct Contender {
    name: String,
    op: Arc<dyn Fn() + Send + Sync>,
}

fn contenders(receivers: usize) -> Vec<Contender> {
    let args = Arc::new(Args { a: 1, b: 2 });
    let mut all = Vec::new();
    // Only a source of receiver ids for the snapshots below.
    let sig_for_ids: Sig = Signal::new("ids");

    let sig: Arc<Sig> = Arc::new(Signal::new("threads"));
    for i in 0..receivers {
        let _ = sig.connect(receiver(i));
    }
    {
        let (sig, args) = (sig.clone(), args.clone());
        all.push(Contender {
            name: format!("signals send (N={receivers})"),
            op: Arc::new(move || {
                let _ = black_box(sig.send(black_box("tasks.add"), &args));
            }),
        });
    }
    if receivers == 1 {
        let sig = sig.clone();
        all.push(Contender {
            name: "signals has_listeners".into(),
            op: Arc::new(move || {
                black_box(sig.has_listeners(black_box("tasks.add")));
            }),
        });
    }

    // The snapshot the issue measured against: load, call, collect into a Vec.
    let snapshot: Arc<ArcSwap<Vec<Callback>>> = Arc::new(ArcSwap::from_pointee(
        (0..receivers)
            .map(|i| Arc::new(receiver(i)) as Callback)
            .collect(),
    ));
    {
        let (snapshot, args) = (snapshot.clone(), args.clone());
        all.push(Contender {
            name: format!("ArcSwap<Vec<Arc<dyn Fn>>> (N={receivers})"),
            op: Arc::new(move || {
                let receivers = snapshot.load();
                let responses: Vec<()> = receivers
                    .iter()
                    .map(|f| f(black_box(&"tasks.add"), &args))
                    .collect();
                black_box(responses);
            }),
        });
    }
    // The same, returning what `send` returns: each response with its
    // receiver's id (which makes the fresh `Vec` allocate).
    let with_ids: Arc<ArcSwap<Vec<(ReceiverId, Callback)>>> = Arc::new(ArcSwap::from_pointee(
        (0..receivers)
            .map(|i| {
                let id = sig_for_ids.connect(receiver(i)).id();
                (id, Arc::new(receiver(i)) as Callback)
            })
            .collect(),
    ));
    {
        let (with_ids, args) = (with_ids.clone(), args.clone());
        all.push(Contender {
            name: format!("ArcSwap, (id, response) pairs (N={receivers})"),
            op: Arc::new(move || {
                let receivers = with_ids.load();
                let responses: Vec<(ReceiverId, ())> = receivers
                    .iter()
                    .map(|(id, f)| (*id, f(black_box(&"tasks.add"), &args)))
                    .collect();
                black_box(responses);
            }),
        });
    }
    if receivers == 1 {
        let snapshot = snapshot.clone();
        all.push(Contender {
            name: "ArcSwap snapshot, is_empty".into(),
            op: Arc::new(move || {
                black_box(!snapshot.load().is_empty());
            }),
        });
    }

    // `asend` to as many async receivers (their futures ready at once), beside
    // the same receivers' futures boxed and joined by hand.
    let async_sig: Arc<Sig> = Arc::new(Signal::new("threads_async"));
    let mut by_hand = Vec::new();
    for i in 0..receivers {
        let _ = async_sig.connect(Receiver::new_async(async_receiver(i, false)));
        by_hand.push(async_receiver(i, false));
    }
    {
        let (async_sig, args) = (async_sig.clone(), args.clone());
        all.push(Contender {
            name: format!("signals asend, async receivers (N={receivers})"),
            op: Arc::new(move || {
                let _ = black_box(run(async_sig.asend(black_box("tasks.add"), &args)));
            }),
        });
    }
    {
        let (by_hand, args) = (Arc::new(by_hand), args.clone());
        all.push(Contender {
            name: format!("join_all over boxed futures (N={receivers})"),
            op: Arc::new(move || {
                let sender = black_box("tasks.add");
                let futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> =
                    by_hand
                        .iter()
                        .map(|receiver| Box::pin(receiver(&sender, &args)) as _)
                        .collect();
                black_box(run(join_all(futures)));
            }),
        });
    }

    let peer: Arc<signals2::Signal<(u64, u64)>> = Arc::new(signals2::Signal::new());
    for i in 0..receivers {
        peer.connect(move |a: u64, b: u64| {
            black_box(a + b + black_box(i) as u64);
        });
    }
    all.push(Contender {
        name: format!("signals2 emit (N={receivers})"),
        op: Arc::new(move || {
            peer.emit(black_box(1), black_box(2));
        }),
    });
    all
}

/// Total operations per second of `threads` threads running `op` for `round`.
fn throughput(op: &Arc<dyn Fn() + Send + Sync>, threads: usize, round: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (op, stop, barrier) = (op.clone(), stop.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut done = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        op();
                    }
                    done += 256;
                }
                done
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    std::thread::sleep(round);
    stop.store(true, Ordering::Relaxed);
    let done: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    done as f64 / start.elapsed().as_secs_f64()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then
    // one short round checks that the harness runs.
    let benching = std::env::args().any(|arg| arg == "--bench");
    let rounds = if benching {
        env_or("THREADS_ROUNDS", 7)
    } else {
        1
    } as usize;
    let round = Duration::from_millis(if benching {
        env_or("THREADS_ROUND_MS", 250)
    } else {
        20
    });
    let mut all: Vec<Contender> = contenders(1);
    all.extend(contenders(10));
    // rates[contender][threads] over the rounds.
    let mut rates = vec![vec![Vec::new(); THREADS.len()]; all.len()];
    for _ in 0..rounds {
        for (c, contender) in all.iter().enumerate() {
            for (t, &threads) in THREADS.iter().enumerate() {
                rates[c][t].push(throughput(&contender.op, threads, round));
            }
        }
    }
    println!(
        "\nmillions of operations per second, all threads together (median of {rounds} rounds of {} ms); \
         in brackets, against 1 thread",
        round.as_millis()
    );
    print!("| {:<40} |", "");
    for threads in THREADS {
        print!(" {threads} thread{} |", if threads == 1 { "" } else { "s" });
    }
    println!();
    print!("|---|");
    for _ in THREADS {
        print!("---:|");
    }
    println!();
    for (c, contender) in all.iter().enumerate() {
        let medians: Vec<f64> = rates[c]
            .iter_mut()
            .map(|samples| {
                samples.sort_by(f64::total_cmp);
                samples[samples.len() / 2] / 1e6
            })
            .collect();
        print!("| {:<40} |", contender.name);
        for (t, median) in medians.iter().enumerate() {
            if t == 0 {
                print!(" {median:.1} |");
            } else {
                print!(" {median:.1} ({:.2}x) |", median / medians[0]);
            }
        }
        println!();
    }
}
