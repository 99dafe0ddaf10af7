//! The fuzz bodies: each takes arbitrary bytes and panics only when plezi-server breaks a
//! property (a panic inside the code under test, or a checked invariant failing).
//!
//! Input layout: the first byte (or two) select limits and how the input is split into reads;
//! the rest is what a peer would send. Split points come from a tiny deterministic generator
//! seeded by the input, so every crash reproduces from its file alone.

use std::net::SocketAddr;

use plezi_server::Request;
use plezi_server::http::{BodyDecoder, BodyKind, HeadParse, HttpError, HttpLimits, parse_head};
use plezi_server::ws::{Decoder, Message, ProtocolError, WsEvent};

use crate::date::{format_imf, parse_imf};
use crate::extension::negotiate;
use crate::handshake::{UpgradeCheck, accept_response, check_upgrade};
use crate::negotiate::{RangeAnswer, accepts_gzip, if_range_holds, none_match, range};
use crate::resolve::decode_path;

/// SplitMix64: a few lines, no dependency, good enough to pick split points.
struct Splits(u64);

impl Splits {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Ascending cut offsets in `0..=len` (reads of 1 to ~40 bytes, sometimes a large one).
    fn cuts(&mut self, len: usize) -> Vec<usize> {
        let mut cuts = Vec::new();
        let mut at = 0usize;
        while at < len {
            let step = match self.next() % 8 {
                0 => 1,
                1..=5 => 1 + (self.next() % 40) as usize,
                _ => 1 + (self.next() % 512) as usize,
            };
            at = (at + step).min(len);
            cuts.push(at);
        }
        cuts
    }
}

fn limits_for(selector: u8) -> HttpLimits {
    match selector % 5 {
        0 => HttpLimits::default(),
        1 => HttpLimits {
            max_header_bytes: 96,
            max_headers: 4,
            max_body_bytes: 16,
        },
        // More header slots than the stack array holds: the heap path.
        2 => HttpLimits {
            max_headers: 200,
            ..HttpLimits::default()
        },
        3 => HttpLimits {
            max_header_bytes: 0,
            max_headers: 0,
            max_body_bytes: 0,
        },
        _ => HttpLimits {
            max_header_bytes: 300,
            max_headers: 128,
            max_body_bytes: 1 << 20,
        },
    }
}

fn check_error(e: &HttpError) {
    assert!(matches!(e.status(), 400 | 413 | 431 | 501 | 505));
    let response = e.response();
    assert_eq!(response.status(), e.status());
    assert!(!e.to_string().is_empty());
}

