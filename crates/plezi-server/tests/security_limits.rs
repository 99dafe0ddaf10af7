//! Request size, rate and connection limits over raw TCP (`docs/security.md`, section `limits`):
//! the separate cap on parsed (JSON, urlencoded) bodies, the minimum body data rate, the
//! per-process connection cap, and empty lines before a request head.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Options, STEP, TestServer, wait_until};
use plezi_server::ServerConfig;

const MIB: usize = 1024 * 1024;

#[test]
fn parsed_bodies_are_capped_from_content_length_before_reading() {
    let s = TestServer::start();
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.api+json",
        "application/x-www-form-urlencoded",
    ] {
        let mut c = s.client();
        // Only the head is sent: the 413 must come from the Content-Length alone.
        c.send(format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
            MIB + 1
        ));
        let resp = c.read_response();
        assert_eq!(resp.status, 413, "{ct}: {resp:?}");
        assert!(resp.text().contains("JSON"), "{resp:?}");
        c.expect_eof(STEP);
    }
    // Exactly at the cap is fine.
    let mut c = s.client();
    let body = vec![b'1'; MIB];
    c.send(format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {MIB}\r\n\r\n"
    ));
    c.send(&body);
    let resp = c.read_response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), MIB);
}

#[test]
fn uploads_keep_the_larger_limit() {
    let s = TestServer::start();
    let mut c = s.client();
    let len = 3 * MIB;
    c.send(format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    ));
    c.send(vec![7u8; len]);
    let resp = c.read_response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), len);
}

#[test]
fn chunked_json_is_refused_as_soon_as_it_passes_the_cap() {
    let s = TestServer::with_config(|c| c.max_form_body_bytes = 64 * 1024);
    let mut c = s.client();
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = vec![b' '; 16 * 1024];
    let mut refused = None;
    // 64 KiB allowed; the terminating chunk is never sent, so only the cap can end this.
    for _ in 0..8 {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        if c.try_send(&framed).is_err() {
            break;
        }
        if let Ok(resp) = c.try_read_response(false, Duration::from_millis(50)) {
            refused = Some(resp);
            break;
        }
    }
    let resp = refused.unwrap_or_else(|| c.read_response());
    assert_eq!(resp.status, 413, "{resp:?}");
}

/// Sends a head announcing `len` body bytes, then one byte every `every` until the server
/// answers; returns the answer and how many body bytes went out.
fn trickle(c: &mut Client, len: usize, every: Duration, give_up: Duration) -> Option<u16> {
    c.send(format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
    ));
    let deadline = Instant::now() + give_up;
    while Instant::now() < deadline {
        if c.try_send(b"x").is_err() {
            break;
        }
        if let Ok(resp) = c.try_read_response(false, every) {
            return Some(resp.status);
        }
    }
    c.try_read_response(false, STEP).ok().map(|r| r.status)
}

#[test]
fn a_trickled_body_gets_408_after_the_grace_period() {
    // keep_alive_timeout far above the test: only the data-rate rule can end the trickle.
    let s = TestServer::with_config(|c| {
        c.min_body_rate = 1000;
        c.min_body_rate_grace = Duration::from_millis(300);
        c.keep_alive_timeout = Duration::from_secs(120);
    });
    let mut c = s.client();
    let status = trickle(
        &mut c,
        100_000,
        Duration::from_millis(50),
        Duration::from_secs(20),
    );
    assert_eq!(status, Some(408));
    c.expect_eof(STEP);
    // The server answers others meanwhile and after.
    let mut other = s.client();
    assert_eq!(
        other.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
}

#[test]
fn the_default_rate_rule_is_kestrels() {
    let c = ServerConfig::default();
    assert_eq!(c.min_body_rate, 240);
    assert_eq!(c.min_body_rate_grace, Duration::from_secs(5));
    assert_eq!(c.max_form_body_bytes, MIB);
}

#[test]
fn the_connection_cap_answers_503_and_keeps_serving_the_others() {
    let cap = 4;
    let s = TestServer::start_with(Options {
        config: ServerConfig {
            max_connections: Some(cap),
            ..ServerConfig::default()
        },
        ..Options::default()
    });
    let mut held: Vec<Client> = (0..cap).map(|_| s.client()).collect();
    assert!(
        wait_until(STEP, || s.handle.connection_count() == cap),
        "expected {cap} connections, saw {}",
        s.handle.connection_count()
    );
    // Past the cap: a canned 503 and close (read without sending: nothing of ours is reset).
    for _ in 0..3 {
        let mut extra = s.client();
        let resp = extra.read_response();
        assert_eq!(resp.status, 503, "{resp:?}");
        assert!(resp.connection_has("close"));
        extra.expect_eof(STEP);
    }
    assert_eq!(s.handle.connection_count(), cap);
    // The held connections are still served.
    for c in &mut held {
        assert_eq!(c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    }
    // Closing one makes room again.
    drop(held.pop());
    assert!(wait_until(STEP, || s.handle.connection_count() == cap - 1));
    let mut again = s.client();
    assert_eq!(
        again.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
}

#[test]
fn trickling_clients_cannot_exhaust_the_connections() {
    // The scenario of a body trickled one byte at a time by as many clients as the server can
    // hold: they are dropped by the rate rule, so the cap frees up and others get in again.
    let cap = 6;
    let s = TestServer::start_with(Options {
        config: ServerConfig {
            max_connections: Some(cap),
            min_body_rate: 1000,
            min_body_rate_grace: Duration::from_millis(300),
            keep_alive_timeout: Duration::from_secs(120),
            ..ServerConfig::default()
        },
        ..Options::default()
    });
    let mut slow: Vec<Client> = (0..cap)
        .map(|_| {
            let mut c = s.client();
            c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nx");
            c
        })
        .collect();
    assert!(wait_until(STEP, || s.handle.connection_count() == cap));
    let mut full = s.client();
    assert_eq!(full.read_response().status, 503);
    let mut answered = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !answered {
        for c in &mut slow {
            let _ = c.try_send(b"x");
        }
        std::thread::sleep(Duration::from_millis(50));
        if s.handle.connection_count() < cap {
            let mut c = s.client();
            answered = c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status == 200;
        }
    }
    assert!(answered, "the trickling clients kept every connection");
    for c in &mut slow {
        assert_eq!(
            c.try_read_response(false, STEP).map(|r| r.status).ok(),
            Some(408)
        );
    }
}

#[test]
fn empty_lines_before_a_request_are_dropped_not_buffered() {
    let s = TestServer::start();
    let mut c = s.client();
    // More empty lines than the 32 KiB head limit: kept in the buffer, they would be 431.
    for _ in 0..5 {
        c.send("\r\n".repeat(10 * 1024));
    }
    let resp = c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(resp.status, 200, "{resp:?}");
    // Between requests too.
    c.send("\r\n".repeat(20 * 1024));
    let resp = c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(resp.status, 200);
}

#[test]
fn endless_empty_lines_get_the_header_timeout() {
    let s = TestServer::with_config(|c| {
        c.header_timeout = Duration::from_millis(400);
        c.keep_alive_timeout = Duration::from_secs(120);
    });
    let mut c = s.client();
    assert_eq!(c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut status = None;
    while Instant::now() < deadline {
        if c.try_send(b"\r\n").is_err() {
            break;
        }
        if let Ok(resp) = c.try_read_response(false, Duration::from_millis(50)) {
            status = Some(resp.status);
            break;
        }
    }
    assert_eq!(status, Some(408));
}
