//! AJAJ (`docs/protocol.md#ajaj`), the REST table (`docs/protocol.md#rest`), cookies, redirects,
//! fall-through, the 404 answer, the client route and registration errors, over real HTTP.

mod support;

use plezi_dispatch::ParamsLimits;
use plezi_dispatch::{CLIENT_JS, CLIENT_VERSION};
use plezi_dispatch::{Controller, Ctx, Events, RegisterError, Routes, events};
use plezi_server::Response;
use serde_json::{Value, json};
use support::TestApp;
use support::controllers::{CatchAll, Items, Proto, Unknowing};

fn app() -> TestApp {
    TestApp::start(routes())
}

fn routes() -> Routes {
    let mut routes = Routes::new();
    routes
        .client("/client.js")
        .unwrap()
        .controller("/proto", Proto::default)
        .unwrap()
        .controller("/unknowing", Unknowing::default)
        .unwrap()
        .controller("/items", Items::default)
        .unwrap()
        .controller("/*", CatchAll::default)
        .unwrap();
    routes
}

#[test]
fn ajaj_reaches_http_enabled_handlers_with_the_websocket_shape() {
    let app = app();
    // What PleziClient's ajaj.emit posts: ajaj.add fields, the event, and id = the event name.
    let sent = json!({"token": "abc", "event": "echo", "text": "over http", "id": "echo"});
    let reply = app.post_json("/proto", &sent);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.json(), sent);
    // Query, route and body params merge; `event` comes from `id`, whatever the body says.
    let reply = app.post_json("/proto/echo?q=1", &json!({"event": "ignored", "n": 2}));
    assert_eq!(
        reply.json(),
        json!({"event": "echo", "id": "echo", "q": "1", "n": 2})
    );
    // GET and HEAD reach only handlers declared safe (`safe peek`)...
    let reply = app.http("GET", "/proto/peek?x=y", &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"event": "peek", "id": "peek", "x": "y"})
    );
    assert_eq!(app.http("HEAD", "/proto/peek", &[], b"").status, 200);
    // ...any other handler answers 405 with `Allow: POST` and does not run (an `<img>` tag on
    // another site cannot notify anyone).
    for method in ["GET", "HEAD"] {
        let reply = app.http(method, "/proto/echo?x=y", &[], b"");
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("POST"), "{method}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{method}");
    }
    let reply = app.http("GET", "/proto/echo?x=y", &[], b"");
    assert_eq!(
        reply.json(),
        json!({"event": "err", "status": 405,
               "result": "this event runs from POST only (GET may only call handlers declared safe)",
               "request": {"event": "echo", "id": "echo", "x": "y"}})
    );
    let reply = app.http("GET", "/proto/notify?user=ann&data=x", &[], b"");
    assert_eq!(reply.status, 405);
    // A GET with a JSON content type naming an unknown event is not AJAJ either.
    let reply = app.http(
        "GET",
        "/proto?id=nope",
        &[("Content-Type", "application/json")],
        b"",
    );
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.text(),
        "Not Found\n",
        "the route falls through, no handler runs"
    );
    // The handler can tell the source.
    let reply = app.post_json("/proto", &json!({"id": "source"}));
    assert_eq!(reply.json()["source"], "Ajaj");
    assert_eq!(reply.json()["id"], json!(null));
}

#[test]
fn ajaj_answers_by_type() {
    let app = app();
    let text = app.post_json("/proto", &json!({"id": "text"}));
    assert_eq!(
        (text.status, text.text().as_str()),
        (200, "plain text, not JSON")
    );
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let nothing = app.post_json("/proto", &json!({"id": "nothing"}));
    assert_eq!((nothing.status, nothing.body.len()), (200, 0));
    let status = app.post_json("/proto", &json!({"id": "status"}));
    assert_eq!(status.status, 418);
    assert_eq!(status.json()["result"], "teapot");
}

