//! `cargo run --example async_service` prints what its receivers did: the
//! robust send's outcomes in connection order, `asend` stopping at the
//! failure and cancelling the slower write, and the sync send's refusal.

use std::process::Command;

#[test]
fn the_async_service_example_runs() {
    let exe = std::env::current_exe().expect("the test binary");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join("async_service");
    assert!(
        path.exists(),
        "{} is missing (cargo test builds the examples)",
        path.display()
    );
    let output = Command::new(&path).output().expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    let outcomes: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.contains(": ok: ") || line.contains(": failed: "))
        .collect();
    assert_eq!(
        outcomes,
        [
            "audit: ok: audit: shop paid order 1001",
            "queue_receipt: ok: receipt queued for ada@example.com",
            "record_payment: ok: ledger: order 1001, 4250 cents",
            "reserve_stock: failed: warehouse unreachable for order 1001",
        ]
    );
    assert!(lines.contains(&"mailer: sent receipt for order 1001 to ada@example.com"));
    assert!(lines
        .iter()
        .any(|line| line.starts_with("asend: stopped: receiver async_service::reserve_stock")));
    assert!(lines
        .iter()
        .any(|line| line.starts_with("send: an async receiver cannot be run by a sync send")));
    assert!(lines.contains(&"ledger: [(1001, 4250)]"), "{stdout}");
}
