//! The Redis servers a transport, subscriber, mailbox or probe connects to:
//! one URL, kombu's failover list of them, or the master that Redis Sentinel
//! names (`sentinel://h1:26379;sentinel://h2:26379` with `master_name`).
//!
//! Every connection is checked to be a standalone server or a master, not a
//! Redis Cluster node, so that a cluster URL is a clear error instead of
//! keys and channels scattered over slots.

use std::time::Duration;

use crate::broker::failover::{scheme_of, ConnectError, Failover, Nodes, TopologyError};

/// Where a Redis component's connections go.
pub(crate) enum Servers {
    /// One URL, or a failover list, with a client per URL.
    List {
        nodes: Nodes,
        clients: Vec<redis::Client>,
    },
    /// The master named by Sentinel.
    #[cfg(feature = "redis-sentinel")]
    Sentinel(Box<sentinel::Sentinels>),
}

/// Whether two URL schemes name the same kind of Redis endpoint (a plain
/// or TLS server, or a sentinel).
fn same_broker(first: &str, other: &str) -> bool {
    let kind = |scheme: &str| match scheme {
        "redis" | "rediss" => "server",
        "sentinel" => "sentinel",
        _ => "other",
    };
    first == other || kind(first) != "other" && kind(first) == kind(other)
}

