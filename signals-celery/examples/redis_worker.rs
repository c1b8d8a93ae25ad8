//! A Rust "worker" that shows up in Celery's monitors: it sends worker-online,
//! a heartbeat every `--interval` seconds (with the system's load averages and
//! its active and processed counts), the events of the tasks it runs and
//! worker-offline, to the broker given on the command line: Redis
//! (`redis://`, `rediss://`) or AMQP (`amqp://`, `amqps://`, RabbitMQ). It
//! also answers Celery's remote control (`celery inspect ping`, `celery
//! status`, Flower's worker page) while it runs, and for `--linger` seconds
//! after its tasks.
//!
//! ```text
//! cargo run --example redis_worker -- redis://127.0.0.1:6379/0 [--tasks N] [--interval SECONDS] [--hostname NAME]
//! cargo run --example redis_worker -- amqp://guest:guest@127.0.0.1:5672/%2f
//! cargo run --example redis_worker -- 'sentinel://127.0.0.1:26379;sentinel://127.0.0.1:26380' --master-name mymaster
//! cargo run --example redis_worker -- --help
//! ```
//!
//! Watch it with `celery -b redis://127.0.0.1:6379/0 events --dump`, Flower, or
//! `cargo run -p celeryscope -- dump -b redis://127.0.0.1:6379/0`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use signals_celery::control::{
    AmqpMailbox, DeliveryInfo, MailboxOptions, Node, RedisMailbox, TaskInfo,
};
use signals_celery::events::{
    AmqpOptions, AmqpTransport, EventDispatcher, EventError, RedisOptions, RedisTransport,
    TaskFailed, TaskStarted, TaskSucceeded, Transport, WorkerHeartbeat, WorkerOffline,
    WorkerOnline,
};
use signals_celery::Failover;

/// Sends a Rust worker's life as Celery events, as a Celery worker does.
#[derive(Parser)]
#[command(name = "redis_worker")]
struct Options {
    /// The broker: redis://[:password@]host[:port][/db], rediss://...,
    /// sentinel://host:port (with --master-name), or
    /// amqp://user:password@host[:port]/vhost (amqps:// for TLS); or kombu's
    /// `;`-separated failover list of them.
    url: String,
    /// For sentinel:// URLs: the name the sentinels know the master by
    /// (kombu's `master_name` transport option).
    #[arg(long)]
    master_name: Option<String>,
    /// How many tasks to run (every fifth fails).
    #[arg(long, default_value_t = 6)]
    tasks: u32,
    /// Seconds between heartbeats (Celery's `freq`).
    #[arg(long, default_value_t = 1.0, value_parser = positive_seconds)]
    interval: f64,
    /// The worker's node name (default: rust-worker@<this host>).
    #[arg(long)]
    hostname: Option<String>,
    /// Seconds to stay online after the tasks, answering remote control and
    /// sending heartbeats.
    #[arg(long, default_value_t = 0.0)]
    linger: f64,
    /// Seconds each task runs (heartbeats go on meanwhile).
    #[arg(long, default_value_t = 0.05, value_parser = positive_seconds)]
    task_seconds: f64,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => Ok(seconds),
        Ok(_) => Err("must be positive".into()),
        Err(error) => Err(error.to_string()),
    }
}

/// Tasks running now and run so far, for the worker events.
#[derive(Default)]
struct Counts {
    active: AtomicU64,
    processed: AtomicU64,
}

fn is_amqp(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://")
}

