//! The signals of `celery.signals` (Celery 5.x), typed.
use crate::signal;

#[signal(providing_args = [task_id: String, eta: Option<std::time::SystemTime>])]
/// Dispatched when a task has been sent.
pub static task_sent: Signal;
