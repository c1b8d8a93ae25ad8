//! The worker's side: one event dispatcher on the worker's broker, the
//! worker's own events (online, heartbeats, offline), the remote-control node,
//! and what the observed tasks report to.
//!
//! A process runs one observed worker: [`Observer::start`] installs it as the
//! one that [`Observed`](crate::Observed) tasks report to, and stopping it
//! uninstalls it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, RwLock};
use serde_json::Value;
use signals_celery::control::{DeliveryInfo, Node, TaskInfo};
use signals_celery::events::{
    EventDispatcher, EventError, TaskFailed, TaskReceived, TaskRetried, TaskStarted, TaskSucceeded,
    Transport, WorkerHeartbeat, WorkerOffline, WorkerOnline,
};

/// The longest a task event waits in its group's buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// The observer the observed tasks of this process report to.
static CURRENT: RwLock<Option<Arc<Shared>>> = RwLock::new(None);

/// The observer installed now, if any.
pub(crate) fn current() -> Option<Arc<Shared>> {
    CURRENT.read().clone()
}

/// Why an [`Observer`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserverError {
    /// The Redis URL cannot be used.
    #[cfg(feature = "redis")]
    #[error(transparent)]
    Redis(#[from] signals_celery::events::RedisConfigError),
    /// The AMQP URL cannot be used.
    #[cfg(feature = "amqp")]
    #[error(transparent)]
    Amqp(#[from] signals_celery::events::AmqpConfigError),
    /// The URL's scheme is not one this build has a broker for.
    #[error("no broker for `{scheme}://` in this build (features: redis, redis-tls, amqp)")]
    UnsupportedScheme {
        /// The scheme.
        scheme: String,
    },
    /// Another observer is running in this process: observed tasks report to
    /// one worker.
    #[error("an observer is already running in this process")]
    AlreadyRunning,
    /// `worker-online` could not be sent.
    #[error("cannot send worker-online: {0}")]
    Event(#[from] EventError),
    /// The heartbeat thread could not be started.
    #[error("cannot start the heartbeat thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// How an [`Observer`] is set up; see [`Observer::builder`].
#[derive(Debug)]
#[must_use = "nothing starts until `start` is called"]
pub struct ObserverBuilder {
    broker_url: String,
    hostname: String,
    queues: Vec<String>,
    tasks: Vec<String>,
    heartbeat: Duration,
    failover: signals_celery::Failover,
}

impl ObserverBuilder {
    /// A queue the worker consumes (repeatable; default the app's default
    /// queue with [`Observer::for_app`], else `celery`): `active_queues`
    /// reports them.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queues.push(queue.into());
        self
    }

    /// A task the worker runs, as `registered` lists it (repeatable).
    pub fn task<T: celery::task::Task>(mut self) -> Self {
        self.tasks.push(T::NAME.to_owned());
        self
    }

    /// How often the worker sends a heartbeat (Celery's `freq`; default 2 s).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat = interval.max(Duration::from_millis(100));
        self
    }

    /// How a failover list or Sentinel URL is used (default: round-robin,
    /// no master name).
    pub fn failover(mut self, failover: signals_celery::Failover) -> Self {
        self.failover = failover;
        self
    }

    /// Connects to the broker, sends `worker-online`, starts the heartbeats
    /// and the remote-control mailbox, and installs the observer for the
    /// observed tasks of this process.
    pub fn start(self) -> Result<Observer, ObserverError> {
        let mut current = CURRENT.write();
        if current.is_some() {
            return Err(ObserverError::AlreadyRunning);
        }
        let transport = transport(&self.broker_url, &self.failover)?;
        // Task events go out in `task.multi` messages of up to 24, as a
        // Celery worker sends them, flushed at least every FLUSH_EVERY.
        let dispatcher = Arc::new(
            EventDispatcher::builder_arc(transport)
                .hostname(self.hostname.clone())
                .buffer_group(["task"])
                .build(),
        );
        let queues = if self.queues.is_empty() {
            vec!["celery".to_owned()]
        } else {
            self.queues
        };
        let freq = self.heartbeat.as_secs_f64();
        let shared = Arc::new(Shared {
            dispatcher: Arc::clone(&dispatcher),
            hostname: self.hostname.clone(),
            queue: queues[0].clone(),
            active: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            freq,
            node: std::sync::OnceLock::new(),
        });
        let mut node = Node::builder(self.hostname.clone()).registered(self.tasks);
        for queue in &queues {
            node = node.queue(queue.clone());
        }
        let node = node
            .on_heartbeat({
                let shared = Arc::downgrade(&shared);
                move || {
                    if let Some(shared) = shared.upgrade() {
                        shared.heartbeat();
                    }
                }
            })
            .on_enable_events({
                let dispatcher = Arc::clone(&dispatcher);
                move || {
                    let was = dispatcher.is_enabled();
                    let _ = dispatcher.enable();
                    !was
                }
            })
            .on_disable_events({
                let dispatcher = Arc::clone(&dispatcher);
                move || {
                    let was = dispatcher.is_enabled();
                    dispatcher.disable();
                    was
                }
            })
            .build();
        let _ = shared.node.set(node.clone());
        let mailbox = mailbox(node, &self.broker_url, &self.failover)?;
        dispatcher.send_event(&shared.status::<WorkerOnline>())?;

        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let heartbeats = {
            let (shared, stop) = (Arc::clone(&shared), Arc::clone(&stop));
            let interval = self.heartbeat;
            std::thread::Builder::new()
                .name("celery-rs-events".into())
                .spawn(move || {
                    let (stopped, wake) = &*stop;
                    let mut stopped = stopped.lock();
                    let mut next_heartbeat = std::time::Instant::now() + interval;
                    while !*stopped {
                        if !wake.wait_for(&mut stopped, FLUSH_EVERY).timed_out() {
                            continue;
                        }
                        shared.flush_tasks();
                        if std::time::Instant::now() >= next_heartbeat {
                            shared.heartbeat();
                            next_heartbeat += interval;
                        }
                    }
                })
                .map_err(ObserverError::Thread)?
        };
        *current = Some(Arc::clone(&shared));
        Ok(Observer {
            shared,
            stop,
            heartbeats: Some(heartbeats),
            _mailbox: mailbox,
        })
    }
}

/// A celery-rs worker as Celery's tools see it: `worker-online` when it
/// starts, a heartbeat every two seconds with its active and processed
/// counts and the load average, `worker-offline` when it is stopped or
/// dropped, and a remote-control node that answers `celery inspect`
/// (`ping`, `stats`, `active`, `registered`, `active_queues`) and
/// `enable_events` / `disable_events`.
///
/// The tasks it reports are the ones registered as
/// [`Observed<T>`](crate::Observed).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use celery::prelude::*;
/// use signals_celery_rs::{Observed, Observer};
///
/// #[celery::task]
/// fn add(x: i32, y: i32) -> TaskResult<i32> {
///     Ok(x + y)
/// }
///
/// let url = "redis://127.0.0.1:6379/0";
/// let app = celery::app!(broker = RedisBroker { url }, tasks = [Observed<add>], task_routes = []).await?;
/// let observer = Observer::for_app(&app, url).task::<add>().start()?;
/// app.consume().await?;
/// observer.stop();
/// # Ok(())
/// # }
/// ```
pub struct Observer {
    shared: Arc<Shared>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    heartbeats: Option<JoinHandle<()>>,
    _mailbox: Box<dyn std::any::Any + Send>,
}

impl Observer {
    /// An observer of the worker named `hostname` (Celery's node name,
    /// `name@host`) whose broker is `broker_url`: the same broker the
    /// celery-rs app consumes from, given with its password (the app keeps
    /// only a masked copy).
    pub fn builder(broker_url: impl Into<String>, hostname: impl Into<String>) -> ObserverBuilder {
        ObserverBuilder {
            broker_url: broker_url.into(),
            hostname: hostname.into(),
            queues: Vec::new(),
            tasks: Vec::new(),
            heartbeat: Duration::from_secs(2),
            failover: signals_celery::Failover::default(),
        }
    }

    /// An observer of `app`'s worker: its node name (`app.hostname`) and
    /// its default queue. `broker_url` is the URL the app was built with.
    pub fn for_app(app: &celery::Celery, broker_url: impl Into<String>) -> ObserverBuilder {
        Self::builder(broker_url, app.hostname.clone()).queue(app.default_queue.clone())
    }

    /// The worker's node name.
    pub fn hostname(&self) -> &str {
        &self.shared.hostname
    }

    /// How many observed tasks ran to an end (success, failure or retry).
    pub fn processed(&self) -> u64 {
        self.shared.processed.load(Ordering::Relaxed)
    }

    /// Sends `worker-offline`, waits for every event to be sent (up to the
    /// transport's flush timeout) and stops the heartbeats and the mailbox.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        {
            let mut current = CURRENT.write();
            if current
                .as_ref()
                .is_some_and(|installed| Arc::ptr_eq(installed, &self.shared))
            {
                *current = None;
            }
        }
        let (stopped, wake) = &*self.stop;
        *stopped.lock() = true;
        wake.notify_all();
        if let Some(heartbeats) = self.heartbeats.take() {
            let _ = heartbeats.join();
        }
        let offline = self.shared.status::<WorkerOffline>();
        if let Err(error) = self.shared.dispatcher.send_event(&offline) {
            tracing::warn!(%error, "worker-offline not sent");
        }
        if let Err(error) = self.shared.dispatcher.flush(true, true) {
            tracing::warn!(%error, "events not all sent at stop");
        }
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("hostname", &self.shared.hostname)
            .field("processed", &self.processed())
            .finish_non_exhaustive()
    }
}

