//! The subscriber thread: one connection in subscribed mode, resubscribed after every reconnect.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backoff::{Backoff, Outage};
use super::conn::{RespConn, is_timeout};
use super::resp::{self, Value};
use super::{Kind, Shared};
use crate::counters::{Counters, KIND_DRAIN, kind_of};
use crate::envelope::{Envelope, EnvelopeBody};
use crate::uuid::ServerId;

/// The argument of a catch-up `PING` (see [`super::RedisEngine::after_pubsub_fn`]); a health
/// `PING` has none.
pub(super) const CATCH_UP: &[u8] = b"catch-up";

pub(super) fn run(shared: Arc<Shared>) {
    match super::cluster::detect(&shared) {
        None => return,
        Some(true) => return super::cluster::subscriber::run(shared),
        Some(false) => {}
    }
    let config = &shared.node.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let mut outage = Outage::new("subscriber");
    let mut dedupe = Dedupe::default();
    let name = format!("{}:sub:{}", config.app_name, shared.node.server);
    while !shared.stop.is_raised() {
        let result = RespConn::connect(
            &shared.addr,
            config.io_timeout,
            &name,
            config.max_envelope_bytes,
        )
        .and_then(|mut conn| {
            subscribe_all(&shared, &conn)?;
            outage.recovered(&shared.node.counters);
            backoff.reset();
            let r = read_loop(&shared, &mut conn, &mut dedupe);
            let mut st = shared.subs.lock();
            st.writer = None;
            st.stalled = false;
            st.interest.disconnect();
            // Nothing more will arrive on this connection: what waited for it goes on.
            let waiting = std::mem::take(&mut st.catch_ups);
            drop(st);
            shared.subs_changed.notify_all();
            for then in waiting {
                then();
            }
            r
        });
        if shared.stop.is_raised() {
            break;
        }
        if let Err(e) = result {
            outage.failed(&e);
        }
        if shared.stop.sleep(backoff.next_delay()) {
            break;
        }
    }
}

/// Subscribes to everything the server wants, and publishes the connection as the writer for changes.
/// Patterns go first and the global channel with the exact ones last: once other servers count this one
/// on the global channel again (and flush what they queued during an outage), every channel is back.
fn subscribe_all(shared: &Shared, conn: &RespConn) -> io::Result<()> {
    let mut st = shared.subs.lock();
    let mut writer = conn.writer()?;
    let (patterns, exact) = st.interest.connect();
    let mut cmd = Vec::new();
    for (verb, names) in [(&b"PSUBSCRIBE"[..], &patterns), (&b"SUBSCRIBE"[..], &exact)] {
        if !names.is_empty() {
            let mut args: Vec<&[u8]> = vec![verb];
            args.extend(names.iter().map(|s| s.as_bytes()));
            resp::command(&mut cmd, &args);
        }
    }
    if let Err(e) = writer.write_all(&cmd) {
        st.interest.disconnect();
        return Err(e);
    }
    st.writer = Some(writer);
    drop(st);
    shared.subs_changed.notify_all();
    Ok(())
}

/// Reads and routes until the connection fails. Between reads: PINGs an idle connection (one with no
/// answer within `health_interval` is dead) and unsubscribes what has been idle for the grace period.
fn read_loop(shared: &Shared, conn: &mut RespConn, dedupe: &mut Dedupe) -> io::Result<()> {
    let config = &shared.node.config;
    let health = config.health_interval;
    let tick = health
        .min(config.unsubscribe_grace / 2)
        .max(Duration::from_millis(5));
    conn.set_read_timeout(Some(tick))?;
    let mut last_heard = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut next_sweep = Instant::now() + tick;
    loop {
        match conn.read() {
            Ok(value) => {
                last_heard = Instant::now();
                ping_sent = None;
                handle(shared, value, dedupe);
            }
            Err(e) if is_timeout(&e) => {
                if shared.stop.is_raised() {
                    return Ok(());
                }
                match ping_sent {
                    Some(at) if at.elapsed() >= health => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "Redis did not answer PING",
                        ));
                    }
                    None if last_heard.elapsed() >= health => {
                        let mut ping = Vec::new();
                        resp::command(&mut ping, &[b"PING"]);
                        if let Some(w) = shared.subs.lock().writer.as_mut() {
                            w.write_all(&ping)?;
                        }
                        ping_sent = Some(Instant::now());
                    }
                    _ => {}
                }
            }
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now >= next_sweep {
            unsubscribe_idle(shared, now);
            next_sweep = now + tick;
        }
    }
}

/// Unsubscribes the channels idle for the whole grace period.
pub(super) fn unsubscribe_idle(shared: &Shared, now: Instant) {
    let grace = shared.node.config.unsubscribe_grace;
    let mut st = shared.subs.lock();
    if st.interest.next_expiry(grace).is_none_or(|at| at > now) {
        return;
    }
    for key in st.interest.expire(now, grace) {
        log::debug!(
            "no local member of {:?} for {grace:?}: unsubscribing",
            key.1
        );
        st.send(&key, false);
    }
}

