//! A small `celery events --dump`: follows the Celery events on a Redis or
//! AMQP (RabbitMQ) broker and prints one line per event, as Celery's dumper
//! does. Works on a Python Celery cluster and on Rust services alike.
//!
//! ```text
//! cargo run --example event_dump -- redis://127.0.0.1:6379/0 [--routing-key task.#] [--limit N] [--timeout SECONDS]
//! cargo run --example event_dump -- amqp://guest:guest@127.0.0.1:5672/%2f
//! cargo run --example event_dump -- --help
//! ```

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use signals_celery::events::{
    AmqpSubscriber, AmqpSubscriberOptions, Dumper, EventReceiver, EventSource, RedisSubscriber,
    RedisSubscriberOptions,
};

/// Prints the Celery events on a broker as `celery events --dump` does.
#[derive(Parser)]
#[command(name = "event_dump")]
struct Options {
    /// The broker: redis://[:password@]host[:port][/db], rediss://..., or
    /// amqp://user:password@host[:port]/vhost (amqps:// for TLS).
    url: String,
    /// Only events whose routing key matches (AMQP style: `task.#`).
    #[arg(long, default_value = "#")]
    routing_key: String,
    /// Stop after this many events.
    #[arg(long)]
    limit: Option<usize>,
    /// Stop after this many seconds without an event.
    #[arg(long, value_parser = seconds)]
    timeout: Option<Duration>,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|error| format!("{error}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|error| error.to_string())
}

fn main() -> ExitCode {
    let options = Options::parse();
    let followed = if options.url.starts_with("amqp://") || options.url.starts_with("amqps://") {
        let subscription = AmqpSubscriberOptions {
            routing_key: options.routing_key.clone(),
            ..AmqpSubscriberOptions::default()
        };
        AmqpSubscriber::with_options(&options.url, subscription)
            .map_err(|error| error.to_string())
            .map(|mut source| {
                // Events sent before the queue is bound are not seen.
                if !source.wait_subscribed(Duration::from_secs(10)) {
                    eprintln!("-> not subscribed yet after 10 s; going on");
                }
                println!("-> evdump: starting capture on {source:?}...");
                follow(&mut source, &options)
            })
    } else {
        let subscription = RedisSubscriberOptions {
            routing_key: options.routing_key.clone(),
            ..RedisSubscriberOptions::default()
        };
        RedisSubscriber::with_options(&options.url, subscription)
            .map_err(|error| error.to_string())
            .map(|mut source| {
                println!("-> evdump: starting capture on {}...", source.pattern());
                follow(&mut source, &options)
            })
    };
    match followed {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("event_dump: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints each event of `source` until the limit or the timeout.
fn follow(source: &mut impl EventSource, options: &Options) {
    let dumper = Arc::new(Mutex::new(Dumper::new()));
    let receiver = EventReceiver::builder()
        .handler("*", move |event| {
            let line = dumper.lock().expect("not poisoned").line(event);
            println!("{line}");
        })
        .on_error(|error| eprintln!("-> {error}"))
        .build();
    let report = receiver.capture(source, options.limit, options.timeout);
    let stats = receiver.stats();
    eprintln!(
        "-> {} events in {} messages; {} errors, {} duplicates dropped",
        report.events,
        report.messages,
        stats.errors(),
        stats.duplicates
    );
}
