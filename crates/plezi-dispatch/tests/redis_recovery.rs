//! Recovery with the history in Redis (`docs/protocol.md#recovery`), over real sockets and a real
//! redis-server (and a real 3+3 Redis Cluster): two servers of one app share the history, so a
//! client that leaves one server recovers on the other; messages published while it reconnects
//! arrive once and in order; a window exceeded or a reset stream is reported as `false`; a Redis
//! that stops answering during the recovery is reported as `false` without blocking the connection,
//! and traffic flows again once it is back.

mod support;

use std::time::Duration;

use plezi_messaging::{Bus, BusConfig};
use plezi_test_support::redis::RedisServer;
use plezi_test_support::redis_cluster::RedisCluster;
use serde_json::json;
use support::TestApp;
use support::room::{recover_path, room, routes, said, say};

/// A server of app `app` on the Redis at `url`.
fn server(url: &str, app: &str) -> TestApp {
    let config = BusConfig {
        app_name: app.to_owned(),
        health_interval: Duration::from_millis(500),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        io_timeout: Duration::from_secs(2),
        ..BusConfig::default()
    };
    let bus = Bus::redis(config, url).expect("bus");
    bus.flush(support::DEADLINE).expect("bus connects");
    TestApp::start_on(routes(), bus)
}

fn bus(app: &TestApp) -> &Bus {
    app.dispatcher.bus()
}

