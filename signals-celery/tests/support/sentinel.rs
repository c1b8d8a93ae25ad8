//! Redis Sentinel of the test's own: a master, a replica of it and three
//! sentinels (`redis-server --sentinel`, Debian's `redis-server` package), all
//! on free 127.0.0.1 ports, with the sentinels' configuration in a temporary
//! directory. Everything is killed, and the directory removed, when dropped.
//!
//! The sentinels take a master as down after 1 s of silence (a quorum of 2)
//! and promote the replica, so a failover takes a few seconds.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The name the sentinels know the master by.
pub(crate) const MASTER_NAME: &str = "signals-master";

/// A `redis-server` process (server or sentinel) on a loopback port.
struct Process {
    port: u16,
    child: Option<Child>,
}

impl Process {
    /// Starts `redis-server` with `args` on a free port (`--port` added),
    /// retrying on another port if it exits before answering.
    fn start(args: impl Fn(u16) -> Vec<String>) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(args(port))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (./test.sh installs it: apt-get install redis-server)");
            let mut process = Self {
                port,
                child: Some(child),
            };
            if process.answers() {
                return process;
            }
            process.kill();
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn answers(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut connection) = connect(self.port) {
                if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                    return true;
                }
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/0"))?
        .get_connection_with_timeout(Duration::from_secs(1))
}

fn server_args(port: u16) -> Vec<String> {
    let dir = std::env::temp_dir().display().to_string();
    let file = format!("signals-sentinel-test-{port}.rdb");
    // A replica writes what it loads from its master: into the temporary
    // directory, never the source tree.
    ["--port", &port.to_string(), "--bind", "127.0.0.1"]
        .into_iter()
        .chain(["--save", "", "--appendonly", "no"])
        .chain(["--dir", &dir, "--dbfilename", &file])
        .map(str::to_owned)
        .collect()
}

/// A master, its replica and three sentinels.
pub(crate) struct Sentinels {
    servers: Vec<Process>,
    sentinels: Vec<Process>,
    dir: PathBuf,
}

impl Sentinels {
    /// Starts them all and waits until every sentinel knows the replica
    /// and the two other sentinels (so that a failover can be voted).
    pub(crate) fn start() -> Self {
        Self::start_with(3)
    }

    /// One master, its replica, and `count` sentinels.
    pub(crate) fn start_with(count: usize) -> Self {
        let master = Process::start(server_args);
        let master_port = master.port;
        let replica = Process::start(|port| {
            let mut args = server_args(port);
            args.extend([
                "--replicaof".into(),
                "127.0.0.1".into(),
                master_port.to_string(),
            ]);
            args
        });
        let dir = std::env::temp_dir().join(format!(
            "signals-sentinels-{}-{master_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let sentinels = (0..count)
            .map(|index| {
                Process::start(|port| {
                    let config = dir.join(format!("sentinel-{index}-{port}.conf"));
                    std::fs::write(
                        &config,
                        format!(
                            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                             sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
                             sentinel failover-timeout {MASTER_NAME} 5000\n\
                             sentinel parallel-syncs {MASTER_NAME} 1\n",
                            dir = dir.display()
                        ),
                    )
                    .expect("the sentinel's configuration");
                    vec![config.display().to_string(), "--sentinel".into()]
                })
            })
            .collect();
        let set = Self {
            servers: vec![master, replica],
            sentinels,
            dir,
        };
        set.wait_ready();
        set
    }

    fn wait_ready(&self) {
        let others = self.sentinels.len() - 1;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.sentinels.iter().all(|sentinel| {
                let Ok(mut connection) = connect(sentinel.port) else {
                    return false;
                };
                let replicas: Vec<redis::Value> = redis::cmd("SENTINEL")
                    .arg("REPLICAS")
                    .arg(MASTER_NAME)
                    .query(&mut connection)
                    .unwrap_or_default();
                let peers: Vec<redis::Value> = redis::cmd("SENTINEL")
                    .arg("SENTINELS")
                    .arg(MASTER_NAME)
                    .query(&mut connection)
                    .unwrap_or_default();
                replicas.len() == 1 && peers.len() == others
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels did not find the replica and each other within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// kombu's URL of the sentinels, for database `db`.
    pub(crate) fn url(&self, db: u32) -> String {
        self.sentinels
            .iter()
            .map(|sentinel| format!("sentinel://127.0.0.1:{}/{db}", sentinel.port))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The master's port as the first sentinel that answers names it.
    pub(crate) fn master_port(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|sentinel| {
            let mut connection = connect(sentinel.port).ok()?;
            let (_, port): (String, u16) = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(MASTER_NAME)
                .query(&mut connection)
                .ok()?;
            Some(port)
        })
    }

    /// Kills the server the sentinels name as master (as a crash would);
    /// returns its port.
    pub(crate) fn kill_master(&mut self) -> u16 {
        let port = self.master_port().expect("the sentinels name a master");
        let master = self
            .servers
            .iter_mut()
            .find(|server| server.port == port)
            .expect("the master is one of ours");
        master.kill();
        port
    }

    /// Waits until every sentinel names a master other than `old`, and it
    /// takes writes; returns its port.
    pub(crate) fn wait_promoted(&self, old: u16, timeout: Duration) -> u16 {
        let deadline = Instant::now() + timeout;
        loop {
            let named: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .map(|sentinel| {
                    let mut connection = connect(sentinel.port).ok()?;
                    redis::cmd("SENTINEL")
                        .arg("GET-MASTER-ADDR-BY-NAME")
                        .arg(MASTER_NAME)
                        .query::<(String, u16)>(&mut connection)
                        .ok()
                        .map(|(_, port)| port)
                })
                .collect();
            if let Some(Some(new)) = named.first() {
                let agreed = named.iter().all(|port| *port == Some(*new));
                let writable = connect(*new).is_ok_and(|mut connection| {
                    redis::cmd("SET")
                        .arg("signals:failover")
                        .arg(1)
                        .query::<()>(&mut connection)
                        .is_ok()
                });
                if *new != old && agreed && writable {
                    return *new;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no replica was promoted within {timeout:?} (the sentinels name {named:?})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        self.sentinels.clear();
        self.servers.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
