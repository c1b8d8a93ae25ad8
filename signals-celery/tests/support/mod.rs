//! Real servers for the tests: each test starts its own on a free loopback port
//! and stops it when dropped. A missing server binary fails the test with what
//! to install; nothing is skipped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of this test's own.
pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Option<Child>,
    /// Arguments after the port, binding and persistence.
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` on a free 127.0.0.1 port and waits until it answers.
    /// A port taken between choosing it and the server binding it (another
    /// test's broker may open connections meanwhile) is replaced by another.
    #[allow(dead_code)] // not every test binary starts a plain server
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Self::start`] with more arguments for `redis-server`.
    pub(crate) fn start_with(extra: &[&str]) -> Self {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free loopback port")
                .port();
            let mut server = Self {
                port,
                child: None,
                extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            };
            if server.launch() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// The server's URL for database `db`.
    pub(crate) fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Kills the server (as a crash would).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    #[allow(dead_code)] // not every test restarts its server
    pub(crate) fn restart(&mut self) {
        assert!(
            self.launch(),
            "redis-server did not start again on port {}",
            self.port
        );
    }

    /// Starts the server on its port; `false` if it exited (the port was
    /// taken) before answering.
    fn launch(&mut self) -> bool {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            // A replica writes what it loads from its master; never into the
            // source tree.
            .arg("--dir")
            .arg(std::env::temp_dir())
            .args(["--dbfilename", &format!("signals-test-{}.rdb", self.port)])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (./test.sh installs it: apt-get install redis-server)");
        self.child = Some(child);
        let url = self.url(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let client = redis::Client::open(url.as_str()).expect("valid URL");
            if let Ok(mut connection) = client.get_connection() {
                if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                    return true;
                }
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited {
                self.child = None;
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
