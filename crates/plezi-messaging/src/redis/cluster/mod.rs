//! Redis Cluster: key slots, the topology, and the bus over sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`).
//!
//! Whether the bus runs here is the server's answer to `INFO cluster` at the first connect
//! ([`detect`]); the single-Redis subscriber and publisher hand their thread over to this module's
//! then. Every bus channel (the names of [`super::Names`]) lives on the shard owning its slot: the
//! publisher sends each `SPUBLISH` to that shard's master, and the subscriber keeps one connection per
//! master that owns at least one channel the server subscribes to.

pub(crate) mod dedupe;
pub(crate) mod publisher;
pub(crate) mod slot;
pub(crate) mod subscriber;
pub(crate) mod topology;

use std::io;
use std::time::Duration;

use parking_lot::Mutex;

use self::dedupe::ChannelDedupe;
use self::topology::{NodeAddr, Topology, is_cluster};
use super::Shared;
use super::backoff::{Backoff, Outage};
use super::conn::{RedisAddr, RespConn};

/// What the cluster publisher and subscriber share.
#[derive(Default)]
pub(crate) struct ClusterShared {
    /// Envelopes seen per (origin, channel): one channel's envelopes arrive in order on one
    /// connection, but a failover moves it to another.
    pub dedupe: Mutex<ChannelDedupe>,
}

/// Connects to one cluster node with the credentials and TLS settings of the first URL (through
/// `link::connect`, like every bus connection): the one place a connection to a node is made.
pub(crate) fn connect_node(
    shared: &Shared,
    node: &NodeAddr,
    name: &str,
    max_bulk: usize,
) -> io::Result<RespConn> {
    let seed = &shared.seeds[0];
    let addr = RedisAddr {
        host: node.host.clone(),
        port: node.port,
        username: seed.username.clone(),
        password: seed.password.clone(),
        tls: seed.tls.clone(),
    };
    RespConn::connect(&addr, shared.node.config.io_timeout, name, max_bulk)
}

/// Reads the topology from the first node that answers: the `known` masters first, then the URLs.
pub(crate) fn fetch_topology(shared: &Shared, known: &Topology) -> io::Result<Topology> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no Redis Cluster node to ask");
    let seeds = shared.seeds.iter().map(|a| NodeAddr {
        host: a.host.clone(),
        port: a.port,
    });
    let name = format!(
        "{}:topo:{}",
        shared.node.config.app_name, shared.node.server
    );
    for node in known.masters().into_iter().chain(seeds) {
        match connect_node(shared, &node, &name, 1 << 20)
            .and_then(|mut c| Topology::fetch(&mut c, &node.host))
        {
            Ok(t) if !t.masters().is_empty() => return Ok(t),
            Ok(_) => last = io::Error::other(format!("{node} reports no slots served")),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Whether the Redis named by the URLs is a cluster: asks the first that answers, retrying with
/// backoff until one does. `None` when the bus stops first. The answer is kept for the bus's life.
pub(crate) fn detect(shared: &Shared) -> Option<bool> {
    if let Some(cluster) = shared.cluster_mode.get() {
        return Some(*cluster);
    }
    let config = &shared.node.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let mut outage = Outage::new("detection");
    let name = format!("{}:probe:{}", config.app_name, shared.node.server);
    loop {
        for seed in &shared.seeds {
            match RespConn::connect(seed, config.io_timeout, &name, 1 << 20)
                .and_then(|mut c| is_cluster(&mut c))
            {
                Ok(cluster) => {
                    if !cluster && shared.seeds.len() > 1 {
                        log::error!(
                            "several Redis URLs were given but {}:{} is not a cluster node; using it alone",
                            seed.host,
                            seed.port
                        );
                    }
                    let _ = shared.cluster_mode.set(cluster);
                    return shared.cluster_mode.get().copied();
                }
                Err(e) => outage.failed(&e),
            }
        }
        if shared.stop.sleep(backoff.next_delay()) {
            return None;
        }
    }
}

/// How often the subscriber reads the topology again when nothing went wrong (a resharding moves
/// channels without breaking a connection).
pub(crate) const TOPOLOGY_REFRESH: Duration = Duration::from_secs(5);