/// `parse_head` on a read buffer, then everything the connection does with a parsed head:
/// the body decoder, the `Request` accessors and the WebSocket handshake check.
///
/// Properties: no panic; `consumed` within the buffer and the header limit; a `Content-Length`
/// within the body limit; every strict prefix of a complete head is `Partial` (a valid request
/// split across TCP reads must not be refused); the head parses the same without the body bytes.
pub fn http_head(data: &[u8]) {
    let [selector, split_seed, input @ ..] = data else {
        return;
    };
    let limits = limits_for(*selector);
    match parse_head(input, &limits) {
        Ok(HeadParse::Partial) => {
            assert!(input.len() <= limits.max_header_bytes);
        }
        Err(e) => check_error(&e),
        Ok(HeadParse::Complete { head, consumed }) => {
            assert!(consumed <= input.len() && consumed <= limits.max_header_bytes);
            assert_eq!(
                parse_head(&input[..consumed], &limits),
                Ok(HeadParse::Complete {
                    head: head.clone(),
                    consumed
                }),
                "the head parses differently without the bytes after it"
            );
            // Line endings are CRLF only (a bare LF or lone CR is a smuggling vector), and no
            // field carries a line break into what the service sees.
            let raw = &input[..consumed];
            for (i, &b) in raw.iter().enumerate() {
                if b == b'\n' {
                    assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i} accepted");
                }
                if b == b'\r' {
                    assert_eq!(raw.get(i + 1), Some(&b'\n'), "lone CR at {i} accepted");
                }
            }
            for (name, value) in head.headers() {
                assert!(!name.contains(['\r', '\n']) && !value.contains(['\r', '\n']));
            }
            assert!(!head.target().contains(['\r', '\n', ' ']));
            let mut splits = Splits(u64::from(*split_seed));
            for _ in 0..6 {
                let cut = (splits.next() % consumed as u64) as usize;
                assert_eq!(
                    parse_head(&input[..cut], &limits),
                    Ok(HeadParse::Partial),
                    "a prefix of {cut} bytes of a complete {consumed}-byte head is not Partial"
                );
            }
            if let BodyKind::Length(n) = head.body {
                assert!(n > 0 && n <= limits.max_body_bytes as u64);
            }
            let mut decoder = BodyDecoder::new(&head.body, limits.max_body_bytes);
            let mut body = Vec::new();
            if let Ok(used) = decoder.decode(&input[consumed..], &mut body) {
                assert!(used <= input.len() - consumed);
                assert_eq!(body.len() as u64, decoder.received());
            }
            assert!(body.len() <= limits.max_body_bytes);

            if let UpgradeCheck::Valid { accept_key } =
                check_upgrade(head.method(), head.minor_version, head.headers())
            {
                assert_eq!(accept_key.len(), 28);
                assert!(head.minor_version >= 1 && head.method() == "GET");
            }

            let peer = SocketAddr::from(([127, 0, 0, 1], 9));
            let request = Request::from_head(head.clone(), body, peer);
            exercise_request(&request);
            let protocol = request.websocket_protocols().next().map(str::to_owned);
            let mut out = Vec::new();
            let deflate = negotiate(request.header_all("sec-websocket-extensions"));
            accept_response(
                "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                protocol.as_deref(),
                deflate,
                &mut out,
            );
            assert!(out.ends_with(b"\r\n\r\n"));
        }
    }
}

fn exercise_request(request: &Request) {
    let path = request.path();
    assert!(request.target().contains(path) || path == "/");
    if let Some(q) = request.query() {
        assert!(request.target().ends_with(q));
    }
    for (name, value) in request.headers() {
        assert!(request.header(name).is_some());
        assert!(request.header_all(name).any(|v| v == value));
    }
    let _ = request.header("host");
    let _ = request.websocket_protocols().count();
    let _ = (
        request.method(),
        request.minor_version(),
        request.keep_alive(),
    );
    let _ = (request.body().len(), request.is_websocket_upgrade());
}

/// The body decoder fed the same bytes whole and split into reads: same body, same number of
/// bytes consumed, same error. The decoder must consume every byte it is given until the body
/// ends, never hold more than `max_body` bytes of body, and count what it produced.
pub fn http_body(data: &[u8]) {
    let [selector, split_seed, len_hi, len_lo, input @ ..] = data else {
        return;
    };
    let max_body = match selector >> 4 {
        0 => 0,
        1..=7 => usize::from(selector >> 4) * 5,
        _ => 1 << 20,
    };
    let kind = match selector & 3 {
        0 => BodyKind::Chunked,
        1 => BodyKind::Length(u64::from(u16::from_be_bytes([*len_hi, *len_lo]))),
        2 => BodyKind::None,
        _ => BodyKind::Length(u64::MAX - u64::from(*len_lo)),
    };

    let run = |cuts: &[usize]| -> (Result<usize, HttpError>, Vec<u8>, bool) {
        let mut decoder = BodyDecoder::new(&kind, max_body);
        let mut out = Vec::new();
        let mut pos = 0;
        for &end in cuts {
            if pos > end {
                continue;
            }
            match decoder.decode(&input[pos..end], &mut out) {
                Ok(n) => {
                    assert!(n <= end - pos);
                    if !decoder.is_done() {
                        assert_eq!(n, end - pos, "the decoder left bytes before the body ended");
                    }
                    pos += n;
                }
                Err(e) => {
                    check_error(&e);
                    return (Err(e), out, false);
                }
            }
            assert_eq!(out.len() as u64, decoder.received());
            assert!(out.len() <= max_body);
            if decoder.is_done() {
                break;
            }
        }
        (Ok(pos), out, decoder.is_done())
    };

    let whole = run(&[input.len()]);
    let split = run(&Splits(u64::from(*split_seed)).cuts(input.len()));
    match (&whole, &split) {
        (ok @ (Ok(_), ..), other) => assert_eq!(ok, other, "split reads changed the result"),
        ((Err(a), ..), (Err(b), ..)) => assert_eq!(a, b, "split reads changed the error"),
        (w, s) => panic!("whole {w:?} but split {s:?}"),
    }
}

