//! `send_robust` logs each failure through `tracing`, with Django's message.
//!
//! Alone in its own test binary: tracing caches, per call site, whether any
//! subscriber wants its events. Tests on other threads log through the same
//! call site with no subscriber; if one of them registered it while this test's
//! scoped subscriber was being registered, tracing could cache "never" for it
//! and this test saw nothing (a race in tracing-core, seen once in CI).

use std::sync::{Arc, Mutex};

use signals::{Receiver, Signal};

struct Args {
    value: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("refused {0}")]
struct Refused(u32);

#[test]
fn send_robust_logs_each_failure_like_django() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let sig = Signal::<Args, &'static str, u32>::new("logged");
    let failing =
        Receiver::new(|_: &&str, a: &Args| -> Result<u32, Refused> { Err(Refused(a.value)) })
            .named("failing_receiver");
    let _ = sig.connect(failing);
    tracing::subscriber::with_default(subscriber, || {
        sig.send_robust("x", &Args { value: 2 });
    });
    let logged = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("Error calling failing_receiver in Signal.send_robust() (refused 2)"),
        "{logged}"
    );
    assert!(logged.contains("ERROR"), "{logged}");
}