#[test]
fn a_client_recovers_on_another_server_with_what_was_published_meanwhile() {
    let redis = RedisServer::start();
    let (a, b) = (server(&redis.url(), "rr1"), server(&redis.url(), "rr1"));
    let mut ws = a.ws("/room");
    ws.nothing_before_echo("ready");
    say(bus(&a), room(), 1);
    // Two servers' publishes have no order until Redis ran them: 1 is appended before 2 is sent.
    bus(&a).flush(support::DEADLINE).unwrap();
    say(bus(&b), room(), 2);
    assert_eq!(said(&mut ws).0, 1);
    let (n, last) = said(&mut ws);
    assert_eq!(n, 2);
    assert_eq!((&last["s"], &last["o"]), (&json!("ctl:room"), &json!(2)));
    ws.close();
    // Missed: 3..=5 (from both servers), then 40 more published while the client reconnects.
    for n in 3..=5 {
        say(bus(if n % 2 == 0 { &a } else { &b }), room(), n);
    }
    bus(&a).flush(support::DEADLINE).unwrap();
    bus(&b).flush(support::DEADLINE).unwrap();
    let publisher = {
        let (ba, bb) = (bus(&a).clone(), bus(&b).clone());
        std::thread::spawn(move || {
            for n in 6..=45 {
                say(if n % 2 == 0 { &ba } else { &bb }, room(), n);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let mut back = b.ws(&recover_path(&[&last]));
    // Two servers publish: the stream's order is the order Redis ran the appends in, so the
    // offsets (not the numbers) say "in order, no gap, no duplicate".
    let mut seen = Vec::new();
    let mut offsets = Vec::new();
    let mut reported = false;
    while seen.len() < 43 {
        let m = back.json();
        match m["event"].as_str() {
            Some("said") => {
                seen.push(m["n"].as_u64().expect("n"));
                offsets.push(m["_pos_"]["o"].as_u64().expect("o"));
            }
            Some("_recovered_") => {
                assert_eq!(m["streams"], json!({"ctl:room": true}), "{m}");
                let mut first = seen.clone();
                first.sort_unstable();
                assert!(
                    first.starts_with(&[3, 4, 5]),
                    "the missed ones first: {seen:?}"
                );
                reported = true;
            }
            _ => panic!("unexpected {m}"),
        }
    }
    publisher.join().expect("publisher");
    assert!(reported, "the recovery was reported");
    assert_eq!(
        offsets,
        (3..=45).collect::<Vec<u64>>(),
        "in stream order, each once"
    );
    seen.sort_unstable();
    assert_eq!(seen, (3..=45).collect::<Vec<u64>>(), "every message once");
    back.nothing_before_echo("no duplicates after");
}

#[test]
fn a_window_exceeded_or_a_reset_stream_is_reported_not_recovered() {
    let redis = RedisServer::start();
    let (a, b) = (server(&redis.url(), "rr2"), server(&redis.url(), "rr2"));
    let mut ws = a.ws("/room");
    ws.nothing_before_echo("ready");
    say(bus(&a), room(), 1);
    let (_, at) = said(&mut ws);
    ws.close();
    // More than the history keeps (50).
    for n in 2..=60 {
        say(bus(&a), room(), n);
    }
    bus(&a).flush(support::DEADLINE).unwrap();
    let mut late = b.ws(&recover_path(&[&at]));
    assert_eq!(
        late.json(),
        json!({"event": "_recovered_", "streams": {"ctl:room": false}})
    );
    late.nothing_before_echo("nothing replayed");
    // The last position is recoverable, until the stream is deleted: a new epoch.
    say(bus(&a), room(), 61);
    let (_, last) = said(&mut late);
    redis.command(&["DEL", "{rr2:ctl:room}:hist"]).unwrap();
    say(bus(&b), room(), 62);
    assert_eq!(
        said(&mut late).0,
        62,
        "b heard 62 before the reconnect below"
    );
    late.close();
    let mut reset = b.ws(&recover_path(&[&last]));
    assert_eq!(
        reset.json(),
        json!({"event": "_recovered_", "streams": {"ctl:room": false}})
    );
    say(bus(&a), room(), 63);
    let (n, pos) = said(&mut reset);
    assert_eq!(n, 63);
    assert_ne!(pos["e"], last["e"], "a new epoch");
    assert_eq!(pos["o"], 2, "62 opened the new epoch");
}

#[test]
fn redis_stopping_during_recovery_reports_not_recovered_and_traffic_flows_after() {
    let redis = RedisServer::start();
    let (a, b) = (server(&redis.url(), "rr3"), server(&redis.url(), "rr3"));
    let mut ws = a.ws("/room");
    ws.nothing_before_echo("ready");
    say(bus(&a), room(), 1);
    let (_, at) = said(&mut ws);
    ws.close();
    // A member on `b` already: the reconnect needs no subscription (which would wait for Redis).
    let mut bystander = b.ws("/room");
    bystander.nothing_before_echo("member");
    redis.pause(true);
    let mut back = b.ws(&recover_path(&[&at]));
    // The read waits for Redis off the event loop: the connection answers meanwhile.
    back.nothing_before_echo("not blocked");
    // It gives up after io_timeout (2 s): not recovered.
    assert_eq!(
        back.json(),
        json!({"event": "_recovered_", "streams": {"ctl:room": false}})
    );
    redis.pause(false);
    bus(&a).flush(support::DEADLINE).unwrap();
    bus(&b).flush(support::DEADLINE).unwrap();
    say(bus(&a), room(), 2);
    assert_eq!(said(&mut back).0, 2);
    back.nothing_before_echo("once");
}

#[test]
fn on_a_cluster_a_client_recovers_on_a_server_attached_to_another_node() {
    let cluster = RedisCluster::start();
    let a = server(&cluster.url(0), "rr4");
    let b = server(&cluster.url(2), "rr4");
    let mut ws = a.ws("/room");
    ws.nothing_before_echo("ready");
    say(bus(&b), room(), 1);
    let (_, at) = said(&mut ws);
    ws.close();
    for n in 2..=4 {
        say(bus(&a), room(), n);
    }
    let mut back = b.ws(&recover_path(&[&at]));
    let got: Vec<u64> = (0..3).map(|_| said(&mut back).0).collect();
    assert_eq!(got, [2, 3, 4]);
    assert_eq!(
        back.json(),
        json!({"event": "_recovered_", "streams": {"ctl:room": true}})
    );
    say(bus(&a), room(), 5);
    assert_eq!(said(&mut back).0, 5);
    back.nothing_before_echo("no duplicates");
}
