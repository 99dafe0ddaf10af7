//! The publisher thread: drains the bounded queue, pipelining everything queued in one round trip.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::backoff::{Backoff, Outage};
use super::conn::RespConn;
use super::history;
use super::resp::{self, Value};
use super::{OnZero, Outgoing, Shared};
use crate::counters::Counters;
use crate::envelope::with_seq;

/// Stop adding publishes to a pipeline once it holds this many bytes.
const MAX_PIPELINE_BYTES: usize = 1 << 20;
/// How often a busy pipeline also asks Redis how many servers listen on the global channel.
const PEER_CHECK_EVERY: Duration = Duration::from_millis(100);
/// How often an idle publisher asks (the answer doubles as its health check).
const IDLE_PEER_CHECK_EVERY: Duration = Duration::from_millis(250);

struct State {
    seq: u64,
    /// Subscribers of the global channel when last asked: the servers on the bus (this one included).
    peers: i64,
    last_peer_check: Instant,
    buf: Vec<u8>,
}

pub(super) fn run(shared: Arc<Shared>) {
    match super::cluster::detect(&shared) {
        None => {
            shared.drained.notify_all();
            return;
        }
        Some(true) => return super::cluster::publisher::run(shared),
        Some(false) => {}
    }
    let config = &shared.node.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let mut outage = Outage::new("publisher");
    let mut state = State {
        seq: 0,
        peers: 0,
        last_peer_check: Instant::now(),
        buf: Vec::new(),
    };
    let mut ever_connected = false;
    let name = format!("{}:pub:{}", config.app_name, shared.node.server);
    loop {
        if shared.stop.is_raised() {
            break;
        }
        let mut conn = match RespConn::connect(&shared.addr, config.io_timeout, &name, 1 << 20) {
            Ok(c) => c,
            Err(e) => {
                outage.failed(&e);
                if shared.stop.sleep(backoff.next_delay()) {
                    break;
                }
                continue;
            }
        };
        let rejoining = ever_connected;
        ever_connected = true;
        outage.recovered(&shared.node.counters);
        backoff.reset();
        shared.pub_connected.store(true, Ordering::Relaxed);
        let result = (|| {
            load_history_script(&mut conn)?;
            if rejoining {
                wait_for_peers(&shared, &mut conn, &mut state)?;
            }
            state.peers = peer_count(&shared, &mut conn)?;
            state.last_peer_check = Instant::now();
            shared
                .peers
                .store(state.peers.max(0) as usize, Ordering::Relaxed);
            pump(&shared, &mut conn, &mut state)
        })();
        shared.pub_connected.store(false, Ordering::Relaxed);
        match result {
            Ok(()) => break,
            Err(e) => {
                outage.failed(&e);
                if shared.stop.sleep(backoff.next_delay()) {
                    break;
                }
            }
        }
    }
    let left = shared.queue.lock().items.len();
    if left > 0 {
        log::warn!("bus stopped with {left} publishes that never reached Redis");
    }
    shared.drained.notify_all();
}

/// After an outage, waits (up to `rejoin_grace`) for as many subscribers of the global channel as before,
/// so the publishes queued meanwhile reach the servers that are resubscribing right now.
fn wait_for_peers(shared: &Shared, conn: &mut RespConn, state: &mut State) -> std::io::Result<()> {
    let before = state.peers;
    let deadline = Instant::now() + shared.node.config.rejoin_grace;
    loop {
        let now = peer_count(shared, conn)?;
        if now >= before {
            break;
        }
        if Instant::now() >= deadline {
            log::info!(
                "Redis is back with {now} of {before} servers listening; flushing queued publishes now"
            );
            break;
        }
        if shared.stop.sleep(Duration::from_millis(10)) {
            break;
        }
    }
    Ok(())
}

/// Loads the history script on a new connection (its publishes to streams with a history call it).
pub(super) fn load_history_script(conn: &mut RespConn) -> std::io::Result<()> {
    let mut cmd = Vec::new();
    history::load_command(&mut cmd);
    conn.send(&cmd)?;
    match conn.read()? {
        Value::Error(e) => Err(std::io::Error::other(format!(
            "Redis refused the history script: {}",
            String::from_utf8_lossy(&e)
        ))),
        _ => Ok(()),
    }
}

fn peer_count(shared: &Shared, conn: &mut RespConn) -> std::io::Result<i64> {
    let mut cmd = Vec::new();
    resp::command(
        &mut cmd,
        &[b"PUBSUB", b"NUMSUB", shared.names.global().as_bytes()],
    );
    conn.send(&cmd)?;
    Ok(numsub_reply(&conn.read()?))
}

fn numsub_reply(v: &Value) -> i64 {
    match v {
        Value::Array(items) => match items.get(1) {
            Some(Value::Int(n)) => *n,
            _ => 0,
        },
        _ => 0,
    }
}

/// A pipeline written to Redis whose replies are not all read yet.
struct Sent {
    items: Vec<Outgoing>,
    /// A `PUBSUB NUMSUB` follows the publishes.
    numsub: bool,
}

/// At most this many pipelines are written before the oldest one's replies are read, so building and
/// writing the next batch overlaps with Redis working on the previous one.
const MAX_IN_FLIGHT: usize = 2;

/// Sends batches until stopped (Ok) or the connection fails (Err; unacknowledged publishes requeued in
/// order, to be sent again after the reconnect).
fn pump(shared: &Shared, conn: &mut RespConn, state: &mut State) -> std::io::Result<()> {
    let mut in_flight = VecDeque::new();
    let result = pump_batches(shared, conn, state, &mut in_flight);
    if result.is_err() {
        requeue(shared, &mut in_flight);
    }
    result
}

