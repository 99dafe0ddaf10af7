//! The cluster publisher: drains the bus's queue like the single-Redis publisher, but sends each
//! envelope with `SPUBLISH` to the master owning its channel's slot (one pipeline per master per
//! batch). What a master did not acknowledge — its connection broke, it answered `MOVED`/`ASK`, or
//! the cluster is down — goes back to the head of the queue in order, and is sent again once the
//! topology was read again (after a failover: to the promoted replica).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::topology::{NodeAddr, Topology};
use super::{connect_node, fetch_topology};
use crate::counters::Counters;
use crate::envelope::with_seq;
use crate::redis::backoff::{Backoff, Outage};
use crate::redis::conn::RespConn;
use crate::redis::history;
use crate::redis::publisher::{finish, load_history_script, nobody_heard, take_batch};
use crate::redis::resp::{self, Value};
use crate::redis::{Outgoing, Shared};

/// How often the publisher asks how many servers listen on the global channel.
const PEER_CHECK_EVERY: Duration = Duration::from_millis(250);
/// After an outage, at most this many channels of the requeued publishes are checked for listeners.
const REJOIN_CHANNELS: usize = 16;

struct State {
    seq: u64,
    topology: Topology,
    /// The topology must be read again before the next send (it is kept meanwhile: its masters
    /// are the first nodes asked, as the URLs may name only dead ones).
    stale: bool,
    conns: HashMap<NodeAddr, RespConn>,
    name: String,
    peers: i64,
    last_peer_check: Instant,
    buf: Vec<u8>,
}

/// What happened to one publish.
enum Outcome {
    Acked,
    /// Its slot moved (`MOVED`/`ASK`): send again at once, after the topology was read again.
    Moved,
    /// Not acknowledged (a broken connection, the cluster down): send again after a backoff.
    Retry,
}

pub(crate) fn run(shared: Arc<Shared>) {
    let config = &shared.node.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let mut outage = Outage::new("cluster publisher");
    let mut state = State {
        seq: 0,
        topology: Topology::default(),
        stale: true,
        conns: HashMap::new(),
        name: format!("{}:spub:{}", config.app_name, shared.node.server),
        peers: 0,
        last_peer_check: Instant::now() - PEER_CHECK_EVERY,
        buf: Vec::new(),
    };
    let idle_wait = config.health_interval.min(PEER_CHECK_EVERY);
    let mut batch = Vec::new();
    let mut retried: Vec<String> = Vec::new();
    loop {
        if state.stale {
            match fetch_topology(&shared, &state.topology) {
                Ok(t) => {
                    // Connections to nodes that no longer serve slots are closed.
                    let masters = t.masters();
                    state.conns.retain(|node, _| masters.contains(node));
                    state.topology = t;
                    state.stale = false;
                    shared.pub_connected.store(true, Ordering::Relaxed);
                }
                Err(e) => {
                    outage.failed(&e);
                    shared.pub_connected.store(false, Ordering::Relaxed);
                    if shared.stop.sleep(backoff.next_delay()) {
                        break;
                    }
                    continue;
                }
            }
        }
        if !retried.is_empty() {
            wait_for_listeners(&shared, &mut state, &retried);
            retried.clear();
        }
        take_batch(&shared, &mut batch, config.publish_batch, Some(idle_wait));
        if batch.is_empty() {
            if shared.stop.is_raised() {
                break;
            }
            if state.last_peer_check.elapsed() >= PEER_CHECK_EVERY {
                check_peers(&shared, &mut state);
            }
            continue;
        }
        let outcomes = send(&shared, &mut state, &mut batch);
        let mut acked = 0;
        let mut again = Vec::new();
        let mut down = false;
        for (item, outcome) in batch.drain(..).zip(outcomes) {
            match outcome {
                Outcome::Acked => acked += 1,
                Outcome::Moved => again.push(item),
                Outcome::Retry => {
                    down = true;
                    again.push(item);
                }
            }
        }
        Counters::add(&shared.node.counters.published, acked as u64);
        finish(&shared, acked);
        if again.is_empty() {
            shared.pub_connected.store(true, Ordering::Relaxed);
            outage.recovered(&shared.node.counters);
            backoff.reset();
            continue;
        }
        requeue_channels(&mut retried, &again);
        requeue(&shared, again);
        state.stale = true; // read the topology again before the next attempt
        if !down {
            log::info!("Redis Cluster slots moved; sending to their new owners");
            continue;
        }
        shared.pub_connected.store(false, Ordering::Relaxed);
        outage.failed(&"publishes not acknowledged");
        if shared.stop.sleep(backoff.next_delay()) {
            break;
        }
    }
    let left = shared.queue.lock().items.len();
    if left > 0 {
        log::warn!("bus stopped with {left} publishes that never reached Redis");
    }
    shared.drained.notify_all();
}

/// Remembers (up to `REJOIN_CHANNELS`) the channels of requeued publishes.
fn requeue_channels(retried: &mut Vec<String>, again: &[Outgoing]) {
    for item in again {
        if retried.len() < REJOIN_CHANNELS && !retried.contains(&item.channel) {
            retried.push(item.channel.clone());
        }
    }
}

