//! Sessions, `pre_connect` refusals, `accept_delivery` and the bounded `err` echo, over real
//! sockets: a cookie set by `POST /login`, WebSocket upgrades with and without it, forged and
//! tampered cookies, renewal, logout, and the Redis store against a real `redis-server`.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use plezi_dispatch::SetCookie;
use plezi_dispatch::{
    Controller, Ctx, Events, PreConnect, Routes, SendError, SessionConfig, SessionKey, events,
};
use plezi_messaging::{ConnectionUuid, RedisSessionStore, SessionStore, SessionStoreConfig};
use plezi_server::Response;
use plezi_test_support::redis::RedisServer;
use serde_json::{Value, json};
use support::{HttpReply, TestApp, Ws};

/// `POST /login` (form or JSON `user`): a new session id, `user` stored, `303` to `/`.
#[derive(Default)]
struct Login;

impl Controller for Login {
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let Some(user) = cx.params().get_str("user").filter(|u| !u.is_empty()) else {
            return Some(Response::text(400, "user?"));
        };
        let user = user.to_owned();
        cx.set_cookie(SetCookie::new("seen", "1")).ok()?;
        let session = cx.session_mut().ok()?;
        session.renew();
        session.set("user", user);
        Some(Response::new(303).header("Location", "/"))
    }
}

/// `POST /logout`: the session is destroyed.
#[derive(Default)]
struct Logout;

impl Controller for Logout {
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        cx.session_mut().ok()?.destroy();
        Some(Response::new(303).header("Location", "/"))
    }
}

/// `GET /me`: who the session says; AJAJ `count` writes the session, `peek` (safe) reads it.
#[derive(Default)]
struct Me;

fn user_of(cx: &Ctx<'_>) -> Value {
    cx.session().get("user").cloned().unwrap_or(Value::Null)
}

impl Controller for Me {
    fn events() -> Events<Self> {
        Events::none()
            .both("count", |_: &mut Me, cx: &mut Ctx<'_>, _: Value| {
                let session = cx.session_mut()?;
                let n = session.get("n").and_then(Value::as_u64).unwrap_or(0) + 1;
                session.set("n", n);
                Ok::<_, SendError>(json!({"n": n}))
            })
            .safe(
                "peek",
                |_: &mut Me, cx: &mut Ctx<'_>, _: Value| json!({"user": user_of(cx)}),
            )
    }
    fn index(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let user = cx.session().get_str("user").unwrap_or("anonymous");
        Some(Response::text(200, user.to_owned()))
    }
}

/// Members only: 401 without a session, 403 for `mallory`; `on_open` greets the session's user.
#[derive(Default)]
struct Members;

impl Controller for Members {
    fn events() -> Events<Self> {
        events![
            ws whoami => |_: &mut Members, cx: &mut Ctx<'_>, _: Value| json!({"user": user_of(cx)}),
            ws try_write => |_: &mut Members, cx: &mut Ctx<'_>, _: Value| {
                json!({"writable": cx.session_mut().is_ok()})
            },
        ]
    }
    fn pre_connect(&mut self, cx: &mut Ctx<'_>) -> PreConnect {
        match cx.session().get_str("user") {
            None => PreConnect::unauthorized(),
            Some("mallory") => PreConnect::forbidden(),
            Some(_) => PreConnect::Accept,
        }
    }
    fn on_open(&mut self, cx: &mut Ctx<'_>) {
        let hello = json!({"event": "hello", "user": user_of(cx)});
        let _ = cx.write_json(&hello);
    }
}

/// Open to everyone; the session (if any) is first read in a handler. Takes `poked` unicasts
/// only from connections it befriended.
#[derive(Default)]
struct Lobby {
    friends: HashSet<ConnectionUuid>,
}

impl Controller for Lobby {
    fn events() -> Events<Self> {
        events![
            ws whoami => |_: &mut Lobby, cx: &mut Ctx<'_>, _: Value| {
                json!({"event": "whoami", "id": cx.id(), "user": user_of(cx)})
            },
            ws echo => |_: &mut Lobby, _: &mut Ctx<'_>, m: Value| m,
            ws befriend => |l: &mut Lobby, _: &mut Ctx<'_>, m: Value| {
                if let Some(id) = m["id"].as_str().and_then(|s| s.parse().ok()) {
                    l.friends.insert(id);
                }
                json!({"event": "befriended"})
            },
            ws poke => |_: &mut Lobby, cx: &mut Ctx<'_>, m: Value| {
                let to: ConnectionUuid = m["to"].as_str().unwrap_or_default().parse()?;
                cx.unicast(to, "poked", json!({"n": m["n"]}))
            },
            bus poked => |_: &mut Lobby, _: &mut Ctx<'_>, m: Value| m,
        ]
    }
    fn accept_delivery(&mut self, cx: &mut Ctx<'_>, event: &str) -> bool {
        event != "poked" || cx.sender().is_some_and(|s| self.friends.contains(&s))
    }
}

