//! What the Celery interop tests share: the virtualenv `./test.sh` creates, and
//! waiting for subscribers that are other processes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A program of the Celery virtualenv (`python`, `celery`): beside
/// `$SIGNALS_CELERY_PYTHON` (set by `./test.sh`), else in
/// `target/celery-venv/bin/`. A missing virtualenv fails the test with how to
/// make it.
pub(crate) fn venv_program(name: &str) -> PathBuf {
    let python = std::env::var_os("SIGNALS_CELERY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/celery-venv/bin/python")
        });
    let program = python.with_file_name(name);
    assert!(
        program.exists(),
        "{} is missing: run ./test.sh, which creates the Celery virtualenv \
         (python3 -m venv target/celery-venv && target/celery-venv/bin/pip install -r tests/celery/requirements.txt)",
        program.display()
    );
    program
}

/// Waits up to 30 s until `count` connections to the Redis at `url` hold a
/// pattern subscription (`PUBSUB NUMPAT` would count a pattern two clients
/// share once).
pub(crate) fn wait_for_pattern_subscribers(url: &str, count: usize) {
    let client = redis::Client::open(url).expect("URL");
    let mut connection = client.get_connection().expect("connects");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut connection)
            .expect("CLIENT LIST");
        let subscribed = clients
            .lines()
            .filter(|client| client.contains(" psub=1 "))
            .count();
        if subscribed >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{subscribed} of {count} subscribers after 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A program of `target/<profile>/examples/`, beside the test binary
/// (`cargo test` builds the examples).
#[allow(dead_code)] // not every test binary runs an example
pub(crate) fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing (cargo test builds the examples)",
        path.display()
    );
    path
}
