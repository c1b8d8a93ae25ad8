//! Task queues as the broker holds them: how many messages wait in a queue,
//! how many consumers read it, and whether the broker answers at all. This
//! is what a monitor reports beside the events (celery-exporter's
//! `celery_queue_length` and `celery_active_consumer_count`).
//!
//! Every call opens a connection of its own and closes it: a probe never
//! trusts a socket that may have died quietly since the last call.
//!
//! - **Redis:** a queue is a list, plus one list per priority step
//!   (kombu's `<queue>\x06\x16<priority>` for the steps 3, 6 and 9 by
//!   default); its length is the sum, as kombu's `Channel._size` counts it.
//!   Redis has no consumer count.
//! - **AMQP:** a passive `queue.declare`, which answers the message and
//!   consumer counts without creating the queue; a queue that does not exist
//!   is `None`.

use std::time::Duration;

use crate::broker::mask_password;

/// Why a queue probe failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The URL is not one this build can probe (the password is masked).
    #[error("invalid broker URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with its password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker did not answer, or the connection failed on the way.
    #[error("broker {url} unreachable: {reason}")]
    Unreachable {
        /// The URL with its password masked.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The broker's topology is wrong: a bad URL list, no sentinel that
    /// knows the master's name, or a Redis Cluster node.
    #[error(transparent)]
    Topology(#[from] crate::TopologyError),
}

/// How a [`QueueProbe`] finds the queues: kombu's Redis transport options.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    /// kombu's `global_keyprefix`, before every key (default empty).
    pub global_keyprefix: String,
    /// kombu's `priority_steps`: a queue has one list per step above 0
    /// (default `[0, 3, 6, 9]`).
    pub priority_steps: Vec<u32>,
    /// kombu's `sep`, between a queue's name and its priority (default
    /// `"\x06\x16"`).
    pub sep: String,
    /// How long connecting and each command may take (default 5 s).
    pub timeout: Duration,
    /// PEM certificates of CAs to trust for `rediss://` or `amqps://`
    /// (default `None`: the system's).
    pub tls_root_certificates: Option<Vec<u8>>,
    /// How a failover list of URLs or Sentinel is used (default: the list
    /// round-robin, no Sentinel master name).
    pub failover: crate::Failover,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            global_keyprefix: String::new(),
            priority_steps: vec![0, 3, 6, 9],
            sep: "\x06\x16".into(),
            timeout: Duration::from_secs(5),
            tls_root_certificates: None,
            failover: crate::Failover::default(),
        }
    }
}

/// What the broker holds for one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueDepth {
    /// Messages waiting (every priority sub-queue included, on Redis).
    pub messages: u64,
    /// Consumers reading the queue (AMQP; `None` on Redis, which does not
    /// know).
    pub consumers: Option<u64>,
}

/// Asks a broker about its task queues: see the [module](self).
///
/// ```no_run
/// use signals_celery::queues::QueueProbe;
///
/// let probe = QueueProbe::open("redis://127.0.0.1:6379/0")?;
/// probe.ping()?;
/// for (queue, depth) in probe.depths(&["celery".to_owned()])? {
///     println!("{queue}: {:?}", depth.map(|depth| depth.messages));
/// }
/// # Ok::<(), signals_celery::queues::QueueError>(())
/// ```
pub struct QueueProbe {
    /// The URL as given, password included: only for connecting.
    secret_url: String,
    /// The URL with its password masked.
    url: String,
    options: QueueOptions,
    broker: Broker,
}

enum Broker {
    #[cfg(feature = "redis")]
    Redis(crate::broker::redis::Servers),
    #[cfg(feature = "amqp")]
    Amqp {
        servers: crate::broker::amqp::Servers,
        io: crate::broker::amqp::Io,
    },
}

impl QueueProbe {
    /// A probe of the broker at `url` (`redis://`, `rediss://`, `amqp://`,
    /// `amqps://`, as the build's features allow); nothing connects yet.
    pub fn open(url: &str) -> Result<Self, QueueError> {
        Self::with_options(url, QueueOptions::default())
    }