/// An owned copy of a [`WsEvent`], to compare runs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

fn own(e: WsEvent<'_>) -> Ev {
    match e {
        WsEvent::Message(Message::Text(s)) => Ev::Text(s.to_owned()),
        WsEvent::Message(Message::Binary(b)) => Ev::Binary(b.to_vec()),
        WsEvent::Ping(p) => Ev::Ping(p.to_vec()),
        WsEvent::Pong(p) => Ev::Pong(p.to_vec()),
        WsEvent::Close { code, reason } => Ev::Close(code, reason.to_owned()),
    }
}

/// Events, the first error and the unconsumed bytes after feeding a stream cut at `cuts`.
fn ws_run(
    max: usize,
    deflate: bool,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<Ev>, Option<ProtocolError>, usize) {
    let mut decoder = Decoder::new(max);
    if deflate {
        decoder = decoder.with_deflate(15);
    }
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &end in cuts {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        if let Some(n) = decoder.next_frame_len(&buf) {
            assert!(n >= 6);
        }
        let result = decoder.decode(&mut buf, &mut |e| {
            let ev = own(e);
            if let Ev::Binary(b) = &ev {
                assert!(b.len() <= max);
            }
            if let Ev::Text(t) = &ev {
                assert!(t.len() <= max);
            }
            events.push(ev);
        });
        match result {
            Ok(n) => {
                assert!(n <= buf.len());
                buf.drain(..n);
            }
            Err(e) => {
                assert!(matches!(e.close_code, 1002 | 1007 | 1009));
                return (events, Some(e), buf.len());
            }
        }
        assert!(decoder.buffered_bytes() <= max);
    }
    (events, None, buf.len())
}

/// The WebSocket decoder fed arbitrary bytes, whole and split into reads: the same events and
/// the same error whatever the split (and, without an error, the same bytes left over).
pub fn ws_decode(data: &[u8]) {
    let [selector, split_seed, input @ ..] = data else {
        return;
    };
    let max = [0, 1, 125, 126, 200, 65_535, 65_536, 1 << 20][usize::from(selector & 7)];
    // Without and with permessage-deflate (RSV1 then marks compressed messages, inflated under
    // the same limit).
    for deflate in [false, true] {
        let whole = ws_run(max, deflate, input, &[input.len()]);
        let split = ws_run(
            max,
            deflate,
            input,
            &Splits(u64::from(*split_seed)).cuts(input.len()),
        );
        assert_eq!(whole.0, split.0, "split reads changed the events");
        assert_eq!(whole.1, split.1, "split reads changed the error");
        if whole.1.is_none() {
            assert_eq!(whole.2, split.2, "split reads changed the bytes left over");
        }
    }
}

/// The handshake check on arbitrary header lists (`name:value` lines; the first byte picks the
/// method and HTTP minor version), then the 101 answer with an arbitrary chosen subprotocol.
pub fn ws_handshake(data: &[u8]) {
    let [selector, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let method = ["GET", "POST", "get", ""][usize::from(selector & 3)];
    let minor = selector >> 2 & 3;
    let mut lines = text.split('\n');
    let protocol = lines.next();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            (n.to_owned(), v.to_owned())
        })
        .collect();
    let mut out = Vec::new();
    match check_upgrade(
        method,
        minor,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    ) {
        UpgradeCheck::Valid { accept_key } => {
            assert_eq!(accept_key.len(), 28);
            assert!(method == "GET" && minor >= 1);
            // Any permessage-deflate offer the headers carry (parsed in order; a bad one declined).
            let deflate = negotiate(
                headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"))
                    .map(|(_, v)| v.as_str()),
            );
            accept_response(&accept_key, protocol, deflate, &mut out);
            assert!(out.ends_with(b"\r\n\r\n"));
            let head = String::from_utf8(out).expect("the 101 head is text");
            // A chosen protocol or an accepted offer never breaks the header block.
            let lines = 5
                + usize::from(head.contains("Sec-WebSocket-Protocol"))
                + usize::from(deflate.is_some());
            assert_eq!(head.matches("\r\n").count(), lines);
            if let Some(d) = deflate {
                assert!((8..=15).contains(&d.window_bits));
            }
        }
        UpgradeCheck::Invalid(e) => {
            assert!(matches!(e.status(), 400 | 426));
            let _ = (e.headers(), e.to_string());
        }
    }
}

