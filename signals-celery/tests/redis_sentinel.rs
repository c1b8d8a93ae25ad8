//! Events and remote control through Redis Sentinel (`sentinel://` URLs with
//! `master_name`), on real servers: a master, a replica and three sentinels.
//! The master is killed mid-stream; the replica the sentinels promote takes
//! over, and the transport, the subscriber and the mailbox find it by asking
//! the sentinels again.
//!
//! The wrong settings (no master name, a name no sentinel knows, a Redis
//! Cluster node) are typed errors, not hangs.

#[path = "support/sentinel.rs"]
mod sentinel;
mod support;
#[path = "support/tally.rs"]
mod tally;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel::{Sentinels, MASTER_NAME};
use signals_celery::control::{ControlError, MailboxOptions, Node, RedisControl, RedisMailbox};
use signals_celery::events::{
    EventDispatcher, EventReceiver, RedisConfigError, RedisOptions, RedisSubscriber,
    RedisSubscriberOptions, RedisTransport, TaskStarted,
};
use signals_celery::queues::{QueueError, QueueOptions, QueueProbe};
use signals_celery::{Failover, TopologyError};
use tally::{send_numbered, Tally};

fn failover(master_name: &str) -> Failover {
    Failover {
        master_name: Some(master_name.into()),
        ..Failover::default()
    }
}