/// What the observer and its tasks share.
pub(crate) struct Shared {
    dispatcher: Arc<EventDispatcher>,
    hostname: String,
    /// The first queue consumed: where `active` says a task came from.
    queue: String,
    /// How many tasks run now (the node's `active` lists them).
    active: AtomicU64,
    processed: AtomicU64,
    freq: f64,
    /// Set once, when the observer starts.
    node: std::sync::OnceLock<Node>,
}

/// What a task's request says, as the events carry it.
pub(crate) struct Received<'a> {
    pub(crate) uuid: &'a str,
    pub(crate) name: &'a str,
    pub(crate) args: &'a Value,
    pub(crate) args_repr: &'a str,
    pub(crate) kwargs_repr: String,
    pub(crate) retries: u32,
    pub(crate) eta: Option<String>,
    pub(crate) expires: Option<String>,
}

/// How a task's run ended, as the events say it.
pub(crate) enum Outcome {
    Succeeded {
        result: String,
        runtime: f64,
    },
    Failed {
        exception: String,
        traceback: String,
    },
    Retried {
        exception: String,
        traceback: String,
    },
}

impl Shared {
    /// A worker event's fields now.
    fn status<E: WorkerStatus>(&self) -> E {
        E::new(
            self.freq,
            self.active.load(Ordering::Relaxed),
            self.processed.load(Ordering::Relaxed),
        )
    }

