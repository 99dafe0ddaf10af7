//! A real Redis Cluster of local `redis-server` processes on free ports: masters with replicas,
//! created with `redis-cli --cluster create`, a master killed to make its replica take over, and
//! everything killed on drop.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis::{RedisServer, Resp};
use crate::{DEADLINE, free_port};

/// How long a node may be unreachable before the others mark it failed (`cluster-node-timeout`):
/// short, so a failover completes in a few seconds.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(2000);

/// One node of a [`RedisCluster`].
pub struct ClusterNode {
    /// The server (killed on drop). `None` once killed.
    pub server: Option<RedisServer>,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    /// Its TLS port, for a cluster from [`RedisCluster::start_tls`].
    pub tls_port: Option<u16>,
}

/// A Redis Cluster: `masters` masters with `replicas` replicas each, every node a child process.
pub struct RedisCluster {
    /// The nodes, in creation order (the first `masters` start as masters).
    pub nodes: Vec<ClusterNode>,
}

impl RedisCluster {
    /// Three masters with one replica each; waits until every node reports `cluster_state:ok` and
    /// every replica has synced with its master.
    pub fn start() -> RedisCluster {
        RedisCluster::start_with(3, 1)
    }

    /// `masters` masters with `replicas` replicas each (at least three masters:
    /// `redis-cli --cluster create` refuses fewer).
    pub fn start_with(masters: usize, replicas: usize) -> RedisCluster {
        RedisCluster::create(masters, replicas, None)
    }

    /// Three masters with one replica each that also listen for TLS (the server certificate of
    /// `pki`, no client certificates required) and talk TLS between themselves
    /// (`tls-cluster yes`, `tls-replication yes`), so a TLS client is told TLS ports
    /// (`CLUSTER SLOTS`, `MOVED`). The plain ports stay open for the test's own commands.
    pub fn start_tls(pki: &crate::tls::TestPki) -> RedisCluster {
        RedisCluster::create(3, 1, Some(pki))
    }

