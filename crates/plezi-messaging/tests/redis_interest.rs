//! Interest-based routing on one real redis-server: a server hears a controller type's broadcasts, a
//! named channel's messages and an identity's real-time messages only while it has a local member of
//! it; subscriptions outlive the last member by a grace period; a join is confirmed by Redis before it
//! returns.

mod support;

use std::time::Duration;

use plezi_messaging::{Bus, BusConfig, Message, Payload, ReceivedKinds, Recipients, Target};
use plezi_test_support::redis::Resp;
use serde_json::json;
use support::{Recorder, RedisServer, WAIT};

fn ev(n: u64) -> Payload {
    Payload::event("e", json!(n))
}

fn bus_with(redis: &RedisServer, config: BusConfig) -> (Bus, std::sync::Arc<Recorder>) {
    let bus = Bus::redis(config, &redis.url()).expect("bus");
    let rec = Recorder::attach(&bus);
    bus.flush(WAIT).expect("bus connects");
    (bus, rec)
}

fn chat() -> Target {
    Target::Broadcast {
        controller: "Chat".into(),
    }
}

/// Waits until `rec` saw the multicast carrying `n` (everything `a` published before it arrived first).
fn wait_multicast(rec: &Recorder, n: u64) {
    rec.wait(&format!("multicast {n}"), |s| {
        s.deliveries
            .iter()
            .any(|d| d.target == Target::Multicast && d.payload == ev(n))
            .then_some(())
    });
}

/// How many times Redis ran `command` (from `INFO commandstats`).
fn calls(redis: &RedisServer, command: &str) -> u64 {
    let info = match redis.query(&["INFO", "commandstats"]) {
        Ok(Resp::Bulk(text)) => text,
        other => panic!("INFO commandstats: {other:?}"),
    };
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().expect("a call count"))
}

#[test]
fn a_server_without_members_hears_none_of_their_envelopes() {
    support::init_log();
    let redis = RedisServer::start();
    let app = "interest1";
    let (a, _rec_a) = bus_with(&redis, support::config(app));
    let (b, rec_b) = bus_with(&redis, support::config(app));
    let (c, rec_c) = bus_with(&redis, support::config(app));
    let b1 = b.connection_uuid(0, 1, 0);
    b.join_controller("Chat");
    b.subscribe(b1, "room");
    b.register_as("carol", b1, None).unwrap();

    const N: u64 = 50;
    for i in 0..N {
        a.publish(Message::new(chat(), ev(i))).unwrap();
        a.publish(Message::new(Target::Channel("room".into()), ev(i)))
            .unwrap();
        a.publish(Message::new(Target::Identity("carol".into()), ev(i)))
            .unwrap();
    }
    a.publish(Message::new(Target::Multicast, ev(1000)))
        .unwrap();
    wait_multicast(&rec_b, 1000);
    wait_multicast(&rec_c, 1000);

    let heard_by_b = b.state().received_kinds;
    assert_eq!(
        heard_by_b,
        ReceivedKinds {
            multicast: 1,
            broadcast: N,
            channel: N,
            identity: N,
            ..ReceivedKinds::default()
        }
    );
    assert_eq!(
        rec_b.seen.lock().unwrap().deliveries.len() as u64,
        3 * N + 1
    );
    // c has no member of any of them: its Redis input is the multicast alone.
    assert_eq!(
        c.state().received_kinds,
        ReceivedKinds {
            multicast: 1,
            ..ReceivedKinds::default()
        }
    );
    assert_eq!(c.state().received, 1);
    assert_eq!(rec_c.seen.lock().unwrap().deliveries.len(), 1);
    // Redis agrees: one subscriber (b) per member channel, three on the global one.
    for channel in ["ctl:Chat", "ch:room", "id:carol"] {
        assert_eq!(redis.numsub(&format!("{app}:{channel}")), 1, "{channel}");
    }
    assert_eq!(redis.numsub(&format!("{app}:all")), 3);
}

