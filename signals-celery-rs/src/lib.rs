//! Makes [celery-rs](https://docs.rs/celery-rs) task workers visible to
//! Celery's tools. celery-rs (the Rust implementation of Celery's worker)
//! sends no events and answers no remote control, so Flower, `celery events`
//! and `celery inspect` see only its consumer. With this crate they see a
//! worker like a Python one:
//!
//! - [`Observed<T>`]: register it in place of a task `T`; it sends Celery's
//!   `task-received`, `task-started`, `task-succeeded`, `task-failed` and
//!   `task-retried` for each run;
//! - [`Observer`]: the worker's own events (`worker-online`, heartbeats with
//!   `active`, `processed` and the load average, `worker-offline`) and a
//!   remote-control node for `celery inspect ping|stats|active|registered|active_queues`
//!   and `celery control enable_events|disable_events`.
//!
//! Events go through [`signals_celery`]'s `EventDispatcher`, wire-compatible
//! with Celery on Redis and RabbitMQ, over one connection of its own for the
//! whole worker (celery-rs's own broker connection is private to it).
//!
//! ```no_run
//! use celery::prelude::*;
//! use signals_celery_rs::{Observed, Observer};
//!
//! #[celery::task]
//! fn add(x: i32, y: i32) -> TaskResult<i32> {
//!     Ok(x + y)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let url = "redis://127.0.0.1:6379/0";
//!     let app = celery::app!(
//!         broker = RedisBroker { url },
//!         tasks = [Observed<add>],
//!         task_routes = [],
//!     )
//!     .await?;
//!     let observer = Observer::for_app(&app, url).task::<add>().start()?;
//!     app.consume().await?;
//!     observer.stop(); // worker-offline
//!     Ok(())
//! }
//! ```
//!
//! # What is exact and what is not
//!
//! celery-rs gives a task no hook but its own `from_request`, `run`,
//! `on_success` and `on_failure`, so:
//!
//! - `task-received` is sent when celery-rs builds the task from the message
//!   it took: the moment a Python worker sends it too (before an ETA wait).
//!   Its `args` are the parameters in the task's argument order, as Python's
//!   `repr` of a tuple; `kwargs` is `{}`, as celery-rs passes every argument
//!   by name into one parameter struct.
//! - `root_id` is the task's own id and `parent_id` is absent: celery-rs's
//!   request does not carry the message's headers that hold them.
//! - `task-succeeded`'s `result` is Python's `repr` of the result's JSON
//!   (`5`, `'text'`, `{'a': 1}`); its `runtime` is measured around the task's
//!   `run`.
//! - A failure is `task-retried` when celery-rs will run the task again, by
//!   the rule its tracer applies (the error's kind, `retry_for_unexpected`,
//!   `max_retries`), and `task-failed` otherwise. The exception reads
//!   `ExpectedError('reason')`, `UnexpectedError('reason')`,
//!   `TimeoutError('task timed out')` or `Retry(...)`; the traceback is the
//!   error's text (Rust has no Python traceback).
//! - A task that expired before it ran is dropped by celery-rs without a
//!   hook: no `task-revoked` is sent for it. celery-rs has no revocation or
//!   rejection of its own, so `task-revoked` and `task-rejected` are never
//!   sent.
//! - `active` lists the tasks running now with the first queue the
//!   observer was given as their queue; `reserved` and `scheduled` are
//!   empty (celery-rs's prefetched messages are not visible to it).
//! - One observer per process: the observed tasks of a process report to the
//!   observer running in it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod observed;
mod observer;

pub use observed::Observed;
pub use observer::{Observer, ObserverBuilder, ObserverError};
