//! A Rust "worker" that shows up in Celery's monitors: it sends worker-online,
//! a heartbeat every `--interval` seconds, the events of the tasks it runs and
//! worker-offline, to the Redis broker given on the command line.
//!
//! ```text
//! cargo run --example redis_worker -- redis://127.0.0.1:6379/0 [--tasks N] [--interval SECONDS] [--hostname NAME]
//! ```
//!
//! Watch it with `celery -b redis://127.0.0.1:6379/0 events --dump`, Flower, or
//! `cargo run --example event_dump -- redis://127.0.0.1:6379/0`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use signals::events::{
    EventDispatcher, EventError, RedisTransport, TaskFailed, TaskStarted, TaskSucceeded,
    WorkerHeartbeat, WorkerOffline, WorkerOnline,
};

struct Options {
    url: String,
    tasks: u32,
    interval: f64,
    hostname: String,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let url = args.next().ok_or("the Redis URL is missing")?;
    let mut options = Options {
        url,
        tasks: 6,
        interval: 1.0,
        hostname: format!(
            "rust-worker@{}",
            signals::events::anon_nodename()
                .split('@')
                .nth(1)
                .unwrap_or("localhost")
        ),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--tasks" => options.tasks = value()?.parse().map_err(|e| format!("--tasks: {e}"))?,
            "--interval" => {
                options.interval = value()?.parse().map_err(|e| format!("--interval: {e}"))?
            }
            "--hostname" => options.hostname = value()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.interval.is_nan() || options.interval <= 0.0 {
        return Err("--interval must be positive".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("redis_worker: {error}\nusage: redis_worker REDIS_URL [--tasks N] [--interval SECONDS] [--hostname NAME]");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("redis_worker: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let transport = RedisTransport::open(&options.url)?;
    let worker = EventDispatcher::builder(transport)
        .hostname(options.hostname.clone())
        .build();
    let freq = options.interval;
    let mut processed = 0;
    // The three worker events carry the same fields.
    macro_rules! status {
        ($event:ident) => {
            $event {
                freq,
                sw_ident: "rs-signals".into(),
                sw_ver: env!("CARGO_PKG_VERSION").into(),
                sw_sys: std::env::consts::OS.into(),
                active: 0,
                processed,
                loadavg: None,
            }
        };
    }
    worker.send_event(&status!(WorkerOnline))?;
    println!(
        "{} online, sending to {}",
        options.hostname,
        mask(&options.url)
    );

    let mut next_heartbeat = Instant::now() + Duration::from_secs_f64(freq);
    for n in 1..=options.tasks {
        let uuid = format!("{:08x}-rust-task-{n}", std::process::id());
        let (a, b) = (n, n + 1);
        worker.send(
            "task-received",
            json!({"uuid": uuid, "name": "tasks.add", "args": format!("({a}, {b})"),
                   "kwargs": "{}", "retries": 0, "eta": null, "expires": null,
                   "root_id": uuid, "parent_id": null})
            .as_object()
            .expect("an object"),
        )?;
        worker.send_event(&TaskStarted { uuid: uuid.clone() })?;
        let began = Instant::now();
        std::thread::sleep(Duration::from_millis(50)); // the "work"
        if n % 5 == 0 {
            worker.send_event(&TaskFailed {
                uuid,
                exception: "ValueError('every fifth task fails')".into(),
                traceback: "Traceback (most recent call last):\n  (Rust)".into(),
            })?;
        } else {
            worker.send_event(&TaskSucceeded {
                uuid,
                result: (a + b).to_string(),
                runtime: began.elapsed().as_secs_f64(),
            })?;
        }
        processed += 1;
        if Instant::now() >= next_heartbeat {
            worker.send_event(&status!(WorkerHeartbeat))?;
            next_heartbeat += Duration::from_secs_f64(freq);
        }
        flush(&worker)?;
    }
    worker.send_event(&status!(WorkerHeartbeat))?;
    worker.send_event(&status!(WorkerOffline))?;
    flush(&worker)?;
    println!("{} offline after {processed} tasks", options.hostname);
    Ok(())
}

fn flush(worker: &EventDispatcher) -> Result<(), EventError> {
    worker.flush(true, true).map(|_| ())
}

/// The URL without its password, for printing.
fn mask(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        _ => url.to_owned(),
    }
}
