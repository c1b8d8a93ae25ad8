//! What the adapter costs a celery-rs worker: no-op tasks per second with the
//! task registered as itself and as `Observed<T>` (with an `Observer`
//! running, publishing every event), in the same run, on one redis-server of
//! the bench's own. Rounds alternate between the two, after one warm-up round
//! of each, and the medians are compared. The process's CPU time per task
//! (user and system, every thread: the worker's and the adapter's) is
//! reported beside, as the steadier measure on a shared machine.
//!
//! ```text
//! cargo bench -p signals-celery-rs --bench overhead [-- --tasks 5000 --rounds 5]
//! ```

#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use celery::prelude::*;
use signals_celery_rs::{Observed, Observer};

/// Tasks run so far, by either registration.
static RUN: AtomicUsize = AtomicUsize::new(0);

#[celery::task]
fn noop() -> TaskResult<()> {
    RUN.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The value after `flag` on the command line, or `default`.
fn arg(flag: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == flag)
        .and_then(|at| args.get(at + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The process's CPU time so far (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&at| fields.get(at).and_then(|field| field.parse::<u64>().ok()))
        .sum();
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// One round's figures.
struct Round {
    per_second: f64,
    /// CPU time per task, in microseconds.
    cpu_per_task: f64,
}

/// Queues `tasks` no-ops, then runs a worker until they have all run.
async fn round(
    url: &str,
    tasks: usize,
    observed: bool,
) -> Result<Round, Box<dyn std::error::Error>> {
    let queue = "bench";
    macro_rules! measure {
        ($task:ty) => {{
            let app = celery::app!(
                broker = RedisBroker { url },
                tasks = [$task],
                task_routes = [],
                hostname = "rust@bench",
                default_queue = queue,
                prefetch_count = 64u16,
            )
            .await?;
            for _ in 0..tasks {
                app.send_task(noop::new()).await?;
            }
            let observer = if observed {
                Some(Observer::for_app(&app, url).task::<noop>().start()?)
            } else {
                None
            };
            RUN.store(0, Ordering::Relaxed);
            let started = Instant::now();
            let cpu = cpu_time();
            let worker = {
                let app = app.clone();
                tokio::spawn(async move { app.consume_from(&["bench"]).await })
            };
            while RUN.load(Ordering::Relaxed) < tasks {
                assert!(
                    started.elapsed() < Duration::from_secs(300),
                    "the worker stalled"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let elapsed = started.elapsed();
            let cpu = cpu_time().saturating_sub(cpu);
            worker.abort();
            drop(observer);
            app.close().await?;
            Round {
                per_second: tasks as f64 / elapsed.as_secs_f64(),
                cpu_per_task: cpu.as_secs_f64() * 1e6 / tasks as f64,
            }
        }};
    }
    Ok(if observed {
        measure!(Observed<noop>)
    } else {
        measure!(noop)
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks = arg("--tasks", 5_000);
    let rounds = arg("--rounds", 5);
    let server = support::RedisServer::start();
    let url = server.url(0);
    // Warm-up: the server's memory and the process's allocator.
    round(&url, tasks, false).await?;
    round(&url, tasks, true).await?;
    let (mut plain, mut observed) = (Vec::new(), Vec::new());
    for index in 0..rounds {
        // Alternate which goes first, so neither always meets a warmer server.
        for with_adapter in [index % 2 == 0, index % 2 == 1] {
            let figures = round(&url, tasks, with_adapter).await?;
            if with_adapter {
                observed.push(figures);
            } else {
                plain.push(figures);
            }
        }
    }
    let rates = |rounds: &[Round]| rounds.iter().map(|r| r.per_second).collect::<Vec<_>>();
    let cpu = |rounds: &[Round]| rounds.iter().map(|r| r.cpu_per_task).collect::<Vec<_>>();
    let (mut plain_rates, mut observed_rates) = (rates(&plain), rates(&observed));
    let (mut plain_cpu, mut observed_cpu) = (cpu(&plain), cpu(&observed));
    let (plain_rate, observed_rate) = (median(&mut plain_rates), median(&mut observed_rates));
    let (plain_us, observed_us) = (median(&mut plain_cpu), median(&mut observed_cpu));
    println!(
        "no-op tasks, {tasks} per round, {rounds} rounds each (medians), prefetch 64, redis-server"
    );
    println!("                     tasks/s   CPU µs/task");
    println!("plain celery-rs:     {plain_rate:>7.0}   {plain_us:>11.1}   (tasks/s by round: {plain_rates:.0?})");
    println!("with the adapter:    {observed_rate:>7.0}   {observed_us:>11.1}   (tasks/s by round: {observed_rates:.0?})");
    println!(
        "cost of the adapter: {:>6.1}%   {:>10.1}%",
        (1.0 - observed_rate / plain_rate) * 100.0,
        (observed_us / plain_us - 1.0) * 100.0
    );
    Ok(())
}