    /// A probe with `options`.
    pub fn with_options(url: &str, options: QueueOptions) -> Result<Self, QueueError> {
        let masked = mask_password(url);
        let invalid = |reason: String| QueueError::InvalidUrl {
            url: masked.clone(),
            reason,
        };
        let first = url.split(';').next().unwrap_or(url).trim();
        let broker = match crate::broker::failover::scheme_of(first).as_str() {
            #[cfg(feature = "redis")]
            "redis" | "rediss" | "sentinel" => {
                use crate::broker::redis::{open_servers, RedisConfigError};
                let roots = options.tls_root_certificates.as_deref();
                Broker::Redis(
                    open_servers(url, &options.failover, roots).map_err(|error| match error {
                        RedisConfigError::Topology(error) => QueueError::Topology(error),
                        RedisConfigError::InvalidUrl { url, reason } => {
                            QueueError::InvalidUrl { url, reason }
                        }
                        other => invalid(other.to_string()),
                    })?,
                )
            }
            #[cfg(feature = "amqp")]
            "amqp" | "amqps" => {
                use crate::broker::amqp::{self, AmqpConfigError};
                let roots = options.tls_root_certificates.as_deref();
                let servers = amqp::Servers::open(url, &options.failover, roots).map_err(
                    |error| match error {
                        AmqpConfigError::Topology(error) => QueueError::Topology(error),
                        other => invalid(other.to_string()),
                    },
                )?;
                let io = amqp::Io::new(None).map_err(|error| invalid(error.to_string()))?;
                Broker::Amqp { servers, io }
            }
            _ => {
                return Err(invalid(format!(
                    "this build probes {}",
                    supported_schemes()
                )))
            }
        };
        Ok(Self {
            secret_url: url.to_owned(),
            url: masked,
            options,
            broker,
        })
    }

    /// The URL, password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects, makes one round trip (Redis `PING`, an AMQP channel opened)
    /// and closes: `Ok` if the broker answered within the timeout.
    pub fn ping(&self) -> Result<(), QueueError> {
        match &self.broker {
            #[cfg(feature = "redis")]
            Broker::Redis(client) => {
                let mut connection = self.redis_connection(client)?;
                redis::cmd("PING")
                    .query::<String>(&mut connection)
                    .map(drop)
                    .map_err(|error| self.unreachable(error.to_string()))
            }
            #[cfg(feature = "amqp")]
            Broker::Amqp { servers, io } => self.amqp(io, async {
                let connection = servers.connect().await?;
                let opened = connection.create_channel().await;
                let _ = connection.close(200, "probed".into()).await;
                opened.map(drop).map_err(|error| error.to_string())
            }),
        }
    }

    /// The depth of each of `queues`, over one connection; `None` for a
    /// queue the broker does not have (AMQP only: on Redis a missing list is
    /// empty).
    pub fn depths(
        &self,
        queues: &[String],
    ) -> Result<Vec<(String, Option<QueueDepth>)>, QueueError> {
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        match &self.broker {
            #[cfg(feature = "redis")]
            Broker::Redis(client) => {
                let mut connection = self.redis_connection(client)?;
                let mut pipe = redis::pipe();
                for queue in queues {
                    for key in self.redis_keys(queue) {
                        pipe.cmd("LLEN").arg(key);
                    }
                }
                let lengths: Vec<u64> = pipe
                    .query(&mut connection)
                    .map_err(|error| self.unreachable(error.to_string()))?;
                let per_queue = self.steps().len();
                Ok(queues
                    .iter()
                    .zip(lengths.chunks(per_queue))
                    .map(|(queue, lengths)| {
                        let depth = QueueDepth {
                            messages: lengths.iter().sum(),
                            consumers: None,
                        };
                        (queue.clone(), Some(depth))
                    })
                    .collect())
            }
            #[cfg(feature = "amqp")]
            Broker::Amqp { servers, io } => self.amqp(io, async {
                let connection = servers.connect().await?;
                let mut depths = Ok(Vec::with_capacity(queues.len()));
                for queue in queues {
                    match passive_declare(&connection, queue).await {
                        Ok(depth) => {
                            if let Ok(depths) = &mut depths {
                                depths.push((queue.clone(), depth));
                            }
                        }
                        Err(error) => {
                            depths = Err(error);
                            break;
                        }
                    }
                }
                let _ = connection.close(200, "probed".into()).await;
                depths
            }),
        }
    }

