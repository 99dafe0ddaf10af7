use super::*;

const BROWSER_GET: &[u8] = b"GET /index.html?x=1 HTTP/1.1\r\n\
Host: localhost:3000\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
If-None-Match: \"abc\"\r\n\r\n";

fn limits() -> HttpLimits {
    HttpLimits::default()
}

fn complete(buf: &[u8]) -> (RequestHead, usize) {
    match parse_head(buf, &limits()) {
        Ok(HeadParse::Complete { head, consumed }) => (head, consumed),
        other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn status_of(buf: &[u8]) -> u16 {
    match parse_head(buf, &limits()) {
        Err(e) => e.status(),
        Ok(HeadParse::Complete { .. }) => 200,
        Ok(HeadParse::Partial) => 0,
    }
}

#[test]
fn parses_a_browser_get() {
    let (head, consumed) = complete(BROWSER_GET);
    assert_eq!(consumed, BROWSER_GET.len());
    assert_eq!(head.method(), "GET");
    assert_eq!(head.target(), "/index.html?x=1");
    assert_eq!(head.minor_version, 1);
    assert_eq!(head.headers().count(), 10);
    assert_eq!(head.headers().next(), Some(("Host", "localhost:3000")));
    assert_eq!(head.header("HOST"), Some("localhost:3000"));
    assert_eq!(head.body, BodyKind::None);
    assert!(head.keep_alive);
    assert!(!head.expect_continue);
    assert!(!head.upgrade_websocket);
}

#[test]
fn every_prefix_is_partial() {
    let post = b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    let upgrade = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    for req in [
        BROWSER_GET,
        &post[..],
        &upgrade[..],
        b"\r\nGET / HTTP/1.0\r\n\r\n",
    ] {
        let (whole, consumed) = complete(req);
        for cut in 0..consumed {
            assert_eq!(
                parse_head(&req[..cut], &limits()),
                Ok(HeadParse::Partial),
                "cut at {cut} of {:?}",
                String::from_utf8_lossy(req)
            );
        }
        for cut in consumed..=req.len() {
            assert_eq!(complete(&req[..cut]), (whole.clone(), consumed));
        }
    }
}

#[test]
fn every_prefix_of_a_bad_request_is_partial_or_the_same_error() {
    for (req, status) in [
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"[..],
            400,
        ),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
    ] {
        assert_eq!(status_of(req), status);
        for cut in 0..req.len() {
            let s = status_of(&req[..cut]);
            assert!(s == 0 || s == status, "cut {cut}: {s}");
        }
    }
}

#[test]
fn pipelined_heads() {
    let two = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: x\r\n";
    let (a, n1) = complete(two);
    assert_eq!(a.target(), "/a");
    assert_eq!(&two[n1..n1 + 4], b"POST");
    let (b, n2) = complete(&two[n1..]);
    assert_eq!(b.target(), "/b");
    assert_eq!(b.body, BodyKind::Length(2));
    let rest = &two[n1 + n2..];
    assert_eq!(&rest[..2], b"hi");
    assert_eq!(parse_head(&rest[2..], &limits()), Ok(HeadParse::Partial));
}

#[test]
fn error_statuses() {
    let cases: &[(&[u8], u16)] = &[
        // malformed
        (b"GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n", 400),   // whitespace before colon
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n  folded\r\n\r\n", 400), // obs-fold
        (b"GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: a\n\n", 400),                 // bare LF
        (b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400),     // one bare LF
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),             // bare LF ending the head
        (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),         // bare LF before the request line
        (b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),     // bare CR
        (b"GET / HTTP/1.1\r\n: empty\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400), // NUL in a value
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),          // double space
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),         // not origin/absolute form
        (b"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/11\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),                      // no Host on 1.1
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        // versions
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\n\r\n", 505),
        // framing
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 52428801\r\n\r\n", 413),
    ];
    for (req, status) in cases {
        assert_eq!(
            status_of(req),
            *status,
            "{:?}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn accepted_framings() {
    let (h, _) =
        complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(h.body, BodyKind::Length(5));
    let (h, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n");
    assert_eq!(h.body, BodyKind::Length(5));
    let (h, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.body, BodyKind::None);
    let (h, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 52428800\r\n\r\n");
    assert_eq!(h.body, BodyKind::Length(52_428_800));
    let (h, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(h.body, BodyKind::Chunked);
    let (h, _) = complete(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n");
    assert_eq!(h.body, BodyKind::Chunked);
}

#[test]
fn keep_alive_rules() {
    let cases: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n",
            true,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            false,
        ),
    ];
    for (req, keep) in cases {
        assert_eq!(
            complete(req).0.keep_alive,
            *keep,
            "{:?}",
            String::from_utf8_lossy(req)
        );
    }
}

#[test]
fn expect_and_upgrade_flags() {
    let (h, _) = complete(
        b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
    );
    assert!(h.expect_continue);
    let (h, _) = complete(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(!h.expect_continue, "HTTP/1.0 clients do not understand 100");

    let (h, _) = complete(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n");
    assert!(h.upgrade_websocket);
    let (h, _) = complete(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    assert!(!h.upgrade_websocket, "Connection: upgrade is required");
    let (h, _) =
        complete(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n");
    assert!(!h.upgrade_websocket);
}

#[test]
fn other_request_forms_and_values() {
    let (h, _) = complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.target(), "*");
    let (h, _) = complete(b"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.target(), "http://a/b");
    // Leading empty lines before the request line are ignored (RFC 9112 §2.2).
    let (h, n) = complete(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((h.target(), n), ("/", 31));
    // Values are trimmed; empty values are fine; obs-text survives as U+FFFD.
    let (h, _) = complete(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Pad: \t v \t\r\nX-Latin: caf\xe9\r\n\r\n",
    );
    assert_eq!(h.headers().nth(1).map(|f| f.1), Some(""));
    assert_eq!(h.headers().nth(2).map(|f| f.1), Some("v"));
    assert_eq!(h.headers().nth(3).map(|f| f.1), Some("caf\u{fffd}"));
    // HTTP/1.0 needs no Host.
    assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").0.minor_version, 0);
}

#[test]
fn header_size_limit() {
    let small = HttpLimits {
        max_header_bytes: 64,
        ..HttpLimits::default()
    };
    let ok = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert!(matches!(
        parse_head(ok, &small),
        Ok(HeadParse::Complete { .. })
    ));

    // Incomplete and exactly at the limit: still partial. One byte more: 431.
    let mut partial = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    partial.resize(64, b'v');
    assert_eq!(parse_head(&partial, &small), Ok(HeadParse::Partial));
    partial.push(b'v');
    assert_eq!(parse_head(&partial, &small), Err(HttpError::HeaderTooLarge));

    // A complete head longer than the limit arriving at once is 431 too.
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    big.resize(100, b'v');
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_head(&big, &small), Err(HttpError::HeaderTooLarge));

    // A head of exactly the limit, followed by body bytes, is fine.
    let mut exact = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nX: ".to_vec();
    exact.resize(60, b'v');
    exact.extend_from_slice(b"\r\n\r\nbody");
    let r = parse_head(&exact, &small);
    assert!(
        matches!(r, Ok(HeadParse::Complete { consumed: 64, .. })),
        "{r:?}"
    );

    // The default: 32 KiB.
    let mut huge = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: ".to_vec();
    huge.resize(32 * 1024 + 1, b'c');
    assert_eq!(parse_head(&huge, &limits()), Err(HttpError::HeaderTooLarge));
}

fn with_headers(n: usize) -> Vec<u8> {
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..n {
        req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req
}

#[test]
fn header_count_limit() {
    assert!(matches!(
        parse_head(&with_headers(128), &limits()),
        Ok(HeadParse::Complete { .. })
    ));
    assert_eq!(
        parse_head(&with_headers(129), &limits()),
        Err(HttpError::TooManyHeaders)
    );
    assert_eq!(HttpError::TooManyHeaders.status(), 431);

    let few = HttpLimits {
        max_headers: 3,
        ..HttpLimits::default()
    };
    assert!(matches!(
        parse_head(&with_headers(3), &few),
        Ok(HeadParse::Complete { .. })
    ));
    assert_eq!(
        parse_head(&with_headers(4), &few),
        Err(HttpError::TooManyHeaders)
    );

    // More slots than the stack array: the heap path.
    let many = HttpLimits {
        max_headers: 300,
        ..HttpLimits::default()
    };
    let r = parse_head(&with_headers(300), &many);
    assert!(matches!(r, Ok(HeadParse::Complete { ref head, .. }) if head.headers().count() == 300));
    assert_eq!(
        parse_head(&with_headers(301), &many),
        Err(HttpError::TooManyHeaders)
    );
}

#[test]
fn body_limit_is_configurable() {
    let tiny = HttpLimits {
        max_body_bytes: 10,
        ..HttpLimits::default()
    };
    let req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n";
    assert_eq!(parse_head(req, &tiny), Err(HttpError::BodyTooLarge));
    let req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
    assert!(matches!(
        parse_head(req, &tiny),
        Ok(HeadParse::Complete { .. })
    ));
}

/// Random bytes and random mutations of a valid request never panic and never report a
/// `consumed` beyond the buffer.
#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let mut req = BROWSER_GET.to_vec();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % req.len() as u64) as usize;
            req[i] = next() as u8;
        }
        let cut = (next() % (req.len() as u64 + 1)) as usize;
        if let Ok(HeadParse::Complete { consumed, .. }) = parse_head(&req[..cut], &limits()) {
            assert!(consumed <= cut);
        }
    }
}

#[test]
fn bare_lf_detection_across_chunk_boundaries() {
    // Heads long enough to span several 255-byte counting chunks, with the CRLF of each line
    // landing at every offset; one variant has a single bare LF somewhere in the middle.
    for pad in 0..300 {
        let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..4 {
            req.extend_from_slice(format!("X-{i}: ").as_bytes());
            req.extend(std::iter::repeat_n(b'v', pad + i * 37));
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"\r\n");
        assert!(
            matches!(parse_head(&req, &limits()), Ok(HeadParse::Complete { .. })),
            "pad {pad}"
        );
        let second_line_end = req.iter().rposition(|&b| b == b'\r').unwrap() - 2;
        let cr = req[..second_line_end]
            .iter()
            .rposition(|&b| b == b'\r')
            .unwrap();
        req.remove(cr);
        assert_eq!(status_of(&req), 400, "pad {pad}");
    }
}