    fn create(masters: usize, replicas: usize, pki: Option<&crate::tls::TestPki>) -> RedisCluster {
        let count = masters * (1 + replicas);
        let timeout = NODE_TIMEOUT.as_millis().to_string();
        let nodes: Vec<ClusterNode> = (0..count)
            .map(|_| {
                let (server, tls_port) = RedisServer::start_fresh(|| {
                    let port = free_port();
                    let dir = std::env::temp_dir()
                        .join(format!("plezi-test-cluster-{}-{port}", std::process::id()));
                    let mut extra: Vec<String> = vec![
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-config-file".into(),
                        "nodes.conf".into(),
                        "--cluster-node-timeout".into(),
                        timeout.clone(),
                        "--cluster-port".into(),
                        free_port().to_string(),
                    ];
                    let tls_port = pki.map(|pki| {
                        let tls_port = free_port();
                        let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
                        extra.extend(["--tls-port".into(), tls_port.to_string()]);
                        extra.extend(pki.redis_server_args());
                        extra.extend([
                            // The cluster bus and replication use mutual TLS: a node presents the
                            // client certificate (the server one is for server auth only).
                            "--tls-client-cert-file".into(),
                            path(pki.client_cert()),
                            "--tls-client-key-file".into(),
                            path(pki.client_key()),
                            "--tls-auth-clients".into(),
                            "no".into(),
                            "--tls-cluster".into(),
                            "yes".into(),
                            "--tls-replication".into(),
                            "yes".into(),
                        ]);
                        tls_port
                    });
                    (port, dir, extra, tls_port)
                });
                ClusterNode {
                    port: server.port,
                    server: Some(server),
                    tls_port,
                }
            })
            .collect();
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for n in &nodes {
            create.arg(format!("127.0.0.1:{}", n.port));
        }
        create.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let out = create
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): install redis-tools"));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// `redis://127.0.0.1:PORT` of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[i].port)
    }

    /// `rediss://127.0.0.1:TLS_PORT` of node `i` (a cluster from [`RedisCluster::start_tls`]).
    pub fn tls_url(&self, i: usize) -> String {
        let port = self.nodes[i]
            .tls_port
            .expect("a cluster started with start_tls");
        format!("rediss://127.0.0.1:{port}")
    }

    /// Every live node's URL, separated by commas (the form `PL_REDIS_URL` accepts for a cluster).
    pub fn urls(&self) -> String {
        self.live()
            .map(|(_, n)| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn live(&self) -> impl Iterator<Item = (usize, &RedisServer)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.server.as_ref().map(|s| (i, s)))
    }

    /// A live node's server, to send commands to.
    pub fn any(&self) -> &RedisServer {
        self.live().next().expect("a live node").1
    }

    /// `INFO <section>` (or `CLUSTER INFO` for "cluster") of a server, as text.
    fn info(server: &RedisServer, section: &str) -> String {
        let args: &[&str] = match section {
            "cluster" => &["CLUSTER", "INFO"],
            _ => &["INFO", section],
        };
        match server.query(args) {
            Ok(Resp::Bulk(text)) => text,
            _ => String::new(),
        }
    }

    /// Waits until every live node reports `cluster_state:ok` and knows the same masters, and every
    /// live replica's link to its master is up.
    pub fn wait_ok(&self) {
        let mut last = String::new();
        let ok = crate::wait_until(DEADLINE * 2, || {
            for (i, s) in self.live() {
                let cluster = Self::info(s, "cluster");
                if !cluster.contains("cluster_state:ok") {
                    last = format!("node {i}: {cluster}");
                    return false;
                }
                let replication = Self::info(s, "replication");
                if replication.contains("role:slave")
                    && !replication.contains("master_link_status:up")
                {
                    last = format!("node {i}: {replication}");
                    return false;
                }
            }
            // Every node agrees on who owns slot 0..16383 (one view of the masters).
            let views: Vec<Vec<(u16, u16)>> = self.live().map(|(_, s)| masters_of(s)).collect();
            if views.windows(2).any(|w| w[0] != w[1]) || views.iter().any(|v| v.is_empty()) {
                last = format!("nodes disagree on the masters: {views:?}");
                return false;
            }
            true
        });
        assert!(ok, "the cluster did not settle: {last}");
    }

    /// The port of the master serving `slot`, as a live node sees it.
    pub fn master_of_slot(&self, slot: u16) -> u16 {
        slot_ranges(self.any())
            .into_iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, port)| port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// The indexes of the live replicas of the master on `port` (`INFO replication`).
    pub fn replicas_of(&self, port: u16) -> Vec<usize> {
        let needle = format!("master_port:{port}");
        self.live()
            .filter(|(_, s)| {
                let info = Self::info(s, "replication");
                info.contains("role:slave") && info.lines().any(|l| l.trim() == needle)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// A live node by port.
    pub fn node(&self, port: u16) -> &RedisServer {
        self.live()
            .find(|(i, _)| self.nodes[*i].port == port)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no live node on port {port}"))
    }

    /// Moves `slot` (and its keys) to the master on `to` the way `redis-cli --cluster reshard`
    /// does (`CLUSTER SETSLOT … IMPORTING/MIGRATING`, `MIGRATE`, `SETSLOT … NODE` on every node),
    /// and waits until every node agrees.
    pub fn move_slot(&self, slot: u16, to: u16) {
        let from = self.master_of_slot(slot);
        assert_ne!(from, to, "slot {slot} is already on {to}");
        let id = |port: u16| match self.node(port).query(&["CLUSTER", "MYID"]) {
            Ok(Resp::Bulk(id)) => id,
            other => panic!("CLUSTER MYID: {other:?}"),
        };
        let (src, dst) = (id(from), id(to));
        let slot_s = slot.to_string();
        let ok = |port: u16, args: &[&str]| {
            let r = self.node(port).query(args);
            assert!(
                matches!(r, Ok(Resp::Simple(_))),
                "{args:?} on {port}: {r:?}"
            );
        };
        ok(to, &["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &src]);
        ok(from, &["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &dst]);
        loop {
            let keys = match self
                .node(from)
                .query(&["CLUSTER", "GETKEYSINSLOT", &slot_s, "100"])
            {
                Ok(Resp::Array(keys)) => keys,
                other => panic!("CLUSTER GETKEYSINSLOT: {other:?}"),
            };
            if keys.is_empty() {
                break;
            }
            let to_s = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_s, "", "0", "5000", "KEYS"];
            let names: Vec<String> = keys
                .into_iter()
                .filter_map(|k| match k {
                    Resp::Bulk(k) => Some(k),
                    _ => None,
                })
                .collect();
            args.extend(names.iter().map(String::as_str));
            ok(from, &args);
        }
        ok(to, &["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst]);
        ok(from, &["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst]);
        for (_, s) in self.live() {
            let _ = s.query(&["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst]);
        }
        let moved = crate::wait_until(DEADLINE, || {
            self.live().all(|(_, s)| {
                slot_ranges(s)
                    .into_iter()
                    .any(|(a, b, port)| (a..=b).contains(&slot) && port == to)
            })
        });
        assert!(
            moved,
            "the nodes do not agree that slot {slot} moved to {to}"
        );
    }

    /// The ports of every master serving slots.
    pub fn masters(&self) -> Vec<u16> {
        let mut v: Vec<u16> = masters_of(self.any()).into_iter().map(|(_, p)| p).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Kills (SIGKILL) the master serving `slot`, waits until its replica was promoted and the
    /// cluster is ok again; returns the killed node's index. Takes about `NODE_TIMEOUT` plus an
    /// election.
    pub fn fail_master_of_slot(&mut self, slot: u16) -> usize {
        let i = self.kill_master_of_slot(slot);
        self.wait_promoted(slot, self.nodes[i].port);
        i
    }

    /// Kills (SIGKILL) the master serving `slot` without waiting; returns its index.
    pub fn kill_master_of_slot(&mut self, slot: u16) -> usize {
        let port = self.master_of_slot(slot);
        let i = self
            .nodes
            .iter()
            .position(|n| n.port == port && n.server.is_some())
            .unwrap_or_else(|| panic!("no live node on port {port}"));
        if let Some(mut s) = self.nodes[i].server.take() {
            s.kill();
        }
        i
    }

    /// Waits until a node other than `old_port` serves `slot` and the cluster is ok again.
    pub fn wait_promoted(&self, slot: u16, old_port: u16) {
        let started = Instant::now();
        let mut last = 0;
        let promoted = crate::wait_until(DEADLINE * 4, || {
            last = slot_ranges(self.any())
                .into_iter()
                .find(|(a, b, _)| (*a..=*b).contains(&slot))
                .map_or(0, |(_, _, port)| port);
            last != 0 && last != old_port
        });
        assert!(
            promoted,
            "no replica took over slot {slot} from port {old_port} within {:?} (still {last})",
            started.elapsed()
        );
        let settled = crate::wait_until(DEADLINE * 2, || {
            self.live()
                .all(|(_, s)| Self::info(s, "cluster").contains("cluster_state:ok"))
        });
        assert!(settled, "the cluster did not return to cluster_state:ok");
    }
}

/// `(first slot, port)` of every master serving slots, sorted, from `CLUSTER SLOTS`.
fn masters_of(server: &RedisServer) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = slot_ranges(server)
        .into_iter()
        .map(|(a, _, port)| (a, port))
        .collect();
    v.sort_unstable();
    v
}

/// `(first, last, master port)` per slot range, from `CLUSTER SLOTS`.
fn slot_ranges(server: &RedisServer) -> Vec<(u16, u16, u16)> {
    let Ok(Resp::Array(ranges)) = server.query(&["CLUSTER", "SLOTS"]) else {
        return Vec::new();
    };
    ranges
        .iter()
        .filter_map(|r| match r {
            Resp::Array(items) => match (items.first(), items.get(1), items.get(2)) {
                (Some(Resp::Int(a)), Some(Resp::Int(b)), Some(Resp::Array(master))) => {
                    match master.get(1) {
                        Some(Resp::Int(port)) => Some((*a as u16, *b as u16, *port as u16)),
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_and_fails_over() {
        let mut c = RedisCluster::start();
        assert_eq!(c.nodes.len(), 6);
        assert_eq!(slot_ranges(c.any()).len(), 3);
        let before = c.master_of_slot(0);
        let killed = c.fail_master_of_slot(0);
        assert_eq!(c.nodes[killed].port, before);
        assert_ne!(c.master_of_slot(0), before);
        assert_eq!(c.urls().split(',').count(), 5);
    }
}
