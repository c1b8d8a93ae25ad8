//! An async service on tokio: when an order is paid, async receivers queue a
//! receipt on a channel (drained by a mailer task), write the payment to an
//! in-memory ledger, and call a warehouse service that is down. `asend_robust`
//! awaits them all in the caller's task and reports the failure beside the
//! successes; `asend` stops at it.
//!
//! ```sh
//! cargo run --example async_service
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use signals::{receiver, signal, ReceiverError};
use tokio::sync::{mpsc, Mutex};

/// Sent when an order is paid; the sender is the shop. Receivers answer with
/// a line for the order's log.
#[signal(providing_args = [order_id: u64, email: String, total_cents: u64], response = String)]
pub static order_paid: Signal;

/// The mailer's queue: the async sink the receipts go to.
static OUTBOX: OnceLock<mpsc::UnboundedSender<String>> = OnceLock::new();

/// The ledger: an in-memory store behind an async lock.
static LEDGER: Mutex<Vec<(u64, u64)>> = Mutex::const_new(Vec::new());

/// What the failing receiver reports.
#[derive(Debug, thiserror::Error)]
#[error("warehouse unreachable for order {order_id}")]
struct WarehouseDown {
    order_id: u64,
}

/// The mailer is gone (its queue is closed).
#[derive(Debug, thiserror::Error)]
#[error("the mailer has stopped")]
struct MailerStopped;

// Async receivers take the arguments they ask for, by name, as sync ones do.
#[receiver(order_paid)]
async fn queue_receipt(order_id: &u64, email: &str) -> Result<String, MailerStopped> {
    let outbox = OUTBOX.get().ok_or(MailerStopped)?;
    outbox
        .send(format!("receipt for order {order_id} to {email}"))
        .map_err(|_| MailerStopped)?;
    Ok(format!("receipt queued for {email}"))
}

#[receiver(order_paid)]
async fn record_payment(order_id: &u64, total_cents: &u64) -> String {
    // A store's write latency.
    tokio::time::sleep(Duration::from_millis(20)).await;
    LEDGER.lock().await.push((*order_id, *total_cents));
    format!("ledger: order {order_id}, {total_cents} cents")
}

#[receiver(order_paid)]
async fn reserve_stock(order_id: &u64) -> Result<String, WarehouseDown> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    Err(WarehouseDown {
        order_id: *order_id,
    })
}

// A sync receiver beside them: called first, in place.
#[receiver(order_paid)]
fn audit(sender: &&str, order_id: &u64) -> String {
    format!("audit: {sender} paid order {order_id}")
}

#[tokio::main]
async fn main() {
    let (outbox, mut queue) = mpsc::unbounded_channel();
    OUTBOX.set(outbox).expect("set once");
    let mailer = tokio::spawn(async move {
        while let Some(mail) = queue.recv().await {
            println!("mailer: sent {mail}");
        }
    });

    let paid = OrderPaidArgs {
        order_id: 1001,
        email: "ada@example.com".into(),
        total_cents: 4_250,
    };
    // Every receiver runs; the three async ones concurrently, in this task.
    let outcomes = order_paid.asend_robust("shop", &paid).await;
    for (id, outcome) in &outcomes {
        let name = id.name().rsplit("::").next().unwrap_or(id.name());
        match outcome {
            Ok(line) => println!("{name}: ok: {line}"),
            Err(ReceiverError::Failed(error)) => println!("{name}: failed: {error}"),
            Err(ReceiverError::Panicked(message)) => println!("{name}: panicked: {message}"),
        }
    }

    // `asend` stops at the first error, and cancels what is still running.
    let second = OrderPaidArgs {
        order_id: 1002,
        email: "alan@example.com".into(),
        total_cents: 990,
    };
    match order_paid.asend("shop", &second).await {
        Ok(responses) => println!("asend: {} responses", responses.len()),
        Err(error) => println!("asend: stopped: {error}"),
    }

    // A sync send cannot run async receivers, and says so rather than skip them.
    if let Err(error) = order_paid.send("shop", &second) {
        println!("send: {}", error.source);
    }

    // Order 1002's payment is not in the ledger: its write was still sleeping
    // when the warehouse call failed, and `asend` dropped it.
    println!("ledger: {:?}", *LEDGER.lock().await);
    // Let the mailer drain its queue, then stop it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    mailer.abort();
}
