//! Auto-dispatch over real sockets (`docs/protocol.md#auto-dispatch`): `_ack_` first, answers
//! written back, unknown and reserved events, close 1003 on what is not a JSON object, raw
//! controllers beside it.

mod support;

use serde_json::json;
use support::controllers::{Fallback, Guarded, Items, Proto, proto_routes};
use support::{Got, TestApp, Ws};

fn app() -> TestApp {
    let mut routes = proto_routes();
    routes
        .controller("/items", Items::default)
        .unwrap()
        .controller("/guarded", Guarded::default)
        .unwrap()
        .controller("/guarded", Fallback::default)
        .unwrap()
        .controller("/room/:name", Proto::default)
        .unwrap();
    TestApp::start(routes)
}

#[test]
fn ack_comes_first_then_the_answer() {
    let app = app();
    let mut ws = app.ws("/proto");
    ws.send_text(r#"{"event":"echo","_EID_":"x1","a":[1,2]}"#);
    // The exact documented shape, key order included.
    assert_eq!(ws.text(), r#"{"event":"_ack_","_EID_":"x1"}"#);
    assert_eq!(
        ws.json(),
        json!({"event": "echo", "_EID_": "x1", "a": [1, 2]})
    );
    // Any JSON value is an event id, returned as is.
    ws.send(&json!({"event": "nothing", "_EID_": {"n": [1, {"deep": null}]}}));
    assert_eq!(
        ws.json(),
        json!({"event": "_ack_", "_EID_": {"n": [1, {"deep": null}]}})
    );
    // No _EID_, no ack.
    ws.nothing_before_echo("after-nothing");
}

#[test]
fn answers_are_written_back_by_type() {
    let app = app();
    let mut ws = app.ws("/proto");
    ws.send(&json!({"event": "text"}));
    assert_eq!(ws.text(), "plain text, not JSON"); // a string is written as is
    ws.send(&json!({"event": "nothing"}));
    ws.nothing_before_echo("none"); // () writes nothing
    ws.send(&json!({"event": "status", "x": 1}));
    assert_eq!(
        ws.json(),
        json!({"event": "err", "status": 418, "result": "teapot", "request": {"event": "status", "x": 1}})
    );
    ws.send(&json!({"event": "source"}));
    let got = ws.json();
    assert_eq!(got["source"], "WebSocket");
    assert_eq!(got["sender"], json!(null));
    assert_eq!(got["id"].as_str().map(str::len), Some(39));
}

#[test]
fn unknown_missing_and_reserved_events_get_err_404_and_the_connection_stays_open() {
    let app = app();
    let mut ws = app.ws("/proto");
    let cases = [
        json!({"event": "no_such_event", "x": 1}),
        json!({"no": "event"}),
        json!({"event": 7}),
        json!({"event": null}),
        json!({"event": "close"}),
        json!({"event": "index"}),
        json!({"event": "on_open"}),
        json!({"event": "_private"}),
        json!({"event": "heard"}), // a bus-only handler is not callable by clients
    ];
    for case in cases {
        ws.send(&case);
        assert_eq!(
            ws.json(),
            json!({"event": "err", "status": 404, "result": "not found", "request": case}),
            "for {case}"
        );
    }
    // With an _EID_: the ack still comes first.
    ws.send(&json!({"event": "nope", "_EID_": 3}));
    assert_eq!(ws.json(), json!({"event": "_ack_", "_EID_": 3}));
    assert_eq!(ws.json()["status"], 404);
    ws.nothing_before_echo("still-open");
}

#[test]
fn a_custom_unknown_handler_replaces_the_err_answer() {
    let app = app();
    let mut ws = app.ws("/unknowing");
    ws.send(&json!({"event": "what", "n": 1}));
    assert_eq!(
        ws.json(),
        json!({"event": "custom_unknown", "got": {"event": "what", "n": 1}, "source": "WebSocket"})
    );
    ws.send(&json!({"event": "delete"}));
    assert_eq!(ws.json()["event"], "custom_unknown");
}

#[test]
fn what_is_not_a_json_object_closes_with_1003() {
    let app = app();
    let cases: [(&str, Option<&str>); 5] = [
        ("not json at all", None),
        ("[1,2,3]", None),
        ("\"a string\"", None),
        ("42", None),
        ("", Some("binary")),
    ];
    for (text, binary) in cases {
        let mut ws = app.ws("/proto");
        match binary {
            Some(_) => ws.send_binary(b"\x00\x01binary"),
            None => ws.send_text(text),
        }
        let (code, reason) = ws.closed();
        assert_eq!(code, Some(1003), "for {text:?} {binary:?}");
        assert!(reason.contains("auto-dispatch"), "reason: {reason}");
    }
}

#[test]
fn raw_controllers_get_every_message_as_it_came() {
    let app = app();
    let mut raw = app.ws("/raw");
    assert_eq!(raw.text(), "raw: open");
    raw.send_text("not json");
    assert_eq!(raw.text(), "raw: not json");
    raw.send_text(r#"{"event":"echo"}"#);
    assert_eq!(raw.text(), r#"raw: {"event":"echo"}"#);
    raw.send_binary(&[0, 1, 2, 255]);
    assert_eq!(raw.next(), Got::Binary(vec![0, 1, 2, 255]));
    // An auto-dispatch connection in the same app is unaffected.
    let mut auto = app.ws("/proto");
    auto.nothing_before_echo("side-by-side");
}

#[test]
fn pre_connect_declines_to_the_next_route_or_refuses_with_401_or_403() {
    let app = app();
    let mut ws = app.ws("/guarded");
    ws.send(&json!({"event": "whoami"}));
    assert_eq!(
        ws.json(),
        json!({"event": "fallback"}),
        "Decline falls through"
    );
    let mut ws = app.ws("/guarded?key=secret");
    ws.send(&json!({"event": "whoami"}));
    assert_eq!(ws.json(), json!({"event": "guarded"}));
    assert_eq!(
        Ws::try_connect(app.addr, "/guarded?key=", &[])
            .err()
            .as_deref(),
        Some("HTTP 401")
    );
    assert_eq!(
        Ws::try_connect(app.addr, "/guarded?key=wrong", &[])
            .err()
            .as_deref(),
        Some("HTTP 403")
    );
}

#[test]
fn http_only_controllers_refuse_upgrades_and_unrouted_paths_get_404() {
    let app = app();
    assert_eq!(
        Ws::try_connect(app.addr, "/items", &[]).err().as_deref(),
        Some("HTTP 404")
    );
    assert_eq!(
        Ws::try_connect(app.addr, "/nowhere", &[]).err().as_deref(),
        Some("HTTP 404")
    );
}

#[test]
fn upgrade_params_reach_the_connection() {
    let app = app();
    let mut ws = app.ws("/room/lobby?x=1");
    ws.send(&json!({"event": "source"}));
    let got = ws.json();
    assert_eq!(got["params"], json!({"name": "lobby", "x": "1"}));
}

#[test]
fn a_handler_can_close_its_connection() {
    let app = app();
    let mut ws = app.ws("/proto");
    ws.send(&json!({"event": "bye"}));
    assert_eq!(ws.closed(), (Some(4000), "bye".to_owned()));
}
