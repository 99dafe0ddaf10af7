//! Origins, cross-site requests and CORS over raw TCP (`docs/security.md`, sections `origins` and
//! `cross-site`): WebSocket upgrades from another origin get 403 by default; non-safe requests
//! from another site get 403 before static files or the service; CORS is opt-in and answers
//! preflights itself.

mod common;

use std::time::Duration;

use common::client::upgrade_request;
use common::{Client, Event, Options, TestServer};
use plezi_server::{Cors, Origin, OriginPolicy};

fn o(s: &str) -> Origin {
    Origin::parse(s).unwrap()
}

/// Sends an upgrade for `/ws` with these extra header lines on a fresh connection.
fn upgrade(s: &TestServer, extra: &[&str]) -> (Client, common::HttpResponse) {
    let mut c = s.client();
    c.send(upgrade_request("/ws", extra));
    let resp = c.read_response();
    (c, resp)
}

fn opens(s: &TestServer) -> usize {
    s.log.count(|e| matches!(e, Event::Open(..)))
}

#[test]
fn same_origin_and_originless_upgrades_pass() {
    let s = TestServer::start();
    // upgrade_request sends `Host: 127.0.0.1`.
    for extra in [
        &[][..],
        &["Origin: http://127.0.0.1"][..],
        &["Origin: HTTP://127.0.0.1:80"][..],
    ] {
        let (mut c, resp) = upgrade(&s, extra);
        assert_eq!(resp.status, 101, "{extra:?}: {resp:?}");
        c.send_text("hi");
        assert_eq!(c.expect_text(), "hi");
    }
}

#[test]
fn foreign_and_look_alike_origins_get_403_and_never_reach_the_service() {
    let s = TestServer::start();
    for origin in [
        "http://127.0.0.1.evil.example",
        "http://127.0.0.1:8080",
        "https://127.0.0.1",
        "ws://127.0.0.1:81",
        "http://127.0.0.1.",
        "http://evil@127.0.0.1",
        "http://127.0.0.1@evil.example",
        "http://127.0.0.2",
        "http://EVIL.example",
        "null",
        "http://127.0.0.1/path",
        "127.0.0.1",
    ] {
        let (_c, resp) = upgrade(&s, &[&format!("Origin: {origin}")]);
        assert_eq!(resp.status, 403, "{origin}: {resp:?}");
        let body = resp.text();
        assert!(
            body.contains("forbidden") && body.contains("PL_ALLOWED_ORIGINS")
                || body.contains("not an origin"),
            "{origin}: {body:?}"
        );
    }
    // A look-alike is named in the answer, normalised.
    let (_c, resp) = upgrade(&s, &["Origin: http://EVIL.example:80"]);
    assert_eq!(resp.status, 403);
    assert!(resp.text().contains("http://evil.example"), "{resp:?}");
    assert_eq!(opens(&s), 0, "a refused upgrade reached on_open");
}

#[test]
fn public_origin_allow_list_and_null_when_listed() {
    let s = TestServer::start_custom(Options::default(), |b| {
        b.origin_policy(
            OriginPolicy::default()
                .public_origin(o("https://chat.example"))
                .allow(o("http://localhost:8080"))
                .allow(Origin::null()),
        )
    });
    for ok in [
        "https://chat.example",
        "https://chat.example:443",
        "http://localhost:8080",
        "null",
        "http://127.0.0.1",
    ] {
        let (_c, resp) = upgrade(&s, &[&format!("Origin: {ok}")]);
        assert_eq!(resp.status, 101, "{ok}: {resp:?}");
    }
    for bad in [
        "http://chat.example",
        "http://localhost:8081",
        "https://evil.example",
    ] {
        let (_c, resp) = upgrade(&s, &[&format!("Origin: {bad}")]);
        assert_eq!(resp.status, 403, "{bad}: {resp:?}");
    }
}

#[test]
fn allow_any_still_refuses_null() {
    let s = TestServer::start_custom(Options::default(), |b| {
        b.origin_policy(OriginPolicy::from_list("*").unwrap())
    });
    let (_c, resp) = upgrade(&s, &["Origin: https://anything.example"]);
    assert_eq!(resp.status, 101);
    let (_c, resp) = upgrade(&s, &["Origin: null"]);
    assert_eq!(resp.status, 403);
}

