//! Mailbox quotas, in memory and on a real Redis: per-identity and store-wide caps refuse `notify` with a
//! typed error, the store stays bounded when large notifications go to made-up identities, the counts
//! follow deliveries and expiry, and `notify_from` never waits for Redis (refusals reach the sink).

mod support;

use std::sync::mpsc;
use std::time::Duration;

use plezi_messaging::{Bus, BusConfig, BusError, MailboxLimit, Payload};
use serde_json::json;
use support::{Recorder, RedisServer, WAIT, config};

const MB: usize = 1_000_000;

fn in_memory(config: BusConfig) -> Bus {
    Bus::in_process(config)
}

fn on_redis(redis: &RedisServer, config: BusConfig) -> Bus {
    let bus = Bus::redis(config, &redis.url()).expect("bus");
    bus.flush(WAIT).expect("bus connects");
    bus
}

fn big(n: usize) -> Payload {
    Payload::event("big", json!("x".repeat(n)))
}

/// The per-identity caps, for any engine.
fn per_identity_caps(bus: &Bus) {
    bus.notify("amy", big(600)).unwrap();
    let e = bus.notify("amy", big(600)).unwrap_err();
    assert_eq!(
        e,
        BusError::MailboxFull {
            identity: "amy".into(),
            limit: MailboxLimit::Bytes(1_000)
        }
    );
    assert!(e.to_string().contains("mailbox_max_bytes"), "{e}");
    for _ in 0..3 {
        bus.notify("bob", Payload::event("n", json!(1))).unwrap();
    }
    assert!(matches!(
        bus.notify("bob", Payload::event("n", json!(1))),
        Err(BusError::MailboxFull {
            limit: MailboxLimit::Messages(3),
            ..
        })
    ));
    // Another identity is not affected.
    bus.notify("cal", big(600)).unwrap();
}

/// The store-wide caps, for any engine (`mailbox_store_max_identities` = 3).
fn store_caps(bus: &Bus) {
    for id in ["s1", "s2", "s3"] {
        bus.notify(id, Payload::event("n", json!(1))).unwrap();
    }
    let e = bus.notify("s4", Payload::event("n", json!(1))).unwrap_err();
    assert_eq!(
        e,
        BusError::StoreFull {
            limit: MailboxLimit::Identities(3)
        }
    );
    assert!(e.to_string().contains("mailbox_store_max_identities"));
    // An identity that already has mail may still get more.
    bus.notify("s1", Payload::event("n", json!(2))).unwrap();
    let usage = bus.mailbox_usage().unwrap();
    assert_eq!(usage.identities, 3);
}

fn small_caps() -> BusConfig {
    BusConfig {
        mailbox_max_bytes: 1_000,
        mailbox_max_messages: 3,
        ..BusConfig::default()
    }
}

#[test]
fn in_memory_per_identity_caps_refuse_with_a_typed_error() {
    per_identity_caps(&in_memory(small_caps()));
}

#[test]
fn in_memory_store_caps_refuse_with_a_typed_error() {
    store_caps(&in_memory(BusConfig {
        mailbox_store_max_identities: 3,
        ..BusConfig::default()
    }));
    let bus = in_memory(BusConfig {
        mailbox_store_max_bytes: 3_000,
        ..BusConfig::default()
    });
    bus.notify("a", big(2_000)).unwrap();
    let e = bus.notify("b", big(1_000)).unwrap_err();
    assert_eq!(
        e,
        BusError::StoreFull {
            limit: MailboxLimit::StoreBytes(3_000)
        }
    );
    assert_eq!(bus.state().notify_refused, 1);
}

#[test]
fn redis_per_identity_caps_refuse_with_a_typed_error() {
    let redis = RedisServer::start();
    let bus = on_redis(
        &redis,
        BusConfig {
            app_name: "q1".into(),
            ..small_caps()
        },
    );
    per_identity_caps(&bus);
    assert_eq!(redis.int(&["LLEN", "q1:mbox:amy"]), 1);
    assert_eq!(redis.int(&["LLEN", "q1:mbox:bob"]), 3);
}

