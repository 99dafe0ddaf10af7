//! Communication from handlers, in one process (`docs/protocol.md#deliveries`): broadcast,
//! multicast, unicast and failed_unicast, identities and mailboxes, named channels, the
//! encode-once fast path, and deliveries from outside a connection.

mod support;

use std::sync::atomic::Ordering;

use serde_json::json;
use support::controllers::{PROTO_CLOSED, Proto, proto_routes};
use support::{Got, TestApp, eventually};

fn app() -> TestApp {
    TestApp::start(proto_routes())
}

#[test]
fn broadcast_reaches_every_other_connection_of_the_type_and_runs_its_handler() {
    let app = app();
    let (mut a, mut b, mut c) = (app.ws("/proto"), app.ws("/proto"), app.ws("/proto"));
    let mut other = app.ws("/unknowing");
    let a_id = a.whoami();
    a.send(&json!({"event": "tell", "data": {"text": "hi"}}));
    for ws in [&mut b, &mut c] {
        // The receiver's `told` handler ran (its answer wraps the data) with `event` added.
        assert_eq!(
            ws.json(),
            json!({"event": "told", "got": {"event": "told", "text": "hi"}, "from": a_id})
        );
    }
    a.nothing_before_echo("sender-skipped");
    other.nothing_before_echo("other-type-skipped");
}

#[test]
fn multicast_reaches_every_other_connection_with_a_handler() {
    let app = app();
    let (mut a, mut b) = (app.ws("/proto"), app.ws("/proto"));
    let mut raw = app.ws("/raw");
    assert_eq!(raw.text(), "raw: open");
    let mut unknowing = app.ws("/unknowing");
    a.send(&json!({"event": "shout", "data": "hello"}));
    assert_eq!(b.json(), json!({"event": "heard", "got": "hello"})); // non-objects pass unchanged
    assert_eq!(raw.json(), json!({"event": "raw_heard", "got": "hello"}));
    a.nothing_before_echo("sender-skipped");
    unknowing.nothing_before_echo("no-handler-ignores"); // and it is not an `unknown` either
}

#[test]
fn unicast_reaches_one_connection_and_a_gone_server_calls_failed_unicast() {
    let app = app();
    let (mut a, mut b, mut c) = (app.ws("/proto"), app.ws("/proto"), app.ws("/proto"));
    let b_id = b.whoami();
    let a_id = a.whoami();
    a.send(&json!({"event": "poke", "to": b_id, "data": {"n": 1}}));
    assert_eq!(
        b.json(),
        json!({"event": "poked", "got": {"event": "poked", "n": 1}, "from": a_id})
    );
    c.nothing_before_echo("not-for-c");
    a.nothing_before_echo("not-for-a");
    // A UUID of another server (none is running): failed_unicast on the sender.
    let gone = format!("0123456789abcdef{}", &b_id[16..]);
    a.send(&json!({"event": "poke", "to": gone, "data": 1}));
    assert_eq!(
        a.json(),
        json!({"event": "failed", "to": gone, "was": "poked"})
    );
    // A malformed UUID: the handler's `?` turns the error into an err answer.
    a.send(&json!({"event": "poke", "to": "nope", "data": 1}));
    let err = a.json();
    assert_eq!(
        (err["event"].as_str(), err["status"].as_u64()),
        (Some("err"), Some(503))
    );
}

