//! The cluster subscriber: a supervisor thread that reads the topology and keeps one reader thread
//! per master owning a channel the server subscribes to; each reader `SSUBSCRIBE`s that master's
//! channels and routes what arrives. A broken connection, a `MOVED` answer, or a channel the server
//! unsubscribed us from (its slot moved) makes the supervisor read the topology again; when it
//! changed, every reader is rebuilt on the new owners.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::topology::{NodeAddr, Topology};
use super::{TOPOLOGY_REFRESH, connect_node, fetch_topology};
use crate::counters::Counters;
use crate::envelope::{Envelope, EnvelopeBody};
use crate::redis::backoff::{Backoff, Outage};
use crate::redis::conn::{RespConn, is_timeout};
use crate::redis::resp::{self, Value};
use crate::redis::{Shared, SubState};

/// The per-master subscriber connections (kept in the bus's subscription state, under its lock).
#[derive(Default)]
pub(crate) struct Shards {
    topology: Topology,
    conns: HashMap<NodeAddr, ShardConn>,
    /// A reader asked for the topology to be read again.
    refresh: bool,
    /// Patterns were asked for (sharded pub/sub has none): logged once.
    warned_patterns: bool,
}

struct ShardConn {
    writer: TcpStream,
    expected: u64,
    confirmed: u64,
}

/// Recomputes the bus-wide subscription counters from the shards: connected when every wanted
/// channel's owner has a live connection.
fn recount(st: &mut SubState) {
    let shards = &st.shards;
    st.expected = shards.conns.values().map(|c| c.expected).sum();
    st.confirmed = shards.conns.values().map(|c| c.confirmed).sum();
    st.connected = !shards.topology.masters().is_empty()
        && st.exact.iter().all(|ch| {
            shards
                .topology
                .owner(ch.as_bytes())
                .is_some_and(|m| shards.conns.contains_key(m))
        });
}

/// A subscription change on a cluster (the set in `st` is already updated): sent to the owner's
/// connection if there is one; otherwise the supervisor connects to the owner.
pub(in crate::redis) fn change(st: &mut SubState, name: &str, pattern: bool, on: bool) {
    if pattern {
        if !st.shards.warned_patterns {
            st.shards.warned_patterns = true;
            log::warn!(
                "channel patterns are not carried by a Redis Cluster (sharded pub/sub has no patterns): \
                 a pattern subscription matches this server's own publishes only"
            );
        }
        return;
    }
    let verb: &[u8] = if on { b"SSUBSCRIBE" } else { b"SUNSUBSCRIBE" };
    let Some(owner) = st.shards.topology.owner(name.as_bytes()).cloned() else {
        return; // no topology yet: the reader subscribes everything when it connects
    };
    if let Some(conn) = st.shards.conns.get_mut(&owner) {
        let mut cmd = Vec::new();
        resp::command(&mut cmd, &[verb, name.as_bytes()]);
        if conn.writer.write_all(&cmd).is_ok() {
            conn.expected += 1;
        } else {
            let _ = conn.writer.shutdown(Shutdown::Both);
        }
    }
    recount(st);
}

/// Shuts every shard connection down (the bus is stopping).
pub(in crate::redis) fn shutdown(st: &SubState) {
    for conn in st.shards.conns.values() {
        let _ = conn.writer.shutdown(Shutdown::Both);
    }
}

