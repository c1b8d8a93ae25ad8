//! A crate that holds only receivers, as an application's plugin would: linked
//! into a program, its receivers are connected to the program's signals with no
//! call from `main` (but see the linking caveat in `signals::receiver`).

use std::sync::atomic::{AtomicUsize, Ordering};

use signals::{receiver, signal};
use signals_celery::signals::{task_sent, TaskId};

/// How many `task_sent` events for `plugin.task` this crate saw.
pub static PLUGIN_TASKS_SEEN: AtomicUsize = AtomicUsize::new(0);

/// A signal this crate declares for others to receive.
#[signal(providing_args = [/** What was loaded. */ what: String], response = String)]
pub static plugin_loaded: Signal;

#[receiver(task_sent, sender = "plugin.task")]
fn count_plugin_tasks(task_id: &TaskId) {
    assert!(!task_id.as_str().is_empty());
    PLUGIN_TASKS_SEEN.fetch_add(1, Ordering::SeqCst);
}

#[receiver(plugin_loaded)]
fn describe(what: &str) -> String {
    format!("plugin loaded {what}")
}
