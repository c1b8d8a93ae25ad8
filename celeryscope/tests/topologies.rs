//! `celeryscope` on the broker topologies production runs, on real servers:
//! the exporter and `inspect` through Redis Sentinel (`sentinel://` URLs with
//! `--broker-transport-option master_name=...`, as celery-exporter takes
//! them), through a failover of the master; and transport options that
//! cannot be used, refused with what is wrong.

mod common;

#[allow(dead_code)]
#[path = "../../signals-celery/tests/support/sentinel.rs"]
mod sentinel;

use std::time::{Duration, Instant};

use common::{celeryscope, eventually, total, Exporter};
use sentinel::{Sentinels, MASTER_NAME};
use serde_json::json;
use signals_celery::control::{MailboxOptions, Node, RedisMailbox};
use signals_celery::events::{EventDispatcher, RedisOptions, RedisTransport};
use signals_celery::Failover;

fn failover() -> Failover {
    Failover {
        master_name: Some(MASTER_NAME.into()),
        ..Failover::default()
    }
}

/// `count` tasks of `tasks.add` succeeded on `worker`, sent through Sentinel.
fn succeed(dispatcher: &EventDispatcher, from: usize, count: usize) {
    for n in from..from + count {
        let uuid = format!("task-{n}");
        dispatcher
            .send(
                "task-received",
                json!({"uuid": uuid, "name": "tasks.add", "args": "()", "kwargs": "{}",
                       "retries": 0, "eta": null, "expires": null, "root_id": uuid,
                       "parent_id": null})
                .as_object()
                .expect("an object"),
            )
            .expect("sent");
        dispatcher
            .send(
                "task-succeeded",
                json!({"uuid": uuid, "result": "4", "runtime": 0.01})
                    .as_object()
                    .expect("an object"),
            )
            .expect("sent");
    }
    dispatcher.flush(true, true).expect("flushed");
}

#[test]
fn the_exporter_and_inspect_follow_the_master_through_a_sentinel_failover() {
    let mut set = Sentinels::start();
    let url = set.url(0);
    let option = format!("master_name={MASTER_NAME}");
    let exporter = Exporter::start(&url, &["--broker-transport-option", &option]);

    // Held until the exporter hears it, so that none is lost while it
    // moves to the new master.
    let transport = RedisTransport::with_options(
        &url,
        RedisOptions {
            failover: failover(),
            min_subscribers: 1,
            reconnect_delay: Duration::from_millis(50),
            flush_timeout: Duration::from_secs(60),
            ..RedisOptions::default()
        },
    )
    .expect("a sentinel URL");
    let worker = EventDispatcher::builder(transport)
        .hostname("py@sentinel")
        .build();
    succeed(&worker, 0, 5);
    let succeeded = |page: &str| {
        total(
            page,
            "celery_task_succeeded_total",
            &["name=\"tasks.add\"", "hostname=\"sentinel\""],
        )
    };
    eventually(&exporter, "5 tasks counted", |page| succeeded(page) == 5.0);

    let mailbox = RedisMailbox::serve_with(
        Node::builder("rust@sentinel").build(),
        &url,
        MailboxOptions {
            failover: failover(),
            reconnect_delay: Duration::from_millis(50),
            ..MailboxOptions::default()
        },
    )
    .expect("a sentinel URL");
    assert!(mailbox.wait_ready(Duration::from_secs(10)));

    let old = set.kill_master();
    set.wait_promoted(old, Duration::from_secs(30));
    succeed(&worker, 5, 5);
    eventually(&exporter, "10 tasks counted after the failover", |page| {
        succeeded(page) == 10.0
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while exporter.health().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "healthy again: {:?}",
            exporter.health()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // `inspect ping` through the sentinels reaches the node on the new
    // master.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = celeryscope()
            .args(["inspect", "ping", "-b", &url])
            .args(["--broker-transport-option", &option])
            .output()
            .expect("celeryscope runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success() && stdout.contains("->  rust@sentinel: OK") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pong after the failover: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn transport_options_that_cannot_be_used_are_refused_clearly() {
    for (url, option, expected) in [
        (
            "redis://127.0.0.1:1/0;redis://127.0.0.1:2/0",
            "failover_strategy=random",
            "unknown failover strategy `random`",
        ),
        (
            "sentinel://127.0.0.1:1",
            "sentinel_kwargs=secret",
            "sentinel_kwargs: `secret` is not a JSON object",
        ),
        (
            "sentinel://127.0.0.1:1",
            "failover_strategy=shuffle",
            "sentinel:// URLs need the `master_name` transport option",
        ),
        (
            "redis://127.0.0.1:1/0;amqp://127.0.0.1:2//",
            "failover_strategy=shuffle",
            "mixes redis:// and amqp:// URLs",
        ),
    ] {
        let output = celeryscope()
            .args(["exporter", "--broker-url", url, "--port", "0"])
            .args(["--broker-transport-option", option])
            .output()
            .expect("celeryscope runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{url} {option}: refused");
        assert!(stderr.contains(expected), "{url} {option}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