#[test]
fn unknown_ajaj_events_get_404_with_the_err_object() {
    let app = app();
    for id in [
        "no_such_event",
        "whoami", /* ws only */
        "heard",  /* bus only */
        "close",  /* reserved */
    ] {
        let reply = app.post_json("/proto", &json!({"id": id, "x": 1}));
        assert_eq!(reply.status, 404, "{id}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(
            reply.json(),
            json!({"event": "err", "status": 404, "result": "not found",
                   "request": {"event": id, "id": id, "x": 1}}),
            "{id}"
        );
    }
    // A custom `unknown` answers AJAJ too.
    let reply = app.post_json("/unknowing", &json!({"id": "what"}));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["source"], "Ajaj");
    // Not JSON (a plain form post): not an AJAJ request, so routing falls through (CatchAll has
    // no `create`) to the plain 404.
    let reply = app.http(
        "POST",
        "/proto",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"id=nope",
    );
    assert_eq!((reply.status, reply.text().as_str()), (404, "Not Found\n"));
}

/// method, target, headers, body, expected body.
type RestCase<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [u8],
    &'a str,
);

#[test]
fn the_rest_table_over_http() {
    let app = app();
    let cases: [RestCase<'_>; 13] = [
        ("GET", "/items", &[], b"", "index - theme=none"),
        ("GET", "/items/7", &[], b"", "show 7"),
        ("HEAD", "/items/7", &[], b"", ""),
        ("GET", "/items/new", &[], b"", "new new"),
        ("POST", "/items", &[], b"", "create -"),
        ("POST", "/items/7", &[], b"", "create 7"),
        ("PUT", "/items/7", &[], b"", "update 7"),
        ("PATCH", "/items/7", &[], b"", "update 7"),
        ("PUT", "/items", &[], b"", "create -"),
        ("DELETE", "/items/7", &[], b"", "delete 7"),
        (
            "POST",
            "/items/7",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"_method=delete",
            "delete 7",
        ),
        ("POST", "/items/7?_method=PATCH", &[], b"", "update 7"),
        ("GET", "/items/7?_method=DELETE", &[], b"", "show 7"), // only a POST is overridden
    ];
    for (method, target, headers, body, expected) in cases {
        let reply = app.http(method, target, headers, body);
        assert_eq!(reply.status, 200, "{method} {target}");
        assert_eq!(reply.text(), expected, "{method} {target}");
    }
    // `id` naming an HTTP-enabled handler runs it (POST; GET only if declared safe); PUT
    // still updates.
    assert_eq!(app.http("GET", "/items/publish?x=1", &[], b"").status, 405);
    let reply = app.http(
        "POST",
        "/items/publish?x=1",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"",
    );
    assert_eq!(
        reply.json()["got"],
        json!({"event": "publish", "id": "publish", "x": "1"})
    );
    assert_eq!(reply.json()["source"], "Ajaj");
    assert_eq!(
        app.http("PUT", "/items/publish", &[], b"").text(),
        "update publish"
    );
}

#[test]
fn declined_actions_fall_through_and_redirects_and_cookies_work() {
    let app = app();
    let reply = app.http("GET", "/items/decline", &[], b"");
    assert_eq!(reply.text(), "caught items/decline");
    let reply = app.http("OPTIONS", "/items/7", &[], b"");
    assert_eq!(
        reply.status, 404,
        "no REST action for OPTIONS, and CatchAll has none either"
    );
    let reply = app.http("GET", "/items/go", &[], b"");
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("/items"));
    let reply = app.http("GET", "/items/away", &[], b"");
    assert_eq!(reply.status, 400, "redirect_to refuses another host");
    assert!(
        reply.text().contains("redirect_external"),
        "{}",
        reply.text()
    );
    let reply = app.http("POST", "/items", &[], b"");
    assert_eq!(
        reply.headers_named("set-cookie"),
        ["made=yes; Path=/; HttpOnly; SameSite=Lax"],
        "cookies are HttpOnly and SameSite=Lax unless the application says otherwise"
    );
    let reply = app.http(
        "GET",
        "/items",
        &[("Cookie", "a=1; theme=dark%20blue")],
        b"",
    );
    assert_eq!(reply.text(), "index - theme=dark blue");
}

