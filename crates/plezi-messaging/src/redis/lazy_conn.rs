//! One synchronous Redis connection opened at first use, with I/O timeouts, and dropped after a
//! failure so the next call reconnects: what the mailbox store and the session store call through.
//!
//! The URL may name one node or several (comma-separated). At the first connect the server says
//! whether it is a cluster node (`INFO cluster`): then every call goes through the `redis` crate's
//! cluster connection (it follows `MOVED`/`ASK` and refreshes the slot map itself); otherwise through
//! a plain connection to the first node that answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};

use super::cluster::slot::key_slot;
use super::cluster::topology::info_says_cluster;
use super::conn::{redact, split_urls};
use super::tls::{TlsSetup, redis_client, tls_for};
use crate::config::RedisTls;
use crate::error::BusError;

/// How long a replica count (`INFO replication` of a master) is trusted before it is asked again.
const REPLICAS_TTL: Duration = Duration::from_secs(1);

/// The Redis a connection reached.
pub(crate) enum Link {
    /// One Redis (with or without replicas).
    Single(redis::Connection),
    /// A Redis Cluster.
    Cluster(Box<ClusterConnection>),
}

impl Link {
    /// The connection, for commands and scripts (the cluster connection routes them by key).
    pub fn conn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Link::Single(c) => c,
            Link::Cluster(c) => &mut **c,
        }
    }

    fn set_read_timeout(&self, timeout: Duration) -> redis::RedisResult<()> {
        match self {
            Link::Single(c) => c.set_read_timeout(Some(timeout)),
            Link::Cluster(c) => c.set_read_timeout(Some(timeout)),
        }
    }

    /// Whether this is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Link::Cluster(_))
    }

    /// Runs a command on the master serving `key` (the node the last write to `key` went to).
    fn on_master_of(&mut self, key: &str, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        match self {
            Link::Single(c) => cmd.query(c),
            Link::Cluster(c) => c.route_command(
                cmd,
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
                    key,
                    SlotAddr::Master,
                ))),
            ),
        }
    }
}

/// A lazily opened, self-healing synchronous connection to one Redis or one Redis Cluster.
pub(crate) struct LazyConnection {
    urls: Vec<String>,
    /// One client per URL, in order (with TLS for `rediss://`).
    clients: Vec<redis::Client>,
    /// The TLS setup when the URLs are `rediss://` (for a cluster client).
    tls: Option<Arc<TlsSetup>>,
    state: Mutex<State>,
    io_timeout: Duration,
}

#[derive(Default)]
struct State {
    link: Option<Link>,
    /// A cluster's nodes (`host:port`, masters and replicas) as last read from it; empty for one
    /// Redis, or before the first connect.
    nodes: Vec<String>,
    /// Connected replicas per master, by a slot it serves (0 for a single Redis), and when asked.
    replicas: HashMap<u16, (usize, Instant)>,
    /// Masters already reported as lacking replicas (logged once each).
    warned: HashMap<u16, ()>,
}

impl LazyConnection {
    /// A connection to the Redis (or the cluster) at `url` (one URL, or several separated by
    /// commas; with TLS for `rediss://`, see `tls::redis_client`), opened at the first call; each
    /// call (and the connect) fails after `io_timeout`.
    pub(crate) fn new(
        url: &str,
        tls: &RedisTls,
        io_timeout: Duration,
    ) -> Result<LazyConnection, BusError> {
        let urls = split_urls(url)?;
        let mut clients = Vec::with_capacity(urls.len());
        for u in &urls {
            clients.push(redis_client(u, tls)?);
        }
        // One TLS setting for every node: all `rediss://` or none.
        let tls_setups = urls
            .iter()
            .zip(&clients)
            .map(|(u, c)| tls_for(u, c.get_connection_info(), tls))
            .collect::<Result<Vec<_>, _>>()?;
        if tls_setups.iter().any(Option::is_some) && tls_setups.iter().any(Option::is_none) {
            return Err(BusError::Config(format!(
                "the Redis URLs {:?} mix rediss:// and redis://; name every node with the same \
                 scheme",
                redact(url)
            )));
        }
        let tls = tls_setups.into_iter().next().flatten();
        Ok(LazyConnection {
            urls,
            clients,
            tls,
            state: Mutex::new(State::default()),
            io_timeout,
        })
    }

