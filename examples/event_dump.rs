//! A small `celery events --dump`: follows the Celery events on a Redis broker
//! and prints one line per event, as Celery's dumper does. Works on a Python
//! Celery cluster and on Rust services alike.
//!
//! ```text
//! cargo run --example event_dump -- redis://127.0.0.1:6379/0 [--routing-key task.#] [--limit N] [--timeout SECONDS]
//! ```

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signals::events::{Dumper, EventReceiver, RedisSubscriber, RedisSubscriberOptions};

struct Options {
    url: String,
    routing_key: String,
    limit: Option<usize>,
    timeout: Option<Duration>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let url = args.next().ok_or("the Redis URL is missing")?;
    let mut options = Options {
        url,
        routing_key: "#".into(),
        limit: None,
        timeout: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--routing-key" => options.routing_key = value()?,
            "--limit" => {
                options.limit = Some(value()?.parse().map_err(|e| format!("--limit: {e}"))?)
            }
            "--timeout" => {
                let seconds: f64 = value()?.parse().map_err(|e| format!("--timeout: {e}"))?;
                options.timeout = Some(
                    Duration::try_from_secs_f64(seconds).map_err(|e| format!("--timeout: {e}"))?,
                );
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("event_dump: {error}\nusage: event_dump REDIS_URL [--routing-key PATTERN] [--limit N] [--timeout SECONDS]");
            return ExitCode::from(2);
        }
    };
    let subscription = RedisSubscriberOptions {
        routing_key: options.routing_key.clone(),
        ..RedisSubscriberOptions::default()
    };
    let mut source = match RedisSubscriber::with_options(&options.url, subscription) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("event_dump: {error}");
            return ExitCode::FAILURE;
        }
    };
    let dumper = Arc::new(Mutex::new(Dumper::new()));
    let receiver = EventReceiver::builder()
        .handler("*", move |event| {
            let line = dumper.lock().expect("not poisoned").line(event);
            println!("{line}");
        })
        .on_error(|error| eprintln!("-> {error}"))
        .build();
    println!("-> evdump: starting capture on {}...", source.pattern());
    let report = receiver.capture(&mut source, options.limit, options.timeout);
    let stats = receiver.stats();
    eprintln!(
        "-> {} events in {} messages; {} errors, {} duplicates dropped",
        report.events,
        report.messages,
        stats.errors(),
        stats.duplicates
    );
    ExitCode::SUCCESS
}