#[test]
fn redis_store_caps_refuse_with_a_typed_error() {
    let redis = RedisServer::start();
    let bus = on_redis(
        &redis,
        BusConfig {
            mailbox_store_max_identities: 3,
            ..config("q2")
        },
    );
    store_caps(&bus);
    assert_eq!(redis.int(&["EXISTS", "q2:mbox:s4"]), 0);
}

#[test]
fn redis_caps_hold_when_servers_race() {
    let redis = RedisServer::start();
    let cfg = || BusConfig {
        mailbox_max_messages: 50,
        ..config("q3")
    };
    let (a, b) = (on_redis(&redis, cfg()), on_redis(&redis, cfg()));
    let stored: usize = std::thread::scope(|s| {
        let runs: Vec<_> = [&a, &b]
            .into_iter()
            .map(|bus| {
                s.spawn(move || {
                    (0..100)
                        .filter(|i| bus.notify("dee", Payload::event("n", json!(i))).is_ok())
                        .count()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).sum()
    });
    assert_eq!(stored, 50, "the cap is checked and applied atomically");
    assert_eq!(redis.int(&["LLEN", "q3:mbox:dee"]), 50);
}

/// 1 MB notifications to made-up identities: the store stops at its byte cap; everything beyond is
/// refused with `StoreFull`, nothing is dropped silently.
fn flood_with_large_notifications(bus: &Bus, count: usize) -> usize {
    let payload = big(MB);
    let mut stored = 0;
    for i in 0..count {
        match bus.notify(&format!("made-up-{i}"), payload.clone()) {
            Ok(()) => stored += 1,
            Err(e) => assert_eq!(
                e,
                BusError::StoreFull {
                    limit: MailboxLimit::StoreBytes(64 << 20)
                }
            ),
        }
    }
    let usage = bus.mailbox_usage().unwrap();
    assert!(usage.bytes <= 64 << 20, "{usage:?}");
    assert_eq!(usage.identities, stored);
    // Counted bytes are at least the messages themselves.
    assert!(usage.bytes >= stored * MB, "{usage:?}");
    assert_eq!(bus.state().notify_refused as usize, count - stored);
    stored
}

#[test]
fn in_memory_store_stays_bounded_under_large_notifications_to_made_up_identities() {
    let bus = in_memory(BusConfig::default());
    let stored = flood_with_large_notifications(&bus, 80);
    assert!((60..=67).contains(&stored), "{stored} stored");
    // Delivering one mailbox makes room for one more.
    let rec = Recorder::attach(&bus);
    bus.register_as("made-up-0", bus.connection_uuid(0, 1, 0), None)
        .unwrap();
    rec.wait_mailbox(1);
    bus.flush(WAIT).unwrap();
    assert_eq!(bus.mailbox_usage().unwrap().identities, stored - 1);
    bus.notify("one-more", big(MB)).unwrap();
}

#[test]
fn redis_store_stays_bounded_under_large_notifications_to_made_up_identities() {
    let redis = RedisServer::start();
    let bus = on_redis(&redis, config("q4"));
    let stored = flood_with_large_notifications(&bus, 80);
    assert!((60..=67).contains(&stored), "{stored} stored");
    // What Redis holds agrees: one list per stored identity, and its memory near the cap.
    assert_eq!(redis.int(&["ZCARD", "q4:mbox-index"]), stored as i64);
    let info = redis.command(&["INFO", "memory"]).unwrap();
    let used: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO");
    assert!(used < 96 << 20, "Redis uses {used} bytes");
}

#[test]
fn redis_counts_follow_delivery_and_expiry_without_drift() {
    let redis = RedisServer::start();
    let bus = on_redis(
        &redis,
        BusConfig {
            mailbox_lifespan: Duration::from_millis(300),
            ..config("q5")
        },
    );
    let rec = Recorder::attach(&bus);
    for id in ["e1", "e2", "e3"] {
        for i in 0..3 {
            bus.notify(id, Payload::event("n", json!(i))).unwrap();
        }
    }
    let usage = bus.mailbox_usage().unwrap();
    assert_eq!(usage.identities, 3);
    // A delivery takes its identity out of the count at once.
    bus.register_as(
        "e1",
        bus.connection_uuid(0, 1, 0),
        Some(Duration::from_secs(60)),
    )
    .unwrap();
    rec.wait_mailbox(3);
    bus.flush(WAIT).unwrap();
    let after = bus.mailbox_usage().unwrap();
    assert_eq!(after.identities, 2);
    assert!(after.bytes < usage.bytes);
    // The others expire; the counts go back to nothing (not one byte left behind).
    plezi_test_support::eventually("the usage back to zero", || {
        let u = bus.mailbox_usage().unwrap();
        (u.identities == 0 && u.bytes == 0).then_some(())
    });
    assert_eq!(redis.int(&["EXISTS", "q5:mbox:e2"]), 0);
    assert_eq!(redis.int(&["HLEN", "q5:mbox-sizes"]), 0);
}

#[test]
fn notify_from_keeps_call_order_and_reports_refusals_to_the_sink() {
    let redis = RedisServer::start();
    let bus = on_redis(
        &redis,
        BusConfig {
            mailbox_max_messages: 300,
            ..config("q6")
        },
    );
    let rec = Recorder::attach(&bus);
    let me = bus.connection_uuid(0, 7, 0);
    for i in 0..301u64 {
        // Queued: `Ok` at once; the 301st is refused later.
        bus.notify_from(Some(me), "fin", Payload::event("n", json!(i)))
            .unwrap();
    }
    let refused = rec.wait("the refusal", |s| s.refused.first().cloned());
    assert_eq!(refused.0, me);
    assert_eq!(refused.1, "fin");
    assert_eq!(refused.2.as_deref(), Some("n"));
    assert!(matches!(
        refused.3,
        BusError::MailboxFull {
            limit: MailboxLimit::Messages(300),
            ..
        }
    ));
    bus.register_as("fin", bus.connection_uuid(0, 1, 0), None)
        .unwrap();
    rec.wait_mailbox(300);
    let got: Vec<u64> = rec
        .mailbox_events()
        .into_iter()
        .filter_map(|(_, d)| d.as_u64())
        .collect();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    assert_eq!(bus.state().notify_refused, 1);
}

#[test]
fn notify_from_never_waits_for_a_stalled_redis_and_its_queue_is_bounded() {
    let redis = RedisServer::start();
    let bus = on_redis(
        &redis,
        BusConfig {
            io_timeout: Duration::from_secs(60),
            notify_queue_max_bytes: 20_000,
            ..config("q7")
        },
    );
    redis.pause(true);
    // On another thread, so a call that waited for Redis shows as a missed deadline, not a hang.
    let (tx, rx) = mpsc::channel();
    let caller = bus.clone();
    std::thread::spawn(move || {
        let mut accepted = 0;
        let refused = loop {
            match caller.notify_from(None, "gil", big(1_000)) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted < 100, "the queue never filled");
        };
        let _ = tx.send((accepted, refused));
    });
    let (accepted, refused) = rx
        .recv_timeout(WAIT)
        .expect("notify_from waited for a stopped Redis");
    assert_eq!(refused, BusError::NotifyQueueFull { max_bytes: 20_000 });
    assert!(accepted >= 10, "{accepted}");
    redis.pause(false);
    bus.flush(Duration::from_secs(60)).unwrap();
    // Everything accepted was stored once Redis answered again.
    assert_eq!(redis.int(&["LLEN", "q7:mbox:gil"]), accepted as i64);
}
