//! Request-head parsing: httparse does the tokenizing, this module adds the framing rules of
//! RFC 9112 (message body length, smuggling-shaped requests) and the strictness httparse leaves out
//! (bare LF line endings).

use std::mem::MaybeUninit;

use super::head_text::HeadText;
use super::{HttpError, HttpLimits};

/// How the body of a request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (neither `Content-Length` nor `Transfer-Encoding`).
    None,
    /// A body of exactly this many bytes (`Content-Length`).
    Length(u64),
    /// A chunked body (`Transfer-Encoding: chunked`).
    Chunked,
}

/// A parsed and validated request head.
///
/// Its text (method, target, header fields) is copied out of the read buffer into one
/// allocation with offsets, so the buffer can be reused; the accessors borrow from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method, target and header fields.
    pub(crate) text: HeadText,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// How the body that follows the head is framed.
    pub body: BodyKind,
    /// Whether the connection may stay open after the response (before the response's own say).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request: send [`super::CONTINUE_100`] before reading the body.
    pub expect_continue: bool,
    /// `Upgrade: websocket` and a `Connection: upgrade` token are both present (the handshake itself
    /// is validated by the WebSocket layer).
    pub upgrade_websocket: bool,
}

impl RequestHead {
    /// The method token as sent (`GET`, `POST`, ...; case-sensitive).
    pub fn method(&self) -> &str {
        self.text.method()
    }

    /// The raw request-target (`/a%20b?x=1`, `*`, or an absolute URI).
    pub fn target(&self) -> &str {
        self.text.target()
    }

    /// Header fields in arrival order, names as sent (compare case-insensitively).
    pub fn headers(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> + Clone + '_ {
        self.text.fields()
    }

    /// The first value of a header, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.text.value(name)
    }

    /// Every value of a header, in order, compared case-insensitively.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.text.values(name)
    }
}

/// Outcome of [`parse_head`] on a buffer that did not hold an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "the head is moved once into its request; boxing it would add the allocation its inline offsets save"
)]
pub enum HeadParse {
    /// The head is not complete yet: read more and call again with the longer buffer.
    Partial,
    /// A complete head; the body (if any) starts at `buf[consumed..]`.
    Complete {
        /// The parsed head.
        head: RequestHead,
        /// Bytes of `buf` the head occupied (request line, fields and the empty line).
        consumed: usize,
    },
}

/// Header slots kept on the stack; a larger `max_headers` uses a heap buffer.
const STACK_HEADERS: usize = 128;

/// Parses a request head from the start of `buf`.
///
/// Returns `Partial` until the empty line ending the head has arrived, and an error (answer it with
/// [`HttpError::response`] and close) as soon as the head is known to be invalid or too large:
/// 431 once `buf` holds more than `max_header_bytes` without a complete head, or more than
/// `max_headers` fields; 400 for malformed syntax (including obs-fold, bare LF line endings and
/// whitespace before a colon), a missing or repeated `Host` on HTTP/1.1, both `Content-Length` and
/// `Transfer-Encoding`, conflicting or invalid `Content-Length`, `Transfer-Encoding` on HTTP/1.0;
/// 501 for any transfer coding other than exactly `chunked`; 413 for a `Content-Length` above
/// `max_body_bytes`; 505 for an HTTP version other than 1.0 and 1.1.
pub fn parse_head(buf: &[u8], limits: &HttpLimits) -> Result<HeadParse, HttpError> {
    let window = &buf[..buf.len().min(limits.max_header_bytes)];
    if limits.max_headers <= STACK_HEADERS {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        parse_in(buf.len(), window, &mut slots[..limits.max_headers], limits)
    } else {
        let mut slots = Vec::with_capacity(limits.max_headers);
        slots.resize_with(limits.max_headers, MaybeUninit::uninit);
        parse_in(buf.len(), window, &mut slots, limits)
    }
}