/// Sends one batch, one pipeline per owning master, and reads every answer.
fn send(shared: &Shared, state: &mut State, batch: &mut [Outgoing]) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = batch.iter().map(|_| Outcome::Retry).collect();
    let mut groups: BTreeMap<NodeAddr, Vec<usize>> = BTreeMap::new();
    let mut body = Vec::new();
    for (i, item) in batch.iter_mut().enumerate() {
        item.seq.get_or_insert_with(|| {
            state.seq += 1;
            state.seq
        });
        if let Some(owner) = state.topology.owner(item.channel.as_bytes()) {
            groups.entry(owner.clone()).or_default().push(i);
        }
    }
    let mut sent = Vec::new();
    for (node, idxs) in groups {
        state.buf.clear();
        for &i in &idxs {
            let item = &batch[i];
            body.clear();
            with_seq(&item.body, item.seq.unwrap_or_default(), &mut body);
            history::publish_command(&mut state.buf, item, &body, true);
        }
        let buf = std::mem::take(&mut state.buf);
        let result = conn_to(shared, state, &node).and_then(|conn| conn.send(&buf));
        state.buf = buf;
        if let Err(e) = result {
            log::debug!("cannot reach Redis Cluster node {node}: {e}");
            state.conns.remove(&node);
            continue;
        }
        sent.push((node, idxs));
    }
    for (node, idxs) in sent {
        let Some(conn) = state.conns.get_mut(&node) else {
            continue;
        };
        let mut broken = false;
        for i in idxs {
            match conn.read() {
                Ok(Value::Int(0)) => {
                    nobody_heard(shared, &mut batch[i]);
                    outcomes[i] = Outcome::Acked;
                }
                Ok(Value::Int(_)) => outcomes[i] = Outcome::Acked,
                Ok(Value::Error(e)) if e.starts_with(b"MOVED ") || e.starts_with(b"ASK ") => {
                    outcomes[i] = Outcome::Moved;
                }
                Ok(Value::Error(e)) if history::is_noscript(&e) => {
                    // The node lost the history script: a new connection loads it again.
                    broken = true;
                    break;
                }
                Ok(Value::Error(e))
                    if e.starts_with(b"TRYAGAIN") || e.starts_with(b"CLUSTERDOWN") =>
                {
                    log::debug!("Redis Cluster node {node}: {}", String::from_utf8_lossy(&e));
                }
                Ok(Value::Error(e)) => {
                    log::warn!("Redis refused an SPUBLISH: {}", String::from_utf8_lossy(&e));
                    outcomes[i] = Outcome::Acked;
                }
                Ok(other) => {
                    log::warn!("unexpected SPUBLISH reply {other:?}");
                    outcomes[i] = Outcome::Acked;
                }
                Err(e) => {
                    log::debug!("Redis Cluster node {node} broke off: {e}");
                    broken = true;
                    break;
                }
            }
        }
        if broken {
            state.conns.remove(&node);
        }
    }
    outcomes
}

fn conn_to<'a>(
    shared: &Shared,
    state: &'a mut State,
    node: &NodeAddr,
) -> io::Result<&'a mut RespConn> {
    if !state.conns.contains_key(node) {
        let mut conn = connect_node(shared, node, &state.name, 1 << 20)?;
        load_history_script(&mut conn)?;
        state.conns.insert(node.clone(), conn);
    }
    state
        .conns
        .get_mut(node)
        .ok_or_else(|| io::Error::other("connection vanished"))
}

/// Puts unacknowledged publishes back at the head of the queue, in order.
fn requeue(shared: &Shared, items: Vec<Outgoing>) {
    let mut q = shared.queue.lock();
    q.in_flight -= items.len();
    for item in items.into_iter().rev() {
        q.items.push_front(item);
    }
    drop(q);
    shared.drained.notify_all();
}

/// Subscribers of `channel` on its owner (`PUBSUB SHARDNUMSUB`); `None` when it cannot be asked.
fn listeners(shared: &Shared, state: &mut State, channel: &str) -> Option<i64> {
    let node = state.topology.owner(channel.as_bytes())?.clone();
    let mut cmd = Vec::new();
    resp::command(&mut cmd, &[b"PUBSUB", b"SHARDNUMSUB", channel.as_bytes()]);
    let conn = conn_to(shared, state, &node).ok()?;
    let answer = conn.send(&cmd).and_then(|()| conn.read());
    match answer {
        Ok(Value::Array(items)) => match items.get(1) {
            Some(Value::Int(n)) => Some(*n),
            _ => Some(0),
        },
        Ok(_) => Some(0),
        Err(_) => {
            state.conns.remove(&node);
            None
        }
    }
}

fn check_peers(shared: &Shared, state: &mut State) {
    state.last_peer_check = Instant::now();
    let global = shared.names.global().to_owned();
    match listeners(shared, state, &global) {
        Some(n) => {
            state.peers = n;
            shared.peers.store(n.max(0) as usize, Ordering::Relaxed);
            shared.pub_connected.store(true, Ordering::Relaxed);
        }
        None => {
            state.stale = true;
            shared.pub_connected.store(false, Ordering::Relaxed);
        }
    }
}

/// After an outage, waits (up to `rejoin_grace`) until the global channel has as many listeners as
/// before and each channel of the requeued publishes has one, so what was queued reaches the
/// servers that are resubscribing on the new owners right now.
fn wait_for_listeners(shared: &Shared, state: &mut State, channels: &[String]) {
    let before = state.peers;
    let deadline = Instant::now() + shared.node.config.rejoin_grace;
    let global = shared.names.global().to_owned();
    let mut fetched = Instant::now();
    loop {
        let global_back = listeners(shared, state, &global).is_some_and(|n| n >= before);
        let all_heard = channels
            .iter()
            .all(|ch| listeners(shared, state, ch).is_some_and(|n| n > 0));
        if global_back && all_heard {
            return;
        }
        if Instant::now() >= deadline {
            log::info!(
                "Redis Cluster is back but not every channel of the queued publishes has listeners; \
                 flushing them now"
            );
            return;
        }
        if shared.stop.sleep(Duration::from_millis(10)) {
            return;
        }
        if fetched.elapsed() >= PEER_CHECK_EVERY
            && let Ok(t) = fetch_topology(shared, &state.topology)
        {
            state.topology = t;
            fetched = Instant::now();
        }
    }
}
