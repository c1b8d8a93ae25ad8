//! A RabbitMQ node of the test's own: Debian's `rabbitmq-server` on free
//! 127.0.0.1 ports, with its data and logs in a temporary directory, stopped
//! (and its directory removed) when dropped. A missing server fails the test
//! with what to install; nothing is skipped.
//!
//! - `/usr/sbin/rabbitmq-server`, run as root, re-runs itself as the
//!   `rabbitmq` user (through `su`, in a session of its own), so the directory
//!   is handed to that user, and the node is stopped through the pid file it
//!   writes rather than through the child we spawn.
//! - Erlang's port mapper (`epmd`) would listen on every interface if the node
//!   started it: the harness starts one on a free loopback port first, and
//!   stops it after the node.
//! - `rabbitmqctl` needs the node's cookie, in the `rabbitmq` user's home: the
//!   harness waits for the AMQP port to answer instead, and runs
//!   `rabbitmqctl` (which re-runs itself as that user) only where a test asks
//!   the node to act, such as closing connections ([`RabbitServer::ctl`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts the server.
const SERVER: &str = "/usr/sbin/rabbitmq-server";

/// A running RabbitMQ node.
pub(crate) struct RabbitServer {
    /// The AMQP port, on 127.0.0.1.
    pub(crate) port: u16,
    dist_port: u16,
    epmd_port: u16,
    dir: PathBuf,
    name: String,
    child: Option<Child>,
    /// The `amqps://` port, when the node has a TLS listener.
    pub(crate) tls_port: Option<u16>,
}

