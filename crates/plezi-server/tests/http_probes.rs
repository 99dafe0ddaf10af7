//! HTTP/1.1 behaviour over raw TCP: error answers (400, 408, 413, 431, 501, 505), smuggling-shaped
//! requests closing the connection, pipelining, keep-alive, `Expect: 100-continue`, HEAD, chunked
//! request bodies, required response headers, HTTP/1.0, half-closed sockets and idle timeouts.

mod common;

use std::time::Duration;

use common::{BIG_LEN, Client, ROOT_TEXT, STEP, TestServer, big_body};

const GET_ROOT: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// Sends `raw` on a fresh connection, expects `status`, then expects the server to close.
fn expect_error_and_close(server: &TestServer, raw: &[u8], status: u16) {
    let mut c = server.client();
    // The server may answer and close before reading everything; a failed write is fine.
    let _ = c.try_send(raw);
    let resp = c.try_read_response(false, STEP).unwrap_or_else(|e| {
        panic!(
            "expected {status} for {:?}, got no response: {e:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(200)])
        )
    });
    assert_eq!(
        resp.status,
        status,
        "request {:?} -> {resp:?}",
        String::from_utf8_lossy(&raw[..raw.len().min(200)])
    );
    c.expect_eof(STEP);
}

#[test]
fn malformed_request_line_is_400_and_close() {
    let s = TestServer::start();
    expect_error_and_close(&s, b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400);
    expect_error_and_close(&s, b"\x00\x01\x02 garbage\r\n\r\n", 400);
    expect_error_and_close(&s, b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n", 400);
}

#[test]
fn bad_header_is_400_and_close() {
    let s = TestServer::start();
    expect_error_and_close(&s, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400);
    expect_error_and_close(&s, b"GET / HTTP/1.1\r\nNoColonHere\r\n\r\n", 400);
}

#[test]
fn host_rules_and_whitespace_before_colon_are_400() {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with more than one, gets 400;
    // §5.1: whitespace between a field name and the colon gets 400.
    let s = TestServer::start();
    expect_error_and_close(&s, b"GET / HTTP/1.1\r\n\r\n", 400);
    expect_error_and_close(&s, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    expect_error_and_close(&s, b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400);
    // HTTP/1.0 needs no Host.
    let mut c = s.client();
    assert_eq!(c.request("GET / HTTP/1.0\r\n\r\n").status, 200);
}

#[test]
fn header_block_over_32k_is_431() {
    let s = TestServer::start();
    let big = "a".repeat(33 * 1024);
    let raw = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n");
    expect_error_and_close(&s, raw.as_bytes(), 431);
    // Just under the limit is fine.
    let ok = "b".repeat(30 * 1024);
    let mut c = s.client();
    let resp = c.request(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {ok}\r\n\r\n"));
    assert_eq!(resp.status, 200, "{resp:?}");
}

#[test]
fn header_block_over_limit_without_end_is_431() {
    // A client that keeps sending header bytes without ever ending the head.
    let s = TestServer::start();
    let mut c = s.client();
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    while raw.len() < 40 * 1024 {
        raw.push_str("X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    let _ = c.try_send(raw.as_bytes());
    let resp = c
        .try_read_response(false, STEP)
        .unwrap_or_else(|e| panic!("expected 431 for an endless head, got {e:?}"));
    assert_eq!(resp.status, 431, "{resp:?}");
    c.expect_eof(STEP);
}

#[test]
fn more_than_128_fields_is_431() {
    let s = TestServer::start();
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for i in 0..140 {
        raw.push_str(&format!("X-H-{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    expect_error_and_close(&s, raw.as_bytes(), 431);
    // 100 fields are fine.
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for i in 0..100 {
        raw.push_str(&format!("X-H-{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    let resp = s.client().request(raw);
    assert_eq!(resp.status, 200, "{resp:?}");
}

#[test]
fn content_length_over_limit_is_413_without_sending_the_body() {
    let s = TestServer::with_config(|c| c.max_body_bytes = 1024);
    let mut c = s.client();
    // Only the head: the server must answer from Content-Length alone, not wait for the body.
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    let resp = c.read_response();
    assert_eq!(resp.status, 413, "{resp:?}");
    c.expect_eof(STEP);
    // At the limit is fine.
    let body = "x".repeat(1024);
    let resp = s.client().request(format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n{body}"
    ));
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.body, body.as_bytes());
}

#[test]
fn chunked_body_over_limit_is_413() {
    let s = TestServer::with_config(|c| c.max_body_bytes = 1024);
    let mut c = s.client();
    let chunk = "y".repeat(600);
    let raw = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let _ = c.try_send(raw);
    let resp = c.read_response();
    assert_eq!(resp.status, 413, "{resp:?}");
    c.expect_eof(STEP);
}

#[test]
fn unsupported_transfer_coding_is_501() {
    let s = TestServer::start();
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    );
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

#[test]
fn http2_request_line_is_505() {
    let s = TestServer::start();
    expect_error_and_close(&s, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    expect_error_and_close(&s, b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505);
}

#[test]
fn content_length_with_transfer_encoding_is_400_and_close() {
    let s = TestServer::start();
    // A smuggling-shaped request: a second request hidden in the body must never be answered.
    let raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
                0\r\n\r\nGET /info HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut c = s.client();
    let _ = c.try_send(raw);
    let resp = c.read_response();
    assert_eq!(resp.status, 400, "{resp:?}");
    let rest = c.expect_eof(STEP);
    assert!(
        !String::from_utf8_lossy(&rest).contains("HTTP/1.1"),
        "a second response leaked after the 400: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn duplicate_differing_content_length_is_400_and_close() {
    let s = TestServer::start();
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
        400,
    );
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 5\r\n\r\nabcde",
        400,
    );
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
        400,
    );
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc",
        400,
    );
}

#[test]
fn invalid_chunk_size_is_400_and_close() {
    let s = TestServer::start();
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
    );
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        400,
    );
    // Overflowing size.
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        400,
    );
    // Chunk data not followed by CRLF.
    expect_error_and_close(
        &s,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
        400,
    );
}

#[test]
fn slow_loris_gets_408_and_close() {
    let s = TestServer::with_config(|c| c.header_timeout = Duration::from_millis(400));
    let mut c = s.client();
    c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    let resp = c
        .try_read_response(false, STEP)
        .unwrap_or_else(|e| panic!("expected 408 after the header timeout, got {e:?}"));
    assert_eq!(resp.status, 408, "{resp:?}");
    c.expect_eof(STEP);
}

#[test]
fn slow_loris_trickling_bytes_still_gets_408() {
    // Bytes keep arriving, but the head is never complete: the timeout is for the whole head.
    let s = TestServer::with_config(|c| c.header_timeout = Duration::from_millis(500));
    let mut c = s.client();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n");
    let start = std::time::Instant::now();
    let mut got = None;
    while start.elapsed() < STEP {
        if c.try_send("X: y\r\n").is_err() {
            break;
        }
        match c.try_read_response(false, Duration::from_millis(100)) {
            Ok(r) => {
                got = Some(r);
                break;
            }
            Err(common::client::ReadErr::Timeout) => continue,
            Err(e) => panic!("connection ended without a 408: {e:?}"),
        }
    }
    let resp = got.expect("no 408 while trickling header bytes");
    assert_eq!(resp.status, 408, "{resp:?}");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = TestServer::start();
    let mut c = s.client();
    c.send(
        "GET /info?n=1 HTTP/1.1\r\nHost: t\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\nsecond!\
         GET /info?n=3 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let r1 = c.read_response();
    let r2 = c.read_response();
    let r3 = c.read_response();
    assert_eq!((r1.status, r2.status, r3.status), (200, 200, 200));
    assert_eq!(r1.text(), "method=GET path=/info query=n=1");
    assert_eq!(r2.text(), "second!");
    assert_eq!(r3.text(), "method=GET path=/info query=n=3");
    // Still open afterwards.
    let r4 = c.request(GET_ROOT);
    assert_eq!(r4.text(), ROOT_TEXT);
}

#[test]
fn pipelined_requests_split_across_writes() {
    let s = TestServer::start();
    let mut c = s.client();
    let all = "GET /info?n=1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\n\
               Content-Length: 5\r\n\r\nhelloGET /info?n=3 HTTP/1.1\r\nHost: t\r\n\r\n";
    for piece in all.as_bytes().chunks(7) {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.read_response().text(), "method=GET path=/info query=n=1");
    assert_eq!(c.read_response().text(), "hello");
    assert_eq!(c.read_response().text(), "method=GET path=/info query=n=3");
}

#[test]
fn keep_alive_reuses_the_connection() {
    let s = TestServer::start();
    let mut c = s.client();
    for i in 0..20 {
        let resp = c.request(format!("GET /info?i={i} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), format!("method=GET path=/info query=i={i}"));
        assert!(
            !resp.connection_has("close"),
            "keep-alive response says close: {resp:?}"
        );
    }
}

#[test]
fn expect_100_continue_gets_100_before_the_body() {
    let s = TestServer::start();
    let mut c = s.client();
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_response();
    assert_eq!(
        interim.status, 100,
        "expected 100 Continue first: {interim:?}"
    );
    c.send("hello there");
    let resp = c.read_response();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.text(), "hello there");
}

#[test]
fn expect_100_continue_over_limit_gets_413_not_100() {
    let s = TestServer::with_config(|c| c.max_body_bytes = 100);
    let mut c = s.client();
    c.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
    );
    let resp = c.read_response();
    assert_eq!(resp.status, 413, "{resp:?}");
}

#[test]
fn head_has_no_body_and_same_length() {
    let s = TestServer::start();
    let mut c = s.client();
    let get = c.request(GET_ROOT);
    c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_head_response();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        get.header("content-length"),
        "{head:?} vs {get:?}"
    );
    // If a body had been sent it would corrupt the next response on this connection.
    let after = c.request("GET /info HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(after.text(), "method=GET path=/info query=");

    c.send("HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read_head_response();
    assert_eq!(head.status, 200);
    if let Some(cl) = head.header("content-length") {
        assert_eq!(cl, BIG_LEN.to_string());
    }
    let after = c.request(GET_ROOT);
    assert_eq!(
        after.text(),
        ROOT_TEXT,
        "bytes after a HEAD response: body was sent?"
    );
}

#[test]
fn chunked_request_body_is_decoded() {
    let s = TestServer::start();
    let mut c = s.client();
    let resp = c.request(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello world");
    // And the connection stays usable.
    assert_eq!(c.request(GET_ROOT).text(), ROOT_TEXT);
}

#[test]
fn responses_carry_date_length_and_connection() {
    let s = TestServer::start();
    let mut c = s.client();
    let resp = c.request(GET_ROOT);
    assert_eq!(resp.version, "HTTP/1.1");
    assert_eq!(resp.status, 200);
    let date = resp
        .header("date")
        .unwrap_or_else(|| panic!("no Date header: {resp:?}"));
    assert!(
        date.ends_with(" GMT") && date.len() == 29,
        "Date not IMF-fixdate: {date:?}"
    );
    assert_eq!(
        resp.header("content-length"),
        Some(ROOT_TEXT.len().to_string().as_str())
    );
    assert!(
        resp.header("connection").is_some(),
        "no Connection header: {resp:?}"
    );
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{resp:?}"
    );
    let not_found = c.request("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(not_found.status, 404);
    assert!(not_found.header("date").is_some() && not_found.header("content-length").is_some());
}

#[test]
fn large_body_arrives_whole() {
    let s = TestServer::start();
    let mut c = s.client();
    let resp = c.request("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), BIG_LEN);
    assert!(resp.body == big_body(), "large body content differs");
    // Keep-alive survives a large body.
    assert_eq!(c.request(GET_ROOT).text(), ROOT_TEXT);
}

#[test]
fn large_request_body_is_received() {
    let s = TestServer::start();
    let mut c = s.client();
    let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // Write from another thread: the echo may start before the whole body is written.
    let mut writer = c.stream.try_clone().expect("clone socket");
    let body2 = body.clone();
    let t = std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(head.as_bytes())?;
        writer.write_all(&body2)
    });
    let resp = c
        .try_read_response(false, Duration::from_secs(30))
        .expect("echo of 2 MB");
    t.join().expect("writer thread").expect("writing the body");
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == body,
        "echoed body differs (len {})",
        resp.body.len()
    );
}

#[test]
fn http10_closes_by_default() {
    let s = TestServer::start();
    let mut c = s.client();
    c.send("GET / HTTP/1.0\r\n\r\n");
    let resp = c.read_response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), ROOT_TEXT);
    c.expect_eof(STEP);
}

#[test]
fn connection_close_is_honoured() {
    let s = TestServer::start();
    let mut c = s.client();
    c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let resp = c.read_response();
    assert_eq!(resp.status, 200);
    assert!(resp.connection_has("close"), "{resp:?}");
    c.expect_eof(STEP);
}

#[test]
fn half_closed_client_still_gets_the_response() {
    let s = TestServer::start();
    let mut c = s.client();
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping");
    c.shutdown_write();
    let resp = c.read_response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "ping");
    c.expect_eof(STEP);

    // Pipelined requests then EOF: all answered.
    let mut c = s.client();
    c.send("GET /info?a HTTP/1.1\r\nHost: t\r\n\r\nGET /info?b HTTP/1.1\r\nHost: t\r\n\r\n");
    c.shutdown_write();
    assert_eq!(c.read_response().text(), "method=GET path=/info query=a");
    assert_eq!(c.read_response().text(), "method=GET path=/info query=b");
    c.expect_eof(STEP);
}

#[test]
fn keep_alive_idle_timeout_closes() {
    let s = TestServer::with_config(|c| c.keep_alive_timeout = Duration::from_millis(300));
    let mut c = s.client();
    assert_eq!(c.request(GET_ROOT).status, 200);
    // The header timeout is still 10 s: only the keep-alive timeout can close it this soon.
    let rest = c.expect_eof(Duration::from_secs(5));
    assert!(rest.is_empty(), "unexpected bytes before close: {rest:?}");
}

#[test]
fn connection_that_never_sends_is_closed() {
    let s = TestServer::with_config(|c| c.header_timeout = Duration::from_millis(300));
    let mut idle = s.client();
    let rest = idle.expect_eof(STEP);
    // It may say 408 or nothing at all, but never anything else.
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "idle connection got {text:?}"
    );
}

#[test]
fn server_survives_abrupt_disconnects() {
    let s = TestServer::start();
    for _ in 0..20 {
        let mut c = s.client();
        let _ = c.try_send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\npartial");
        drop(c);
        let mut c = s.client();
        let _ = c.try_send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
        drop(c);
    }
    let mut c = s.client();
    assert_eq!(c.request(GET_ROOT).text(), ROOT_TEXT);
}

#[test]
fn error_then_client_keeps_working_on_new_connections() {
    let s = TestServer::start();
    for _ in 0..5 {
        expect_error_and_close(&s, b"BROKEN\r\n\r\n", 400);
    }
    let mut c = Client::connect(s.addr);
    assert_eq!(c.request(GET_ROOT).status, 200);
}
