//! The cluster subscriber: a supervisor thread that reads the topology and keeps one reader thread
//! per master owning a channel the server subscribes to; each reader `SSUBSCRIBE`s that master's
//! channels and routes what arrives. A broken connection, a `MOVED` answer, or a channel the server
//! unsubscribed us from (its slot moved) makes the supervisor read the topology again; when it
//! changed, the readers of the masters whose slots changed are rebuilt on the new owners (the others
//! keep their connections, so a failover of one shard costs the other shards' channels nothing).

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::topology::{NodeAddr, Topology};
use super::{TOPOLOGY_REFRESH, connect_node, fetch_topology};
use crate::counters::Counters;
use crate::envelope::Envelope;
use crate::redis::backoff::{Backoff, Outage};
use crate::redis::conn::{RespConn, is_timeout};
use crate::redis::interest::{Key, Kind};
use crate::redis::link::LinkWriter;
use crate::redis::resp::{self, Value};
use crate::redis::subscriber::{dropped, route};
use crate::redis::{Shared, SubState};

/// The per-master subscriber connections (kept in the bus's subscription state, under its lock).
///
/// The interest record (`SubState::interest`) stays the one list of what is wanted; on a cluster a
/// wanted channel counts one subscribe in flight from the moment it is wanted until the `ssubscribe`
/// reply on its owner's current connection, so a join waits for that reply as it does on one Redis.
#[derive(Default)]
pub(crate) struct Shards {
    /// The bus runs on a cluster: (un)subscribe commands go to the owners' connections.
    active: bool,
    topology: Topology,
    conns: HashMap<NodeAddr, ShardConn>,
    /// A reader asked for the topology to be read again.
    refresh: bool,
    /// Patterns were asked for (sharded pub/sub has none): logged once.
    warned_patterns: bool,
}

impl Shards {
    /// Whether the bus runs on a cluster (set when the subscriber thread found one).
    pub(crate) fn active(&self) -> bool {
        self.active
    }
}

struct ShardConn {
    writer: LinkWriter,
}

/// The exact channels of the interest record that `node` owns (wanted or with an answer pending).
fn owned_by(st: &SubState, node: &NodeAddr) -> Vec<Key> {
    st.interest
        .keys()
        .filter(|(kind, name)| {
            *kind == Kind::Exact && st.shards.topology.owner(name.as_bytes()) == Some(node)
        })
        .cloned()
        .collect()
}

/// Writes one `SSUBSCRIBE`/`SUNSUBSCRIBE` for `key` on its owner's connection (the record already
/// counts it in flight). With no connection to the owner yet, a subscribe is left to the reader the
/// supervisor starts there (it subscribes every wanted channel the owner has), and an unsubscribe is
/// moot. A pattern is not carried by sharded pub/sub: logged once, and answered at once.
pub(in crate::redis) fn send(st: &mut SubState, key: &Key, on: bool) {
    let (kind, name) = key;
    if *kind == Kind::Pattern {
        if on && !st.shards.warned_patterns {
            st.shards.warned_patterns = true;
            log::warn!(
                "channel patterns are not carried by a Redis Cluster (sharded pub/sub has no \
                 patterns): a pattern subscription matches this server's own publishes only"
            );
        }
        st.interest.replied(key);
        return;
    }
    let owner = st.shards.topology.owner(name.as_bytes()).cloned();
    match owner.and_then(|o| st.shards.conns.get_mut(&o)) {
        Some(conn) => {
            let verb: &[u8] = if on { b"SSUBSCRIBE" } else { b"SUNSUBSCRIBE" };
            let mut cmd = Vec::new();
            resp::command(&mut cmd, &[verb, name.as_bytes()]);
            if conn.writer.write_all(&cmd).is_err() {
                // Its reader ends and the channel is subscribed again on the next connection.
                let _ = conn.writer.shutdown();
            }
        }
        None if on => {}
        None => {
            st.interest.reset(key);
        }
    }
}

/// Shuts every shard connection down (the bus is stopping).
pub(in crate::redis) fn shutdown(st: &SubState) {
    for conn in st.shards.conns.values() {
        let _ = conn.writer.shutdown();
    }
}

/// Whether every wanted channel's owner has a subscribed connection.
fn all_up(st: &SubState) -> bool {
    !st.shards.topology.masters().is_empty()
        && st.interest.wanted_exact().all(|ch| {
            st.shards
                .topology
                .owner(ch.as_bytes())
                .is_some_and(|m| st.shards.conns.contains_key(m))
        })
}