/// `POST /echo` with these extra header lines; the test service echoes the body with 200.
fn post(c: &mut Client, extra: &[&str]) -> common::HttpResponse {
    let mut req =
        String::from("POST /echo HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nContent-Length: 5\r\n");
    for line in extra {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\nhello");
    c.request(req)
}

#[test]
fn cross_site_non_safe_requests_get_403() {
    let s = TestServer::start_custom(Options::default(), |b| {
        b.origin_policy(OriginPolicy::default().allow(o("https://partner.example")))
    });
    let mut c = s.client();
    let cases: &[(&[&str], u16)] = &[
        // Browsers that send Sec-Fetch-Site.
        (
            &[
                "Sec-Fetch-Site: same-origin",
                "Origin: http://127.0.0.1:3000",
            ],
            200,
        ),
        (&["Sec-Fetch-Site: none"], 200),
        (
            &["Sec-Fetch-Site: cross-site", "Origin: https://evil.example"],
            403,
        ),
        (
            &[
                "Sec-Fetch-Site: same-site",
                "Origin: http://a.127.0.0.1:3000",
            ],
            403,
        ),
        (&["Sec-Fetch-Site: cross-site"], 403),
        (
            &[
                "Sec-Fetch-Site: cross-site",
                "Origin: https://partner.example",
            ],
            200,
        ),
        // Older browsers: Origin against Host.
        (&["Origin: http://127.0.0.1:3000"], 200),
        (&["Origin: http://127.0.0.1:3001"], 403),
        (&["Origin: http://127.0.0.1.evil.example:3000"], 403),
        (&["Origin: null"], 403),
        (&["Origin: https://partner.example"], 200),
        // Not a browser.
        (&[], 200),
        (&["Content-Type: text/plain"], 200),
    ];
    for (extra, status) in cases {
        let resp = post(&mut c, extra);
        assert_eq!(resp.status, *status, "{extra:?}: {resp:?}");
        if *status == 200 {
            assert_eq!(resp.body, b"hello", "{extra:?}");
        } else {
            assert!(
                resp.text().contains("cross-site POST"),
                "{extra:?}: {resp:?}"
            );
        }
    }
    // Other non-safe methods too; safe ones pass.
    for (method, status) in [("PUT", 403), ("DELETE", 403), ("PATCH", 403), ("GET", 200)] {
        let resp = c.request(format!(
            "{method} /echo HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nSec-Fetch-Site: cross-site\r\nOrigin: https://evil.example\r\nContent-Length: 0\r\n\r\n"
        ));
        assert_eq!(resp.status, status, "{method}");
    }
}

#[test]
fn cross_site_check_runs_before_static_files() {
    let s = TestServer::start();
    std::fs::write(s.public().join("echo"), "a static file named echo").unwrap();
    let mut c = s.client();
    // GET reaches the static file; a cross-site POST to the same path is refused first.
    let resp = c.request("GET /echo HTTP/1.1\r\nHost: t\r\nSec-Fetch-Site: cross-site\r\n\r\n");
    assert_eq!(resp.text(), "a static file named echo");
    let resp = post(&mut c, &["Sec-Fetch-Site: cross-site"]);
    assert_eq!(resp.status, 403);
}

fn cors_server() -> TestServer {
    TestServer::start_custom(Options::default(), |b| {
        b.cors(
            Cors::new()
                .allow_origin(o("https://app.example"))
                .allow_methods(["GET", "POST", "PUT"])
                .allow_headers(["Content-Type", "X-Token"])
                .allow_credentials(true)
                .max_age(Duration::from_secs(600))
                .expose_headers(["X-Method"]),
        )
    })
}

fn preflight(
    c: &mut Client,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> common::HttpResponse {
    let mut req = format!(
        "OPTIONS /echo HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: {method}\r\n"
    );
    if let Some(h) = headers {
        req.push_str(&format!("Access-Control-Request-Headers: {h}\r\n"));
    }
    req.push_str("\r\n");
    c.request(req)
}

#[test]
fn cors_preflight_grants_only_what_is_configured() {
    let s = cors_server();
    let mut c = s.client();
    let resp = preflight(
        &mut c,
        "https://app.example",
        "PUT",
        Some("x-token, content-type"),
    );
    assert_eq!(resp.status, 204, "{resp:?}");
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        resp.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(resp.header("access-control-allow-methods"), Some("PUT"));
    assert_eq!(
        resp.header("access-control-allow-headers"),
        Some("x-token, content-type")
    );
    assert_eq!(resp.header("access-control-max-age"), Some("600"));
    assert!(resp.header("vary").is_some_and(|v| v.contains("Origin")));

    for (origin, method, headers) in [
        ("https://evil.example", "PUT", None),
        ("https://app.example.evil.example", "PUT", None),
        ("null", "POST", None),
        ("https://app.example", "DELETE", None),
        ("https://app.example", "PUT", Some("X-Secret")),
    ] {
        let resp = preflight(&mut c, origin, method, headers);
        assert_eq!(resp.status, 403, "{origin} {method} {headers:?}: {resp:?}");
        assert!(
            resp.headers
                .iter()
                .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control-allow")),
            "{resp:?}"
        );
    }
}

#[test]
fn cors_actual_responses_and_cross_site_pass() {
    let s = cors_server();
    let mut c = s.client();
    let resp = post(
        &mut c,
        &["Sec-Fetch-Site: cross-site", "Origin: https://app.example"],
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        resp.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        resp.header("access-control-expose-headers"),
        Some("X-Method")
    );
    assert!(resp.header_all("vary").iter().any(|v| v.contains("Origin")));

    // Another origin: no grant, and its cross-site POST is refused.
    let resp =
        c.request("GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nOrigin: https://evil.example\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("access-control-allow-origin"), None);
    assert!(resp.header_all("vary").iter().any(|v| v.contains("Origin")));
    let resp = post(
        &mut c,
        &["Sec-Fetch-Site: cross-site", "Origin: https://evil.example"],
    );
    assert_eq!(resp.status, 403);
}

#[test]
fn without_cors_no_grant_is_ever_sent() {
    let s = TestServer::start();
    let mut c = s.client();
    let resp = preflight(&mut c, "https://app.example", "PUT", None);
    // The service answers the OPTIONS itself (`/echo` answers any method), without CORS headers.
    assert_eq!(resp.header("x-method"), Some("OPTIONS"), "{resp:?}");
    assert!(
        resp.headers
            .iter()
            .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control")),
        "{resp:?}"
    );
    let resp = c.request("GET / HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n");
    assert_eq!(resp.header("access-control-allow-origin"), None);
}
