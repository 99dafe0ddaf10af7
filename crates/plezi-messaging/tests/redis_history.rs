//! Message history in Redis (`docs/protocol.md#recovery`): two buses on one real redis-server (and
//! on a real 3+3 Redis Cluster) share a stream's history, so what one published the other recovers;
//! positions follow the stream's order on every server (the publisher's own receivers included);
//! a window exceeded by count or by age, a reset stream and an unreachable Redis are gaps.

mod support;

use std::sync::Arc;
use std::time::Duration;

use plezi_messaging::{Bus, HistoryLimits, Message, Payload, Position, RecoveryGap, Target};
use plezi_test_support::redis_cluster::RedisCluster;
use serde_json::json;
use support::{Recorder, RedisServer, WAIT, config};

fn room() -> Target {
    Target::Channel("room".into())
}

fn said(n: u64) -> Message {
    Message::new(room(), Payload::event("said", json!(n)))
}

/// A bus on `url` keeping the room's history within `limits`, with a member of the room.
fn member(url: &str, app: &str, limits: HistoryLimits) -> (Bus, Arc<Recorder>) {
    let bus = Bus::redis(config(app), url).expect("bus");
    bus.keep_history(&room(), limits).expect("history");
    let rec = Recorder::attach(&bus);
    bus.subscribe(bus.connection_uuid(0, 1, 0), "room");
    bus.flush(WAIT).expect("bus connects");
    (bus, rec)
}

/// The (n, position) of the room's deliveries `rec` saw, once it saw `count`.
fn delivered(rec: &Recorder, count: usize) -> Vec<(u64, Position)> {
    rec.wait(&format!("{count} room deliveries"), |s| {
        (s.deliveries.len() >= count).then(|| {
            s.deliveries
                .iter()
                .map(|d| {
                    let n = support::event_of(&d.payload).map(|(_, v)| v.as_u64().unwrap());
                    (n.unwrap(), d.position.clone().expect("a position"))
                })
                .collect()
        })
    })
}

fn numbers(messages: &[Message]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| support::event_of(&m.payload).unwrap().1.as_u64().unwrap())
        .collect()
}

fn offsets(messages: &[Message]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m.position.as_ref().unwrap().offset)
        .collect()
}

#[test]
fn a_history_in_redis_is_shared_ordered_and_recovered_on_another_server() {
    support::init_log();
    let redis = RedisServer::start();
    let limits = HistoryLimits::default();
    let (a, rec_a) = member(&redis.url(), "hist1", limits);
    let (b, rec_b) = member(&redis.url(), "hist1", limits);
    // Both servers publish, interleaved: every receiver sees one order, the stream's.
    for n in 1..=20 {
        let bus = if n % 2 == 0 { &a } else { &b };
        bus.publish(said(n)).unwrap();
    }
    let seen_a = delivered(&rec_a, 20);
    let seen_b = delivered(&rec_b, 20);
    assert_eq!(seen_a, seen_b, "one order on every server");
    let offsets_a: Vec<u64> = seen_a.iter().map(|(_, p)| p.offset).collect();
    assert_eq!(offsets_a, (1..=20).collect::<Vec<_>>());
    let epoch = seen_a[0].1.epoch.clone();
    assert!(
        seen_a
            .iter()
            .all(|(_, p)| p.epoch == epoch && &*p.stream == "ch:room")
    );
    // The same server publishing alone: its own receiver gets its messages in publish order.
    let own: Vec<u64> = seen_a
        .iter()
        .filter(|(n, _)| n % 2 == 0)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(own, (1..=10).map(|n| n * 2).collect::<Vec<_>>());

    // A client that saw offset 7 on `a` recovers on `b` (which published only half of it).
    let missed = b.recover("ch:room", &epoch, 7).expect("covered");
    assert_eq!(offsets(&missed), (8..=20).collect::<Vec<_>>());
    let in_order: Vec<u64> = seen_a[7..].iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers(&missed), in_order);
    assert_eq!(b.recover("ch:room", &epoch, 20), Ok(vec![]));
    // A future offset, another epoch, a stream nobody keeps: gaps.
    assert_eq!(b.recover("ch:room", &epoch, 21), Err(RecoveryGap));
    assert_eq!(b.recover("ch:room", "another", 7), Err(RecoveryGap));
    assert_eq!(b.recover("ch:other", &epoch, 7), Err(RecoveryGap));

    // Without history the fast path is unchanged: a plain channel carries no position.
    let plain = a.connection_uuid(0, 2, 0);
    b.subscribe(b.connection_uuid(0, 2, 0), "plain");
    a.subscribe(plain, "plain");
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();
    rec_b.clear();
    a.publish(Message::new(
        Target::Channel("plain".into()),
        Payload::event("x", json!(1)),
    ))
    .unwrap();
    let d = rec_b.wait("a plain message", |s| s.deliveries.first().cloned());
    assert_eq!(d.position, None);
}

