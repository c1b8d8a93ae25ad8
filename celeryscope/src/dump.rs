//! `celeryscope dump`: the events on a broker, one line each, as `celery
//! events --dump` prints them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use signals_celery::events::{
    AmqpSubscriber, AmqpSubscriberOptions, Dumper, EventReceiver, EventSource, RedisSubscriber,
    RedisSubscriberOptions,
};

use crate::broker::{is_amqp, normalized};

/// `dump`'s options.
#[derive(Args, Clone, Debug)]
pub(crate) struct DumpOptions {
    #[command(flatten)]
    pub(crate) broker: crate::broker::BrokerArgs,
    /// Only events whose routing key matches (AMQP style: `task.#`).
    #[arg(long, default_value = "#")]
    pub(crate) routing_key: String,
    /// Stop after this many events.
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// Stop after this many seconds without an event.
    #[arg(long, value_parser = seconds)]
    pub(crate) timeout: Option<Duration>,
}

fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|error| format!("{error}"))?;
    Duration::try_from_secs_f64(seconds).map_err(|error| error.to_string())
}

pub(crate) fn run(options: &DumpOptions) -> Result<(), String> {
    let failover = options.broker.failover()?;
    if is_amqp(&options.broker.url) {
        let subscription = AmqpSubscriberOptions {
            routing_key: options.routing_key.clone(),
            failover,
            ..AmqpSubscriberOptions::default()
        };
        let mut source =
            AmqpSubscriber::with_options(&normalized(&options.broker.url), subscription)
                .map_err(|error| error.to_string())?;
        // Events sent before the queue is bound are not seen.
        if !source.wait_subscribed(Duration::from_secs(10)) {
            eprintln!("-> not subscribed yet after 10 s; going on");
        }
        println!("-> evdump: starting capture on {source:?}...");
        follow(&mut source, options);
    } else {
        let subscription = RedisSubscriberOptions {
            routing_key: options.routing_key.clone(),
            failover,
            ..RedisSubscriberOptions::default()
        };
        let mut source = RedisSubscriber::with_options(&options.broker.url, subscription)
            .map_err(|error| error.to_string())?;
        println!("-> evdump: starting capture on {}...", source.pattern());
        follow(&mut source, options);
    }
    Ok(())
}

/// Prints each event of `source` until the limit or the timeout.
fn follow(source: &mut impl EventSource, options: &DumpOptions) {
    let dumper = Arc::new(Mutex::new(Dumper::new()));
    let receiver = EventReceiver::builder()
        .handler("*", move |event| {
            let line = dumper
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .line(event);
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