#[test]
fn subscriptions_follow_members_with_a_grace_period() {
    support::init_log();
    let redis = RedisServer::start();
    let app = "interest2";
    let grace = Duration::from_millis(400);
    let config = BusConfig {
        unsubscribe_grace: grace,
        ..support::config(app)
    };
    let (a, _) = bus_with(&redis, config.clone());
    let (b, rec_b) = bus_with(&redis, config);
    let channel = format!("{app}:ctl:Chat");
    assert_eq!(redis.numsub(&channel), 0, "no member yet");

    // The join returns once Redis confirmed the subscription: no flush needed.
    b.join_controller("Chat");
    assert_eq!(redis.numsub(&channel), 1);
    let subscribes = calls(&redis, "subscribe");
    let unsubscribes = calls(&redis, "unsubscribe");

    // Members that come and go within the grace period do not flap the subscription.
    for _ in 0..50 {
        b.leave_controller("Chat");
        b.join_controller("Chat");
    }
    b.join_controller("Chat");
    b.leave_controller("Chat");
    assert_eq!(calls(&redis, "subscribe"), subscribes, "no new SUBSCRIBE");
    assert_eq!(calls(&redis, "unsubscribe"), unsubscribes, "no UNSUBSCRIBE");
    assert_eq!(redis.numsub(&channel), 1);

    // The last member leaves: still subscribed during the grace period, unsubscribed after it.
    b.leave_controller("Chat");
    redis.wait_numsub(&channel, 0);
    assert_eq!(calls(&redis, "unsubscribe"), unsubscribes + 1);
    a.publish(Message::new(chat(), ev(1))).unwrap();
    a.publish(Message::new(Target::Multicast, ev(2))).unwrap();
    wait_multicast(&rec_b, 2);
    assert_eq!(b.state().received_kinds.broadcast, 0);

    // Named channels, patterns and identities behave the same way.
    let b1 = b.connection_uuid(0, 1, 0);
    b.subscribe(b1, "x");
    b.psubscribe(b1, "y.*");
    b.register_as("dora", b1, None).unwrap();
    assert_eq!(redis.numsub(&format!("{app}:ch:x")), 1);
    assert_eq!(redis.numsub(&format!("{app}:id:dora")), 1);
    assert_eq!(redis.int(&["PUBSUB", "NUMPAT"]), 1);
    b.forget(b1);
    assert_eq!(redis.numsub(&format!("{app}:ch:x")), 1, "within the grace");
    redis.wait_numsub(&format!("{app}:ch:x"), 0);
    redis.wait_numsub(&format!("{app}:id:dora"), 0);
    assert!(plezi_test_support::wait_until(WAIT, || {
        redis.int(&["PUBSUB", "NUMPAT"]) == 0
    }));
    a.publish(Message::new(Target::Channel("x".into()), ev(3)))
        .unwrap();
    a.publish(Message::new(Target::Channel("y.1".into()), ev(4)))
        .unwrap();
    a.publish(Message::new(Target::Identity("dora".into()), ev(5)))
        .unwrap();
    a.publish(Message::new(Target::Multicast, ev(6))).unwrap();
    wait_multicast(&rec_b, 6);
    assert_eq!(b.state().received, 2, "the two multicasts only");
}

#[test]
fn a_join_then_a_publish_from_another_server_is_never_lost() {
    support::init_log();
    let redis = RedisServer::start();
    let app = "interest3";
    let config = BusConfig {
        unsubscribe_grace: Duration::from_millis(1),
        ..support::config(app)
    };
    let (a, _) = bus_with(&redis, config.clone());
    let (b, rec_b) = bus_with(&redis, config);
    b.join_controller("Churn");
    const ROUNDS: u64 = 200;
    for i in 0..ROUNDS {
        // A fresh subscription every round (and the previous one going away meanwhile).
        let controller = format!("T{i}");
        b.join_controller(&controller);
        a.publish(Message::new(
            Target::Broadcast {
                controller: controller.clone(),
            },
            ev(i),
        ))
        .unwrap();
        let conn = b.connection_uuid(0, i as u32 + 1, 0);
        b.subscribe(conn, &format!("c{i}"));
        a.publish(Message::new(Target::Channel(format!("c{i}")), ev(i)))
            .unwrap();
        b.register_as(&format!("u{i}"), conn, None).unwrap();
        a.publish(Message::new(Target::Identity(format!("u{i}")), ev(i)))
            .unwrap();
        // Meanwhile another controller type's subscription comes and goes (its unsubscribe may
        // still be on its way when the next round subscribes again).
        b.leave_controller("Churn");
        b.join_controller("Churn");
    }
    a.publish(Message::new(Target::Multicast, ev(ROUNDS)))
        .unwrap();
    wait_multicast(&rec_b, ROUNDS);
    let seen = rec_b.seen.lock().unwrap();
    for i in 0..ROUNDS {
        let got = |f: &dyn Fn(&Target) -> bool| {
            seen.deliveries
                .iter()
                .filter(|d| f(&d.target) && d.payload == ev(i))
                .count()
        };
        assert_eq!(
            got(
                &|t| matches!(t, Target::Broadcast { controller } if *controller == format!("T{i}"))
            ),
            1,
            "broadcast {i}"
        );
        assert_eq!(
            got(&|t| matches!(t, Target::Channel(c) if *c == format!("c{i}"))),
            1,
            "channel message {i}"
        );
        assert_eq!(
            got(&|t| matches!(t, Target::Identity(u) if *u == format!("u{i}"))),
            1,
            "identity message {i}"
        );
    }
}