fn handle(shared: &Shared, value: Value, dedupe: &mut Dedupe) {
    let Value::Array(items) = value else {
        match value {
            Value::Error(e) => {
                log::warn!("Redis subscriber error: {}", String::from_utf8_lossy(&e))
            }
            // A connection subscribed to nothing answers a `PING` plainly.
            Value::Bulk(b) if b == CATCH_UP => caught_up(shared),
            _ => {}
        }
        return;
    };
    let kind = items.first().and_then(Value::as_bytes).unwrap_or_default();
    let payload = match kind {
        b"message" => items.get(2),
        b"pmessage" => items.get(3),
        b"subscribe" | b"unsubscribe" | b"psubscribe" | b"punsubscribe" => {
            let kind = if kind.starts_with(b"p") {
                Kind::Pattern
            } else {
                Kind::Exact
            };
            let name = items.get(1).and_then(Value::as_bytes).unwrap_or_default();
            let key = (kind, String::from_utf8_lossy(name).into_owned());
            let mut st = shared.subs.lock();
            st.interest.replied(&key);
            st.stalled = false;
            drop(st);
            shared.subs_changed.notify_all();
            return;
        }
        b"pong" => {
            if items.get(1).and_then(Value::as_bytes) == Some(CATCH_UP) {
                caught_up(shared);
            }
            return;
        }
        _ => return,
    };
    match payload {
        Some(Value::Bulk(bytes)) => receive(shared, bytes, dedupe),
        Some(Value::TooLarge(n)) => dropped(
            shared,
            &format!("envelope of {n} bytes is over max_envelope_bytes"),
        ),
        other => dropped(shared, &format!("unexpected message shape {other:?}")),
    }
}

/// A catch-up `PING` was answered: the oldest closure waiting for one runs.
fn caught_up(shared: &Shared) {
    let next = shared.subs.lock().catch_ups.pop_front();
    if let Some(then) = next {
        then();
    }
}

fn receive(shared: &Shared, bytes: &[u8], dedupe: &mut Dedupe) {
    let node = &shared.node;
    let envelope = match Envelope::decode(bytes, node.config.max_envelope_bytes) {
        Ok(e) => e,
        Err(e) => return dropped(shared, &e),
    };
    if envelope.origin == node.server && !envelope.has_position() {
        return; // our own echo: local receivers were served at publish time
    }
    if let Some(seq) = envelope.seq
        && !dedupe.fresh(envelope.origin, seq)
    {
        Counters::add(&node.counters.duplicates, 1);
        return;
    }
    route(shared, envelope.body);
}

/// Counts a fresh envelope and hands it on: a message to this server's receivers, a drain signal to
/// the mailbox worker.
pub(super) fn route(shared: &Shared, body: EnvelopeBody) {
    let node = &shared.node;
    Counters::add(&node.counters.received, 1);
    match body {
        EnvelopeBody::Message(message) => {
            Counters::add(&node.counters.received_kinds[kind_of(&message.target)], 1);
            node.deliver_local(message)
        }
        EnvelopeBody::Drain { identity } => {
            Counters::add(&node.counters.received_kinds[KIND_DRAIN], 1);
            shared.drain(&identity)
        }
    }
}

/// Counts an envelope that could not be read, logging the first ten and every thousandth.
pub(super) fn dropped(shared: &Shared, why: &dyn std::fmt::Display) {
    let counters = &shared.node.counters;
    Counters::add(&counters.dropped, 1);
    let n = Counters::get(&counters.dropped);
    if n <= 10 || n.is_multiple_of(1000) {
        log::warn!("dropped an envelope from Redis ({n} so far): {why}");
    }
}

/// The last `seq` seen per origin: an envelope not above it is a duplicate (a retried pipeline, or the
/// second copy of a message that matched both an exact and a pattern subscription).
#[derive(Default)]
struct Dedupe {
    last: HashMap<ServerId, (u64, Instant)>,
}

const DEDUPE_MAX_ORIGINS: usize = 4096;

impl Dedupe {
    fn fresh(&mut self, origin: ServerId, seq: u64) -> bool {
        let now = Instant::now();
        if let Some((last, seen)) = self.last.get_mut(&origin) {
            if seq <= *last {
                return false;
            }
            *last = seq;
            *seen = now;
            return true;
        }
        if self.last.len() >= DEDUPE_MAX_ORIGINS {
            // Forget the origins heard from least recently (servers that are gone).
            let mut seen: Vec<Instant> = self.last.values().map(|(_, t)| *t).collect();
            seen.sort_unstable();
            let cutoff = seen[seen.len() / 2];
            self.last.retain(|_, (_, t)| *t > cutoff);
        }
        self.last.insert(origin, (seq, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_drops_repeats_per_origin() {
        let mut d = Dedupe::default();
        let (a, b) = (ServerId::from_u64(1), ServerId::from_u64(2));
        assert!(d.fresh(a, 1) && d.fresh(a, 2) && !d.fresh(a, 2) && !d.fresh(a, 1));
        assert!(d.fresh(b, 1) && d.fresh(a, 5) && !d.fresh(a, 4));
        for i in 0..(DEDUPE_MAX_ORIGINS as u64 * 2) {
            assert!(d.fresh(ServerId::from_u64(100 + i), 1));
        }
        assert!(d.last.len() <= DEDUPE_MAX_ORIGINS);
    }
}
