//! Acknowledged mailboxes over real sockets (`docs/protocol.md#acknowledged-mailboxes`), in memory
//! and with a real redis-server: a client that asks for it (`_ack_=1`) keeps its identity
//! notifications in the mailbox until it acknowledges them, so a connection reset before the client
//! read them loses nothing: the next connection of the identity gets them again, with the same ids.
//! A client that does not ask keeps the original behaviour (confirmed once written).

mod support;

use std::time::Duration;

use plezi_dispatch::{Controller, Ctx, Events, Routes, SendError, events};
use plezi_messaging::{Bus, BusConfig};
use plezi_test_support::redis::RedisServer;
use serde_json::{Value, json};
use support::{DEADLINE, TestApp, Ws};

#[derive(Default)]
struct Inbox;

impl Inbox {
    fn become_user(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<Value, SendError> {
        cx.register_as(m["user"].as_str().unwrap_or_default())?;
        Ok(json!({"event": "became"}))
    }
    fn notice(&mut self, _: &mut Ctx<'_>, m: Value) -> Value {
        m
    }
    fn ping(&mut self, _: &mut Ctx<'_>, m: Value) -> Value {
        json!({"event": "pong", "marker": m["marker"]})
    }
}

impl Controller for Inbox {
    fn events() -> Events<Self> {
        events![
            ws become_user => Inbox::become_user,
            bus notice => Inbox::notice,
            ws ping => Inbox::ping,
        ]
    }
}

/// The application, on a bus in memory or on a fresh redis-server (kept alive with it).
struct Setup {
    app: TestApp,
    _redis: Option<RedisServer>,
}

fn routes() -> Routes {
    let mut routes = Routes::new();
    routes.controller("/inbox", Inbox::default).expect("route");
    routes
}

/// An application process on `redis` (app name `ack`).
fn on_redis(redis: &RedisServer, config: BusConfig) -> TestApp {
    let config = BusConfig {
        app_name: "ack".to_owned(),
        ..config
    };
    let bus = Bus::redis(config, &redis.url()).expect("bus");
    bus.flush(DEADLINE).expect("the bus reaches Redis");
    TestApp::start_on(routes(), bus)
}

fn start(redis: bool, config: BusConfig) -> Setup {
    if redis {
        let server = RedisServer::start();
        Setup {
            app: on_redis(&server, config),
            _redis: Some(server),
        }
    } else {
        Setup {
            app: TestApp::start_on(routes(), Bus::in_process(config)),
            _redis: None,
        }
    }
}

impl Setup {
    /// A connection registered as `user`; `ack`: it asks for acknowledged mailboxes.
    fn client(&self, user: &str, ack: bool) -> Ws {
        let path = if ack { "/inbox?_ack_=1" } else { "/inbox" };
        let mut ws = self.app.ws(path).named(&format!("{user}{path}"));
        ws.send(&json!({"event": "become_user", "user": user}));
        assert_eq!(ws.json()["event"], "became");
        ws
    }