    /// The priority steps, 0 always among them (the queue's own list).
    #[cfg(feature = "redis")]
    fn steps(&self) -> Vec<u32> {
        let mut steps = self.options.priority_steps.clone();
        if !steps.contains(&0) {
            steps.insert(0, 0);
        }
        steps
    }

    /// The lists of `queue`: its own, then one per priority step above 0.
    #[cfg(feature = "redis")]
    fn redis_keys(&self, queue: &str) -> Vec<String> {
        let prefix = &self.options.global_keyprefix;
        self.steps()
            .into_iter()
            .map(|step| match step {
                0 => format!("{prefix}{queue}"),
                step => format!("{prefix}{queue}{}{step}", self.options.sep),
            })
            .collect()
    }

    #[cfg(feature = "redis")]
    fn redis_connection(
        &self,
        servers: &crate::broker::redis::Servers,
    ) -> Result<redis::Connection, QueueError> {
        use crate::broker::failover::ConnectError;
        let connection = servers
            .connect(self.options.timeout)
            .map_err(|error| match error {
                ConnectError::Topology(error) => QueueError::Topology(error),
                ConnectError::Unreachable(reason) => self.unreachable(reason),
            })?;
        connection
            .set_read_timeout(Some(self.options.timeout))
            .and_then(|()| connection.set_write_timeout(Some(self.options.timeout)))
            .map_err(|error| self.unreachable(error.to_string()))?;
        Ok(connection)
    }

    /// Runs `session` (which connects, works and closes) within the timeout.
    #[cfg(feature = "amqp")]
    fn amqp<T>(
        &self,
        io: &crate::broker::amqp::Io,
        session: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, QueueError> {
        let timeout = self.options.timeout;
        match io.block_on(async { tokio::time::timeout(timeout, session).await }) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(reason)) => Err(self.unreachable(reason)),
            Err(_elapsed) => Err(self.unreachable(format!("no answer within {timeout:?}"))),
        }
    }

    /// The broker did not answer; `reason` with every URL of the list in
    /// it masked.
    fn unreachable(&self, reason: String) -> QueueError {
        let reason = self
            .secret_url
            .split(';')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .fold(reason, |reason, url| {
                reason.replace(url, &mask_password(url))
            });
        QueueError::Unreachable {
            url: self.url.clone(),
            reason,
        }
    }
}

impl std::fmt::Debug for QueueProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProbe")
            .field("url", &self.url)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn supported_schemes() -> &'static str {
    match (cfg!(feature = "redis"), cfg!(feature = "amqp")) {
        (true, true) => "redis://, rediss://, amqp:// and amqps:// URLs",
        (true, false) => "redis:// and rediss:// URLs (feature `amqp` adds amqp://)",
        _ => "amqp:// and amqps:// URLs (feature `redis` adds redis://)",
    }
}

/// A passive declare of `queue` on a channel of its own (a missing queue
/// closes the channel): its counts, or `None` if it does not exist.
#[cfg(feature = "amqp")]
async fn passive_declare(
    connection: &lapin::Connection,
    queue: &str,
) -> Result<Option<QueueDepth>, String> {
    use lapin::options::QueueDeclareOptions;
    let channel = connection
        .create_channel()
        .await
        .map_err(|error| error.to_string())?;
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await;
    match declared {
        Ok(declared) => {
            let _ = channel.close(200, "probed".into()).await;
            Ok(Some(QueueDepth {
                messages: u64::from(declared.message_count()),
                consumers: Some(u64::from(declared.consumer_count())),
            }))
        }
        Err(error) if is_not_found(&error) => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(feature = "amqp")]
fn is_not_found(error: &lapin::Error) -> bool {
    matches!(error.kind(), lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 404)
}
