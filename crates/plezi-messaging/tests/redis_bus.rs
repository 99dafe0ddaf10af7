//! Two (and three) buses — "servers" — on one real redis-server, exchanging every target kind.

mod support;

use plezi_messaging::{
    Bus, BusConfig, BusError, ConnectionUuid, Message, Payload, Recipients, ServerId, Target,
};
use serde_json::json;
use support::{RedisServer, WAIT, redis_bus};

fn ev(n: i64) -> Payload {
    Payload::event("e", json!(n))
}

#[test]
fn two_servers_exchange_every_target_kind_and_a_third_joins_late() {
    support::init_log();
    let redis = RedisServer::start();
    let (a, rec_a) = redis_bus(&redis, "app1");
    let (b, rec_b) = redis_bus(&redis, "app1");
    support::exchange_every_target(&a, &b, &rec_b, true, true);
    let a1 = a.connection_uuid(0, 1, 0);
    let b1 = b.connection_uuid(0, 1, 0);
    // A served its own local receivers at once, and dropped its echoes (each delivery exactly once).
    a.flush(WAIT).unwrap();
    let local: Vec<_> = rec_a
        .seen
        .lock()
        .unwrap()
        .deliveries
        .iter()
        .map(|d| d.payload.clone())
        .collect();
    assert_eq!(
        local,
        vec![
            ev(1),
            ev(2),
            ev(3),
            Payload::raw([0u8, 159, 146, 150]),
            ev(8)
        ]
    );
    // The exact + pattern double match arrived twice from Redis and was counted as a duplicate.
    assert!(b.state().duplicates >= 2, "{:?}", b.state());

    // A third server joins late: it gets what is published from now on, in both directions.
    let (c, rec_c) = redis_bus(&redis, "app1");
    let c1 = c.connection_uuid(0, 1, 0);
    c.subscribe(c1, "room.1");
    c.flush(WAIT).unwrap();
    b.publish(Message::new(Target::Channel("room.1".into()), ev(9)).from_except(b1))
        .unwrap();
    c.publish(Message::new(Target::Unicast(a1), ev(10)).from(c1))
        .unwrap();
    rec_c.wait("b's channel publish on c", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(9))
            .then_some(())
    });
    rec_a.wait("c's unicast on a", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(10))
            .then_some(())
    });
    let on_c = rec_c.seen.lock().unwrap().deliveries.clone();
    assert_eq!(on_c.len(), 1);
    assert_eq!(on_c[0].recipients, Recipients::Listed(vec![c1]));
    // Apps are separated by name: another app on the same Redis hears nothing.
    let (other, rec_other) = redis_bus(&redis, "app2");
    a.publish(Message::new(Target::Multicast, ev(11))).unwrap();
    rec_c.wait("multicast 11 on c", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(11))
            .then_some(())
    });
    other.flush(WAIT).unwrap();
    assert!(rec_other.seen.lock().unwrap().deliveries.is_empty());
}

#[test]
fn unicast_to_a_gone_server_reports_failed_unicast() {
    let redis = RedisServer::start();
    let (a, rec_a) = redis_bus(&redis, "fu");
    let (b, _rec_b) = redis_bus(&redis, "fu");
    let a1 = a.connection_uuid(0, 1, 0);
    let b1 = b.connection_uuid(0, 7, 1);
    let ghost = ConnectionUuid::new(ServerId::from_u64(0xdead), 0, 1, 0);
    // b is alive: no failure.
    a.publish(Message::new(Target::Unicast(b1), ev(1)).from(a1))
        .unwrap();
    a.flush(WAIT).unwrap();
    assert!(rec_a.seen.lock().unwrap().failed.is_empty());
    // A server that never existed, and b after it stopped.
    a.publish(Message::new(Target::Unicast(ghost), ev(2)).from(a1))
        .unwrap();
    drop(b);
    a.publish(Message::new(Target::Unicast(b1), ev(3)).from(a1))
        .unwrap();
    let failed = rec_a.wait("two failed unicasts", |s| {
        (s.failed.len() == 2).then(|| s.failed.clone())
    });
    assert_eq!(
        failed,
        vec![(Some(a1), ghost, ev(2)), (Some(a1), b1, ev(3))]
    );
    assert_eq!(a.state().failed_unicasts, 2);
}