#[test]
fn a_window_exceeded_by_count_or_age_or_a_reset_stream_is_a_gap() {
    support::init_log();
    let redis = RedisServer::start();
    let few = HistoryLimits {
        max_messages: 5,
        max_age: Duration::from_secs(300),
    };
    let (a, rec_a) = member(&redis.url(), "hist2", few);
    let (b, _rec_b) = member(&redis.url(), "hist2", few);
    for n in 1..=212 {
        a.publish(said(n)).unwrap();
    }
    let seen = delivered(&rec_a, 212);
    let epoch = seen[0].1.epoch.clone();
    // Trimmed by whole stream nodes (`MAXLEN ~`): fewer than were appended, at least the window.
    let kept = redis.int(&["XLEN", "{hist2:ch:room}:hist"]);
    assert!((5..212).contains(&kept), "{kept} entries kept");
    // The window is exact: 208..=212. After 207 is covered; after 206 is not.
    assert_eq!(
        offsets(&b.recover("ch:room", &epoch, 207).unwrap()),
        [208, 209, 210, 211, 212]
    );
    assert_eq!(b.recover("ch:room", &epoch, 206), Err(RecoveryGap));
    assert_eq!(b.recover("ch:room", &epoch, 1), Err(RecoveryGap));

    // The stream is deleted: the next publish starts a new epoch at offset 1, and the old
    // positions are gaps.
    redis.command(&["DEL", "{hist2:ch:room}:hist"]).unwrap();
    rec_a.clear();
    a.publish(said(13)).unwrap();
    let after = delivered(&rec_a, 1);
    assert_eq!(after[0].1.offset, 1);
    assert_ne!(after[0].1.epoch, epoch);
    assert_eq!(b.recover("ch:room", &epoch, 212), Err(RecoveryGap));
    assert_eq!(
        b.recover("ch:room", &after[0].1.epoch, 0)
            .map(|m| offsets(&m)),
        Ok(vec![1])
    );
    // FLUSHALL: the same.
    redis.command(&["FLUSHALL"]).unwrap();
    assert_eq!(b.recover("ch:room", &after[0].1.epoch, 1), Err(RecoveryGap));

    // By age: a bus whose window is 300 ms.
    let brief = HistoryLimits {
        max_messages: 100,
        max_age: Duration::from_millis(300),
    };
    let (c, rec_c) = member(&redis.url(), "hist3", brief);
    c.publish(said(1)).unwrap();
    c.publish(said(2)).unwrap();
    let seen = delivered(&rec_c, 2);
    let epoch = seen[0].1.epoch.clone();
    assert_eq!(offsets(&c.recover("ch:room", &epoch, 0).unwrap()), [1, 2]);
    // Once they are older than the window, they are a gap (polled: no timing assumption on speed).
    let deadline = std::time::Instant::now() + WAIT;
    while c.recover("ch:room", &epoch, 0).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "messages never aged out"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The last position seen is still fine (nothing missed), and the 64th append drops what aged.
    assert_eq!(c.recover("ch:room", &epoch, 2), Ok(vec![]));
    for n in 3..=64 {
        c.publish(said(n)).unwrap();
    }
    delivered(&rec_c, 64);
    let kept = redis.int(&["XLEN", "{hist3:ch:room}:hist"]);
    assert!((1..=62).contains(&kept), "{kept} entries kept");
}

#[test]
fn recovery_with_redis_down_is_a_gap_and_traffic_flows_after() {
    support::init_log();
    let mut redis = RedisServer::start();
    let limits = HistoryLimits::default();
    let (a, rec_a) = member(&redis.url(), "hist4", limits);
    let (b, rec_b) = member(&redis.url(), "hist4", limits);
    a.publish(said(1)).unwrap();
    let epoch = delivered(&rec_a, 1)[0].1.epoch.clone();
    delivered(&rec_b, 1);
    redis.kill();
    // Fails within io_timeout (2 s here), never hangs.
    assert_eq!(b.recover("ch:room", &epoch, 0), Err(RecoveryGap));
    redis.restart();
    b.flush(WAIT).unwrap();
    a.flush(WAIT).unwrap();
    a.publish(said(2)).unwrap();
    let seen = delivered(&rec_b, 2);
    // The restarted Redis (no persistence) lost the stream: a new epoch.
    assert_ne!(seen[1].1.epoch, epoch);
    // Reads fail at once for io_timeout after a failed one, then work again.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match b.recover("ch:room", &seen[1].1.epoch, 0) {
            Ok(m) => break assert_eq!(numbers(&m), [2]),
            Err(RecoveryGap) => assert!(std::time::Instant::now() < deadline, "never read again"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_history_on_a_cluster_lives_on_the_channel_shard_and_recovers_across_nodes() {
    support::init_log();
    let cluster = RedisCluster::start();
    let limits = HistoryLimits::default();
    let (a, rec_a) = member(&cluster.url(0), "hist5", limits);
    let (b, rec_b) = member(&cluster.url(1), "hist5", limits);
    for n in 1..=10 {
        let bus = if n % 2 == 0 { &a } else { &b };
        bus.publish(said(n)).unwrap();
    }
    let seen_a = delivered(&rec_a, 10);
    assert_eq!(seen_a, delivered(&rec_b, 10));
    let epoch = seen_a[0].1.epoch.clone();
    let missed = b.recover("ch:room", &epoch, 3).expect("covered");
    assert_eq!(offsets(&missed), (4..=10).collect::<Vec<_>>());
    // The stream sits on the channel's slot.
    let slot = |k: &str| cluster.any().int(&["CLUSTER", "KEYSLOT", k]);
    assert_eq!(slot("{hist5:ch:room}:hist"), slot("hist5:ch:room"));
}
