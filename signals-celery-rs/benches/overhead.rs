//! What the adapter costs a celery-rs worker: no-op tasks per second with the
//! task registered as itself and as `Observed<T>` (with an `Observer`
//! running, publishing every event), in the same run, on one redis-server of
//! the bench's own. Rounds alternate between the two, and the medians are
//! compared.
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

/// Queues `tasks` no-ops, then runs a worker until they have all run:
/// tasks per second.
async fn round(url: &str, tasks: usize, observed: bool) -> Result<f64, Box<dyn std::error::Error>> {
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
            worker.abort();
            drop(observer);
            app.close().await?;
            tasks as f64 / elapsed.as_secs_f64()
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
    let (mut plain, mut observed) = (Vec::new(), Vec::new());
    for index in 0..rounds {
        // Alternate which goes first, so neither always meets a warmer server.
        for first in [index % 2 == 0, index % 2 == 1] {
            let rate = round(&url, tasks, first).await?;
            if first {
                observed.push(rate);
            } else {
                plain.push(rate);
            }
        }
    }
    let (plain_median, observed_median) = (median(&mut plain), median(&mut observed));
    println!(
        "no-op tasks per second, {tasks} tasks, {rounds} rounds each, prefetch 64, redis-server"
    );
    println!("plain celery-rs:     {plain_median:>10.0}  (rounds: {plain:.0?})");
    println!("with the adapter:    {observed_median:>10.0}  (rounds: {observed:.0?})");
    println!(
        "overhead:            {:>9.1}%",
        (1.0 - observed_median / plain_median) * 100.0
    );
    Ok(())
}
