//! `notify` under abuse, over real sockets: the per-connection (WebSocket) and per-peer (AJAJ) rate
//! limit answers `err` 429; a full mailbox answers `err` 507 (at once in memory; with Redis as a later
//! `err` event over a WebSocket, and as the reply itself over AJAJ or an HTTP action, which waits until
//! its notifications are stored); and a stalled Redis never holds an event loop: other connections on
//! the same loop keep getting answers.

mod support;

use std::time::Duration;

use plezi_dispatch::{Controller, Ctx, Dispatcher, Events, Routes, SendError, events};
use plezi_messaging::{Bus, BusConfig, RateLimit};
use plezi_server::{Response, Server};
use plezi_test_support::redis::RedisServer;
use serde_json::{Value, json};
use support::{DEADLINE, TestApp, Ws};

/// A controller that notifies on request.
#[derive(Default)]
struct Notes;

impl Notes {
    fn notify(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<Value, SendError> {
        let user = m["user"].as_str().unwrap_or_default();
        cx.notify(user, "notice", m["data"].clone())?;
        Ok(json!({"event": "notified", "n": m["n"]}))
    }
    fn become_user(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<Value, SendError> {
        cx.register_as(m["user"].as_str().unwrap_or_default())?;
        Ok(json!({"event": "became"}))
    }
    fn notice(&mut self, _: &mut Ctx<'_>, m: Value) -> Value {
        m
    }
    fn ping(&mut self, _: &mut Ctx<'_>, m: Value) -> Value {
        json!({"event": "pong", "n": m["n"]})
    }
}

impl Controller for Notes {
    /// `POST /notes?user=NAME`: an HTTP action that notifies.
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let user = cx.params().get_str("user").unwrap_or_default().to_owned();
        Some(match cx.notify(&user, "notice", json!("from a form")) {
            Ok(()) => Response::text(201, "created"),
            Err(e) => Response::text(503, e.to_string()),
        })
    }

    fn events() -> Events<Self> {
        events![
            both notify => Notes::notify,
            ws become_user => Notes::become_user,
            bus notice => Notes::notice,
            ws ping => Notes::ping,
        ]
    }
}

fn routes() -> Routes {
    let mut routes = Routes::new();
    routes.controller("/notes", Notes::default).unwrap();
    routes
}

/// Three notifications at once, then (practically) no refill.
fn tight_rate() -> Option<RateLimit> {
    Some(RateLimit {
        per_second: 0.001,
        burst: 3,
    })
}

fn notify(ws: &mut Ws, user: &str, n: u64) {
    ws.send(&json!({"event": "notify", "user": user, "data": {"n": n}, "n": n}));
}

#[test]
fn websocket_notify_over_the_rate_limit_answers_err_429() {
    let bus = Bus::in_process(BusConfig {
        notify_rate: tight_rate(),
        ..BusConfig::default()
    });
    let app = TestApp::start_on(routes(), bus);
    let mut ws = app.ws("/notes");
    for n in 0..5 {
        notify(&mut ws, "ann", n);
    }
    for n in 0..3 {
        assert_eq!(ws.json(), json!({"event": "notified", "n": n}));
    }
    for _ in 3..5 {
        let err = ws.json();
        assert_eq!(err["event"], "err", "{err}");
        assert_eq!(err["status"], 429, "{err}");
        assert!(
            err["result"].as_str().unwrap().contains("notify_rate"),
            "{err}"
        );
    }
    // The limit is per connection: another one has its own budget; the limited one stays open.
    let mut other = app.ws("/notes");
    notify(&mut other, "ann", 9);
    assert_eq!(other.json(), json!({"event": "notified", "n": 9}));
    ws.send(&json!({"event": "ping", "n": 1}));
    assert_eq!(ws.json(), json!({"event": "pong", "n": 1}));
    // Only the three stored notifications reached the mailbox (plus the other connection's one).
    let mut ann = app.ws("/notes");
    ann.send(&json!({"event": "become_user", "user": "ann"}));
    let mut got = Vec::new();
    while got.len() < 5 {
        got.push(ann.json());
    }
    let notices: Vec<&Value> = got.iter().filter(|m| m["event"] == "notice").collect();
    assert_eq!(notices.len(), 4, "{got:?}");
    ann.send(&json!({"event": "ping", "n": 2}));
    assert_eq!(ann.json(), json!({"event": "pong", "n": 2}));
}

#[test]
fn ajaj_notify_is_limited_per_peer_address() {
    let bus = Bus::in_process(BusConfig {
        notify_rate: tight_rate(),
        ..BusConfig::default()
    });
    let app = TestApp::start_on(routes(), bus);
    let body = json!({"id": "notify", "user": "bea", "data": 1});
    for _ in 0..3 {
        let reply = app.post_json("/notes", &body);
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let refused = app.post_json("/notes", &body);
    assert_eq!(refused.status, 429, "{}", refused.text());
    // One call per 1,000 s refills: say when to come back.
    assert_eq!(refused.header("retry-after"), Some("1000"));
    let err = refused.json();
    assert_eq!(err["event"], "err");
    assert_eq!(err["status"], 429);
}

#[test]
fn a_full_mailbox_answers_err_507_in_memory() {
    let bus = Bus::in_process(BusConfig {
        mailbox_max_messages: 2,
        ..BusConfig::default()
    });
    let app = TestApp::start_on(routes(), bus);
    let mut ws = app.ws("/notes");
    for n in 0..3 {
        notify(&mut ws, "cy", n);
    }
    assert_eq!(ws.json()["event"], "notified");
    assert_eq!(ws.json()["event"], "notified");
    let err = ws.json();
    assert_eq!(err["event"], "err", "{err}");
    assert_eq!(err["status"], 507, "{err}");
    assert!(
        err["result"]
            .as_str()
            .unwrap()
            .contains("mailbox_max_messages"),
        "{err}"
    );
    // Over AJAJ too.
    let reply = app.post_json("/notes", &json!({"id": "notify", "user": "cy", "data": 1}));
    assert_eq!(reply.status, 507, "{}", reply.text());
    assert_eq!(reply.json()["status"], 507);
}

fn redis_bus(redis: &RedisServer, app: &str, config: BusConfig) -> Bus {
    let bus = Bus::redis(
        BusConfig {
            app_name: app.to_owned(),
            ..config
        },
        &redis.url(),
    )
    .expect("bus");
    bus.flush(DEADLINE).expect("the bus reaches Redis");
    bus
}

#[test]
fn a_full_redis_mailbox_reaches_the_websocket_client_as_err_507() {
    let redis = RedisServer::start();
    let bus = redis_bus(
        &redis,
        "nl1",
        BusConfig {
            mailbox_max_messages: 2,
            ..BusConfig::default()
        },
    );
    let app = TestApp::start_on(routes(), bus);
    let mut ws = app.ws("/notes");
    for n in 0..3 {
        notify(&mut ws, "dot", n);
    }
    // Each call answers at once (queued); the store's refusal of the third arrives afterwards.
    for n in 0..3 {
        assert_eq!(ws.json(), json!({"event": "notified", "n": n}));
    }
    let err = ws.json();
    assert_eq!(err["event"], "err", "{err}");
    assert_eq!(err["status"], 507, "{err}");
    assert_eq!(
        err["request"],
        json!({"notify": "dot", "event": "notice"}),
        "{err}"
    );
    assert_eq!(
        redis.command(&["LLEN", "nl1:mbox:dot"]).ok().as_deref(),
        Some(":2\r\n")
    );
}

#[test]
fn a_stalled_redis_never_holds_the_event_loop() {
    let redis = RedisServer::start();
    let bus = redis_bus(
        &redis,
        "nl2",
        BusConfig {
            // A store call would wait this long for the stopped Redis: far past every deadline here.
            io_timeout: Duration::from_secs(120),
            ..BusConfig::default()
        },
    );
    // One event loop: both connections share it.
    let dispatcher = Dispatcher::new(routes(), bus.clone());
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .threads(1)
        .service(dispatcher.service())
        .build()
        .expect("binds");
    dispatcher.attach(server.handle());
    let addr = server.local_addr();
    let _running = server.spawn().expect("starts");
    let mut a = Ws::connect(addr, "/notes");
    let mut b = Ws::connect(addr, "/notes");

    redis.pause(true);
    notify(&mut a, "eve", 1);
    notify(&mut a, "eve", 2);
    // Both answer while Redis is stopped (each read fails after DEADLINE, far below io_timeout)...
    assert_eq!(a.json(), json!({"event": "notified", "n": 1}));
    assert_eq!(a.json(), json!({"event": "notified", "n": 2}));
    // ...and so does another connection on the same loop.
    b.send(&json!({"event": "ping", "n": 7}));
    assert_eq!(b.json(), json!({"event": "pong", "n": 7}));
    redis.pause(false);
    // The notifications were stored, in order, once Redis answered again.
    bus.flush(Duration::from_secs(150)).expect("flushed");
    assert_eq!(
        redis
            .command(&["LRANGE", "nl2:mbox:eve", "0", "-1"])
            .ok()
            .map(|r| {
                let first = r.find("\"n\":1");
                let second = r.find("\"n\":2");
                first.is_some() && second.is_some() && first < second
            }),
        Some(true)
    );
}

#[test]
fn a_full_redis_mailbox_reaches_the_ajaj_and_http_clients_as_err_507() {
    let redis = RedisServer::start();
    let bus = redis_bus(
        &redis,
        "nl3",
        BusConfig {
            mailbox_max_messages: 2,
            ..BusConfig::default()
        },
    );
    let app = TestApp::start_on(routes(), bus);
    let post = |n: u64| {
        app.post_json(
            "/notes",
            &json!({"id": "notify", "user": "fay", "data": n, "n": n}),
        )
    };
    for n in 0..2 {
        let reply = post(n);
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json(), json!({"event": "notified", "n": n}));
    }
    // The third is refused by the store after the handler answered: the reply says so.
    let reply = post(2);
    assert_eq!(reply.status, 507, "{}", reply.text());
    let err = reply.json();
    assert_eq!(err["event"], "err", "{err}");
    assert_eq!(err["status"], 507, "{err}");
    assert_eq!(
        err["request"],
        json!({"notify": "fay", "event": "notice"}),
        "{err}"
    );
    // So is an HTTP action's.
    let reply = app.http("POST", "/notes?user=fay", &[], b"");
    assert_eq!(reply.status, 507, "{}", reply.text());
    assert_eq!(reply.json()["request"]["notify"], "fay");
    assert_eq!(
        redis.command(&["LLEN", "nl3:mbox:fay"]).ok().as_deref(),
        Some(":2\r\n")
    );
}

#[test]
fn an_ajaj_notify_is_answered_once_stored_and_503_when_redis_fails() {
    let redis = RedisServer::start();
    let bus = redis_bus(
        &redis,
        "nl4",
        BusConfig {
            io_timeout: Duration::from_secs(60),
            ..BusConfig::default()
        },
    );
    let app = TestApp::start_on(routes(), bus);
    let addr = app.addr;
    let body = json!({"id": "notify", "user": "gil", "data": 1, "n": 1});
    // The store's connection is open before Redis stops (a connect would time out at once).
    let warm_up = json!({"id": "notify", "user": "hal", "data": 0, "n": 0});
    assert_eq!(app.post_json("/notes", &warm_up).status, 200);
    redis.pause(true);
    let (tx, rx) = std::sync::mpsc::channel();
    let request = body.clone();
    std::thread::spawn(move || {
        let reply = plezi_test_support::http::http(
            addr,
            "POST",
            "/notes",
            &[("Content-Type", "application/json")],
            request.to_string().as_bytes(),
        );
        let _ = tx.send(reply);
    });
    // Not stored yet (Redis is stopped): no answer yet.
    if let Ok(early) = rx.recv_timeout(Duration::from_millis(500)) {
        panic!(
            "answered before the notification was stored: {} {}",
            early.status,
            early.text()
        );
    }
    redis.pause(false);
    let reply = rx.recv_timeout(DEADLINE).expect("answered once stored");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        redis.command(&["LLEN", "nl4:mbox:gil"]).ok().as_deref(),
        Some(":1\r\n"),
        "stored before the answer"
    );

    // Redis gone: the store fails, the reply says 503.
    drop(redis);
    let reply = app.post_json("/notes", &body);
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(
        reply.json()["request"],
        json!({"notify": "gil", "event": "notice"})
    );
}