/// The transport for `url`, chosen by its scheme.
fn transport(
    url: &str,
    failover: &Failover,
) -> Result<Arc<dyn Transport>, Box<dyn std::error::Error>> {
    if is_amqp(url) {
        let options = AmqpOptions {
            failover: failover.clone(),
            ..AmqpOptions::default()
        };
        Ok(Arc::new(AmqpTransport::with_options(url, options)?))
    } else {
        let options = RedisOptions {
            failover: failover.clone(),
            ..RedisOptions::default()
        };
        Ok(Arc::new(RedisTransport::with_options(url, options)?))
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("redis_worker: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let hostname = options.hostname.clone().unwrap_or_else(|| {
        let host = signals_celery::events::anon_nodename();
        format!(
            "rust-worker@{}",
            host.split('@').nth(1).unwrap_or("localhost")
        )
    });
    let failover = Failover {
        master_name: options.master_name.clone(),
        ..Failover::default()
    };
    let worker = Arc::new(
        EventDispatcher::builder_arc(transport(&options.url, &failover)?)
            .hostname(hostname.clone())
            .build(),
    );
    let freq = options.interval;
    let counts = Arc::new(Counts::default());
    // The three worker events carry the same fields.
    macro_rules! status {
        ($event:ident, $counts:expr) => {
            $event {
                freq,
                sw_ident: "rs-signals".into(),
                sw_ver: env!("CARGO_PKG_VERSION").into(),
                sw_sys: std::env::consts::OS.into(),
                active: $counts.active.load(Ordering::Relaxed),
                processed: $counts.processed.load(Ordering::Relaxed),
                loadavg: signals_celery::events::loadavg(),
            }
        };
    }
    // Remote control: the node answers from what the loop below tells it, and
    // drives the dispatcher on `heartbeat`, `enable_events`, `disable_events`.
    let node = Node::builder(hostname.clone())
        .registered(["tasks.add"])
        .queue("celery")
        .on_heartbeat({
            let (worker, counts) = (Arc::clone(&worker), Arc::clone(&counts));
            move || {
                let _ = worker.send_event(&status!(WorkerHeartbeat, counts));
            }
        })
        .on_enable_events({
            let worker = Arc::clone(&worker);
            move || {
                let was_enabled = worker.is_enabled();
                let _ = worker.enable();
                !was_enabled
            }
        })
        .on_disable_events({
            let worker = Arc::clone(&worker);
            move || {
                let was_enabled = worker.is_enabled();
                worker.disable();
                was_enabled
            }
        })
        .build();
    let mailbox_options = MailboxOptions {
        failover,
        ..MailboxOptions::default()
    };
    let _mailbox: Box<dyn std::any::Any> = if is_amqp(&options.url) {
        let mailbox = AmqpMailbox::serve_with(node.clone(), &options.url, mailbox_options)?;
        mailbox.wait_ready(Duration::from_secs(10));
        Box::new(mailbox)
    } else {
        let mailbox = RedisMailbox::serve_with(node.clone(), &options.url, mailbox_options)?;
        mailbox.wait_ready(Duration::from_secs(5));
        Box::new(mailbox)
    };
    worker.send_event(&status!(WorkerOnline, counts))?;
    println!(
        "{hostname} online, sending to {}",
        signals_celery::mask_password(&options.url)
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
        counts.active.fetch_add(1, Ordering::Relaxed);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        node.update(|info| {
            info.active = vec![TaskInfo::new(&uuid, "tasks.add", &hostname)
                .args(json!([a, b]))
                .started_at(started, std::process::id())
                .delivery_info(DeliveryInfo::queue("celery"))];
        });
        let began = Instant::now();
        // The "work", with the heartbeats that fall due during it.
        let done_at = began + Duration::from_secs_f64(options.task_seconds);
        while let Some(left) = done_at.checked_duration_since(Instant::now()) {
            std::thread::sleep(left.min(next_heartbeat.saturating_duration_since(Instant::now())));
            if Instant::now() >= next_heartbeat {
                worker.send_event(&status!(WorkerHeartbeat, counts))?;
                flush(&worker)?;
                next_heartbeat += Duration::from_secs_f64(freq);
            }
        }
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
        counts.processed.fetch_add(1, Ordering::Relaxed);
        counts.active.fetch_sub(1, Ordering::Relaxed);
        node.update(|info| info.active.clear());
        node.count_task("tasks.add");
        if Instant::now() >= next_heartbeat {
            worker.send_event(&status!(WorkerHeartbeat, counts))?;
            next_heartbeat += Duration::from_secs_f64(freq);
        }
        flush(&worker)?;
    }
    let linger_until = Instant::now() + Duration::from_secs_f64(options.linger.max(0.0));
    while Instant::now() < linger_until {
        worker.send_event(&status!(WorkerHeartbeat, counts))?;
        flush(&worker)?;
        std::thread::sleep(
            Duration::from_secs_f64(freq)
                .min(linger_until.saturating_duration_since(Instant::now())),
        );
    }
    worker.send_event(&status!(WorkerHeartbeat, counts))?;
    worker.send_event(&status!(WorkerOffline, counts))?;
    flush(&worker)?;
    println!(
        "{hostname} offline after {} tasks",
        counts.processed.load(Ordering::Relaxed)
    );
    Ok(())
}

fn flush(worker: &EventDispatcher) -> Result<(), EventError> {
    worker.flush(true, true).map(|_| ())
}