#[test]
fn bad_params_are_400() {
    let app = app();
    let reply = app.http("GET", "/items/%ff", &[], b"");
    assert_eq!(reply.status, 400);
    let reply = app.http(
        "POST",
        "/proto",
        &[("Content-Type", "application/json")],
        b"{not json",
    );
    assert_eq!(reply.status, 400);
}

#[test]
fn parsed_bodies_over_the_params_cap_are_413() {
    let mut routes = routes();
    routes.params_limits(ParamsLimits {
        max_body_bytes: 1000,
        ..ParamsLimits::default()
    });
    let app = TestApp::start(routes);
    let big = json!({"id": "echo", "pad": "x".repeat(1000)});
    let reply = app.post_json("/proto", &big);
    assert_eq!(reply.status, 413);
    assert!(reply.text().contains("max_body_bytes"), "{}", reply.text());
    let small = json!({"id": "echo", "pad": "x".repeat(900)});
    assert_eq!(app.post_json("/proto", &small).status, 200);
    // An upload (not parsed) is not capped here.
    let reply = app.http(
        "POST",
        "/items",
        &[("Content-Type", "application/octet-stream")],
        &[0u8; 4000],
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn the_client_route_serves_the_bundle() {
    let app = app();
    let reply = app.http("GET", "/client.js", &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(reply.body, CLIENT_JS.as_bytes());
    let etag = reply.header("etag").unwrap().to_owned();
    assert!(etag.contains(CLIENT_VERSION), "{etag}");
    let again = app.http("GET", "/client.js", &[("If-None-Match", &etag)], b"");
    assert_eq!((again.status, again.body.len()), (304, 0));
}

#[test]
fn the_404_answer_is_replaceable() {
    let mut routes = Routes::new();
    routes.controller("/items", Items::default).unwrap();
    routes.not_found(|req| Response::text(404, format!("nothing at {}", req.path())));
    let app = TestApp::start(routes);
    let reply = app.http("GET", "/elsewhere", &[], b"");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (404, "nothing at /elsewhere")
    );
}

struct Bad;
impl Controller for Bad {
    fn events() -> Events<Self> {
        events![ws fine => |_: &mut Bad, _: &mut Ctx<'_>, _: Value| (), ws close => |_: &mut Bad, _: &mut Ctx<'_>, _: Value| ()]
    }
}

struct Twice;
impl Controller for Twice {
    fn events() -> Events<Self> {
        Events::auto_dispatch()
            .ws("a", |_: &mut Twice, _: &mut Ctx<'_>, _: Value| ())
            .both("a", |_: &mut Twice, _: &mut Ctx<'_>, _: Value| ())
    }
}

struct Underscore;
impl Controller for Underscore {
    fn events() -> Events<Self> {
        events![both _hidden => |_: &mut Underscore, _: &mut Ctx<'_>, _: Value| ()]
    }
}

#[test]
fn bad_routes_and_event_tables_fail_when_added() {
    let mut routes = Routes::new();
    let err = routes.controller("/bad", || Bad).unwrap_err();
    assert!(
        matches!(&err, RegisterError::ReservedEvent { event, .. } if event == "close"),
        "{err}"
    );
    assert!(err.to_string().contains("reserved"));
    let err = routes.controller("/twice", || Twice).unwrap_err();
    assert!(matches!(err, RegisterError::DuplicateEvent { .. }), "{err}");
    let err = routes.controller("/u", || Underscore).unwrap_err();
    assert!(matches!(err, RegisterError::ReservedEvent { .. }), "{err}");
    let err = routes.controller("/(:a)/b", Items::default).unwrap_err();
    assert!(matches!(err, RegisterError::Route(_)), "{err}");
    let err = routes.client("/*/x").unwrap_err();
    assert!(matches!(err, RegisterError::Route(_)), "{err}");
}
