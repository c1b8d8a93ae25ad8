//! A broker given as several URLs, kombu's failover list
//! (`amqp://h1;amqp://h2`): which node is in use, which comes next, and the
//! log line of each move.
//!
//! As in kombu, a connection error (at connect, or on a connection that was
//! up) moves to the next URL of the list, by the list's strategy. Unlike
//! kombu, every part of a long-lived publisher or subscriber moves, not only
//! its first connection. A caller waits (its backoff) only after a whole
//! cycle of the list failed to connect.

use std::fmt::Display;

use std::str::FromStr;

use parking_lot::Mutex;

use crate::mask_password;

/// How the next URL of a failover list is chosen, as kombu's
/// `failover_strategy` transport option names it.
///
/// ```
/// use signals_celery::FailoverStrategy;
///
/// assert_eq!("shuffle".parse(), Ok(FailoverStrategy::Shuffle));
/// assert_eq!(FailoverStrategy::default(), FailoverStrategy::RoundRobin);
/// assert!("random".parse::<FailoverStrategy>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverStrategy {
    /// `round-robin` (kombu's default): the URLs in the order given, then the
    /// first again.
    #[default]
    RoundRobin,
    /// `shuffle`: each cycle of the list in a new random order. kombu draws
    /// each next URL at random; here a cycle still tries every URL once
    /// before the caller waits.
    Shuffle,
}

/// A `failover_strategy` that is neither `round-robin` nor `shuffle`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown failover strategy `{0}` (kombu's are `round-robin` and `shuffle`)")]
pub struct UnknownStrategy(pub String);

impl FromStr for FailoverStrategy {
    type Err = UnknownStrategy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "round-robin" => Ok(Self::RoundRobin),
            "shuffle" => Ok(Self::Shuffle),
            other => Err(UnknownStrategy(other.to_owned())),
        }
    }
}

/// How a broker given as several URLs, or through Redis Sentinel, is used:
/// kombu's transport options `failover_strategy`, `master_name` and the
/// password of `sentinel_kwargs`.
///
/// ```
/// use signals_celery::{Failover, FailoverStrategy};
///
/// let failover = Failover {
///     master_name: Some("mymaster".into()),
///     ..Failover::default()
/// };
/// assert_eq!(failover.strategy, FailoverStrategy::RoundRobin);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failover {
    /// The order in which a URL list is tried (default round-robin).
    pub strategy: FailoverStrategy,
    /// For `sentinel://` URLs: the name the sentinels know the master by
    /// (required with them, as in kombu).
    pub master_name: Option<String>,
    /// For `sentinel://` URLs: the password of the sentinels themselves
    /// (kombu's `sentinel_kwargs={"password": ...}`). The password in the
    /// URL is the master's.
    pub sentinel_password: Option<String>,
}

/// Why a broker's URL, URL list or Sentinel setting cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// The URL list is empty, or one of its entries is.
    #[error("the broker URL list {list:?} has an empty entry")]
    EmptyList {
        /// The list, passwords masked.
        list: String,
    },
    /// The list mixes brokers (`redis://` with `amqp://`, or Sentinel with a
    /// plain server): one list is one broker's nodes.
    #[error("the broker URL list mixes {first}:// and {other}:// URLs; one list names the nodes of one broker")]
    MixedSchemes {
        /// The first URL's scheme.
        first: String,
        /// The scheme that differs from it.
        other: String,
    },
    /// `sentinel://` URLs without the `master_name` option.
    #[error("sentinel:// URLs need the `master_name` transport option")]
    MissingMasterName,
    /// `sentinel://` URLs in a build without the `redis-sentinel` feature.
    #[error("sentinel:// URLs need the `redis-sentinel` cargo feature of signals-celery")]
    SentinelNotBuilt,
    /// No sentinel knows a master by this name.
    #[error("no sentinel of {sentinels} knows a master named `{master_name}`")]
    UnknownMaster {
        /// The name asked for.
        master_name: String,
        /// The sentinels asked, passwords masked.
        sentinels: String,
    },
    /// The server is a node of a Redis Cluster, which kombu and this crate
    /// do not support: Celery's keys and channels are not laid out for
    /// cluster slots.
    #[error("{url} is a Redis Cluster node; Redis Cluster is not supported (neither by kombu): use a standalone server or Sentinel")]
    RedisCluster {
        /// The node's URL, password masked.
        url: String,
    },
}