/// The `If-Modified-Since` parser on arbitrary text, and the date formatter on arbitrary
/// seconds: no panic; a parsed date formats to text that parses to the same instant.
pub fn http_date(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // The formatter clamps at 9999-12-31T23:59:59; the parser also takes `23:59:60` that day.
    if let Some(secs) = parse_imf(&text).filter(|&s| s <= 253_402_300_799) {
        let formatted = format_imf(secs);
        let again = std::str::from_utf8(&formatted).expect("IMF dates are ASCII");
        assert_eq!(parse_imf(again), Some(secs), "{text:?} -> {again}");
    }
    let mut bytes = [0u8; 8];
    for (slot, b) in bytes.iter_mut().zip(data) {
        *slot = *b;
    }
    let formatted = format_imf(u64::from_le_bytes(bytes));
    assert!(parse_imf(std::str::from_utf8(&formatted).expect("ASCII")).is_some());
}

/// The static-file helpers on peer text: request paths never decode to a segment that could
/// leave the public folder, and a `Range` answer always lies inside the file. The first 8 bytes
/// give the file length; the rest is split on newlines into a path and header values.
pub fn static_files(data: &[u8]) {
    let (len_bytes, rest) = data.split_at(data.len().min(8));
    let mut len = [0u8; 8];
    len[..len_bytes.len()].copy_from_slice(len_bytes);
    let len = match u64::from_le_bytes(len) {
        n if n % 3 == 0 => n % 10_000,
        n => n,
    };
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.split('\n');
    let path = fields.next().unwrap_or_default();
    let header = fields.next();
    let other = fields.next().unwrap_or_default();
    if let Some(safe) = decode_path(path) {
        for segment in &safe.segments {
            assert!(!segment.is_empty() && segment != b"." && segment != b"..");
            assert!(!segment.iter().any(|&b| b == b'/' || b == b'\\' || b == 0));
        }
        let joined = safe.under(std::path::Path::new("/srv/public"));
        assert!(joined.starts_with("/srv/public"));
        assert!(joined.components().all(|c| matches!(
            c,
            std::path::Component::RootDir | std::path::Component::Normal(_)
        )));
    }
    match range(header, len) {
        RangeAnswer::Partial { start, end } => {
            assert!(start <= end && end < len, "{start}-{end}/{len}")
        }
        RangeAnswer::Full | RangeAnswer::Unsatisfiable => {}
    }
    let _ = accepts_gzip(header);
    let _ = none_match(other, "\"abc\"");
    let _ = if_range_holds(other, "\"abc\"", "Sun, 06 Nov 1994 08:49:37 GMT");
}