/// The supervisor: runs on the bus's subscriber thread until the bus stops.
pub(crate) fn run(shared: Arc<Shared>) {
    let config = &shared.node.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let mut outage = Outage::new("cluster subscriber");
    let mut readers: HashMap<NodeAddr, JoinHandle<io::Result<()>>> = HashMap::new();
    let mut fetched: Option<Instant> = None;
    let mut ever_failed = false;
    while !shared.stop.is_raised() {
        // Reap readers that ended; a failure slows the next attempt down.
        let mut failed = false;
        for node in readers.keys().cloned().collect::<Vec<_>>() {
            if readers.get(&node).is_some_and(JoinHandle::is_finished)
                && let Some(h) = readers.remove(&node)
                && let Ok(Err(e)) = h.join()
            {
                outage.failed(&format!("subscriber of {node}: {e}"));
                failed = true;
            }
        }
        let refresh = std::mem::take(&mut shared.subs.lock().shards.refresh);
        if refresh || failed || fetched.is_none_or(|t| t.elapsed() >= TOPOLOGY_REFRESH) {
            let known = shared.subs.lock().shards.topology.clone();
            match fetch_topology(&shared, &known) {
                Ok(t) => {
                    fetched = Some(Instant::now());
                    if t != known {
                        if !known.masters().is_empty() {
                            log::info!(
                                "Redis Cluster topology changed; resubscribing on the new owners"
                            );
                        }
                        stop_readers(&shared, &mut readers);
                        let mut st = shared.subs.lock();
                        st.shards.topology = t;
                        recount(&mut st);
                    }
                }
                Err(e) => {
                    outage.failed(&e);
                    ever_failed = true;
                    if shared.stop.sleep(backoff.next_delay()) {
                        break;
                    }
                    continue;
                }
            }
        }
        if failed {
            ever_failed = true;
            if shared.stop.sleep(backoff.next_delay()) {
                break;
            }
        }
        // One reader per master owning a wanted channel.
        let wanted: HashSet<NodeAddr> = {
            let st = shared.subs.lock();
            st.exact
                .iter()
                .filter_map(|ch| st.shards.topology.owner(ch.as_bytes()).cloned())
                .collect()
        };
        for node in wanted {
            if readers.contains_key(&node) {
                continue;
            }
            let s = shared.clone();
            let n = node.clone();
            let rejoining = ever_failed;
            match std::thread::Builder::new()
                .name("plezi-redis-ssub".into())
                .spawn(move || read_shard(&s, &n, rejoining))
            {
                Ok(h) => {
                    readers.insert(node, h);
                }
                Err(e) => log::error!("cannot start a Redis Cluster subscriber thread: {e}"),
            }
        }
        let mut st = shared.subs.lock();
        if st.connected {
            outage.recovered(&shared.node.counters);
            backoff.reset();
        }
        let needs_reader = st.exact.iter().any(|ch| {
            st.shards
                .topology
                .owner(ch.as_bytes())
                .is_some_and(|m| !readers.contains_key(m))
        });
        if !st.shards.refresh && !needs_reader && !shared.stop.is_raised() {
            shared
                .subs_changed
                .wait_for(&mut st, Duration::from_millis(250));
        }
    }
    stop_readers(&shared, &mut readers);
}

/// Shuts every reader's connection down and waits for the readers to end.
fn stop_readers(shared: &Shared, readers: &mut HashMap<NodeAddr, JoinHandle<io::Result<()>>>) {
    {
        let st = shared.subs.lock();
        for conn in st.shards.conns.values() {
            let _ = conn.writer.shutdown(Shutdown::Both);
        }
    }
    for (_, h) in readers.drain() {
        let _ = h.join();
    }
}

/// One master's reader: subscribes the channels it owns, then routes what arrives until the
/// connection breaks or the bus stops.
fn read_shard(shared: &Shared, node: &NodeAddr, rejoining: bool) -> io::Result<()> {
    let config = &shared.node.config;
    let name = format!("{}:ssub:{}", config.app_name, shared.node.server);
    let result =
        connect_node(shared, node, &name, config.max_envelope_bytes).and_then(|mut conn| {
            let own = subscribe_owned(shared, node, &conn)?;
            if rejoining {
                log::info!("Redis Cluster subscriber back on {node}");
                if own {
                    rejoin_local(shared);
                }
            }
            read_loop(shared, node, &mut conn)
        });
    let mut st = shared.subs.lock();
    st.shards.conns.remove(node);
    if result.is_err() {
        st.shards.refresh = true;
    }
    recount(&mut st);
    drop(st);
    shared.subs_changed.notify_all();
    result
}

/// After this server's own channel was resubscribed following an outage: registers every identity
/// with live local connections again and drains its mailbox, since a drain signal published while
/// nobody listened is gone (the messages themselves are safe in the mailbox), and a signal that
/// reached nobody made the sender forget this server for that identity.
fn rejoin_local(shared: &Shared) {
    let Some(rejoin) = shared.rejoins.get() else {
        return;
    };
    let identities: Vec<String> = shared.node.registry.read().identities().cloned().collect();
    for identity in identities {
        rejoin(&identity);
    }
}

/// `SSUBSCRIBE`s every wanted channel `node` owns, and registers the connection for later changes;
/// true when they include this server's own channel.
fn subscribe_owned(shared: &Shared, node: &NodeAddr, conn: &RespConn) -> io::Result<bool> {
    let mut st = shared.subs.lock();
    let owned: BTreeSet<&String> = st
        .exact
        .iter()
        .filter(|ch| st.shards.topology.owner(ch.as_bytes()) == Some(node))
        .collect();
    let mut writer = conn.try_clone_stream()?;
    // One command per channel: every channel of one SSUBSCRIBE must share a slot.
    let mut cmd = Vec::new();
    for ch in &owned {
        resp::command(&mut cmd, &[b"SSUBSCRIBE", ch.as_bytes()]);
    }
    writer.write_all(&cmd)?;
    let own = owned.iter().any(|ch| ch.as_str() == shared.names.own());
    let expected = owned.len() as u64;
    st.shards.conns.insert(
        node.clone(),
        ShardConn {
            writer,
            expected,
            confirmed: 0,
        },
    );
    recount(&mut st);
    drop(st);
    shared.subs_changed.notify_all();
    Ok(own)
}