/// Pings until `node` answers, for up to `timeout`.
fn wait_for_pong(control: &RedisControl, node: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(replies) = control.ping(Duration::from_millis(500)) {
            if replies.iter().any(|(name, _)| name == node) {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < timeout,
            "{node} did not answer ping within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn events_and_control_follow_the_master_through_a_sentinel_failover() {
    const EVENTS: usize = 6_000;
    let mut set = Sentinels::start();
    let url = set.url(0);

    let subscriber = RedisSubscriber::with_options(
        &url,
        RedisSubscriberOptions {
            failover: failover(MASTER_NAME),
            reconnect_delay: Duration::from_millis(50),
            ..RedisSubscriberOptions::default()
        },
    )
    .expect("sentinel URL");
    assert!(
        subscriber.wait_subscribed(Duration::from_secs(10)),
        "subscribed on the master"
    );
    let tally = Tally::default();
    let receiver = tally
        .count(EventReceiver::builder(), "task-started")
        .build();
    let capturing = receiver.spawn(subscriber).expect("thread");

    let mailbox_options = MailboxOptions {
        failover: failover(MASTER_NAME),
        reconnect_delay: Duration::from_millis(50),
        ..MailboxOptions::default()
    };
    let mailbox = RedisMailbox::serve_with(
        Node::builder("sentinel@rust").build(),
        &url,
        mailbox_options.clone(),
    )
    .expect("sentinel URL");
    assert!(mailbox.wait_ready(Duration::from_secs(10)), "mailbox ready");
    let control = RedisControl::open_with(&url, &mailbox_options).expect("sentinel URL");
    wait_for_pong(&control, "sentinel@rust", Duration::from_secs(10));

    // Held until a subscriber hears it, so that what the dispatcher was
    // handed reaches the receiver across the failover.
    let transport = RedisTransport::with_options(
        &url,
        RedisOptions {
            failover: failover(MASTER_NAME),
            min_subscribers: 1,
            flush_timeout: Duration::from_secs(60),
            reconnect_delay: Duration::from_millis(50),
            ..RedisOptions::default()
        },
    )
    .expect("sentinel URL");
    let dispatcher = Arc::new(
        EventDispatcher::builder(transport)
            .hostname("stream@host")
            .build(),
    );
    let sender = send_numbered(&dispatcher, EVENTS, started, Duration::from_millis(2));
    tally.wait_heard(EVENTS / 4, Duration::from_secs(30));
    let old = set.kill_master();
    let killed = Instant::now();
    let at_kill = tally.heard();
    let new = set.wait_promoted(old, Duration::from_secs(30));
    let promoted = killed.elapsed();

    sender.join().expect("the sender finished");
    dispatcher.flush(true, true).expect("everything published");
    tally.settle(EVENTS, Duration::from_secs(30));
    let resumed = killed.elapsed();
    let pong_after = wait_for_pong(&control, "sentinel@rust", Duration::from_secs(20));
    let subscriber = capturing.stop().expect("the capture thread ran");

    eprintln!(
        "master {old} killed at event {at_kill} of {EVENTS}; {new} promoted after {promoted:?}; \
         every event received {resumed:?} after the kill; ping answered {pong_after:?} later"
    );
    assert!(at_kill < EVENTS, "the master was killed mid-stream");
    assert!(
        subscriber.subscriptions() >= 2,
        "the subscriber subscribed again, on the new master"
    );
    tally.assert_each_once(EVENTS);
    assert!(
        tally.heard() > at_kill,
        "events were received from the new master"
    );
}

#[test]
fn wrong_sentinel_settings_and_cluster_nodes_are_typed_errors() {
    // Without a master name, nothing starts.
    let set = Sentinels::start_with(1);
    let url = set.url(0);
    match RedisTransport::open(&url) {
        Err(RedisConfigError::Topology(TopologyError::MissingMasterName)) => {}
        other => panic!("expected MissingMasterName, got {:?}", other.err()),
    }

    // A name no sentinel knows: control and the queue probe say so, at once.
    let options = MailboxOptions {
        failover: failover("no-such-master"),
        ..MailboxOptions::default()
    };
    let control = RedisControl::open_with(&url, &options).expect("the URL is valid");
    let started = Instant::now();
    match control.ping(Duration::from_secs(1)) {
        Err(ControlError::Topology(TopologyError::UnknownMaster { master_name, .. })) => {
            assert_eq!(master_name, "no-such-master");
        }
        other => panic!("expected UnknownMaster, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    let probe = QueueProbe::with_options(
        &url,
        QueueOptions {
            failover: failover("no-such-master"),
            ..QueueOptions::default()
        },
    )
    .expect("the URL is valid");
    assert!(matches!(
        probe.ping(),
        Err(QueueError::Topology(TopologyError::UnknownMaster { .. }))
    ));
    // A transport keeps the events and says why in its flush error.
    let transport = RedisTransport::with_options(
        &url,
        RedisOptions {
            failover: failover("no-such-master"),
            flush_timeout: Duration::from_secs(1),
            ..RedisOptions::default()
        },
    )
    .expect("the URL is valid");
    let dispatcher = EventDispatcher::builder(transport).build();
    dispatcher
        .send_event(&TaskStarted {
            uuid: "kept".into(),
        })
        .expect("accepted");
    let error = dispatcher
        .flush(true, true)
        .expect_err("nothing can be sent");
    assert!(
        error.to_string().contains("no-such-master"),
        "the flush error names the master: {error}"
    );

    // A Redis Cluster node.
    let cluster = ClusterNode::start();
    let control = RedisControl::open(&cluster.url()).expect("valid URL");
    match control.ping(Duration::from_secs(1)) {
        Err(ControlError::Topology(TopologyError::RedisCluster { url })) => {
            assert_eq!(url, cluster.url());
        }
        other => panic!("expected RedisCluster, got {other:?}"),
    }
    let probe = QueueProbe::open(&cluster.url()).expect("valid URL");
    assert!(matches!(
        probe.ping(),
        Err(QueueError::Topology(TopologyError::RedisCluster { .. }))
    ));
}

/// A `redis-server` with cluster mode on (a cluster of one node, no slots
/// assigned: enough to be recognised).
struct ClusterNode {
    server: support::RedisServer,
    dir: std::path::PathBuf,
}

impl ClusterNode {
    fn start() -> Self {
        // The node writes its cluster state (`nodes.conf`) in its directory.
        let dir = std::env::temp_dir().join(format!("signals-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.display().to_string();
        Self {
            server: support::RedisServer::start_with(&["--cluster-enabled", "yes", "--dir", &path]),
            dir,
        }
    }

    fn url(&self) -> String {
        self.server.url(0)
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.server.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `n`-th event of a numbered stream.
fn started(n: usize) -> TaskStarted {
    TaskStarted {
        uuid: n.to_string(),
    }
}
