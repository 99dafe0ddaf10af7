//! Which master serves which slots, read from a node with `CLUSTER SLOTS`, and whether a Redis is a
//! cluster node at all (`INFO cluster`).

use std::io;

use super::slot::key_slot;
use crate::redis::conn::RespConn;
use crate::redis::resp::{self, Value};

/// A master's address as the cluster announces it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(crate) struct NodeAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Slot ranges and their masters.
#[derive(Clone, Default, Debug, PartialEq)]
pub(crate) struct Topology {
    /// `(first slot, last slot, master)`, sorted by first slot.
    ranges: Vec<(u16, u16, NodeAddr)>,
}

impl Topology {
    /// The master serving the slot of `channel` (a key or shard channel); `None` while the slot is
    /// not covered.
    pub fn owner(&self, channel: &[u8]) -> Option<&NodeAddr> {
        let slot = key_slot(channel);
        self.ranges
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, n)| n)
    }

    /// Every master serving slots, each once.
    pub fn masters(&self) -> Vec<NodeAddr> {
        let mut v: Vec<NodeAddr> = self.ranges.iter().map(|(_, _, n)| n.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The masters whose slots differ between `self` and `newer` (gone, new, or serving other
    /// ranges): only their subscriber connections need rebuilding.
    pub fn changed_masters(&self, newer: &Topology) -> Vec<NodeAddr> {
        let ranges_of = |t: &Topology, node: &NodeAddr| -> Vec<(u16, u16)> {
            t.ranges
                .iter()
                .filter(|(_, _, n)| n == node)
                .map(|(a, b, _)| (*a, *b))
                .collect()
        };
        let mut all = self.masters();
        all.extend(newer.masters());
        all.sort();
        all.dedup();
        all.retain(|node| ranges_of(self, node) != ranges_of(newer, node));
        all
    }

    /// Reads the topology from a node (`CLUSTER SLOTS`). A master announced without a host (an empty
    /// string or `?`) is taken to be on `seed_host`, the host the connection went to.
    pub fn fetch(conn: &mut RespConn, seed_host: &str) -> io::Result<Topology> {
        let mut cmd = Vec::new();
        resp::command(&mut cmd, &[b"CLUSTER", b"SLOTS"]);
        conn.send(&cmd)?;
        Topology::parse(&conn.read()?, seed_host)
    }

    fn parse(reply: &Value, seed_host: &str) -> io::Result<Topology> {
        let bad = |what: &str| {
            io::Error::new(io::ErrorKind::InvalidData, format!("CLUSTER SLOTS: {what}"))
        };
        let Value::Array(items) = reply else {
            return Err(match reply {
                Value::Error(e) => bad(&String::from_utf8_lossy(e)),
                _ => bad("not an array"),
            });
        };
        let mut ranges = Vec::with_capacity(items.len());
        for item in items {
            let Value::Array(parts) = item else {
                return Err(bad("a range is not an array"));
            };
            let (Some(Value::Int(a)), Some(Value::Int(b)), Some(Value::Array(master))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                return Err(bad("a range lacks its slots or master"));
            };
            let (Some(host), Some(Value::Int(port))) =
                (master.first().and_then(Value::as_bytes), master.get(1))
            else {
                return Err(bad("a master lacks its host or port"));
            };
            let host = String::from_utf8_lossy(host).into_owned();
            let host = if host.is_empty() || host == "?" {
                seed_host.to_owned()
            } else {
                host
            };
            let (Ok(a), Ok(b), Ok(port)) =
                (u16::try_from(*a), u16::try_from(*b), u16::try_from(*port))
            else {
                return Err(bad("a slot or port out of range"));
            };
            ranges.push((a, b, NodeAddr { host, port }));
        }
        ranges.sort_by_key(|r| r.0);
        Ok(Topology { ranges })
    }
}

/// Whether the Redis behind `conn` runs in cluster mode (`INFO cluster` says `cluster_enabled:1`).
pub(crate) fn is_cluster(conn: &mut RespConn) -> io::Result<bool> {
    let mut cmd = Vec::new();
    resp::command(&mut cmd, &[b"INFO", b"cluster"]);
    conn.send(&cmd)?;
    match conn.read()? {
        Value::Bulk(text) => Ok(info_says_cluster(&text)),
        Value::Error(e) => Err(io::Error::other(format!(
            "INFO cluster: {}",
            String::from_utf8_lossy(&e)
        ))),
        _ => Ok(false),
    }
}

/// Whether an `INFO cluster` reply says `cluster_enabled:1`.
pub(crate) fn info_says_cluster(text: &[u8]) -> bool {
    text.split(|&b| b == b'\n')
        .any(|line| line.trim_ascii() == b"cluster_enabled:1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::Bulk(host.into()),
            Value::Int(port),
            Value::Bulk(b"id".to_vec()),
        ])
    }

    #[test]
    fn parses_cluster_slots() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                master("10.0.0.2", 7001),
            ]),
            Value::Array(vec![Value::Int(0), Value::Int(5460), master("", 7000)]),
            Value::Array(vec![
                Value::Int(10923),
                Value::Int(16383),
                master("10.0.0.3", 7002),
            ]),
        ]);
        let t = Topology::parse(&reply, "seed").unwrap();
        assert_eq!(t.masters().len(), 3);
        // "foo" is slot 12182, "bar" 5061.
        assert_eq!(t.owner(b"foo").unwrap().port, 7002);
        let bar = t.owner(b"bar").unwrap();
        assert_eq!((bar.host.as_str(), bar.port), ("seed", 7000));
        assert!(Topology::parse(&Value::Error(b"ERR no cluster".to_vec()), "x").is_err());
        assert_eq!(Topology::default().owner(b"foo"), None);
    }

    /// A topology of `(first slot, last slot, port)` ranges on host `h`.
    fn topology(ranges: &[(i64, i64, i64)]) -> Topology {
        let reply = ranges
            .iter()
            .map(|&(a, b, port)| {
                Value::Array(vec![Value::Int(a), Value::Int(b), master("h", port)])
            })
            .collect();
        Topology::parse(&Value::Array(reply), "h").unwrap()
    }

    fn ports(nodes: Vec<NodeAddr>) -> Vec<u16> {
        nodes.iter().map(|n| n.port).collect()
    }

    #[test]
    fn a_failover_changes_only_the_failed_master_and_its_successor() {
        let before = topology(&[(0, 5460, 7000), (5461, 10922, 7001), (10923, 16383, 7002)]);
        let after = topology(&[(0, 5460, 7000), (5461, 10922, 7001), (10923, 16383, 7005)]);
        assert_eq!(ports(before.changed_masters(&after)), [7002, 7005]);
        assert!(before.changed_masters(&before).is_empty());
        // A master that gives up part of its slots changes too.
        let split = topology(&[
            (0, 5460, 7000),
            (5461, 5470, 7002),
            (5471, 10922, 7001),
            (10923, 16383, 7002),
        ]);
        assert_eq!(ports(before.changed_masters(&split)), [7001, 7002]);
    }

    #[test]
    fn reads_cluster_enabled() {
        assert!(info_says_cluster(b"# Cluster\r\ncluster_enabled:1\r\n"));
        assert!(!info_says_cluster(b"# Cluster\r\ncluster_enabled:0\r\n"));
    }
}
