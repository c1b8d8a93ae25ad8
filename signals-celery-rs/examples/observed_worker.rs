//! A celery-rs worker that Celery's tools see: its tasks are registered as
//! [`Observed`], and an [`Observer`] sends the worker's events and answers
//! remote control. Python sends its tasks by name:
//!
//! ```text
//! cargo run -p signals-celery-rs --example observed_worker -- redis://127.0.0.1:6379/0 --queue rust
//! python -c "from celery import Celery; Celery(broker='redis://127.0.0.1:6379/0').send_task('add', (2, 3), queue='rust')"
//! celery -b redis://127.0.0.1:6379/0 inspect ping
//! ```
//!
//! It stops on SIGINT or SIGTERM (celery-rs's warm shutdown), sending
//! `worker-offline`. With `--plain`, the same tasks run without the adapter,
//! for comparison.

use std::time::Duration;

use celery::prelude::*;
use clap::Parser;
use signals_celery_rs::{Observed, Observer};

/// Adds two numbers.
#[celery::task]
fn add(x: i32, y: i32) -> TaskResult<i32> {
    Ok(x + y)
}

/// Fails at once, for good (no retry).
#[celery::task(max_retries = 0)]
fn fail() -> TaskResult<()> {
    Err(TaskError::UnexpectedError("bad input".into()))
}

/// Asks to be retried once, then succeeds.
#[celery::task(bind = true, max_retries = 2)]
fn flaky(task: &Self) -> TaskResult<String> {
    if task.request.retries == 0 {
        return task.retry_with_countdown(0);
    }
    Ok("ok after retry".into())
}

/// Runs for `seconds`: a task that `celery inspect active` can catch.
#[celery::task]
async fn sleep(seconds: f64) -> TaskResult<()> {
    tokio::time::sleep(Duration::from_secs_f64(seconds.clamp(0.0, 600.0))).await;
    Ok(())
}

/// Does nothing: what the adapter's own cost is measured with.
#[celery::task]
fn noop() -> TaskResult<()> {
    Ok(())
}

#[derive(Parser)]
#[command(name = "observed_worker")]
struct Options {
    /// The broker: redis://... or amqp://... (the password included).
    url: String,
    /// The worker's node name.
    #[arg(long, default_value = "rust@observed")]
    hostname: String,
    /// The queue to consume.
    #[arg(long, default_value = "celery")]
    queue: String,
    /// How many messages the worker takes ahead.
    #[arg(long, default_value_t = 8)]
    prefetch: u16,
    /// Run the tasks without the adapter.
    #[arg(long)]
    plain: bool,
}

/// Builds the app for the broker of `$url` with `$tasks`, then runs `$body`
/// with it bound to `$app`.
macro_rules! with_app {
    ($options:expr, [$($task:ty),*], |$app:ident| $body:expr) => {{
        let options = &$options;
        let url = options.url.as_str();
        if url.starts_with("amqp") {
            let $app = celery::app!(
                broker = AMQPBroker { url },
                tasks = [$($task),*],
                task_routes = [],
                hostname = options.hostname.as_str(),
                default_queue = options.queue.as_str(),
                prefetch_count = options.prefetch,
            )
            .await?;
            $body
        } else {
            let $app = celery::app!(
                broker = RedisBroker { url },
                tasks = [$($task),*],
                task_routes = [],
                hostname = options.hostname.as_str(),
                default_queue = options.queue.as_str(),
                prefetch_count = options.prefetch,
            )
            .await?;
            $body
        }
    }};
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    if options.plain {
        with_app!(options, [add, fail, flaky, sleep, noop], |app| {
            println!("{} consuming {} (plain)", options.hostname, options.queue);
            app.consume_from(&[options.queue.as_str()]).await?;
        });
        return Ok(());
    }
    with_app!(
        options,
        [
            Observed<add>,
            Observed<fail>,
            Observed<flaky>,
            Observed<sleep>,
            Observed<noop>
        ],
        |app| {
            let observer = Observer::for_app(&app, options.url.clone())
                .task::<add>()
                .task::<fail>()
                .task::<flaky>()
                .task::<sleep>()
                .task::<noop>()
                .heartbeat_interval(Duration::from_secs(2))
                .start()?;
            println!("{} consuming {} (observed)", options.hostname, options.queue);
            app.consume_from(&[options.queue.as_str()]).await?;
            observer.stop();
        }
    );
    Ok(())
}