    fn notify(&self, user: &str, n: u64) {
        self.app
            .dispatcher
            .bus()
            .notify_event(user, "notice", json!({"n": n}))
            .expect("stored");
    }
}

/// The next notice: (n, its message id).
fn notice(ws: &mut Ws) -> (u64, String) {
    let m = ws.json();
    assert_eq!(m["event"], "notice", "{m}");
    let id = m["_mid_"]
        .as_str()
        .unwrap_or_else(|| panic!("no _mid_: {m}"));
    (m["n"].as_u64().expect("n"), id.to_owned())
}

/// Expects `_mail_` naming `last`.
fn mail(ws: &mut Ws, last: &str) {
    assert_eq!(ws.json(), json!({"event": "_mail_", "_mid_": last}));
}

fn ack(ws: &mut Ws, mid: &str) {
    ws.send(&json!({"event": "_ack_", "_mid_": mid}));
}

/// Proves nothing else is queued for `ws` (and that the server handled what `ws` sent before).
fn nothing_before_pong(ws: &mut Ws, marker: &str) {
    ws.send(&json!({"event": "ping", "marker": marker}));
    let got = ws.json();
    assert_eq!(
        got,
        json!({"event": "pong", "marker": marker}),
        "only the pong"
    );
}

fn unacknowledged_comes_back_with_the_same_id(redis: bool) {
    let s = start(redis, BusConfig::default());
    let mut first = s.client("ann", true);
    s.notify("ann", 1);
    let (n, id) = notice(&mut first);
    assert_eq!(n, 1);
    mail(&mut first, &id);
    first.reset(); // read, never acknowledged: the reset may have lost it
    let mut second = s.client("ann", true);
    assert_eq!(
        notice(&mut second),
        (1, id.clone()),
        "the same message, same id"
    );
    mail(&mut second, &id);
    ack(&mut second, &id);
    nothing_before_pong(&mut second, "acked");
    second.reset();
    let mut third = s.client("ann", true);
    nothing_before_pong(&mut third, "an acknowledged message is gone");
}

#[test]
fn an_unacknowledged_notification_comes_back_with_the_same_id_in_memory() {
    unacknowledged_comes_back_with_the_same_id(false);
}

#[test]
fn an_unacknowledged_notification_comes_back_with_the_same_id_with_redis() {
    unacknowledged_comes_back_with_the_same_id(true);
}

fn written_before_a_reset_are_redelivered(redis: bool) {
    let s = start(redis, BusConfig::default());
    let first = s.client("bo", true);
    for n in 0..3 {
        s.notify("bo", n);
    }
    // The server wrote (at least) the first and it reached the client's socket; the application
    // read nothing. (In memory the three are one batch; with Redis they are stored one by one,
    // and the next batch waits for the first one's acknowledgement.)
    first.peek_until(r#""n":0"#);
    first.reset();
    let mut back = s.client("bo", true);
    let mut got = Vec::new();
    while got.len() < 3 {
        let m = back.json();
        let id = m["_mid_"].as_str().expect("_mid_").to_owned();
        match m["event"].as_str() {
            Some("notice") => got.push(m["n"].as_u64().expect("n")),
            Some("_mail_") => ack(&mut back, &id),
            _ => panic!("unexpected {m}"),
        }
    }
    assert_eq!(got, [0, 1, 2], "every message once, in order");
    assert_eq!(back.json()["event"], "_mail_");
}

#[test]
fn notifications_written_right_before_a_reset_are_redelivered_in_memory() {
    written_before_a_reset_are_redelivered(false);
}

#[test]
fn notifications_written_right_before_a_reset_are_redelivered_with_redis() {
    written_before_a_reset_are_redelivered(true);
}

fn a_client_that_does_not_ask_is_confirmed_once_written(redis: bool) {
    let s = start(redis, BusConfig::default());
    let mut old = s.client("cy", false);
    s.notify("cy", 7);
    assert_eq!(
        old.json(),
        json!({"event": "notice", "n": 7}),
        "what the original client has always received: no _mid_"
    );
    nothing_before_pong(&mut old, "no _mail_ for a client that does not acknowledge");
    old.reset();
    let mut back = s.client("cy", false);
    nothing_before_pong(&mut back, "confirmed when it was written");
}

#[test]
fn a_client_that_does_not_acknowledge_keeps_the_original_behaviour_in_memory() {
    a_client_that_does_not_ask_is_confirmed_once_written(false);
}

#[test]
fn a_client_that_does_not_acknowledge_keeps_the_original_behaviour_with_redis() {
    a_client_that_does_not_ask_is_confirmed_once_written(true);
}

#[test]
fn every_connection_gets_the_batch_and_the_first_ack_confirms_it() {
    let s = start(false, BusConfig::default());
    let mut tab1 = s.client("dee", true);
    let mut tab2 = s.client("dee", true);
    s.notify("dee", 5);
    let (_, id) = notice(&mut tab1);
    mail(&mut tab1, &id);
    assert_eq!(notice(&mut tab2), (5, id.clone()), "each tab, same id");
    mail(&mut tab2, &id);
    // One tab is lost unacknowledged: the other still holds the batch.
    tab1.reset();
    let mut tab3 = s.client("dee", true);
    nothing_before_pong(&mut tab3, "held by tab 2, not redelivered yet");
    ack(&mut tab2, &id);
    nothing_before_pong(&mut tab2, "acked");
    // Confirmed: later connections get nothing, and tab 3 never got it.
    nothing_before_pong(&mut tab3, "confirmed by tab 2");
    tab2.reset();
    let mut tab4 = s.client("dee", true);
    nothing_before_pong(&mut tab4, "gone for good");
    // What comes next reaches every live tab.
    s.notify("dee", 6);
    for tab in [&mut tab3, &mut tab4] {
        let (n, next) = notice(tab);
        assert_eq!(n, 6);
        assert_ne!(next, id);
        mail(tab, &next);
    }
}

#[test]
fn a_client_that_never_acknowledges_is_closed_and_the_batch_goes_to_the_next_connection() {
    let s = start(
        true,
        BusConfig {
            mailbox_ack_timeout: Duration::from_millis(300),
            ..BusConfig::default()
        },
    );
    let mut silent = s.client("eve", true);
    s.notify("eve", 9);
    let (_, id) = notice(&mut silent);
    mail(&mut silent, &id);
    let (code, reason) = silent.closed();
    assert_eq!(code, Some(1008), "{reason}");
    let mut next = s.client("eve", true);
    assert_eq!(notice(&mut next), (9, id.clone()));
    mail(&mut next, &id);
    ack(&mut next, &id);
    nothing_before_pong(&mut next, "acknowledged in time: still open");
}

#[test]
fn a_late_or_foreign_ack_changes_nothing() {
    let s = start(false, BusConfig::default());
    let mut ws = s.client("fay", true);
    s.notify("fay", 1);
    let (_, id) = notice(&mut ws);
    mail(&mut ws, &id);
    ack(&mut ws, "not-an-id");
    nothing_before_pong(&mut ws, "an ack is never answered");
    // An `_ack_` without a string id is no acknowledgement: a reserved event, err 404.
    ws.send(&json!({"event": "_ack_", "_mid_": 17}));
    let err = ws.json();
    assert_eq!(
        (&err["event"], &err["status"]),
        (&json!("err"), &json!(404))
    );
    ws.reset();
    let mut back = s.client("fay", true);
    assert_eq!(notice(&mut back).1, id, "still unacknowledged");
}

#[test]
fn the_batch_follows_the_client_to_another_server() {
    let redis = RedisServer::start();
    let a = Setup {
        app: on_redis(&redis, BusConfig::default()),
        _redis: None,
    };
    let b = Setup {
        app: on_redis(&redis, BusConfig::default()),
        _redis: None,
    };
    let mut on_a = a.client("gus", true);
    b.notify("gus", 3); // stored through server b, drained by a (gus is live there)
    let (n, id) = notice(&mut on_a);
    assert_eq!(n, 3);
    mail(&mut on_a, &id);
    on_a.reset();
    // The client comes back through the load balancer on server b.
    let mut on_b = b.client("gus", true);
    assert_eq!(notice(&mut on_b), (3, id.clone()), "same message, same id");
    mail(&mut on_b, &id);
    ack(&mut on_b, &id);
    nothing_before_pong(&mut on_b, "acked on b");
    let mut again = a.client("gus", true);
    nothing_before_pong(&mut again, "confirmed for good");
    support::eventually("the mailbox emptied", || {
        (redis.command(&["LLEN", "ack:mbox:gus"]).ok().as_deref() == Some(":0\r\n")).then_some(())
    });
}