    /// Sends the buffered task events.
    fn flush_tasks(&self) {
        if self.dispatcher.buffered() > 0 {
            if let Err(error) = self.dispatcher.flush(false, true) {
                tracing::debug!(%error, "task events not flushed");
            }
        }
    }

    fn heartbeat(&self) {
        if let Err(error) = self
            .dispatcher
            .send_event(&self.status::<WorkerHeartbeat>())
        {
            tracing::debug!(%error, "worker-heartbeat not sent");
        }
    }

    /// `task-received`: the worker took the message (celery-rs builds the
    /// task from it then, before any ETA wait).
    pub(crate) fn received(&self, task: &Received<'_>) {
        let event = TaskReceived {
            uuid: task.uuid.to_owned(),
            name: task.name.to_owned(),
            args: task.args_repr.to_owned(),
            kwargs: task.kwargs_repr.clone(),
            retries: task.retries,
            eta: task.eta.clone(),
            expires: task.expires.clone(),
            root_id: Some(task.uuid.to_owned()),
            parent_id: None,
        };
        self.send(&event);
    }

    /// `task-started`, and the task listed as active.
    pub(crate) fn started(&self, task: &Received<'_>) {
        let info = TaskInfo::new(task.uuid, task.name, &self.hostname)
            .args(task.args.clone())
            .started_at(now(), std::process::id())
            .delivery_info(DeliveryInfo::queue(self.queue.clone()));
        self.active.fetch_add(1, Ordering::Relaxed);
        if let Some(node) = self.node.get() {
            node.update(|worker| worker.active.push(info));
        }
        self.send(&TaskStarted {
            uuid: task.uuid.to_owned(),
        });
    }