fn read_loop(shared: &Shared, node: &NodeAddr, conn: &mut RespConn) -> io::Result<()> {
    conn.set_read_timeout(Some(shared.node.config.health_interval))?;
    let mut ping_sent = false;
    loop {
        match conn.read() {
            Ok(value) => {
                ping_sent = false;
                handle(shared, node, value)?;
            }
            Err(e) if is_timeout(&e) => {
                if shared.stop.is_raised() {
                    return Ok(());
                }
                if ping_sent {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("Redis Cluster node {node} did not answer PING"),
                    ));
                }
                let mut ping = Vec::new();
                resp::command(&mut ping, &[b"PING"]);
                if let Some(c) = shared.subs.lock().shards.conns.get_mut(node) {
                    c.writer.write_all(&ping)?;
                }
                ping_sent = true;
            }
            Err(e) => return Err(e),
        }
    }
}

fn handle(shared: &Shared, node: &NodeAddr, value: Value) -> io::Result<()> {
    let items = match value {
        Value::Array(items) => items,
        Value::Error(e) => {
            // `-MOVED` (the slot is elsewhere now) or `-CLUSTERDOWN`: read the topology again.
            let mut st = shared.subs.lock();
            if let Some(c) = st.shards.conns.get_mut(node) {
                c.confirmed += 1;
            }
            st.shards.refresh = true;
            recount(&mut st);
            drop(st);
            shared.subs_changed.notify_all();
            log::warn!(
                "Redis Cluster node {node} refused a subscription: {}",
                String::from_utf8_lossy(&e)
            );
            return Ok(());
        }
        _ => return Ok(()),
    };
    let kind = items.first().and_then(Value::as_bytes).unwrap_or_default();
    match kind {
        b"smessage" => {}
        b"ssubscribe" | b"sunsubscribe" => {
            let channel = items.get(1).and_then(Value::as_bytes).unwrap_or_default();
            let mut st = shared.subs.lock();
            let still_wanted = kind == b"sunsubscribe"
                && std::str::from_utf8(channel).is_ok_and(|ch| st.exact.contains(ch));
            if still_wanted {
                // Redis dropped a channel we still want: its slot moved (or was reassigned, even to
                // the same master). Read the topology again, and subscribe on the owner we know now
                // (a `MOVED` answer means it moved on: the new topology then rebuilds the readers).
                st.shards.refresh = true;
                let owner = st.shards.topology.owner(channel).cloned();
                if let Some(c) = owner.and_then(|o| st.shards.conns.get_mut(&o)) {
                    let mut cmd = Vec::new();
                    resp::command(&mut cmd, &[b"SSUBSCRIBE", channel]);
                    if c.writer.write_all(&cmd).is_ok() {
                        c.expected += 1;
                    }
                }
            } else if let Some(c) = st.shards.conns.get_mut(node) {
                c.confirmed += 1;
            }
            recount(&mut st);
            drop(st);
            shared.subs_changed.notify_all();
            return Ok(());
        }
        _ => return Ok(()), // "pong"
    }
    let channel = items.get(1).and_then(Value::as_bytes).unwrap_or_default();
    match items.get(2) {
        Some(Value::Bulk(bytes)) => receive(shared, channel, bytes),
        Some(Value::TooLarge(n)) => dropped(
            shared,
            &format!("envelope of {n} bytes is over max_envelope_bytes"),
        ),
        other => dropped(shared, &format!("unexpected message shape {other:?}")),
    }
    Ok(())
}

fn receive(shared: &Shared, channel: &[u8], bytes: &[u8]) {
    let node = &shared.node;
    let envelope = match Envelope::decode(bytes, node.config.max_envelope_bytes) {
        Ok(e) => e,
        Err(e) => return dropped(shared, &e),
    };
    if envelope.origin == node.server {
        return; // our own echo: local receivers were served at publish time
    }
    if let Some(seq) = envelope.seq
        && !shared
            .cluster
            .dedupe
            .lock()
            .fresh(envelope.origin, channel, seq)
    {
        Counters::add(&node.counters.duplicates, 1);
        return;
    }
    Counters::add(&node.counters.received, 1);
    match envelope.body {
        EnvelopeBody::Message(message) => node.deliver_local(message),
        EnvelopeBody::Drain { identity } => shared.drain(&identity),
    }
}

fn dropped(shared: &Shared, why: &dyn std::fmt::Display) {
    let counters = &shared.node.counters;
    Counters::add(&counters.dropped, 1);
    let n = Counters::get(&counters.dropped);
    if n <= 10 || n.is_multiple_of(1000) {
        log::warn!("dropped an envelope from Redis ({n} so far): {why}");
    }
}