/// A failed attempt to connect: the topology is wrong (no retry will help
/// until it is fixed), or no node could be reached.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub(crate) enum ConnectError {
    Topology(TopologyError),
    Unreachable(String),
}

#[cfg(feature = "redis")]
impl Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Topology(error) => error.fmt(f),
            Self::Unreachable(reason) => f.write_str(reason),
        }
    }
}

/// The scheme of `url`, lowercase, without `://` (empty when absent).
pub(crate) fn scheme_of(url: &str) -> String {
    url.split_once("://")
        .map_or("", |(scheme, _)| scheme)
        .to_ascii_lowercase()
}

/// The nodes of one broker and the one in use.
pub(crate) struct Nodes {
    /// The URLs as given.
    urls: Vec<String>,
    /// The same, passwords masked, for errors and logs.
    masked: Vec<String>,
    strategy: FailoverStrategy,
    cursor: Mutex<Cursor>,
}

/// Where in the cycle the nodes are.
struct Cursor {
    /// The order of this cycle: indexes into the URLs.
    order: Vec<usize>,
    /// The position in `order` of the node in use.
    at: usize,
    /// Draws of the shuffle so far (its seed moves with each).
    draws: u64,
}

impl Nodes {
    /// Splits kombu's `;`-separated list. `same_broker` says whether two
    /// schemes name the same broker (`redis` and `rediss` do).
    pub(crate) fn parse(
        list: &str,
        strategy: FailoverStrategy,
        same_broker: impl Fn(&str, &str) -> bool,
    ) -> Result<Self, TopologyError> {
        let urls: Vec<String> = list.split(';').map(|url| url.trim().to_owned()).collect();
        if urls.iter().any(String::is_empty) {
            return Err(TopologyError::EmptyList {
                list: urls
                    .iter()
                    .map(|url| mask_password(url))
                    .collect::<Vec<_>>()
                    .join(";"),
            });
        }
        let first = scheme_of(&urls[0]);
        if let Some(other) = urls
            .iter()
            .map(|url| scheme_of(url))
            .find(|scheme| !same_broker(&first, scheme))
        {
            return Err(TopologyError::MixedSchemes { first, other });
        }
        let masked = urls.iter().map(|url| mask_password(url)).collect();
        let order = (0..urls.len()).collect();
        Ok(Self {
            urls,
            masked,
            strategy,
            cursor: Mutex::new(Cursor {
                order,
                at: 0,
                draws: 0,
            }),
        })
    }

    /// How many nodes there are.
    pub(crate) fn len(&self) -> usize {
        self.urls.len()
    }

    /// The URL at `index`, as given.
    pub(crate) fn url(&self, index: usize) -> &str {
        &self.urls[index]
    }

    /// The URL at `index`, password masked.
    pub(crate) fn masked(&self, index: usize) -> &str {
        &self.masked[index]
    }

    /// Every URL, passwords masked, as kombu writes the list.
    pub(crate) fn describe(&self) -> String {
        self.masked.join(";")
    }

    /// The node in use.
    pub(crate) fn current(&self) -> usize {
        let cursor = self.cursor.lock();
        cursor.order[cursor.at]
    }