fn routes(config: SessionConfig) -> Routes {
    let mut routes = Routes::new();
    routes.sessions(config);
    routes
        .controller("/login", Login::default)
        .unwrap()
        .controller("/logout", Logout::default)
        .unwrap()
        .controller("/me", Me::default)
        .unwrap()
        .controller("/members", Members::default)
        .unwrap()
        .controller("/lobby", Lobby::default)
        .unwrap();
    routes
}

fn key() -> SessionKey {
    SessionKey::new(b"0123456789abcdef0123456789abcdef-test").unwrap()
}

fn app() -> TestApp {
    TestApp::start(routes(SessionConfig::new(
        key(),
        Arc::new(plezi_messaging::MemorySessionStore::default()),
    )))
}

/// The session cookie of a reply, as a `Cookie` request header value.
fn session_cookie(reply: &HttpReply) -> String {
    let set = reply
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.contains("plezi_session="))
        .unwrap_or_else(|| panic!("no session cookie in {:?}", reply.headers));
    set.split(';').next().unwrap().to_owned()
}

fn login(app: &TestApp, user: &str, cookie: Option<&str>) -> HttpReply {
    let body = format!("user={user}");
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    app.http("POST", "/login", &headers, body.as_bytes())
}

fn me(app: &TestApp, cookie: &str) -> String {
    app.http("GET", "/me", &[("Cookie", cookie)], b"").text()
}

/// `cookie` with the character at `at` of its value changed.
fn tamper(cookie: &str, at: usize) -> String {
    let (name, value) = cookie.split_once('=').unwrap();
    let mut bytes = value.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    format!("{name}={}", String::from_utf8(bytes).unwrap())
}

#[test]
fn login_sets_a_signed_http_only_cookie_and_the_session_is_read_back() {
    let app = app();
    let reply = login(&app, "ann", None);
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/"));
    let set = reply
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("plezi_session="))
        .unwrap()
        .to_owned();
    assert!(
        set.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "session cookie attributes: {set}"
    );
    assert!(!set.contains("Secure") && !set.contains("Max-Age"), "{set}");
    assert!(
        reply
            .headers_named("set-cookie")
            .contains(&"seen=1; Path=/; HttpOnly; SameSite=Lax")
    );
    let cookie = session_cookie(&reply);
    assert_eq!(me(&app, &cookie), "ann");
    assert_eq!(me(&app, ""), "anonymous");
    // JSON works as well as a form.
    let reply = app.post_json("/login", &json!({"user": "bob"}));
    assert_eq!(reply.status, 303);
    assert_eq!(me(&app, &session_cookie(&reply)), "bob");
}

#[test]
fn forged_tampered_and_unknown_cookies_are_no_session_never_an_error() {
    let app = app();
    let ann = session_cookie(&login(&app, "ann", None));
    let bob = session_cookie(&login(&app, "bob", None));
    let value_len = ann.split_once('=').unwrap().1.len();
    for at in [0, 10, 42, 44, 60, value_len - 1] {
        assert_eq!(me(&app, &tamper(&ann, at)), "anonymous", "changed at {at}");
    }
    // Bob's id with ann's signature, and the other way round.
    let (ann_id, ann_sig) = ann.split_once('=').unwrap().1.split_once('.').unwrap();
    let (bob_id, bob_sig) = bob.split_once('=').unwrap().1.split_once('.').unwrap();
    assert_eq!(
        me(&app, &format!("plezi_session={bob_id}.{ann_sig}")),
        "anonymous"
    );
    assert_eq!(
        me(&app, &format!("plezi_session={ann_id}.{bob_sig}")),
        "anonymous"
    );
    // Signed by another key (another application's cookie), garbage, and an empty value.
    let other = TestApp::start(routes(SessionConfig::default()));
    let foreign = session_cookie(&login(&other, "ann", None));
    assert_eq!(me(&app, &foreign), "anonymous");
    for junk in [
        "plezi_session=",
        "plezi_session=x",
        "plezi_session=..",
        "plezi_session=%00%ff",
    ] {
        let reply = app.http("GET", "/me", &[("Cookie", junk)], b"");
        assert_eq!(
            (reply.status, reply.text()),
            (200, "anonymous".into()),
            "{junk}"
        );
    }
    // Still valid after all that.
    assert_eq!(me(&app, &ann), "ann");
    assert_eq!(me(&app, &bob), "bob");
}

