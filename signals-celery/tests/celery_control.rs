//! Celery's remote control against a Rust node on a real `redis-server` and a
//! real RabbitMQ node: the `celery` command line (Celery 5.7 from the test
//! virtualenv) sees the node beside a real Python worker started by the test;
//! on Redis our client gets replies from both, and user commands round-trip;
//! bad requests are counted without stopping the node.

#[allow(dead_code)]
#[path = "support/celery.rs"]
mod celery;
#[allow(dead_code)]
#[path = "support/rabbitmq.rs"]
mod rabbitmq;
#[allow(dead_code)]
mod support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use signals_celery::control::{AmqpControl, AmqpMailbox, Node, RedisControl, RedisMailbox};

const RUST: &str = "rust@test-host";
const PYTHON: &str = "py@test-host";

/// A Python Celery worker (solo pool, no tasks of its own) on `url`.
struct PythonWorker(Child);

impl PythonWorker {
    fn start(url: &str) -> Self {
        let child = Command::new(celery::venv_program("celery"))
            .args([
                "-b",
                url,
                "worker",
                "--pool",
                "solo",
                "-n",
                PYTHON,
                "--loglevel",
                "WARNING",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("celery worker starts");
        Self(child)
    }
}

impl Drop for PythonWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The workers that replied, sorted.
fn answered_by(replies: &[(String, Value)]) -> Vec<&str> {
    let mut names: Vec<&str> = replies.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names
}

/// The node's user command `double` round-trips through `$control` (either
/// client: they share their methods' shapes).
macro_rules! assert_doubles {
    ($control:expr) => {{
        let mut arguments = Map::new();
        arguments.insert("n".into(), json!(21));
        let doubled = $control
            .broadcast("double", arguments, Some(&[RUST]), Duration::from_secs(3), None)
            .expect("double");
        assert_eq!(doubled, [(RUST.to_owned(), json!({"ok": 42}))]);
    }};
}

fn celery_cli(url: &str, args: &[&str]) -> Output {
    Command::new(celery::venv_program("celery"))
        .args(["-b", url])
        .args(args)
        .output()
        .expect("the celery command runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn celery_and_our_client_see_the_rust_node() {
    let server = support::RedisServer::start();
    let url = server.url(0);
    let node = Node::builder(RUST)
        .registered(["tasks.add", "tasks.mul"])
        .queue("celery")
        .concurrency(4)
        .command(
            "double",
            |args: Value| json!({"ok": args["n"].as_i64().unwrap_or(0) * 2}),
        )
        .build();
    node.count_task("tasks.add");
    let mailbox = RedisMailbox::serve(node.clone(), &url).expect("valid URL");
    assert!(mailbox.wait_ready(Duration::from_secs(10)), "subscribed");
    let _python = PythonWorker::start(&url);

    // Our client, until the Python worker has started and answers too.
    let control = RedisControl::open(&url).expect("valid URL");
    let deadline = Instant::now() + Duration::from_secs(30);
    let replies = loop {
        let replies = control.ping(Duration::from_secs(1)).expect("ping");
        if replies.len() >= 2 || Instant::now() > deadline {
            break replies;
        }
    };
    assert_eq!(answered_by(&replies), [PYTHON, RUST], "{replies:?}");
    for (_, reply) in &replies {
        assert_eq!(reply, &json!({"ok": "pong"}));
    }

    // The celery command line, as a user runs it.
    let ping = celery_cli(&url, &["inspect", "ping", "--timeout", "3"]);
    let shown = text(&ping);
    assert!(ping.status.success(), "{shown}");
    assert!(shown.contains(&format!("{RUST}: OK")), "{shown}");
    assert!(shown.contains(&format!("{PYTHON}: OK")), "{shown}");
    assert!(shown.contains("pong"), "{shown}");

    let status = celery_cli(&url, &["status", "--timeout", "3"]);
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert!(shown.contains(&format!("{RUST}: OK")), "{shown}");
    assert!(shown.contains("2 nodes online."), "{shown}");

    let stats = celery_cli(
        &url,
        &["inspect", "stats", "--timeout", "3", "-d", RUST, "--json"],
    );
    let shown = text(&stats);
    assert!(stats.status.success(), "{shown}");
    let json_start = shown.find('{').expect("JSON output");
    let stats: Value = serde_json::from_str(shown[json_start..].trim()).expect("JSON");
    let ours = &stats[RUST];
    assert_eq!(ours["pool"]["max-concurrency"], 4, "{ours}");
    assert_eq!(ours["total"]["tasks.add"], 1, "{ours}");
    assert_eq!(ours["broker"]["transport"], "redis", "{ours}");
    assert_eq!(ours["broker"]["port"], server.port, "{ours}");
    assert!(ours["rusage"]["maxrss"].as_i64().unwrap_or(0) > 0, "{ours}");

    let registered = celery_cli(
        &url,
        &["inspect", "registered", "--timeout", "3", "-d", RUST],
    );
    let shown = text(&registered);
    assert!(
        shown.contains("tasks.add") && shown.contains("tasks.mul"),
        "{shown}"
    );

    // A user command, and an unknown one, from our client.
    assert_doubles!(control);
    let unknown = control
        .broadcast(
            "no_such_command",
            Map::new(),
            Some(&[RUST]),
            Duration::from_secs(3),
            None,
        )
        .expect("sent");
    assert_eq!(
        unknown,
        [(
            RUST.to_owned(),
            json!({"error": "KeyError('no_such_command')"})
        )]
    );

    // Bad requests are counted; the node goes on serving.
    let client = redis::Client::open(url.as_str()).expect("URL");
    let mut connection = client.get_connection().expect("connects");
    for garbage in [
        b"not json".to_vec(),
        br#"{"body": "!!!", "content-type": "application/json", "properties": {"body_encoding": "base64"}}"#.to_vec(),
        br#"{"body": "e30=", "content-type": "application/x-python-serialize", "properties": {"body_encoding": "base64"}}"#.to_vec(),
        vec![b'x'; 2 << 20],
    ] {
        redis::cmd("PUBLISH")
            .arg("/0.celery.pidbox")
            .arg(garbage)
            .query::<()>(&mut connection)
            .expect("published");
    }
    // A call whose client has gone: no queue is bound for its reply.
    let call = json!({"method": "ping", "arguments": {}, "destination": [RUST],
                      "ticket": "t-gone", "reply_to": {"exchange": "reply.celery.pidbox",
                                                       "routing_key": "vanished-client"}});
    let envelope = json!({
        "body": base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            serde_json::to_vec(&call).unwrap()
        ),
        "content-encoding": "utf-8", "content-type": "application/json",
        "headers": {"clock": 1, "expires": 0},
        "properties": {"body_encoding": "base64", "delivery_tag": "x", "priority": 0,
                       "delivery_mode": 1,
                       "delivery_info": {"exchange": "celery.pidbox", "routing_key": ""}},
    });
    redis::cmd("PUBLISH")
        .arg("/0.celery.pidbox")
        .arg(serde_json::to_vec(&envelope).unwrap())
        .query::<()>(&mut connection)
        .expect("published");
    let after = control
        .broadcast(
            "ping",
            Map::new(),
            Some(&[RUST]),
            Duration::from_secs(3),
            None,
        )
        .expect("ping");
    assert_eq!(after, [(RUST.to_owned(), json!({"ok": "pong"}))]);
    let stats = mailbox.node().stats();
    assert_eq!(stats.malformed, 4, "{stats:?}");
    assert_eq!(stats.reply_failures, 1, "the vanished client: {stats:?}");
    assert_eq!(stats.unknown, 1, "{stats:?}");
    assert!(stats.handled >= 5, "{stats:?}");
}

/// `celery inspect ping`, `status`, `stats` and `registered` against a node
/// served over AMQP beside a Python worker, all on one RabbitMQ node; our AMQP
/// client gets both and a user command round-trips; bad requests counted.
#[test]
fn celery_sees_the_rust_node_on_rabbitmq() {
    let server = rabbitmq::RabbitServer::start();
    let url = server.url();
    let node = Node::builder(RUST)
        .registered(["tasks.add"])
        .queue("celery")
        .concurrency(2)
        .command(
            "double",
            |args: Value| json!({"ok": args["n"].as_i64().unwrap_or(0) * 2}),
        )
        .build();
    let mailbox = AmqpMailbox::serve(node, &url).expect("valid URL");
    assert!(mailbox.wait_ready(Duration::from_secs(30)), "consuming");
    let _python = PythonWorker::start(&url);

    // Until the Python worker has started and answers too.
    let deadline = Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let ping = celery_cli(&url, &["inspect", "ping", "--timeout", "2"]);
        let shown = text(&ping);
        if shown.contains(&format!("{PYTHON}: OK")) || Instant::now() > deadline {
            break shown;
        }
    };
    assert!(shown.contains(&format!("{RUST}: OK")), "{shown}");
    assert!(shown.contains(&format!("{PYTHON}: OK")), "{shown}");
    assert!(shown.contains("pong"), "{shown}");

    let status = celery_cli(&url, &["status", "--timeout", "3"]);
    let shown = text(&status);
    assert!(shown.contains("2 nodes online."), "{shown}");

    let stats = celery_cli(
        &url,
        &["inspect", "stats", "--timeout", "3", "-d", RUST, "--json"],
    );
    let shown = text(&stats);
    let json_start = shown.find('{').expect("JSON output");
    let stats: Value = serde_json::from_str(shown[json_start..].trim()).expect("JSON");
    assert_eq!(stats[RUST]["broker"]["transport"], "amqp", "{stats}");
    assert_eq!(stats[RUST]["broker"]["port"], server.port, "{stats}");
    assert_eq!(stats[RUST]["pool"]["max-concurrency"], 2, "{stats}");

    let registered = celery_cli(
        &url,
        &["inspect", "registered", "--timeout", "3", "-d", RUST],
    );
    assert!(
        text(&registered).contains("tasks.add"),
        "{}",
        text(&registered)
    );

    // Our client on AMQP: replies from both workers, and a user command.
    let control = AmqpControl::open(&url).expect("valid URL");
    let replies = control.ping(Duration::from_secs(2)).expect("ping");
    assert_eq!(answered_by(&replies), [PYTHON, RUST], "{replies:?}");
    assert_doubles!(control);

    // Bad requests: not JSON, and JSON that is no request.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .expect("connects");
        let channel = connection.create_channel().await.expect("a channel");
        for (content_type, body) in [
            ("application/json", &b"{not json"[..]),
            ("application/json", &br#"{"no": "method"}"#[..]),
            ("application/x-python-serialize", &b"\x80\x04"[..]),
        ] {
            channel
                .basic_publish(
                    "celery.pidbox".into(),
                    "".into(),
                    lapin::options::BasicPublishOptions::default(),
                    body,
                    lapin::BasicProperties::default().with_content_type(content_type.into()),
                )
                .await
                .expect("published");
        }
        connection.close(200, "done".into()).await.expect("closed");
    });
    let ping = celery_cli(&url, &["inspect", "ping", "--timeout", "3", "-d", RUST]);
    assert!(
        text(&ping).contains(&format!("{RUST}: OK")),
        "{}",
        text(&ping)
    );
    let stats = mailbox.node().stats();
    assert_eq!(stats.malformed, 3, "{stats:?}");
}
