//! The chat example authenticates (docs/security.md, "sessions"): `POST /login` starts a session
//! and answers `303` to `/`; a WebSocket opened with that session's cookie is registered as that
//! user in `on_open`; without it (or with a forged one) it is a guest; the `login` event is gone;
//! `notify` stays open to every connection; `POST /logout` ends the session; a `GET` cannot run
//! `notify`. The example runs as a process; the clients speak raw HTTP and tungstenite.

mod support;

use serde_json::{Value, json};
use support::{ExampleProcess, Ws, http};

const FORM: &str = "application/x-www-form-urlencoded";

fn whoami(ws: &mut Ws) -> Value {
    ws.send(&json!({"event": "whoami"}));
    ws.json_skipping(&["joined", "left"])
}

#[test]
fn login_by_form_or_json_then_the_websocket_is_that_user() {
    let chat = ExampleProcess::start("chat", &[]);
    let reply = http(
        chat.addr,
        "POST",
        "/login",
        &[("Content-Type", FORM)],
        b"user=ann",
    );
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/"));
    let set = reply.header("set-cookie").unwrap_or_default().to_owned();
    assert!(set.starts_with("plezi_session="), "{set}");
    assert!(
        set.contains("; HttpOnly") && set.contains("; SameSite=Lax"),
        "{set}"
    );
    let ann = set.split(';').next().unwrap().to_owned();

    let mut ws = Ws::connect_with_cookie(chat.addr, "/chat", &ann);
    let me = whoami(&mut ws);
    assert_eq!(me["event"], "whoami");
    assert_eq!(me["user"], "ann");
    assert!(me["id"].as_str().is_some_and(|id| id.len() > 16), "{me}");

    // JSON works too.
    let reply = chat.post_json("/login", &json!({"user": "bob"}));
    assert_eq!(reply.status, 303);
    // Bad names are refused.
    for body in ["user=", "nothing=1"] {
        let reply = http(
            chat.addr,
            "POST",
            "/login",
            &[("Content-Type", FORM)],
            body.as_bytes(),
        );
        assert_eq!(reply.status, 400, "{body}");
    }
}

#[test]
fn guests_and_forged_cookies_cannot_register_and_login_is_no_event() {
    let chat = ExampleProcess::start("chat", &[]);
    let mut guest = chat.ws("/chat");
    let me = whoami(&mut guest);
    assert_eq!(me["user"], Value::Null);
    // The old `login` event is an unknown event now.
    guest.send(&json!({"event": "login", "user": "ann"}));
    let err = guest.json_skipping(&["joined", "left"]);
    assert_eq!(
        err,
        json!({"event": "err", "status": 404, "result": "not found",
               "request": {"event": "login", "user": "ann"}})
    );
    assert_eq!(whoami(&mut guest)["user"], Value::Null);
    // A forged cookie (ann's id, a made-up signature) is a guest too.
    let ann = chat.login("ann");
    let (name, value) = ann.split_once('=').unwrap();
    let (id, _) = value.split_once('.').unwrap();
    let forged = format!("{name}={id}.{}", "A".repeat(43));
    let mut forger = Ws::connect_with_cookie(chat.addr, "/chat", &forged);
    assert_eq!(whoami(&mut forger)["user"], Value::Null);
    // A notice for ann reaches ann's session connection only, not the forger.
    let mut real = Ws::connect_with_cookie(chat.addr, "/chat", &ann);
    assert_eq!(whoami(&mut real)["user"], "ann");
    guest.send(&json!({"event": "notify", "user": "ann", "message": "hi ann"}));
    assert_eq!(
        real.json_skipping(&["joined", "left"]),
        json!({"event": "notice", "message": "hi ann"})
    );
    forger.only_echo(&["joined", "left"], "the forger got nothing");
}

#[test]
fn notices_wait_for_the_session_user_and_logout_ends_the_session() {
    let chat = ExampleProcess::start("chat", &[]);
    // Anyone may notify an offline user (over WebSocket or AJAJ by POST)...
    let mut guest = chat.ws("/chat");
    guest.send(&json!({"event": "notify", "user": "carol", "message": "one"}));
    guest.only_echo(&["joined", "left"], "sent");
    let reply = chat.post_json(
        "/chat",
        &json!({"id": "notify", "user": "carol", "message": "two"}),
    );
    assert_eq!(reply.status, 200);
    // ...but a GET (an <img> on any page) cannot.
    let reply = http(
        chat.addr,
        "GET",
        "/chat/notify?user=carol&message=img",
        &[],
        b"",
    );
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    // carol's session connection gets both, in order, and nothing from the GET.
    let carol = chat.login("carol");
    let mut ws = Ws::connect_with_cookie(chat.addr, "/chat", &carol);
    for message in ["one", "two"] {
        assert_eq!(
            ws.json_skipping(&["joined", "left"]),
            json!({"event": "notice", "message": message})
        );
    }
    ws.only_echo(&["joined", "left"], "nothing else was stored");
    // Logout: the cookie is deleted and no longer opens carol's mailbox.
    let reply = http(chat.addr, "POST", "/logout", &[("Cookie", &carol)], b"");
    assert_eq!(reply.status, 303);
    assert!(
        reply
            .header("set-cookie")
            .is_some_and(|c| c.starts_with("plezi_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        reply.headers
    );
    let mut replayed = Ws::connect_with_cookie(chat.addr, "/chat", &carol);
    assert_eq!(whoami(&mut replayed)["user"], Value::Null);
}