    /// The task's end: its event, and the counts.
    pub(crate) fn finished(&self, uuid: &str, name: &str, outcome: Outcome) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.processed.fetch_add(1, Ordering::Relaxed);
        if let Some(node) = self.node.get() {
            node.update(|worker| {
                worker.active.retain(|task| task.id != uuid);
                match worker.total.get_mut(name) {
                    Some(count) => *count += 1,
                    None => {
                        worker.total.insert(name.to_owned(), 1);
                    }
                }
            });
        }
        let uuid = uuid.to_owned();
        match outcome {
            Outcome::Succeeded { result, runtime } => self.send(&TaskSucceeded {
                uuid,
                result,
                runtime,
            }),
            Outcome::Failed {
                exception,
                traceback,
            } => self.send(&TaskFailed {
                uuid,
                exception,
                traceback,
            }),
            Outcome::Retried {
                exception,
                traceback,
            } => self.send(&TaskRetried {
                uuid,
                exception,
                traceback,
            }),
        }
    }

    fn send<E: signals_celery::events::CeleryEvent>(&self, event: &E) {
        // The dispatcher buffers what the broker does not take yet; an error
        // here is a full buffer or events disabled, neither a task's concern.
        if let Err(error) = self.dispatcher.send_event(event) {
            tracing::debug!(%error, kind = E::TYPE, "task event not sent");
        }
    }
}

/// The three worker events, which carry the same fields.
trait WorkerStatus: signals_celery::events::CeleryEvent {
    fn new(freq: f64, active: u64, processed: u64) -> Self;
}

macro_rules! worker_status {
    ($($event:ident),*) => {$(
        impl WorkerStatus for $event {
            fn new(freq: f64, active: u64, processed: u64) -> Self {
                Self {
                    freq,
                    sw_ident: "celery-rs".into(),
                    sw_ver: env!("CARGO_PKG_VERSION").into(),
                    sw_sys: std::env::consts::OS.into(),
                    active,
                    processed,
                    loadavg: signals_celery::events::loadavg(),
                }
            }
        }
    )*};
}

worker_status!(WorkerOnline, WorkerHeartbeat, WorkerOffline);

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// The scheme of `url` (before `://`), lowercase.
fn scheme(url: &str) -> String {
    url.split_once("://")
        .map_or("", |(scheme, _)| scheme)
        .to_ascii_lowercase()
}

fn is_amqp(url: &str) -> bool {
    matches!(scheme(url).as_str(), "amqp" | "amqps")
}

/// The event transport for `url`: one connection for the whole worker.
fn transport(
    url: &str,
    failover: &signals_celery::Failover,
) -> Result<Arc<dyn Transport>, ObserverError> {
    if is_amqp(url) {
        #[cfg(feature = "amqp")]
        {
            use signals_celery::events::{AmqpOptions, AmqpTransport};
            let options = AmqpOptions {
                failover: failover.clone(),
                ..AmqpOptions::default()
            };
            return Ok(Arc::new(AmqpTransport::with_options(url, options)?));
        }
    } else {
        #[cfg(feature = "redis")]
        {
            use signals_celery::events::{RedisOptions, RedisTransport};
            let options = RedisOptions {
                failover: failover.clone(),
                ..RedisOptions::default()
            };
            return Ok(Arc::new(RedisTransport::with_options(url, options)?));
        }
    }
    #[allow(unreachable_code)]
    {
        let _ = failover;
        Err(ObserverError::UnsupportedScheme {
            scheme: scheme(url),
        })
    }
}

/// The remote-control mailbox serving `node` on `url`.
fn mailbox(
    node: Node,
    url: &str,
    failover: &signals_celery::Failover,
) -> Result<Box<dyn std::any::Any + Send>, ObserverError> {
    let options = signals_celery::control::MailboxOptions {
        failover: failover.clone(),
        ..signals_celery::control::MailboxOptions::default()
    };
    if is_amqp(url) {
        #[cfg(feature = "amqp")]
        {
            let mailbox = signals_celery::control::AmqpMailbox::serve_with(node, url, options)?;
            return Ok(Box::new(mailbox));
        }
    } else {
        #[cfg(feature = "redis")]
        {
            let mailbox = signals_celery::control::RedisMailbox::serve_with(node, url, options)?;
            return Ok(Box::new(mailbox));
        }
    }
    #[allow(unreachable_code)]
    {
        let _ = (node, options);
        Err(ObserverError::UnsupportedScheme {
            scheme: scheme(url),
        })
    }
}