#[test]
fn notify_is_stored_for_offline_identities_and_live_for_online_ones() {
    let app = app();
    let mut sender = app.ws("/proto");
    // Offline: stored, delivered after the register answer.
    sender.send(&json!({"event": "notify", "user": "ann", "data": {"text": "first"}}));
    sender.send(&json!({"event": "notify", "user": "ann", "data": {"text": "second"}}));
    sender.nothing_before_echo("stored");
    let mut ann = app.ws("/proto");
    ann.send(&json!({"event": "register", "user": "ann"}));
    assert_eq!(ann.json(), json!({"event": "registered", "user": "ann"}));
    assert_eq!(ann.json(), json!({"event": "notice", "text": "first"}));
    assert_eq!(ann.json(), json!({"event": "notice", "text": "second"}));
    // Online, on two connections: both get it now, and it is not stored again.
    let mut ann2 = app.ws("/proto");
    ann2.send(&json!({"event": "register", "user": "ann"}));
    assert_eq!(ann2.json(), json!({"event": "registered", "user": "ann"}));
    sender.send(&json!({"event": "notify", "user": "ann", "data": {"text": "live"}}));
    assert_eq!(ann.json(), json!({"event": "notice", "text": "live"}));
    assert_eq!(ann2.json(), json!({"event": "notice", "text": "live"}));
    let mut ann3 = app.ws("/proto");
    ann3.send(&json!({"event": "register", "user": "ann"}));
    assert_eq!(ann3.json(), json!({"event": "registered", "user": "ann"}));
    ann3.nothing_before_echo("mailbox-empty");
    // Over AJAJ too.
    let reply = app.post_json(
        "/proto",
        &json!({"id": "notify", "user": "ann", "data": {"text": "ajaj"}}),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(ann.json(), json!({"event": "notice", "text": "ajaj"}));
}

#[test]
fn a_closed_connection_is_forgotten_and_its_mail_waits() {
    let app = app();
    let closed_before = PROTO_CLOSED.load(Ordering::SeqCst);
    let mut bob = app.ws("/proto");
    bob.send(&json!({"event": "register", "user": "bob"}));
    assert_eq!(bob.json()["event"], "registered");
    bob.send(&json!({"event": "bye"}));
    assert_eq!(bob.closed().0, Some(4000));
    drop(bob);
    eventually("on_close of bob", || {
        (PROTO_CLOSED.load(Ordering::SeqCst) > closed_before).then_some(())
    });
    let mut sender = app.ws("/proto");
    sender.send(&json!({"event": "notify", "user": "bob", "data": {"text": "while away"}}));
    sender.nothing_before_echo("sent");
    let mut bob = app.ws("/proto");
    bob.send(&json!({"event": "register", "user": "bob"}));
    assert_eq!(bob.json()["event"], "registered");
    assert_eq!(bob.json(), json!({"event": "notice", "text": "while away"}));
}

#[test]
fn named_channels_reach_their_subscribers_only() {
    let app = app();
    let (mut a, mut b, mut c) = (app.ws("/proto"), app.ws("/proto"), app.ws("/proto"));
    for ws in [&mut a, &mut b] {
        ws.send(&json!({"event": "join", "channel": "news"}));
        assert_eq!(ws.json(), json!({"event": "joined", "channel": "news"}));
    }
    c.send(&json!({"event": "say", "channel": "news", "data": {"h": 1}}));
    let expected = json!({"event": "news", "got": {"event": "news", "h": 1}, "target": "Some(Channel(\"news\"))"});
    assert_eq!(a.json(), expected);
    assert_eq!(b.json(), expected);
    c.nothing_before_echo("not-subscribed");
    // A publisher that is subscribed hears itself.
    a.send(&json!({"event": "say", "channel": "news", "data": {"h": 2}}));
    assert_eq!(a.json()["got"]["h"], 2);
    assert_eq!(b.json()["got"]["h"], 2);
}

#[test]
fn the_fast_path_writes_the_same_bytes_without_running_handlers() {
    let app = app();
    let (mut a, mut b) = (app.ws("/proto"), app.ws("/proto"));
    let mut raw = app.ws("/raw");
    assert_eq!(raw.text(), "raw: open");
    let mut unknowing = app.ws("/unknowing");
    a.send(&json!({"event": "raw_all", "text": "pre-encoded, not even JSON"}));
    assert_eq!(b.next(), Got::Text("pre-encoded, not even JSON".into()));
    a.nothing_before_echo("sender-skipped");
    raw.send_text("ping");
    assert_eq!(raw.text(), "raw: ping"); // broadcast_raw stays within the controller type
    a.send(&json!({"event": "raw_everyone", "text": "{\"event\":\"all\"}"}));
    assert_eq!(b.text(), "{\"event\":\"all\"}");
    assert_eq!(raw.text(), "{\"event\":\"all\"}");
    assert_eq!(unknowing.text(), "{\"event\":\"all\"}");
}

#[test]
fn the_dispatcher_reaches_connections_from_outside() {
    let app = app();
    let (mut a, mut b) = (app.ws("/proto"), app.ws("/proto"));
    let mut raw = app.ws("/raw");
    assert_eq!(raw.text(), "raw: open");
    let b_id = b.whoami();
    app.dispatcher
        .broadcast::<Proto>("told", json!({"x": 1}))
        .unwrap();
    for ws in [&mut a, &mut b] {
        assert_eq!(
            ws.json(),
            json!({"event": "told", "got": {"event": "told", "x": 1}, "from": null})
        );
    }
    raw.send_text("ping");
    assert_eq!(raw.text(), "raw: ping");
    app.dispatcher
        .unicast(b_id.parse().unwrap(), "poked", json!(2))
        .unwrap();
    assert_eq!(b.json(), json!({"event": "poked", "got": 2, "from": null}));
    a.nothing_before_echo("unicast-was-for-b");
    app.dispatcher.multicast("heard", json!(3)).unwrap();
    assert_eq!(a.json(), json!({"event": "heard", "got": 3}));
    assert_eq!(b.json(), json!({"event": "heard", "got": 3}));
    assert_eq!(raw.json(), json!({"event": "raw_heard", "got": 3}));
    app.dispatcher.broadcast_raw::<Proto>("fast").unwrap();
    assert_eq!(a.text(), "fast");
    assert_eq!(b.text(), "fast");
}