#[test]
fn login_renews_the_id_and_logout_destroys_the_session() {
    let app = app();
    let first = session_cookie(&login(&app, "ann", None));
    // Logging in again (as someone else) with the old cookie: a new id, the old one is dead.
    let second = session_cookie(&login(&app, "bob", Some(&first)));
    assert_ne!(first, second);
    assert_eq!(
        me(&app, &first),
        "anonymous",
        "the pre-login id no longer works"
    );
    assert_eq!(me(&app, &second), "bob");
    // Logout: the cookie is deleted and the id forgotten on the server.
    let reply = app.http("POST", "/logout", &[("Cookie", &second)], b"");
    assert_eq!(reply.status, 303);
    let deleted = reply.headers_named("set-cookie");
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert!(
        deleted[0].starts_with("plezi_session=; Path=/; Max-Age=0;"),
        "{deleted:?}"
    );
    assert_eq!(me(&app, &second), "anonymous", "a replayed cookie is dead");
    // Logout without a session sets nothing.
    let reply = app.http("POST", "/logout", &[], b"");
    assert!(reply.headers_named("set-cookie").is_empty());
}

#[test]
fn ajaj_handlers_read_and_write_the_session() {
    let app = app();
    let first = app.post_json("/me", &json!({"id": "count"}));
    assert_eq!(first.json(), json!({"n": 1}));
    let cookie = session_cookie(&first);
    for n in 2..=3 {
        let reply = app.http(
            "POST",
            "/me",
            &[("Content-Type", "application/json"), ("Cookie", &cookie)],
            br#"{"id":"count"}"#,
        );
        assert_eq!(reply.json(), json!({"n": n}));
        assert!(
            reply.headers_named("set-cookie").is_empty(),
            "the id did not change"
        );
    }
    let ann = session_cookie(&login(&app, "ann", None));
    let reply = app.http("GET", "/me/peek", &[("Cookie", &ann)], b"");
    assert_eq!(reply.json(), json!({"user": "ann"}));
}

#[test]
fn websocket_upgrades_carry_the_session_into_pre_connect_on_open_and_handlers() {
    let app = app();
    let ann = session_cookie(&login(&app, "ann", None));
    let mallory = session_cookie(&login(&app, "mallory", None));
    assert_eq!(
        Ws::try_connect(app.addr, "/members", &[]).err().as_deref(),
        Some("HTTP 401")
    );
    assert_eq!(
        Ws::try_connect(app.addr, "/members", &[("Cookie", &tamper(&ann, 3))])
            .err()
            .as_deref(),
        Some("HTTP 401"),
        "a tampered cookie is no session"
    );
    assert_eq!(
        Ws::try_connect(app.addr, "/members", &[("Cookie", &mallory)])
            .err()
            .as_deref(),
        Some("HTTP 403")
    );
    let mut ws = Ws::try_connect(app.addr, "/members", &[("Cookie", &ann)]).unwrap();
    assert_eq!(ws.json(), json!({"event": "hello", "user": "ann"}));
    ws.send(&json!({"event": "whoami"}));
    assert_eq!(ws.json(), json!({"user": "ann"}));
    ws.send(&json!({"event": "try_write"}));
    assert_eq!(ws.json(), json!({"writable": false}));
    // A connection whose upgrade read no session reads it later; guests read none.
    let mut guest = app.ws("/lobby");
    guest.send(&json!({"event": "whoami"}));
    assert_eq!(guest.json()["user"], Value::Null);
    let mut lobby = Ws::try_connect(app.addr, "/lobby", &[("Cookie", &ann)]).unwrap();
    lobby.send(&json!({"event": "whoami"}));
    assert_eq!(lobby.json()["user"], "ann");
    // After logout the cookie opens nothing.
    app.http("POST", "/logout", &[("Cookie", &ann)], b"");
    assert_eq!(
        Ws::try_connect(app.addr, "/members", &[("Cookie", &ann)])
            .err()
            .as_deref(),
        Some("HTTP 401")
    );
}

#[test]
fn accept_delivery_refuses_unicasts_the_controller_does_not_want() {
    let app = app();
    let (mut a, mut b) = (app.ws("/lobby"), app.ws("/lobby"));
    a.send(&json!({"event": "whoami"}));
    let a_id = a.json()["id"].as_str().unwrap().to_owned();
    b.send(&json!({"event": "whoami"}));
    let b_id = b.json()["id"].as_str().unwrap().to_owned();
    // b has not befriended a: the unicast is dropped before any handler runs.
    a.send(&json!({"event": "poke", "to": b_id, "n": 1}));
    a.send(&json!({"event": "echo", "marker": "sent"}));
    assert_eq!(a.json()["marker"], "sent");
    b.send(&json!({"event": "echo", "marker": "nothing-before"}));
    assert_eq!(b.json()["marker"], "nothing-before", "the poke was refused");
    b.send(&json!({"event": "befriend", "id": a_id}));
    assert_eq!(b.json()["event"], "befriended");
    a.send(&json!({"event": "poke", "to": b_id, "n": 2}));
    assert_eq!(b.json(), json!({"event": "poked", "n": 2}));
}