    /// Moves to the next node; returns it.
    fn advance(&self) -> usize {
        let mut cursor = self.cursor.lock();
        cursor.at += 1;
        if cursor.at == cursor.order.len() {
            cursor.at = 0;
            if self.strategy == FailoverStrategy::Shuffle {
                let last = cursor.order[cursor.order.len() - 1];
                cursor.draws += 1;
                let draws = cursor.draws;
                shuffle(&mut cursor.order, draws);
                // The node that just failed does not open the next cycle.
                if cursor.order.len() > 1 && cursor.order[0] == last {
                    cursor.order.swap(0, 1);
                }
            }
        }
        cursor.order[cursor.at]
    }

    /// A connection to the node in use failed after it was up: the next
    /// attempt goes to the next node, as kombu's `maybe_switch_next`. The
    /// move is logged once; a single URL does not move.
    pub(crate) fn lost(&self, error: &dyn Display) {
        if self.len() < 2 {
            return;
        }
        let from = self.current();
        let to = self.advance();
        tracing::warn!(
            from = %self.masked[from],
            to = %self.masked[to],
            %error,
            "broker connection lost; moving to the next URL of the list",
        );
    }

    /// Connects with `attempt`, from the node in use round the whole list:
    /// the first node that answers is the one in use from then on. Each node
    /// skipped is logged once. After a whole cycle, the last error.
    #[cfg(feature = "redis")]
    pub(crate) fn connect<C, E: Display>(
        &self,
        mut attempt: impl FnMut(usize) -> Result<C, E>,
    ) -> Result<C, E> {
        let mut tried = Tried::new(self.len());
        let mut node = self.current();
        loop {
            match attempt(node) {
                Ok(connection) => return Ok(connection),
                Err(error) if tried.add(node) => return Err(error),
                Err(error) => node = self.skip(node, &error, &tried),
            }
        }
    }

    /// [`Self::connect`] for an asynchronous `attempt`.
    #[cfg(feature = "amqp")]
    pub(crate) async fn connect_async<
        C,
        E: Display,
        F: std::future::Future<Output = Result<C, E>>,
    >(
        &self,
        mut attempt: impl FnMut(usize) -> F,
    ) -> Result<C, E> {
        let mut tried = Tried::new(self.len());
        let mut node = self.current();
        loop {
            match attempt(node).await {
                Ok(connection) => return Ok(connection),
                Err(error) if tried.add(node) => return Err(error),
                Err(error) => node = self.skip(node, &error, &tried),
            }
        }
    }

    /// `node` did not answer: logs it and moves on to the next node not
    /// yet tried in this attempt (a shuffled cycle may end part-way).
    #[cold]
    fn skip(&self, node: usize, error: &dyn Display, tried: &Tried) -> usize {
        let mut next = self.advance();
        while tried.has(next) {
            next = self.advance();
        }
        tracing::warn!(
            skipped = %self.masked[node],
            next = %self.masked[next],
            %error,
            "cannot connect to a broker URL of the list; trying the next",
        );
        next
    }
}

/// The nodes one attempt to connect has tried.
struct Tried(Vec<bool>);

impl Tried {
    fn new(nodes: usize) -> Self {
        Self(vec![false; nodes])
    }

    /// Marks `node` tried; `true` once every node is.
    fn add(&mut self, node: usize) -> bool {
        self.0[node] = true;
        self.0.iter().all(|tried| *tried)
    }

    fn has(&self, node: usize) -> bool {
        self.0[node]
    }
}