/// Origin parsing, the origin policy's two decisions and CORS (preflight and actual responses).
///
/// Input: fields separated by `\n`: origin, host, Sec-Fetch-Site, an allow-list in the
/// `PL_ALLOWED_ORIGINS` syntax, Access-Control-Request-Method, Access-Control-Request-Headers,
/// the request method. The first byte picks options (public origin, CORS, credentials, any).
pub fn origins(data: &[u8]) {
    use plezi_server::{Cors, Origin, OriginPolicy, Preflight};

    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.split('\n');
    let mut field = || fields.next().filter(|f| !f.is_empty());
    let (origin, host, site, list) = (field(), field(), field(), field());
    let (acrm, acrh, method) = (field(), field(), field().unwrap_or("POST"));

    // Parsing: a parsed origin prints as text that parses back to the same origin, and that
    // text never holds what would split a header or leave the origin (`/`, `@`, whitespace).
    for candidate in [origin, host, list].into_iter().flatten() {
        if let Ok(o) = Origin::parse(candidate) {
            let shown = o.to_string();
            assert_eq!(Origin::parse(&shown).as_ref(), Ok(&o), "{candidate:?}");
            assert!(
                !shown
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'@')
                    && shown.matches('/').count() == if o.is_null() { 0 } else { 2 },
                "{shown:?}"
            );
        }
        if let Some(h) = host {
            let _ = Origin::from_host("http", h);
        }
    }

    let mut policy = match list.map(OriginPolicy::from_list) {
        Some(Ok(p)) => p,
        _ => OriginPolicy::default(),
    };
    if selector & 1 != 0
        && let Some(Ok(public)) = host.map(|h| Origin::parse(&format!("https://{h}")))
    {
        policy = policy.public_origin(public);
    }
    if selector & 2 != 0 {
        policy = policy.allow_any();
    }
    let mut cors = Cors::new()
        .allow_methods(["GET", "POST", "PUT"])
        .allow_headers(["content-type", "x-token"])
        .allow_credentials(selector & 4 != 0);
    if selector & 8 != 0 {
        cors = cors.allow_any_origin();
    }
    if let Some(Ok(o)) = list.map(|l| Origin::parse(l.split(',').next().unwrap_or("").trim())) {
        cors = cors.allow_origin(o);
    }
    let cors = (selector & 16 != 0).then_some(cors);

    // The upgrade check: no Origin always passes; one that passes is an allowed origin.
    let upgrade = policy.check_upgrade(origin, host);
    match origin {
        None => assert!(upgrade.is_ok()),
        Some(text) => match Origin::parse(text) {
            Ok(o) => assert_eq!(upgrade.is_ok(), policy.allows(&o, host), "{text:?}"),
            Err(_) => assert!(upgrade.is_err(), "{text:?}"),
        },
    }
    if let Err(refusal) = &upgrade {
        let resp = refusal.response();
        assert_eq!(resp.status(), 403);
    }

    // The cross-site check: safe methods and no browser headers pass; `null` passes only when
    // listed; a refusal is a 403.
    let checked = policy.check_request(method, site, origin, host, cors.as_ref());
    if matches!(method, "GET" | "HEAD" | "OPTIONS") || (site.is_none() && origin.is_none()) {
        assert!(checked.is_ok());
    }
    if let Err(refusal) = &checked {
        assert_eq!(refusal.response().status(), 403);
    }

    // CORS: a grant echoes the allowed origin (never `*` with credentials), every header it
    // names survives the response builder, and refusals carry no grant.
    if let (Some(cors), Some(origin_text)) = (&cors, origin) {
        let preflight = cors.preflight(origin_text, acrm.unwrap_or("PUT"), acrh);
        let granted = matches!(preflight, Preflight::Granted(_));
        if let Preflight::Granted(headers) = &preflight {
            let o = Origin::parse(origin_text).expect("a granted origin parses");
            assert!(cors.allows_origin(&o));
            let allow = headers
                .iter()
                .find(|(n, _)| *n == "Access-Control-Allow-Origin")
                .map(|(_, v)| v.as_str());
            if selector & 4 != 0 {
                assert_eq!(allow, Some(o.to_string().as_str()));
            }
        }
        let expected = if granted { 204 } else { 403 };
        let count = match &preflight {
            Preflight::Granted(h) => h.len() + 1,
            Preflight::Refused(_) => 2,
        };
        let resp = preflight.response();
        assert_eq!(resp.status(), expected);
        assert!(
            resp.headers().len() >= count,
            "a preflight header was dropped"
        );
        if !granted {
            assert!(resp.header_value("access-control-allow-origin").is_none());
        }
        for (name, value) in cors.response_headers(Some(origin_text)) {
            assert!(
                plezi_server::Response::new(200)
                    .try_header(name, &value)
                    .is_ok(),
                "{name}: {value:?}"
            );
            if name == "Access-Control-Allow-Origin" && selector & 4 != 0 {
                assert_ne!(value, "*");
            }
        }
    }
}