#[test]
fn malformed_envelopes_are_dropped_and_the_bus_keeps_working() {
    support::init_log();
    let redis = RedisServer::start();
    let config = BusConfig {
        max_envelope_bytes: 64 * 1024,
        ..support::config("bad")
    };
    let a = Bus::redis(config, &redis.url()).unwrap();
    let rec = support::Recorder::attach(&a);
    a.flush(WAIT).unwrap();
    let own = format!("bad:srv:{}", a.server_id());
    let huge = vec![b'x'; 1 << 20];
    let huge_json = format!(
        "{{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"multicast\",\"raw\":\"{}\"}}",
        "y".repeat(200_000)
    );
    let bad: Vec<&[u8]> = vec![
        b"garbage",
        b"",
        b"{\"v\":2,\"origin\":\"0000000000000001\",\"kind\":\"multicast\",\"event\":\"e\"}",
        b"{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"unicast\",\"event\":\"e\"}",
        b"{\"v\":1,\"origin\":\"0000000000000001\",\"kind\":\"multicast\",\"event\":\"e\",\"to\":\"nope\"}",
        b"\xff\x00\xfe",
        &huge,
        huge_json.as_bytes(),
    ];
    for (i, payload) in bad.iter().enumerate() {
        let channel = if i % 2 == 0 { "bad:all" } else { own.as_str() };
        let reply = redis
            .command_bytes(&[b"PUBLISH", channel.as_bytes(), payload])
            .unwrap();
        assert_eq!(reply, ":1\r\n", "payload {i} not received by the bus");
    }
    // A valid envelope written by hand (another language could send this) still works afterwards.
    let good = b"{\"v\":1,\"origin\":\"00000000000000aa\",\"kind\":\"multicast\",\"event\":\"hi\",\"data\":{\"x\":1}}";
    redis
        .command_bytes(&[b"PUBLISH", b"bad:all", good])
        .unwrap();
    rec.wait("the good envelope", |s| {
        (!s.deliveries.is_empty()).then_some(())
    });
    assert_eq!(
        rec.seen.lock().unwrap().deliveries[0].payload,
        Payload::event("hi", json!({"x": 1}))
    );
    let state = a.state();
    assert_eq!(state.dropped, bad.len() as u64, "{state:?}");
    assert!(state.connected);
    assert_eq!(
        state.reconnects, 0,
        "a bad envelope must not cost the connection"
    );
}

#[test]
fn a_full_publish_queue_is_an_error_not_a_silent_drop() {
    let mut redis = RedisServer::start();
    let config = BusConfig {
        publish_queue_capacity: 5,
        ..support::config("full")
    };
    let a = Bus::redis(config, &redis.url()).unwrap();
    a.flush(WAIT).unwrap();
    redis.kill();
    let mut ok = 0;
    let mut refused = 0;
    for i in 0..20 {
        match a.publish(Message::new(Target::Multicast, ev(i))) {
            Ok(()) => ok += 1,
            Err(BusError::QueueFull { capacity: 5 }) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, refused), (5, 15));
    let s = a.state();
    assert_eq!((s.queued, s.rejected), (5, 15));
    assert!(
        BusError::QueueFull { capacity: 5 }
            .to_string()
            .contains("publish_queue_capacity")
    );
}

#[test]
fn the_database_index_of_the_url_is_honoured_for_mailboxes() {
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}/3", redis.port);
    let a = Bus::redis(support::config("db"), &url).unwrap();
    a.notify_event("u", "e", json!(1)).unwrap();
    assert!(
        redis
            .command(&["EXISTS", "db:mbox:u"])
            .unwrap()
            .starts_with(":0")
    );
    let in_db3 = {
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("LLEN")
            .arg("db:mbox:u")
            .query::<i64>(&mut conn)
            .unwrap()
    };
    assert_eq!(in_db3, 1);
}