#[test]
fn identity_notifications_arrive_exactly_once_where_the_identity_is_live() {
    support::init_log();
    let redis = RedisServer::start();
    let app = "interest4";
    let (notifier, _) = bus_with(&redis, support::config(app));
    let (a, rec_a) = bus_with(&redis, support::config(app));
    let (b, rec_b) = bus_with(&redis, support::config(app));
    let (c, rec_c) = bus_with(&redis, support::config(app));
    const N: u64 = 100;
    // Offline first: stored.
    for i in 0..N {
        notifier.notify_event("erin", "m", json!(i)).unwrap();
    }
    let (ca, cb) = (a.connection_uuid(0, 1, 0), b.connection_uuid(0, 1, 0));
    a.register_as("erin", ca, None).unwrap();
    b.register_as("erin", cb, None).unwrap();
    // Then while online, interleaved with real-time messages.
    for i in N..2 * N {
        notifier.notify_event("erin", "m", json!(i)).unwrap();
        notifier
            .publish(Message::new(Target::Identity("erin".into()), ev(i)))
            .unwrap();
    }
    let numbers_in = |s: &support::Seen| -> Vec<u64> {
        let mut n: Vec<u64> = s
            .mailbox
            .iter()
            .flat_map(|(_, _, p)| p.iter().filter_map(support::event_of))
            .chain(
                s.deliveries
                    .iter()
                    .filter_map(|d| support::event_of(&d.payload)),
            )
            .filter(|(e, _)| e == "m")
            .filter_map(|(_, d)| d.as_u64())
            .collect();
        n.sort_unstable();
        n
    };
    let numbers = |rec: &Recorder| numbers_in(&rec.seen.lock().unwrap());
    let all: Vec<u64> = (0..2 * N).collect();
    for (name, rec) in [("a", &rec_a), ("b", &rec_b)] {
        rec.wait(&format!("every notification on {name}"), |s| {
            (numbers_in(s).len() >= all.len()).then_some(())
        });
    }
    notifier
        .publish(Message::new(Target::Multicast, ev(10_000)))
        .unwrap();
    for rec in [&rec_a, &rec_b, &rec_c] {
        wait_multicast(rec, 10_000);
    }
    for bus in [&notifier, &a, &b, &c] {
        bus.flush(WAIT).unwrap();
    }
    assert_eq!(numbers(&rec_a), all, "a: every notification exactly once");
    assert_eq!(numbers(&rec_b), all, "b: every notification exactly once");
    for rec in [&rec_a, &rec_b] {
        let realtime = rec
            .seen
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .filter(|d| d.target == Target::Identity("erin".into()))
            .filter(|d| matches!(&d.payload, Payload::Event { event, .. } if event == "e"))
            .count();
        assert_eq!(realtime as u64, N, "each real-time message once");
    }
    // c never had erin: it heard neither the identity channel nor a mailbox signal.
    assert_eq!(
        c.state().received_kinds,
        ReceivedKinds {
            multicast: 1,
            ..ReceivedKinds::default()
        }
    );
    assert!(rec_c.seen.lock().unwrap().mailbox.is_empty());
    assert!(
        rec_a
            .seen
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .all(|d| !matches!(&d.recipients, Recipients::Listed(l) if l.len() != 1))
    );
}

#[test]
fn a_join_redis_does_not_confirm_in_time_completes_and_is_confirmed_later() {
    support::init_log();
    let redis = RedisServer::start();
    let app = "interest5";
    let config = BusConfig {
        join_timeout: Duration::from_millis(200),
        ..support::config(app)
    };
    let (a, _) = bus_with(&redis, config.clone());
    let (b, rec_b) = bus_with(&redis, config);
    redis.pause(true);
    // Redis accepts the bytes and answers nothing: the first join waits for `join_timeout`, the
    // next ones do not wait at all while Redis stays silent; none of them hangs.
    b.join_controller("Chat");
    let b1 = b.connection_uuid(0, 1, 0);
    b.subscribe(b1, "room");
    b.register_as("erin", b1, None).unwrap();
    redis.pause(false);
    // Redis answers the subscriptions it had queued.
    for channel in ["ctl:Chat", "ch:room", "id:erin"] {
        redis.wait_numsub(&format!("{app}:{channel}"), 1);
    }
    b.flush(WAIT).unwrap();
    a.publish(Message::new(chat(), ev(1))).unwrap();
    a.publish(Message::new(Target::Channel("room".into()), ev(2)))
        .unwrap();
    a.publish(Message::new(Target::Identity("erin".into()), ev(3)))
        .unwrap();
    a.publish(Message::new(Target::Multicast, ev(4))).unwrap();
    wait_multicast(&rec_b, 4);
    assert_eq!(rec_b.seen.lock().unwrap().deliveries.len(), 4);
    // Once Redis answered again, a join waits for its confirmation as before.
    b.join_controller("Other");
    assert_eq!(redis.numsub(&format!("{app}:ctl:Other")), 1);
}
