//! Test support: a recording sink and a bus on a real `redis-server` (from plezi-test-support).
#![allow(dead_code, unused_imports)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use plezi_messaging::{
    Bus, BusConfig, BusError, Claim, ConnectionUuid, LocalDelivery, MailboxBatch, Payload, Sink,
};

pub use plezi_test_support::init_log;
pub use plezi_test_support::redis::RedisServer;

pub const WAIT: Duration = plezi_test_support::DEADLINE;

/// What the sink saw.
#[derive(Default)]
pub struct Seen {
    pub deliveries: Vec<LocalDelivery>,
    /// (identity, connections, payloads) per mailbox batch.
    pub mailbox: Vec<(String, Vec<ConnectionUuid>, Vec<Payload>)>,
    pub failed: Vec<(Option<ConnectionUuid>, ConnectionUuid, Payload)>,
    /// Claims kept instead of confirmed (see `Recorder::hold_claims`).
    pub held: Vec<Claim>,
    /// Refused notifications reported to the sink: (sender, identity, event, error).
    pub refused: Vec<(ConnectionUuid, String, Option<String>, BusError)>,
}

/// A sink that records everything; confirms mailbox claims unless told to hold them.
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Seen>,
    changed: Condvar,
    hold: Mutex<bool>,
}

impl Recorder {
    pub fn attach(bus: &Bus) -> Arc<Recorder> {
        let r = Arc::new(Recorder::default());
        bus.set_sink(r.clone());
        r
    }

    /// Keep mailbox claims (neither confirm nor drop them) until `take_held`.
    pub fn hold_claims(&self, hold: bool) {
        *self.hold.lock().unwrap() = hold;
    }

    pub fn take_held(&self) -> Vec<Claim> {
        std::mem::take(&mut self.seen.lock().unwrap().held)
    }

    /// Waits until `done` holds for what was seen; panics with `what` after the deadline.
    pub fn wait<T>(&self, what: &str, mut done: impl FnMut(&Seen) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        let mut seen = self.seen.lock().unwrap();
        loop {
            if let Some(v) = done(&seen) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("timed out waiting for {what}");
            }
            seen = self.changed.wait_timeout(seen, left).unwrap().0;
        }
    }

    /// Waits until at least `n` mailbox messages were delivered.
    pub fn wait_mailbox(&self, n: usize) {
        self.wait(&format!("{n} mailbox messages"), |s| {
            (s.mailbox.iter().map(|(_, _, p)| p.len()).sum::<usize>() >= n).then_some(())
        })
    }

    /// Events (name, data) delivered so far, in order.
    pub fn events(&self) -> Vec<(String, serde_json::Value)> {
        self.seen
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .filter_map(|d| event_of(&d.payload))
            .collect()
    }

    /// Mailbox payloads delivered so far, in order, flattened.
    pub fn mailbox_events(&self) -> Vec<(String, serde_json::Value)> {
        self.seen
            .lock()
            .unwrap()
            .mailbox
            .iter()
            .flat_map(|(_, _, p)| p.iter().filter_map(event_of))
            .collect()
    }

    pub fn clear(&self) {
        let mut s = self.seen.lock().unwrap();
        s.deliveries.clear();
        s.mailbox.clear();
        s.failed.clear();
    }
}

pub fn event_of(p: &Payload) -> Option<(String, serde_json::Value)> {
    match p {
        Payload::Event { event, data } => Some((event.clone(), data.clone())),
        Payload::Raw(_) => None,
    }
}

impl Sink for Recorder {
    fn deliver(&self, delivery: LocalDelivery) {
        self.seen.lock().unwrap().deliveries.push(delivery);
        self.changed.notify_all();
    }

    fn deliver_mailbox(&self, batch: MailboxBatch) {
        let hold = *self.hold.lock().unwrap();
        let mut seen = self.seen.lock().unwrap();
        if hold {
            seen.held.push(batch.claim);
        } else {
            seen.mailbox
                .push((batch.identity, batch.connections, batch.messages));
            batch.claim.delivered();
        }
        drop(seen);
        self.changed.notify_all();
    }

    fn failed_unicast(
        &self,
        from: Option<ConnectionUuid>,
        target: ConnectionUuid,
        payload: &Payload,
    ) {
        self.seen
            .lock()
            .unwrap()
            .failed
            .push((from, target, payload.clone()));
        self.changed.notify_all();
    }

    fn notify_refused(
        &self,
        from: ConnectionUuid,
        identity: &str,
        event: Option<&str>,
        error: &BusError,
    ) {
        self.seen.lock().unwrap().refused.push((
            from,
            identity.to_owned(),
            event.map(str::to_owned),
            error.clone(),
        ));
        self.changed.notify_all();
    }
}

/// A test config: unique app name, quick health checks and reconnects.
pub fn config(app: &str) -> BusConfig {
    BusConfig {
        app_name: app.to_owned(),
        health_interval: Duration::from_millis(1000),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        io_timeout: Duration::from_secs(2),
        ..BusConfig::default()
    }
}

pub fn redis_bus(redis: &RedisServer, app: &str) -> (Bus, Arc<Recorder>) {
    let bus = Bus::redis(config(app), &redis.url()).expect("bus");
    let rec = Recorder::attach(&bus);
    bus.flush(WAIT).expect("bus connects");
    (bus, rec)
}