fn pump_batches(
    shared: &Shared,
    conn: &mut RespConn,
    state: &mut State,
    in_flight: &mut VecDeque<Sent>,
) -> std::io::Result<()> {
    let config = &shared.node.config;
    let idle_wait = config.health_interval.min(IDLE_PEER_CHECK_EVERY);
    let mut body = Vec::new();
    loop {
        let mut batch = Vec::with_capacity(config.publish_batch.min(64));
        let wait = if in_flight.is_empty() {
            Some(idle_wait)
        } else {
            None
        };
        take_batch(shared, &mut batch, config.publish_batch, wait);
        if batch.is_empty() {
            if !in_flight.is_empty() {
                read_replies(shared, conn, state, in_flight)?;
                continue;
            }
            if shared.stop.is_raised() {
                return Ok(());
            }
            // Idle: the peer count doubles as the health check.
            state.peers = peer_count(shared, conn)?;
            state.last_peer_check = Instant::now();
            shared
                .peers
                .store(state.peers.max(0) as usize, Ordering::Relaxed);
            continue;
        }
        state.buf.clear();
        for item in batch.iter_mut() {
            let seq = *item.seq.get_or_insert_with(|| {
                state.seq += 1;
                state.seq
            });
            body.clear();
            with_seq(&item.body, seq, &mut body);
            history::publish_command(&mut state.buf, item, &body, false);
        }
        let numsub = state.last_peer_check.elapsed() >= PEER_CHECK_EVERY;
        if numsub {
            resp::command(
                &mut state.buf,
                &[b"PUBSUB", b"NUMSUB", shared.names.global().as_bytes()],
            );
            state.last_peer_check = Instant::now();
        }
        in_flight.push_back(Sent {
            items: batch,
            numsub,
        });
        conn.send(&state.buf)?;
        if in_flight.len() >= MAX_IN_FLIGHT {
            read_replies(shared, conn, state, in_flight)?;
        }
    }
}

/// Reads the replies of the oldest pipeline in flight.
fn read_replies(
    shared: &Shared,
    conn: &mut RespConn,
    state: &mut State,
    in_flight: &mut VecDeque<Sent>,
) -> std::io::Result<()> {
    let Some(sent) = in_flight.front_mut() else {
        return Ok(());
    };
    for i in 0..sent.items.len() {
        match conn.read() {
            Ok(Value::Int(0)) => nobody_heard(shared, &mut sent.items[i]),
            Ok(Value::Int(_)) => {}
            Ok(Value::Error(e)) if history::is_noscript(&e) => {
                // The script was flushed: reconnect (which loads it) and send the rest again.
                sent.items.drain(..i);
                Counters::add(&shared.node.counters.published, i as u64);
                finish(shared, i);
                return Err(std::io::Error::other("Redis lost the history script"));
            }
            Ok(Value::Error(e)) => {
                log::warn!("Redis refused a PUBLISH: {}", String::from_utf8_lossy(&e))
            }
            Ok(other) => log::warn!("unexpected PUBLISH reply {other:?}"),
            Err(e) => {
                // The first i were acknowledged; the rest stay in flight and are requeued.
                sent.items.drain(..i);
                Counters::add(&shared.node.counters.published, i as u64);
                finish(shared, i);
                return Err(e);
            }
        }
    }
    let done = sent.items.len();
    sent.items.clear();
    Counters::add(&shared.node.counters.published, done as u64);
    finish(shared, done);
    if sent.numsub {
        state.peers = numsub_reply(&conn.read()?);
        shared
            .peers
            .store(state.peers.max(0) as usize, Ordering::Relaxed);
    }
    in_flight.pop_front();
    Ok(())
}

/// Moves up to `max` queued publishes (and at most ~1 MiB) into `batch`, waiting up to `wait` for one.
pub(super) fn take_batch(
    shared: &Shared,
    batch: &mut Vec<Outgoing>,
    max: usize,
    wait: Option<Duration>,
) {
    let mut q = shared.queue.lock();
    if let Some(wait) = wait
        && q.items.is_empty()
        && !shared.stop.is_raised()
    {
        shared.has_work.wait_for(&mut q, wait);
    }
    let mut bytes = 0;
    while batch.len() < max && bytes < MAX_PIPELINE_BYTES {
        let Some(item) = q.items.pop_front() else {
            break;
        };
        bytes += item.body.len() + item.channel.len();
        batch.push(item);
    }
    q.in_flight += batch.len();
}

/// Puts every unacknowledged publish back at the head of the queue, in order.
fn requeue(shared: &Shared, in_flight: &mut VecDeque<Sent>) {
    let items: Vec<Outgoing> = in_flight.drain(..).flat_map(|s| s.items).collect();
    let mut q = shared.queue.lock();
    q.in_flight -= items.len();
    for item in items.into_iter().rev() {
        q.items.push_front(item);
    }
    drop(q);
    shared.drained.notify_all();
}

pub(super) fn finish(shared: &Shared, done: usize) {
    let mut q = shared.queue.lock();
    q.in_flight -= done;
    drop(q);
    shared.drained.notify_all();
}

pub(super) fn nobody_heard(shared: &Shared, item: &mut Outgoing) {
    match item.on_zero.take() {
        Some(OnZero::FailedUnicast { from, to, payload }) => {
            Counters::add(&shared.node.counters.failed_unicasts, 1);
            shared.node.sink().failed_unicast(from, to, &payload);
        }
        Some(OnZero::Gone(gone)) => gone(),
        None => {}
    }
}