/// Shuffles `order` in place (Fisher–Yates), from a seed that differs per
/// process and per draw: the order only needs to differ between workers, so
/// that they do not all land on the same node.
fn shuffle(order: &mut [usize], draw: u64) {
    use std::hash::BuildHasher as _;
    let seed = std::collections::hash_map::RandomState::new();
    for i in (1..order.len()).rev() {
        let pick = seed.hash_one((draw, i)) as usize % (i + 1);
        order.swap(i, pick);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redis_family(a: &str, b: &str) -> bool {
        let family = |scheme: &str| scheme.trim_end_matches('s').to_owned();
        family(a) == family(b)
    }

    #[test]
    fn a_list_is_split_on_semicolons_and_checked() {
        let nodes = Nodes::parse(
            "redis://:pw@h1:1/0; rediss://h2:2/0",
            FailoverStrategy::RoundRobin,
            redis_family,
        )
        .unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes.url(0), "redis://:pw@h1:1/0");
        assert_eq!(nodes.describe(), "redis://:***@h1:1/0;rediss://h2:2/0");
        assert!(matches!(
            Nodes::parse("", FailoverStrategy::RoundRobin, redis_family),
            Err(TopologyError::EmptyList { .. })
        ));
        assert!(matches!(
            Nodes::parse(
                "redis://a;;redis://b",
                FailoverStrategy::RoundRobin,
                redis_family
            ),
            Err(TopologyError::EmptyList { .. })
        ));
        assert_eq!(
            Nodes::parse(
                "redis://a;amqp://b",
                FailoverStrategy::RoundRobin,
                redis_family
            )
            .err()
            .unwrap(),
            TopologyError::MixedSchemes {
                first: "redis".into(),
                other: "amqp".into()
            }
        );
    }

    #[test]
    #[cfg(feature = "redis")]
    fn round_robin_tries_each_node_once_per_cycle_and_keeps_the_one_that_answered() {
        let nodes = Nodes::parse("a://1;a://2;a://3", FailoverStrategy::RoundRobin, |_, _| {
            true
        })
        .unwrap();
        let mut tried = Vec::new();
        let connected = nodes.connect(|node| {
            tried.push(node);
            if node == 2 {
                Ok(node)
            } else {
                Err("refused")
            }
        });
        assert_eq!(connected, Ok(2));
        assert_eq!(tried, [0, 1, 2]);
        assert_eq!(nodes.current(), 2);

        // Nothing answers: one whole cycle from the node in use, then the
        // last error.
        tried.clear();
        let failed = nodes.connect(|node| -> Result<(), String> {
            tried.push(node);
            Err(format!("refused {node}"))
        });
        assert_eq!(failed, Err("refused 1".to_owned()));
        assert_eq!(tried, [2, 0, 1]);

        // A connection lost after it was up moves to the next node.
        assert_eq!(nodes.current(), 1);
        nodes.lost(&"reset");
        assert_eq!(nodes.current(), 2);
    }

    #[test]
    #[cfg(feature = "redis")]
    fn a_single_url_never_moves() {
        let nodes = Nodes::parse("a://1", FailoverStrategy::Shuffle, |_, _| true).unwrap();
        nodes.lost(&"reset");
        assert_eq!(nodes.current(), 0);
        let mut attempts = 0;
        let _ = nodes.connect(|_| -> Result<(), &str> {
            attempts += 1;
            Err("refused")
        });
        assert_eq!(attempts, 1);
    }

    #[test]
    #[cfg(feature = "redis")]
    fn shuffle_tries_every_node_once_per_cycle() {
        let nodes = Nodes::parse(
            "a://0;a://1;a://2;a://3;a://4",
            FailoverStrategy::Shuffle,
            |_, _| true,
        )
        .unwrap();
        let mut orders = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut tried = Vec::new();
            let _ = nodes.connect(|node| -> Result<(), &str> {
                tried.push(node);
                Err("refused")
            });
            let mut sorted = tried.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3, 4], "one cycle tries each node once");
            nodes.advance();
            orders.insert(nodes.cursor.lock().order.clone());
        }
        assert!(orders.len() > 1, "the cycles come in more than one order");
    }

    #[test]
    fn strategies_parse_by_kombus_names() {
        assert_eq!("round-robin".parse(), Ok(FailoverStrategy::RoundRobin));
        assert_eq!(
            "roundrobin".parse::<FailoverStrategy>(),
            Err(UnknownStrategy("roundrobin".into()))
        );
    }
}