impl Servers {
    /// Reads `url` (one URL or a `;`-separated list) and builds its clients;
    /// nothing connects yet. `client` builds a plain server's client.
    pub(crate) fn open(
        url: &str,
        failover: &Failover,
        client: impl Fn(&str) -> Result<redis::Client, String>,
    ) -> Result<Self, ServersError> {
        let nodes = Nodes::parse(url, failover.strategy, same_broker)?;
        if scheme_of(nodes.url(0)) == "sentinel" {
            #[cfg(feature = "redis-sentinel")]
            return sentinel::Sentinels::open(nodes, failover)
                .map(|sentinels| Self::Sentinel(Box::new(sentinels)));
            #[cfg(not(feature = "redis-sentinel"))]
            return Err(TopologyError::SentinelNotBuilt.into());
        }
        let clients = (0..nodes.len())
            .map(|node| {
                client(nodes.url(node)).map_err(|reason| ServersError::InvalidUrl {
                    url: nodes.masked(node).to_owned(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::List { nodes, clients })
    }

    /// The servers as errors and logs name them: the URL or list, passwords
    /// masked.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::List { nodes, .. } => nodes.describe(),
            #[cfg(feature = "redis-sentinel")]
            Self::Sentinel(sentinels) => sentinels.describe(),
        }
    }

    /// The first URL as given: its database and what `stats` reports.
    pub(crate) fn first_url(&self) -> &str {
        match self {
            Self::List { nodes, .. } => nodes.url(0),
            #[cfg(feature = "redis-sentinel")]
            Self::Sentinel(sentinels) => sentinels.first_url(),
        }
    }

    /// A connection to the server in use, or to the next one of the list
    /// that answers; with Sentinel, to the master the sentinels name now.
    pub(crate) fn connect(&self, timeout: Duration) -> Result<redis::Connection, ConnectError> {
        self.connect_with_info(timeout)
            .map(|(connection, _)| connection)
    }

    /// [`connect`](Self::connect), with where the connection went (the
    /// address and credentials), so that a caller can open a socket of its
    /// own to the same server.
    pub(crate) fn connect_with_info(
        &self,
        timeout: Duration,
    ) -> Result<(redis::Connection, redis::ConnectionInfo), ConnectError> {
        match self {
            Self::List { nodes, clients } => nodes.connect(|node| {
                let client = &clients[node];
                let mut connection = client
                    .get_connection_with_timeout(timeout)
                    .map_err(|error| ConnectError::Unreachable(error.to_string()))?;
                refuse_cluster(&mut connection, nodes.masked(node))?;
                Ok((connection, client.get_connection_info().clone()))
            }),
            #[cfg(feature = "redis-sentinel")]
            Self::Sentinel(sentinels) => {
                let (mut connection, info) = sentinels.connect_master(timeout)?;
                refuse_cluster(&mut connection, &sentinels.describe())?;
                Ok((connection, info))
            }
        }
    }

    /// A connection that was up failed: the next one goes to the next URL
    /// of the list (with Sentinel, the next one asks the sentinels again).
    pub(crate) fn lost(&self, error: &dyn std::fmt::Display) {
        match self {
            Self::List { nodes, .. } => nodes.lost(error),
            #[cfg(feature = "redis-sentinel")]
            Self::Sentinel(_) => tracing::warn!(
                sentinels = %self.describe(),
                %error,
                "Redis master connection lost; asking the sentinels for the master",
            ),
        }
    }
}

/// Whether `error` means the connection is to a server that no longer
/// takes writes (a master demoted to replica in a failover): the caller
/// drops it and connects again.
pub(crate) fn is_demoted(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// `INFO cluster` says whether the server is a cluster node; a server too
/// old to know the section is not one.
fn refuse_cluster(connection: &mut redis::Connection, url: &str) -> Result<(), ConnectError> {
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query(connection)
        .map_err(|error| ConnectError::Unreachable(error.to_string()))?;
    if info.lines().any(|line| line.trim() == "cluster_enabled:1") {
        return Err(ConnectError::Topology(TopologyError::RedisCluster {
            url: url.to_owned(),
        }));
    }
    Ok(())
}

/// Why a Redis URL or list cannot be used.
#[derive(Debug)]
pub(crate) enum ServersError {
    Topology(TopologyError),
    InvalidUrl { url: String, reason: String },
}

impl From<TopologyError> for ServersError {
    fn from(error: TopologyError) -> Self {
        Self::Topology(error)
    }
}

#[cfg(feature = "redis-sentinel")]
mod sentinel {
    //! The master as Redis Sentinel names it, through redis-rs's
    //! `SentinelClient`: it asks each sentinel in turn and checks that the
    //! server it names calls itself master.

    use std::time::Duration;

    use parking_lot::Mutex;
    use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
    use redis::IntoConnectionInfo as _;

    use super::ServersError;
    use crate::broker::failover::{ConnectError, Failover, Nodes, TopologyError};

    /// kombu's default port of a `sentinel://` URL.
    const SENTINEL_PORT: u16 = 26379;

    pub(crate) struct Sentinels {
        client: Mutex<SentinelClient>,
        master_name: String,
        nodes: Nodes,
    }

    impl Sentinels {
        pub(super) fn open(nodes: Nodes, failover: &Failover) -> Result<Self, ServersError> {
            let master_name = failover
                .master_name
                .clone()
                .ok_or(TopologyError::MissingMasterName)?;
            let invalid = |node: usize, reason: String| ServersError::InvalidUrl {
                url: nodes.masked(node).to_owned(),
                reason,
            };
            let mut sentinels = Vec::with_capacity(nodes.len());
            let mut master = None;
            for node in 0..nodes.len() {
                let info = as_redis_url(nodes.url(node))
                    .into_connection_info()
                    .map_err(|error| invalid(node, error.to_string()))?;
                // The URL's database and credentials are the master's, as in
                // kombu; the sentinels' password is an option of its own.
                master.get_or_insert_with(|| info.redis_settings().clone());
                let mut own = redis::RedisConnectionInfo::default();
                if let Some(password) = &failover.sentinel_password {
                    own = own.set_password(password);
                }
                sentinels.push(info.set_redis_settings(own));
            }
            let node_info = SentinelNodeConnectionInfo::default()
                .set_redis_connection_info(master.unwrap_or_default());
            let client = SentinelClient::build(
                sentinels,
                master_name.clone(),
                Some(node_info),
                SentinelServerType::Master,
            )
            .map_err(|error| invalid(0, error.to_string()))?;
            Ok(Self {
                client: Mutex::new(client),
                master_name,
                nodes,
            })
        }

        pub(super) fn describe(&self) -> String {
            self.nodes.describe()
        }

        pub(super) fn first_url(&self) -> &str {
            self.nodes.url(0)
        }

        /// Asks the sentinels for the master and connects to it.
        pub(super) fn connect_master(
            &self,
            timeout: Duration,
        ) -> Result<(redis::Connection, redis::ConnectionInfo), ConnectError> {
            let mut client = self.client.lock();
            let master = match client.get_client() {
                Ok(master) => master,
                Err(error) if error.kind() == redis::ErrorKind::MasterNameNotFoundBySentinel => {
                    return Err(self.why_no_master(&mut client))
                }
                Err(error) => {
                    return Err(ConnectError::Unreachable(format!(
                        "no sentinel named a reachable master: {error}"
                    )))
                }
            };
            let connection = master
                .get_connection_with_timeout(timeout)
                .map_err(|error| ConnectError::Unreachable(error.to_string()))?;
            Ok((connection, master.get_connection_info().clone()))
        }

        /// The sentinels named no master: either none knows the name (the
        /// configuration is wrong), or the master is down and no replica
        /// is promoted yet (a failover is under way).
        #[cold]
        fn why_no_master(&self, client: &mut SentinelClient) -> ConnectError {
            let known = client.get_sentinel_client().and_then(|sentinel| {
                let mut connection = sentinel.get_connection()?;
                redis::cmd("SENTINEL")
                    .arg("MASTER")
                    .arg(&self.master_name)
                    .query::<redis::Value>(&mut connection)
            });
            match known {
                Err(error) if error.to_string().contains("No such master") => {
                    ConnectError::Topology(TopologyError::UnknownMaster {
                        master_name: self.master_name.clone(),
                        sentinels: self.describe(),
                    })
                }
                _ => ConnectError::Unreachable(format!(
                    "the sentinels name no master `{}` that is up (a failover may be under way)",
                    self.master_name
                )),
            }
        }
    }

    /// `sentinel://…` as the `redis://…` URL redis-rs reads, with kombu's
    /// default sentinel port when none is given.
    fn as_redis_url(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((credentials, hostport)) => (format!("{credentials}@"), hostport),
            None => (String::new(), rest),
        };
        let (authority, path) = hostport
            .split_once('/')
            .map_or((hostport, String::new()), |(authority, path)| {
                (authority, format!("/{path}"))
            });
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && !port.contains(']'));
        let port = if has_port {
            String::new()
        } else {
            format!(":{SENTINEL_PORT}")
        };
        format!("redis://{credentials}{authority}{port}{path}")
    }

    #[cfg(test)]
    mod tests {
        use super::as_redis_url;

        #[test]
        fn sentinel_urls_read_as_redis_urls_with_the_sentinel_port() {
            assert_eq!(as_redis_url("sentinel://h:1"), "redis://h:1");
            assert_eq!(as_redis_url("sentinel://h"), "redis://h:26379");
            assert_eq!(as_redis_url("sentinel://:pw@h/2"), "redis://:pw@h:26379/2");
            assert_eq!(as_redis_url("sentinel://u:p@h:5/1"), "redis://u:p@h:5/1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(url: &str) -> Result<Servers, ServersError> {
        Servers::open(url, &Failover::default(), |url| {
            redis::Client::open(url).map_err(|error| error.to_string())
        })
    }

    #[test]
    fn lists_name_one_kind_of_endpoint() {
        assert!(open("redis://a:1/0;rediss://b:2/0").is_ok());
        assert!(matches!(
            open("redis://a:1;amqp://b"),
            Err(ServersError::Topology(TopologyError::MixedSchemes { .. }))
        ));
        assert!(matches!(
            open("redis://a:1;sentinel://b"),
            Err(ServersError::Topology(TopologyError::MixedSchemes { .. }))
        ));
        assert!(matches!(
            open("redis://a:1;"),
            Err(ServersError::Topology(TopologyError::EmptyList { .. }))
        ));
    }

    #[test]
    fn sentinel_urls_need_a_master_name() {
        let error = open("sentinel://127.0.0.1:26379").err().unwrap();
        #[cfg(feature = "redis-sentinel")]
        assert!(matches!(
            error,
            ServersError::Topology(TopologyError::MissingMasterName)
        ));
        #[cfg(not(feature = "redis-sentinel"))]
        assert!(matches!(
            error,
            ServersError::Topology(TopologyError::SentinelNotBuilt)
        ));
    }
}