    fn connect(&self, known: &[String]) -> Result<Link, BusError> {
        if !known.is_empty() {
            return self.connect_cluster(known);
        }
        let mut last = BusError::Redis("no Redis URL".into());
        for (url, client) in self.urls.iter().zip(&self.clients) {
            match self.connect_single(client) {
                Ok(mut conn) => {
                    let info: String = redis::cmd("INFO").arg("cluster").query(&mut conn)?;
                    if !info_says_cluster(info.as_bytes()) {
                        if self.urls.len() > 1 {
                            return Err(BusError::Config(format!(
                                "several Redis URLs name the nodes of one cluster, but {} is not \
                                 a cluster node (INFO cluster: cluster_enabled:0); give one URL",
                                redact(url)
                            )));
                        }
                        return Ok(Link::Single(conn));
                    }
                    return self.connect_cluster(&[]);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A cluster connection seeded with the URLs and the `known` nodes (`host:port`, learnt from
    /// the cluster: after a failover the URLs may name only dead nodes).
    fn connect_cluster(&self, known: &[String]) -> Result<Link, BusError> {
        let Some(first) = self.clients.first() else {
            return Err(BusError::Config("no Redis URL".into()));
        };
        let info = first.get_connection_info().redis_settings();
        let (user, password) = (info.username(), info.password());
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let mut nodes: Vec<String> = self.urls.clone();
        for node in known {
            nodes.push(format!("{scheme}://{node}"));
        }
        let mut builder = ClusterClient::builder(nodes)
            .connection_timeout(self.io_timeout)
            .response_timeout(self.io_timeout);
        if let Some(tls) = &self.tls {
            // Verified against the same roots (and with the same client certificate) as one Redis.
            builder = builder
                .tls(redis::TlsMode::Secure)
                .certs(tls.certificates().clone());
        }
        if let Some(user) = user {
            builder = builder.username(user);
        }
        if let Some(password) = password {
            builder = builder.password(password);
        }
        let conn = builder.build()?.get_connection()?;
        conn.set_read_timeout(Some(self.io_timeout))?;
        conn.set_write_timeout(Some(self.io_timeout))?;
        Ok(Link::Cluster(Box::new(conn)))
    }

    fn connect_single(&self, client: &redis::Client) -> Result<redis::Connection, BusError> {
        let conn = client.get_connection_with_timeout(self.io_timeout)?;
        conn.set_read_timeout(Some(self.io_timeout))?;
        conn.set_write_timeout(Some(self.io_timeout))?;
        Ok(conn)
    }

    /// Runs `f` on the connection, connecting first if needed; after an I/O error, a timeout or a
    /// dropped connection the connection is discarded, so the next call reconnects.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Link) -> redis::RedisResult<T>,
    ) -> Result<T, BusError> {
        self.with_until(None, f)
    }

    /// [`LazyConnection::with`], giving up with [`BusError::Timeout`] when another caller still
    /// holds the connection at `deadline` (so callers queued behind a silent Redis do not wait
    /// one `io_timeout` each).
    pub(crate) fn with_until<T>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(&mut Link) -> redis::RedisResult<T>,
    ) -> Result<T, BusError> {
        let mut st = match deadline {
            None => self.state.lock(),
            Some(deadline) => self
                .state
                .try_lock_until(deadline)
                .ok_or(BusError::Timeout)?,
        };
        if st.link.is_none() {
            let mut link = self.connect(&st.nodes)?;
            if let Link::Cluster(c) = &mut link
                && let Ok(slots) = redis::cmd("CLUSTER").arg("SLOTS").query(&mut **c)
            {
                st.nodes = cluster_nodes(&slots);
            }
            st.link = Some(link);
        }
        let Some(link) = st.link.as_mut() else {
            return Err(BusError::Redis("no connection".into()));
        };
        let result = f(link);
        // A cluster connection is rebuilt after any error other than a script's or a command's
        // own (the crate's does not always find a promoted replica by itself).
        if let Err(e) = &result
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || !link.conn().is_open()
                || (link.is_cluster()
                    && e.kind() != redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError)))
        {
            st.link = None;
        }
        result.map_err(BusError::from)
    }

    /// After a write to `key`: waits up to `timeout` until a replica of the master that took it
    /// has it too (`WAIT 1`). `Ok(true)`: a replica confirmed, or the master has no replica (a
    /// lone Redis cannot confirm; nothing to wait for). `Ok(false)`: replicas exist and none
    /// confirmed in time.
    pub(crate) fn wait_replicated(&self, key: &str, timeout: Duration) -> Result<bool, BusError> {
        let mut st = self.state.lock();
        let Some(link) = st.link.as_mut() else {
            return Err(BusError::Redis(
                "the connection broke after the write; it may not be replicated".into(),
            ));
        };
        let cluster = link.is_cluster();
        let slot = if cluster { key_slot(key.as_bytes()) } else { 0 };
        let known = st
            .replicas
            .get(&slot)
            .filter(|(_, at)| at.elapsed() < REPLICAS_TTL)
            .map(|(n, _)| *n);
        let replicas = match known {
            Some(n) => n,
            None => {
                let link = st.link.as_mut().ok_or(BusError::Closed)?;
                let info = link.on_master_of(key, redis::cmd("INFO").arg("replication"));
                let n = match info {
                    Ok(redis::Value::BulkString(text)) => connected_replicas(&text),
                    Ok(redis::Value::VerbatimString { text, .. }) => {
                        connected_replicas(text.as_bytes())
                    }
                    Ok(_) => 0,
                    Err(e) => {
                        st.link = None;
                        return Err(e.into());
                    }
                };
                st.replicas.insert(slot, (n, Instant::now()));
                n
            }
        };
        if replicas == 0 {
            // Expected of a lone Redis (said once, at info level); on a cluster a master without a
            // replica (just after a failover, or misconfigured) is worth a warning.
            if st.warned.insert(slot, ()).is_none() {
                let level = if cluster {
                    log::Level::Warn
                } else {
                    log::Level::Info
                };
                log::log!(
                    level,
                    "the Redis master holding {key:?} has no replica: mailbox writes there are not \
                     replicated, and a failover of that master loses what it held"
                );
            }
            return Ok(true);
        }
        st.warned.remove(&slot);
        let ms = timeout.as_millis().max(1) as u64;
        let link = st.link.as_mut().ok_or(BusError::Closed)?;
        // The reply comes after up to `timeout`: read that much longer than usual.
        link.set_read_timeout(self.io_timeout + timeout)?;
        let answer = link.on_master_of(key, redis::cmd("WAIT").arg(1).arg(ms));
        let restored = link.set_read_timeout(self.io_timeout);
        match answer.and_then(|v| restored.map(|()| v)) {
            Ok(redis::Value::Int(n)) => Ok(n >= 1),
            Ok(other) => Err(BusError::Redis(format!("unexpected WAIT reply {other:?}"))),
            Err(e) => {
                st.link = None;
                Err(e.into())
            }
        }
    }
}

/// Every node (`host:port`) a `CLUSTER SLOTS` reply names, masters and replicas.
fn cluster_nodes(slots: &redis::Value) -> Vec<String> {
    let mut nodes = Vec::new();
    let redis::Value::Array(ranges) = slots else {
        return nodes;
    };
    for range in ranges {
        let redis::Value::Array(parts) = range else {
            continue;
        };
        for node in parts.iter().skip(2) {
            if let redis::Value::Array(fields) = node
                && let (Some(redis::Value::BulkString(host)), Some(redis::Value::Int(port))) =
                    (fields.first(), fields.get(1))
                && !host.is_empty()
            {
                let node = format!("{}:{port}", String::from_utf8_lossy(host));
                if !nodes.contains(&node) {
                    nodes.push(node);
                }
            }
        }
    }
    nodes
}

/// `connected_slaves:N` of an `INFO replication` reply.
fn connected_replicas(text: &[u8]) -> usize {
    text.split(|&b| b == b'\n')
        .find_map(|line| line.trim_ascii().strip_prefix(b"connected_slaves:"))
        .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_replica_count() {
        assert_eq!(
            connected_replicas(b"# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"),
            2
        );
        assert_eq!(connected_replicas(b"role:slave\r\n"), 0);
    }
}
