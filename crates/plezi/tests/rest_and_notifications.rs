//! The `rest` and `notifications` examples as processes: every REST action and the AJAJ events of
//! the notes resource; notifications stored for offline users and delivered live, over WebSocket
//! and AJAJ.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::{Value, json};
use support::ExampleProcess;

/// One request; returns the status, the `Location` header and the body.
fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    content_type: &str,
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(support::DEADLINE))
        .expect("timeout");
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .unwrap_or_default()
        .to_owned();
    (status, location, body.to_owned())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

#[test]
fn the_rest_example_answers_every_action_and_ajaj() {
    let rest = ExampleProcess::start("rest", &[]);
    let a = rest.addr;
    assert_eq!(
        json_of(&http(a, "GET", "/notes", FORM, "").2),
        json!({"notes": []})
    );
    let (status, _, form) = http(a, "GET", "/notes/new", FORM, "");
    assert_eq!(status, 200);
    assert!(form.contains("<form method=post action=/notes>"), "{form}");
    let (status, location, _) = http(a, "POST", "/notes", FORM, "title=Hi&body=there");
    assert_eq!((status, location.as_str()), (302, "/notes/1"));
    let (status, location, _) = http(
        a,
        "POST",
        "/notes",
        JSON,
        r#"{"title":"Second","body":"hi again"}"#,
    );
    assert_eq!((status, location.as_str()), (302, "/notes/2"));
    assert_eq!(
        json_of(&http(a, "GET", "/notes/1", FORM, "").2),
        json!({"id": 1, "title": "Hi", "body": "there"})
    );
    assert_eq!(
        json_of(&http(a, "PATCH", "/notes/1", FORM, "title=Hello").2),
        json!({"id": 1, "title": "Hello", "body": "there"})
    );
    assert_eq!(
        json_of(&http(a, "PUT", "/notes/2", JSON, r#"{"body":"new"}"#).2)["body"],
        "new"
    );
    // AJAJ events on the same route: GET by path, POST with a JSON body.
    assert_eq!(
        json_of(&http(a, "GET", "/notes/count", FORM, "").2),
        json!({"event": "count", "count": 2})
    );
    let found = json_of(&http(a, "POST", "/notes", JSON, r#"{"id":"search","q":"HELLO"}"#).2);
    assert_eq!(
        found["notes"],
        json!([{"id": 1, "title": "Hello", "body": "there"}])
    );
    let (status, _, body) = http(a, "POST", "/notes", JSON, r#"{"id":"nope"}"#);
    assert_eq!(
        status, 302,
        "POST with an unknown id is a create (REST first): {body}"
    );
    // delete, by method and by _method override.
    assert_eq!(http(a, "DELETE", "/notes/1", FORM, "").0, 204);
    assert_eq!(http(a, "POST", "/notes/2", FORM, "_method=delete").0, 204);
    assert_eq!(http(a, "GET", "/notes/2", FORM, "").0, 404);
    assert_eq!(
        http(a, "GET", "/notes/abc", FORM, "").0,
        404,
        "a non-number declines"
    );
}

#[test]
fn the_notifications_example_stores_and_delivers() {
    let app = ExampleProcess::start("notifications", &[]);
    let mut ann = app.ws_as("/inbox", "ann");
    ann.send(&json!({"event": "whoami"}));
    assert_eq!(ann.json(), json!({"event": "whoami", "user": "ann"}));
    // bob is offline: stored.
    ann.send(&json!({"event": "send", "to": "bob", "message": "hi bob"}));
    assert_eq!(ann.json(), json!({"event": "sent", "to": "bob"}));
    // Over AJAJ too: the sender is the request's session, never a `from` the client claims.
    let carl = app.login("carl");
    let reply = support::http(
        app.addr,
        "POST",
        "/inbox",
        &[("Content-Type", JSON), ("Cookie", &carl)],
        br#"{"id":"send","to":"bob","message":"by http","from":"mallory"}"#,
    );
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"event": "sent", "to": "bob"}))
    );
    let (status, _, body) = http(
        app.addr,
        "POST",
        "/inbox",
        JSON,
        r#"{"id":"send","to":"bob","message":"anonymous","from":"mallory"}"#,
    );
    assert_eq!(
        (status, json_of(&body)["event"].as_str()),
        (200, Some("sent"))
    );
    // A guest is registered as nobody: it gets nothing.
    let mut guest = app.ws("/inbox");
    guest.send(&json!({"event": "whoami"}));
    assert_eq!(guest.json(), json!({"event": "whoami", "user": null}));
    // bob connects logged in: the stored messages arrive, in order, from their real senders.
    let mut bob = app.ws_as("/inbox", "bob");
    let first = bob.json();
    assert_eq!(
        (
            first["event"].as_str(),
            first["from"].as_str(),
            first["message"].as_str()
        ),
        (Some("message"), Some("ann"), Some("hi bob"))
    );
    assert!(first["at"].as_u64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(bob.json()["from"], "carl");
    assert_eq!(bob.json()["from"], "guest");
    // Live: bob is here now.
    ann.send(&json!({"event": "send", "to": "bob", "message": "live"}));
    assert_eq!(ann.json()["event"], "sent");
    assert_eq!(bob.json()["message"], "live");
    // The `login` event is gone: an unknown event like any other.
    guest.send(&json!({"event": "login", "user": "bob"}));
    assert_eq!(guest.json()["status"], 404);
    // A plain GET cannot send (AJAJ handlers with side effects run from POST only).
    let (status, _, _) = http(app.addr, "GET", "/inbox/send?to=bob&message=img", FORM, "");
    assert_eq!(status, 405);
}