#[test]
fn err_answers_echo_a_bounded_request() {
    let app = app();
    let mut ws = app.ws("/lobby");
    let big = json!({"event": "nope", "_EID_": 9, "pad": "x".repeat(100_000)});
    ws.send(&big);
    assert_eq!(ws.json(), json!({"event": "_ack_", "_EID_": 9}));
    let text = ws.text();
    assert!(text.len() < 200, "{} bytes", text.len());
    let err: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        err,
        json!({"event": "err", "status": 404, "result": "not found",
               "request": {"event": "nope", "_EID_": 9, "_truncated": true}})
    );
    // A small request is echoed whole.
    ws.send(&json!({"event": "nope", "pad": "x"}));
    assert_eq!(ws.json()["request"], json!({"event": "nope", "pad": "x"}));
    // Over AJAJ too.
    let reply = app.post_json("/me", &json!({"id": "missing", "pad": "y".repeat(5000)}));
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.json()["request"],
        json!({"event": "missing", "_truncated": true})
    );
}

#[test]
fn secure_cookies_when_the_public_origin_is_https() {
    let mut routes = routes(SessionConfig::new(
        key(),
        Arc::new(plezi_messaging::MemorySessionStore::default()),
    ));
    routes.secure_cookies(true);
    let app = TestApp::start(routes);
    let reply = login(&app, "ann", None);
    let cookies = reply.headers_named("set-cookie");
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-plezi_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(
        session.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax"),
        "{session}"
    );
    assert!(cookies.contains(&"seen=1; Path=/; Secure; HttpOnly; SameSite=Lax"));
    let cookie = session.split(';').next().unwrap();
    assert_eq!(me(&app, cookie), "ann");
    // The same value under the unprefixed name is not read.
    let plain = cookie.replacen("__Host-", "", 1);
    assert_eq!(me(&app, &plain), "anonymous");
}

// ---- Redis ----

#[test]
fn the_redis_store_shares_sessions_between_servers_with_a_ttl() {
    let redis = RedisServer::start();
    let config = SessionStoreConfig {
        idle_expiry: Duration::from_secs(600),
        ..SessionStoreConfig::default()
    };
    let store = |app: &str| -> Arc<dyn SessionStore> {
        Arc::new(RedisSessionStore::new(&redis.url(), app, config).unwrap())
    };
    let one = TestApp::start(routes(SessionConfig::new(key(), store("shared"))));
    let two = TestApp::start(routes(SessionConfig::new(key(), store("shared"))));
    let cookie = session_cookie(&login(&one, "ann", None));
    assert_eq!(
        me(&two, &cookie),
        "ann",
        "server two reads server one's session"
    );
    let mut ws = Ws::try_connect(two.addr, "/members", &[("Cookie", &cookie)]).unwrap();
    assert_eq!(ws.json(), json!({"event": "hello", "user": "ann"}));
    // One key, prefixed with the app name, with the idle expiry as its TTL.
    let keys = redis.command(&["KEYS", "shared:session:*"]).unwrap();
    assert!(keys.starts_with("*1\r\n"), "{keys:?}");
    let key_name = keys.lines().nth(2).unwrap().to_owned();
    let ttl: i64 = redis.command(&["PTTL", &key_name]).unwrap()[1..]
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 590_000 && ttl <= 600_000, "PTTL {ttl}");
    // Another app name on the same Redis does not see it.
    let other = TestApp::start(routes(SessionConfig::new(key(), store("other"))));
    assert_eq!(me(&other, &cookie), "anonymous");
    // Logout on server two ends it everywhere.
    two.http("POST", "/logout", &[("Cookie", &cookie)], b"");
    assert_eq!(me(&one, &cookie), "anonymous");
    assert!(
        redis
            .command(&["KEYS", "shared:session:*"])
            .unwrap()
            .starts_with("*0")
    );
}

#[test]
fn a_redis_outage_reads_as_no_session_and_a_login_fails_with_503() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let store: Arc<dyn SessionStore> =
        Arc::new(RedisSessionStore::new(&url, "down", SessionStoreConfig::default()).unwrap());
    let app = TestApp::start(routes(SessionConfig::new(key(), store)));
    let cookie = session_cookie(&login(&app, "ann", None));
    assert_eq!(me(&app, &cookie), "ann");
    redis.kill();
    assert_eq!(me(&app, &cookie), "anonymous");
    let reply = login(&app, "bob", None);
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.headers_named("set-cookie").is_empty());
}
