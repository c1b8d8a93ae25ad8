//! Celery events from a receiver: a receiver of `task_published` publishes
//! Celery's `task-sent` event, grouped and buffered, on the embedded
//! in-memory broker, which goes away and comes back. Nothing is lost.
//!
//! `cargo run -p signals-celery --example buffered_events`

use std::sync::Arc;
use std::time::Duration;

use signals::{signal, ConnectOptions};
use signals_celery::events::{EventDispatcher, MemoryTransport, TaskSent as TaskSentEvent};

/// Sent when a task is published; the sender is the task's name.
#[signal(
    providing_args = [task_id: String, eta: Option<Duration>],
    response = String,
)]
pub static task_published: Signal;

fn main() {
    celery_events();
}

/// The event dispatcher beside the signals: a receiver of `task_published` publishes
/// Celery's `task-sent` event, on the embedded in-memory broker.
fn celery_events() {
    let broker = MemoryTransport::new();
    let dispatcher = Arc::new(
        EventDispatcher::builder(broker.clone())
            .hostname("quickstart@localhost")
            .buffer_group(["task"])
            .buffer_limit(2)
            .build(),
    );
    let events = dispatcher.clone();
    let _ = task_published.connect_with(
        move |task: &&'static str, args: &TaskPublishedArgs| {
            let event = TaskSentEvent {
                uuid: args.task_id.clone(),
                name: (*task).to_owned(),
                ..Default::default()
            };
            match events.send_event(&event) {
                Ok(sent) => format!("task-sent event {sent:?}"),
                Err(error) => format!("task-sent event refused: {error}"),
            }
        },
        ConnectOptions::new().dispatch_uid("celery-events"),
    );
    println!("celery events:");
    let sent = |id: &str| {
        let args = TaskPublishedArgs {
            task_id: id.to_owned(),
            eta: None,
        };
        let _ = task_published.send("tasks.add", &args);
    };
    sent("e1");
    sent("e2"); // the `task` group holds two: both go as one `task.multi` message
    broker.set_online(false); // the broker goes away: events wait in the buffer
    sent("e3");
    sent("e4");
    println!(
        "  broker offline, {} events buffered",
        dispatcher.buffered()
    );
    broker.set_online(true);
    let report = dispatcher.flush(true, true).expect("the broker is back");
    println!(
        "  flushed {} events in {} messages",
        report.events, report.messages
    );
    for message in broker.drain() {
        let events = message.events().expect("JSON bodies");
        let summary: Vec<String> = events
            .iter()
            .map(|event| {
                format!(
                    "{}#{} clock={}",
                    event.kind().unwrap_or("?"),
                    event
                        .get("uuid")
                        .and_then(|uuid| uuid.as_str())
                        .unwrap_or("?"),
                    event.clock().unwrap_or(0)
                )
            })
            .collect();
        println!("  {} <- {}", message.routing_key, summary.join(", "));
    }
}