/// The PEM files of a TLS listener: the CA, the server's certificate and key.
pub(crate) struct TlsFiles<'a> {
    pub(crate) ca: &'a std::path::Path,
    pub(crate) cert: &'a std::path::Path,
    pub(crate) key: &'a std::path::Path,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl RabbitServer {
    /// Starts a node and waits until its AMQP port answers the protocol
    /// header.
    pub(crate) fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a node that also listens for `amqps://` with the certificate and
    /// key in `files` (copied into the node's directory, so that the
    /// `rabbitmq` user can read them); peers are not asked for certificates.
    pub(crate) fn start_tls(files: TlsFiles<'_>) -> Self {
        Self::start_with(Some(files))
    }

    fn start_with(tls: Option<TlsFiles<'_>>) -> Self {
        assert!(
            std::path::Path::new(SERVER).exists(),
            "{SERVER} is missing: ./test.sh installs it (apt-get install rabbitmq-server)"
        );
        let port = free_port();
        let name = format!("signals-test-{}-{port}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(dir.join("mnesia")).expect("a temporary directory");
        std::fs::create_dir_all(dir.join("log")).expect("a temporary directory");
        let tls_port = tls.map(|files| {
            let tls_port = free_port();
            for (from, to) in [
                (files.ca, "ca.pem"),
                (files.cert, "cert.pem"),
                (files.key, "key.pem"),
            ] {
                std::fs::copy(from, dir.join(to)).expect("the TLS files copied");
            }
            let config = format!(
                "listeners.ssl.default = {tls_port}\n\
                 ssl_options.cacertfile = {dir}/ca.pem\n\
                 ssl_options.certfile = {dir}/cert.pem\n\
                 ssl_options.keyfile = {dir}/key.pem\n\
                 ssl_options.verify = verify_none\n\
                 ssl_options.fail_if_no_peer_cert = false\n",
                dir = dir.display()
            );
            std::fs::write(dir.join("rabbitmq.conf"), config).expect("the node's configuration");
            tls_port
        });
        let status = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status()
            .expect("chown runs");
        assert!(
            status.success(),
            "cannot hand {} to the rabbitmq user",
            dir.display()
        );
        let mut server = Self {
            port,
            dist_port: free_port(),
            epmd_port: free_port(),
            dir,
            name,
            child: None,
            tls_port,
        };
        server.start_epmd();
        server.start_node();
        server
    }

    /// The node's URL, on the default virtual host, as the default user.
    pub(crate) fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's `amqps://` URL, for a node started with [`start_tls`].
    ///
    /// [`start_tls`]: Self::start_tls
    pub(crate) fn tls_url(&self) -> String {
        let port = self.tls_port.expect("a node started with start_tls");
        format!("amqps://guest:guest@127.0.0.1:{port}/%2f")
    }

    /// Starts `count` nodes that form one cluster: one port mapper for all
    /// of them, the cookie of the `rabbitmq` user they all run as, and
    /// classic-config peer discovery naming every node. The first node
    /// starts alone, the others together once it runs, and join it; returns
    /// once every node counts every other as running.
    pub(crate) fn start_cluster(count: usize) -> Vec<Self> {
        assert!(
            std::path::Path::new(SERVER).exists(),
            "{SERVER} is missing: ./test.sh installs it (apt-get install rabbitmq-server)"
        );
        let epmd_port = free_port();
        let mut nodes: Vec<Self> = (0..count)
            .map(|_| {
                let port = free_port();
                let name = format!("signals-cluster-{}-{port}", std::process::id());
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(dir.join("mnesia")).expect("a temporary directory");
                std::fs::create_dir_all(dir.join("log")).expect("a temporary directory");
                Self {
                    port,
                    dist_port: free_port(),
                    epmd_port,
                    dir,
                    name,
                    child: None,
                    tls_port: None,
                }
            })
            .collect();
        let mut config = String::from(
            "cluster_formation.peer_discovery_backend = classic_config\n\
             cluster_formation.randomized_startup_delay_range.min = 0\n\
             cluster_formation.randomized_startup_delay_range.max = 1\n",
        );
        for (index, node) in nodes.iter().enumerate() {
            config.push_str(&format!(
                "cluster_formation.classic_config.nodes.{} = {}@localhost\n",
                index + 1,
                node.name
            ));
        }
        for node in &nodes {
            std::fs::write(node.dir.join("rabbitmq.conf"), &config)
                .expect("the node's configuration");
            let status = Command::new("chown")
                .args(["-R", "rabbitmq:rabbitmq"])
                .arg(&node.dir)
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "cannot hand {} to the rabbitmq user",
                node.dir.display()
            );
        }
        nodes[0].start_epmd();
        nodes[0].start_node();
        std::thread::scope(|scope| {
            for node in nodes.iter_mut().skip(1) {
                scope.spawn(|| node.start_node());
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = nodes[0].ctl(&["cluster_status", "--formatter", "json"]);
            let running = nodes
                .iter()
                .filter(|node| status.contains(&format!("\"{}@localhost\"", node.name)))
                .count();
            let listed = status
                .split("\"running_nodes\"")
                .nth(1)
                .and_then(|rest| rest.split(']').next())
                .map_or(0, |list| list.matches("@localhost").count());
            if running == count && listed == count {
                return nodes;
            }
            assert!(
                Instant::now() < deadline,
                "the {count} nodes did not form one cluster within 60 s: {status}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn start_epmd(&self) {
        let status = Command::new("epmd")
            .args([
                "-address",
                "127.0.0.1",
                "-port",
                &self.epmd_port.to_string(),
                "-daemon",
            ])
            .status()
            .expect("epmd is installed with rabbitmq-server");
        assert!(status.success(), "epmd did not start");
    }

    fn start_node(&mut self) {
        let log = std::fs::File::create(self.dir.join("server.out")).expect("a log file");
        let mut command = Command::new(SERVER);
        let config = self.dir.join("rabbitmq.conf");
        if config.exists() {
            command.env("RABBITMQ_CONFIG_FILE", config);
        }
        let child = command
            .current_dir(&self.dir)
            .env("RABBITMQ_NODENAME", format!("{}@localhost", self.name))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .env("RABBITMQ_ENABLED_PLUGINS", "")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("{SERVER} did not start: {error}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "rabbitmq-server did not accept AMQP on port {} within 60 s; see {}",
                self.port,
                self.dir.join("server.out").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the port answers AMQP 0-9-1's protocol header with a frame
    /// (`connection.start`), which it does only once the node is up.
    pub(crate) fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"AMQP\x00\x00\x09\x01").is_err() {
            return false;
        }
        let mut frame_type = [0u8; 1];
        // Frame type 1: a method frame, `connection.start`.
        matches!(stream.read_exact(&mut frame_type), Ok(()) if frame_type[0] == 1)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("node.pid")
    }

    /// Runs `rabbitmqctl <args>` against the node; its output, or panics with
    /// it if the command failed.
    pub(crate) fn ctl(&self, args: &[&str]) -> String {
        let output = Command::new("rabbitmqctl")
            .args(["-n", &format!("{}@localhost", self.name)])
            .args(args)
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .output()
            .expect("rabbitmqctl is installed with rabbitmq-server");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "rabbitmqctl {args:?}: {text}");
        text
    }

    /// Stops the node (as `systemctl stop` would) and waits until it is gone.
    pub(crate) fn stop(&mut self) {
        self.end("-TERM");
    }

    /// Kills the node (`SIGKILL`, as a crash or a lost machine would) and
    /// waits until it is gone.
    pub(crate) fn kill(&mut self) {
        self.end("-KILL");
    }

    fn end(&mut self, signal: &str) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The node writes its pid once it runs; until then only the wrapper
        // exists.
        let pid = std::fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            // Only if TERM did not end it in time.
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(self.pid_file());
    }

    /// Stops the node and starts it again on the same ports, with its data.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.start_node();
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("epmd")
            .args(["-port", &self.epmd_port.to_string(), "-kill"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
