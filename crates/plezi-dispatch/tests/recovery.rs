//! Recovery of missed messages over real sockets (`docs/protocol.md#recovery`): a client that
//! reconnects with the last position it saw gets what it missed, in order, before anything new and
//! without duplicates, even while messages keep being published; a gap the history does not cover
//! (another epoch, forgotten messages) is reported as `false`; a channel is recovered only once the
//! connection subscribes to it.

mod support;

use std::time::Duration;

use plezi_messaging::{Message, Payload, Target};
use serde_json::json;
use support::TestApp;
use support::room::{self, recover_path, room, routes, said};

fn app() -> TestApp {
    TestApp::start(routes())
}

fn say(app: &TestApp, target: Target, n: u64) {
    room::say(app.dispatcher.bus(), target, n)
}

#[test]
fn a_reconnecting_client_gets_what_it_missed_in_order_then_new_messages() {
    let app = app();
    let mut ws = app.ws("/room");
    ws.nothing_before_echo("ready");
    say(&app, room(), 1);
    say(&app, room(), 2);
    assert_eq!(said(&mut ws).0, 1);
    let (n, last) = said(&mut ws);
    assert_eq!(n, 2);
    assert_eq!(last["s"], "ctl:room");
    ws.close();
    for n in 3..=5 {
        say(&app, room(), n);
    }
    let mut back = app.ws(&recover_path(&[&last]));
    let got: Vec<u64> = (0..3).map(|_| said(&mut back).0).collect();
    assert_eq!(got, [3, 4, 5], "the missed messages, in order");
    assert_eq!(
        back.json(),
        json!({"event": "_recovered_", "streams": {"ctl:room": true}})
    );
    say(&app, room(), 6);
    assert_eq!(said(&mut back).0, 6);
    back.nothing_before_echo("no duplicates");
}

#[test]
fn recovery_while_messages_keep_coming_has_no_gap_and_no_duplicate() {
    let app = app();
    let mut ws = app.ws("/room");
    ws.nothing_before_echo("ready");
    say(&app, room(), 0);
    let (_, start) = said(&mut ws);
    ws.close();
    let publisher = {
        let bus = app.dispatcher.bus().clone();
        std::thread::spawn(move || {
            for n in 1..=40 {
                let m = Message::new(room(), Payload::event("said", json!({"n": n})));
                bus.publish(m).expect("published");
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(10));
    let mut back = app.ws(&recover_path(&[&start]));
    let mut seen = Vec::new();
    while seen.last() != Some(&40) {
        let m = back.json();
        match m["event"].as_str() {
            Some("said") => seen.push(m["n"].as_u64().expect("n")),
            Some("_recovered_") => assert_eq!(m["streams"]["ctl:room"], true),
            _ => panic!("unexpected {m}"),
        }
    }
    publisher.join().expect("publisher");
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<u64>>(),
        "every message once, in order"
    );
    back.nothing_before_echo("no duplicates after");
}

#[test]
fn a_gap_the_history_does_not_cover_is_reported() {
    let app = app();
    let mut ws = app.ws("/room");
    ws.nothing_before_echo("ready");
    say(&app, room(), 1);
    let (_, at) = said(&mut ws);
    ws.close();
    // Another epoch (a reset history): nothing replayed, reported false.
    let mut other = at.clone();
    other["e"] = json!("0000000000000000");
    let mut back = app.ws(&recover_path(&[&other]));
    assert_eq!(
        back.json(),
        json!({"event": "_recovered_", "streams": {"ctl:room": false}})
    );
    // More than the history keeps (50): the gap is too old.
    for n in 2..=60 {
        say(&app, room(), n);
    }
    let mut late = app.ws(&recover_path(&[&at]));
    assert_eq!(
        late.json(),
        json!({"event": "_recovered_", "streams": {"ctl:room": false}})
    );
    late.nothing_before_echo("nothing replayed");
}

#[test]
fn a_channel_is_recovered_only_once_the_connection_subscribes() {
    let app = app();
    let mut ws = app.ws("/room");
    ws.send(&json!({"event": "follow", "channel": "news"}));
    assert_eq!(ws.json()["event"], "following");
    say(&app, Target::Channel("news".into()), 1);
    let (_, at) = said(&mut ws);
    assert_eq!(at["s"], "ch:news");
    ws.close();
    say(&app, Target::Channel("news".into()), 2);
    say(&app, Target::Channel("news".into()), 3);
    let mut back = app.ws(&recover_path(&[&at]));
    // Not subscribed yet: nothing of the channel.
    back.nothing_before_echo("not a member yet");
    back.send(&json!({"event": "follow", "channel": "news"}));
    assert_eq!(back.json()["event"], "following");
    assert_eq!(said(&mut back).0, 2);
    assert_eq!(said(&mut back).0, 3);
    assert_eq!(
        back.json(),
        json!({"event": "_recovered_", "streams": {"ch:news": true}})
    );
    back.nothing_before_echo("no duplicates");
}
