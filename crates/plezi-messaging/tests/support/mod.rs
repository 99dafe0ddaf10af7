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
    /// The message ids of every mailbox batch handed over (held or confirmed), in order.
    pub mail_ids: Vec<String>,
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
        seen.mail_ids
            .extend(batch.messages.iter().map(|m| m.id.to_string()));
        if hold {
            seen.held.push(batch.claim);
        } else {
            let payloads = batch.messages.into_iter().map(|m| m.payload).collect();
            seen.mailbox
                .push((batch.identity, batch.connections, payloads));
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

/// `Payload::event("e", n)`: the payloads of [`exchange_every_target`].
pub fn ev(n: i64) -> Payload {
    Payload::event("e", serde_json::json!(n))
}

/// The raw (non-UTF-8) multicast of [`exchange_every_target`].
pub fn raw_payload() -> Payload {
    Payload::raw([0u8, 159, 146, 150])
}

/// Two servers exchange every target kind. `b` gets a member of the controller type `Chat`, of the
/// channel `room.1` (its connection `(0, 1, 0)`) and of the identity `carol` (`(1, 2, 3)`, which with
/// `patterns` also subscribes to `room.*`: sharded pub/sub has no patterns). Then `a` publishes
/// `ev(1)` to `ev(8)`: a multicast and a `Chat` broadcast (both from `a`'s `(0, 1, 0)`, except it), a
/// broadcast to a type nobody joined, a unicast, two publishes on `room.1` (the second except `b`'s
/// `(0, 1, 0)`), an identity message, a raw multicast and a last multicast. Returns once `rec_b`
/// holds exactly what it should: in publish order when `ordered` (one Redis keeps one order across
/// channels; a cluster only within each channel).
pub fn exchange_every_target(a: &Bus, b: &Bus, rec_b: &Recorder, ordered: bool, patterns: bool) {
    use plezi_messaging::{Message, Recipients, Target};
    let a1 = a.connection_uuid(0, 1, 0);
    let b1 = b.connection_uuid(0, 1, 0);
    let b2 = b.connection_uuid(1, 2, 3);
    b.join_controller("Chat");
    b.subscribe(b1, "room.1");
    if patterns {
        b.psubscribe(b2, "room.*");
    }
    b.register_as("carol", b2, None).unwrap();
    b.flush(WAIT).unwrap();

    let chat = Target::Broadcast {
        controller: "Chat".into(),
    };
    let room = Target::Channel("room.1".into());
    let publish = |m: Message| a.publish(m).unwrap();
    publish(Message::new(Target::Multicast, ev(1)).from_except(a1));
    publish(Message::new(chat.clone(), ev(2)).from_except(a1));
    let nobody = Target::Broadcast {
        controller: "NotJoined".into(),
    };
    publish(Message::new(nobody, ev(3)));
    publish(Message::new(Target::Unicast(b2), ev(4)).from(a1));
    publish(Message::new(room.clone(), ev(5)));
    publish(Message::new(room.clone(), ev(6)).except(b1));
    publish(Message::new(Target::Identity("carol".into()), ev(7)));
    publish(Message::new(Target::Multicast, raw_payload()));
    publish(Message::new(Target::Multicast, ev(8)));

    let all = |except| Recipients::All { except };
    let mut expected = vec![
        (Target::Multicast, all(Some(a1)), ev(1), Some(a1)),
        (
            chat,
            Recipients::Controller {
                name: "Chat".into(),
                except: Some(a1),
            },
            ev(2),
            Some(a1),
        ),
        (
            Target::Unicast(b2),
            Recipients::Listed(vec![b2]),
            ev(4),
            Some(a1),
        ),
    ];
    if patterns {
        expected.push((room.clone(), Recipients::Listed(vec![b1, b2]), ev(5), None));
        expected.push((room, Recipients::Listed(vec![b2]), ev(6), None));
    } else {
        // Without the pattern only b1 is in room.1: the publish except b1 reaches nobody.
        expected.push((room, Recipients::Listed(vec![b1]), ev(5), None));
    }
    let carol = Target::Identity("carol".into());
    expected.push((carol, Recipients::Listed(vec![b2]), ev(7), None));
    expected.push((Target::Multicast, all(None), raw_payload(), None));
    expected.push((Target::Multicast, all(None), ev(8), None));

    let last = |s: &Seen| s.deliveries.iter().any(|d| d.payload == ev(8));
    let mut got = rec_b.wait("every target on b", |s| {
        let flat = |d: &LocalDelivery| {
            let (t, r) = (d.target.clone(), d.recipients.clone());
            (t, r, d.payload.clone(), d.from)
        };
        // Every channel keeps its order: once the last multicast and every other message are in,
        // nothing more is on its way.
        (last(s) && s.deliveries.len() >= expected.len())
            .then(|| s.deliveries.iter().map(flat).collect::<Vec<_>>())
    });
    if !ordered {
        let rank = |p: &Payload| expected.iter().position(|e| e.2 == *p);
        got.sort_by_key(|d| rank(&d.2));
    }
    assert_eq!(got, expected);
}