/// The supervisor: runs on the bus's subscriber thread until the bus stops.
pub(crate) fn run(shared: Arc<Shared>) {
    let config = &shared.node.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let mut outage = Outage::new("cluster subscriber");
    let mut readers: HashMap<NodeAddr, JoinHandle<io::Result<()>>> = HashMap::new();
    let mut fetched: Option<Instant> = None;
    let mut ever_failed = false;
    shared.subs.lock().shards.active = true;
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
                        let changed = known.changed_masters(&t);
                        let first = known.masters().is_empty();
                        if !first {
                            let names: Vec<String> =
                                changed.iter().map(ToString::to_string).collect();
                            log::info!(
                                "Redis Cluster topology changed (masters {}); resubscribing on the \
                                 new owners",
                                names.join(", ")
                            );
                        }
                        // Masters that serve the same slots keep their connections and
                        // subscriptions: a failover elsewhere costs them nothing.
                        stop_readers(&shared, &mut readers, &changed);
                        let mut st = shared.subs.lock();
                        st.shards.topology = t;
                        if first {
                            // Every wanted channel waits for its subscribe on the owners' readers.
                            st.interest.connect();
                            let patterns: Vec<Key> = st
                                .interest
                                .keys()
                                .filter(|(kind, _)| *kind == Kind::Pattern)
                                .cloned()
                                .collect();
                            for key in &patterns {
                                st.interest.replied(key);
                            }
                        } else {
                            // A channel that moved waits for its subscribe on its new owner.
                            let moved: Vec<Key> = st
                                .interest
                                .keys()
                                .filter(|(kind, name)| {
                                    *kind == Kind::Exact
                                        && known.owner(name.as_bytes())
                                            != st.shards.topology.owner(name.as_bytes())
                                })
                                .cloned()
                                .collect();
                            for key in &moved {
                                st.interest.reset(key);
                            }
                        }
                        drop(st);
                        shared.subs_changed.notify_all();
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
            st.interest
                .wanted_exact()
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
        crate::redis::subscriber::unsubscribe_idle(&shared, Instant::now());
        let mut st = shared.subs.lock();
        if all_up(&st) {
            outage.recovered(&shared.node.counters);
            backoff.reset();
        }
        let needs_reader = st.interest.wanted_exact().any(|ch| {
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
    let all: Vec<NodeAddr> = readers.keys().cloned().collect();
    stop_readers(&shared, &mut readers, &all);
    let mut st = shared.subs.lock();
    st.interest.disconnect();
    st.stalled = false;
    drop(st);
    shared.subs_changed.notify_all();
}

/// Shuts the connections of the readers of `nodes` down and waits for those readers to end.
fn stop_readers(
    shared: &Shared,
    readers: &mut HashMap<NodeAddr, JoinHandle<io::Result<()>>>,
    nodes: &[NodeAddr],
) {
    {
        let st = shared.subs.lock();
        for node in nodes {
            if let Some(conn) = st.shards.conns.get(node) {
                let _ = conn.writer.shutdown();
            }
        }
    }
    for node in nodes {
        if let Some(h) = readers.remove(node) {
            let _ = h.join();
        }
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
    // What this connection carried waits for the next one.
    for key in owned_by(&st, node) {
        st.interest.reset(&key);
    }
    if result.is_err() {
        st.shards.refresh = true;
    }
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

/// `SSUBSCRIBE`s every wanted channel `node` owns (each counted in flight until its reply), and
/// registers the connection for later changes; true when they include this server's own channel.
fn subscribe_owned(shared: &Shared, node: &NodeAddr, conn: &RespConn) -> io::Result<bool> {
    let mut st = shared.subs.lock();
    let mut writer = conn.writer()?;
    // One command per channel: every channel of one SSUBSCRIBE must share a slot.
    let mut cmd = Vec::new();
    let mut own = false;
    for key in owned_by(&st, node) {
        if st.interest.reset(&key) {
            resp::command(&mut cmd, &[b"SSUBSCRIBE", key.1.as_bytes()]);
            own |= key.1 == shared.names.own();
        }
    }
    writer.write_all(&cmd)?;
    st.shards.conns.insert(node.clone(), ShardConn { writer });
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
            // `-MOVED` (the slot is elsewhere now) or `-CLUSTERDOWN`: the reply names no channel, so
            // this connection ends; the topology is read again and the next connection subscribes
            // everything its master owns.
            return Err(io::Error::other(format!(
                "Redis Cluster node {node} refused a subscription: {}",
                String::from_utf8_lossy(&e)
            )));
        }
        _ => return Ok(()),
    };
    let kind = items.first().and_then(Value::as_bytes).unwrap_or_default();
    match kind {
        b"smessage" => {}
        b"ssubscribe" | b"sunsubscribe" => {
            let channel = items.get(1).and_then(Value::as_bytes).unwrap_or_default();
            let key = (Kind::Exact, String::from_utf8_lossy(channel).into_owned());
            let mut st = shared.subs.lock();
            if kind == b"sunsubscribe" && st.interest.settled_wanted(&key) {
                // Redis dropped a channel we still want (we sent no unsubscribe for it): its slot
                // moved (or was reassigned, even to the same master). Read the topology again, and
                // subscribe on the owner we know now (a `MOVED` answer means it moved on: the new
                // topology then rebuilds the readers).
                st.shards.refresh = true;
                st.interest.reset(&key);
                super::subscriber::send(&mut st, &key, true);
            } else {
                st.interest.replied(&key);
                st.stalled = false;
            }
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
    if envelope.origin == node.server && !envelope.has_position() {
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
    route(shared, envelope.body);
}