fn parse_in<'b>(
    buf_len: usize,
    window: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
    limits: &HttpLimits,
) -> Result<HeadParse, HttpError> {
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(window, slots) {
        Ok(httparse::Status::Partial) if buf_len > limits.max_header_bytes => {
            Err(HttpError::HeaderTooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(HeadParse::Partial),
        Ok(httparse::Status::Complete(consumed)) => {
            if has_bare_lf(&window[..consumed]) {
                return Err(HttpError::BadRequest("line ending without CR"));
            }
            let head = validate(&req, limits)?;
            Ok(HeadParse::Complete { head, consumed })
        }
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::TooManyHeaders),
        Err(httparse::Error::Version) => Err(version_error(window)),
        Err(httparse::Error::HeaderName) => Err(HttpError::BadRequest(
            "invalid header name (whitespace before ':' and folded lines are not allowed)",
        )),
        Err(httparse::Error::HeaderValue) => {
            Err(HttpError::BadRequest("invalid byte in a header value"))
        }
        Err(httparse::Error::Token) => Err(HttpError::BadRequest("invalid request line")),
        Err(_) => Err(HttpError::BadRequest("malformed request head")),
    }
}

/// True when a `\n` is not preceded by `\r` (httparse accepts bare LF; RFC 9112 lets us refuse it).
///
/// httparse has already refused any CR not followed by LF, so every CR in a complete head starts a
/// CRLF: a bare LF exists exactly when there are more LFs than CRs. Two counting passes vectorize.
fn has_bare_lf(head: &[u8]) -> bool {
    // Byte-wide counters over chunks of at most 255 bytes cannot overflow and compile to SIMD.
    // Totals, not per-chunk comparisons: a CRLF may straddle two chunks.
    let (mut lf_total, mut cr_total) = (0usize, 0usize);
    for chunk in head.chunks(255) {
        let (mut lf, mut cr) = (0u8, 0u8);
        for &b in chunk {
            lf += u8::from(b == b'\n');
            cr += u8::from(b == b'\r');
        }
        lf_total += usize::from(lf);
        cr_total += usize::from(cr);
    }
    lf_total != cr_total
}

/// httparse only knows HTTP/1.0 and 1.1: a well-formed `HTTP/<digit>` version is "not supported"
/// (505), anything else is a malformed request line (400).
fn version_error(window: &[u8]) -> HttpError {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    let rest = &window[start..];
    let line_end = rest.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &rest[..line_end.unwrap_or(rest.len())];
    let mut parts = line.split(|&b| b == b' ');
    let (_method, _target, version) = (parts.next(), parts.next(), parts.next());
    let three_parts = parts.next().is_none();
    // `HTTP/<digit>.<digit>`, or a prefix of it when the line has not fully arrived yet.
    let line_complete = line_end.is_some();
    let well_formed = match version.and_then(|v| v.strip_prefix(b"HTTP/")) {
        Some([major, b'.', minor]) => major.is_ascii_digit() && minor.is_ascii_digit(),
        Some([major] | [major, b'.']) => major.is_ascii_digit() && !line_complete,
        _ => false,
    };
    if well_formed && three_parts {
        HttpError::VersionNotSupported
    } else {
        HttpError::BadRequest("invalid HTTP version")
    }
}

/// Comma-separated list elements, trimmed, empty elements skipped (RFC 9110 §5.6.1).
fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|e| e.trim_matches([' ', '\t']))
        .filter(|e| !e.is_empty())
}

fn parse_content_length(value: &str, seen: &mut Option<u64>) -> Result<(), HttpError> {
    let mut any = false;
    for element in value.split(',').map(|e| e.trim_matches([' ', '\t'])) {
        any = true;
        if element.is_empty() || !element.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::BadRequest("invalid Content-Length"));
        }
        let n: u64 = element
            .parse()
            .map_err(|_| HttpError::BadRequest("Content-Length overflows"))?;
        match *seen {
            Some(prev) if prev != n => {
                return Err(HttpError::BadRequest("conflicting Content-Length values"));
            }
            _ => *seen = Some(n),
        }
    }
    if !any {
        return Err(HttpError::BadRequest("invalid Content-Length"));
    }
    Ok(())
}

fn validate(
    req: &httparse::Request<'_, '_>,
    limits: &HttpLimits,
) -> Result<RequestHead, HttpError> {
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::BadRequest("incomplete request line"));
    };
    let origin_or_absolute = target.starts_with('/') || target.contains("://") || target == "*";
    if !origin_or_absolute {
        return Err(HttpError::BadRequest("invalid request target"));
    }

    let capacity = method.len()
        + target.len()
        + req
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum::<usize>();
    let mut text = HeadText::new(method, target, capacity, req.headers.len());
    let mut host_count = 0u32;
    let mut content_length: Option<u64> = None;
    let mut codings = 0u32;
    let mut only_chunked = true;
    let (mut conn_close, mut conn_keep_alive, mut conn_upgrade) = (false, false, false);
    let mut upgrade_websocket = false;
    let mut expect_continue = false;

    for h in req.headers.iter() {
        let name = h.name;
        let value = text.push_field(name, h.value);
        if name.eq_ignore_ascii_case("host") {
            host_count += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            parse_content_length(value, &mut content_length)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in list_elements(value) {
                codings += 1;
                only_chunked &= coding.eq_ignore_ascii_case("chunked");
            }
            if codings == 0 {
                return Err(HttpError::NotImplemented("an empty Transfer-Encoding"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in list_elements(value) {
                conn_close |= token.eq_ignore_ascii_case("close");
                conn_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                conn_upgrade |= token.eq_ignore_ascii_case("upgrade");
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade_websocket |= list_elements(value).any(|p| p.eq_ignore_ascii_case("websocket"));
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= value.trim().eq_ignore_ascii_case("100-continue");
        }
    }

    let body = match (content_length, codings) {
        (Some(_), c) if c > 0 => {
            return Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        (_, c) if c > 0 && minor_version == 0 => {
            return Err(HttpError::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        (_, 1) if only_chunked => BodyKind::Chunked,
        (_, c) if c > 0 => {
            return Err(HttpError::NotImplemented(
                "transfer codings other than chunked",
            ));
        }
        (Some(n), _) if n > limits.max_body_bytes as u64 => return Err(HttpError::BodyTooLarge),
        (Some(0), _) | (None, _) => BodyKind::None,
        (Some(n), _) => BodyKind::Length(n),
    };
    if minor_version == 1 && host_count == 0 {
        return Err(HttpError::BadRequest("HTTP/1.1 request without Host"));
    }
    if host_count > 1 {
        return Err(HttpError::BadRequest("more than one Host header"));
    }

    let keep_alive = !conn_close && (minor_version == 1 || conn_keep_alive);
    Ok(RequestHead {
        text,
        minor_version,
        body,
        keep_alive,
        expect_continue: expect_continue && minor_version == 1,
        upgrade_websocket: upgrade_websocket && conn_upgrade,
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
