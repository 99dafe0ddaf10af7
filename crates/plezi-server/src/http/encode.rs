//! Response-head and chunk encoding into a caller-owned buffer.

use super::date;
use super::response::Response;

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the body after an encoded head must be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Write no body at all (HEAD, 1xx, 204, 304).
    NoBody,
    /// Write exactly this many bytes of the body as they are.
    Length(u64),
    /// Write the body with [`encode_chunk`] and finish with [`encode_last_chunk`].
    Chunked,
    /// Write the body as it is, then close the connection (a stream to an HTTP/1.0 client).
    UntilClose,
}

/// What [`encode_response_head`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedHead {
    /// How to write the body.
    pub framing: Framing,
    /// Whether the connection stays open after this response (what the `Connection` header says).
    pub keep_alive: bool,
}

/// The reason phrase for a status code (empty for codes without a registered phrase).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Encodes the head of `resp` for an HTTP/1.1 request. See [`encode_response_head`].
#[cfg(feature = "internals")]
pub fn encode_head(resp: &Response, req_method_is_head: bool, keep_alive: bool, out: &mut Vec<u8>) {
    encode_response_head(resp, req_method_is_head, keep_alive, 1, out);
}

/// Encodes the status line and headers of `resp` into `out` and says how to send the body.
///
/// Writes `Date` (unless the response has one), `Content-Length` from the body (also for HEAD,
/// which gets the length a GET would), or `Transfer-Encoding: chunked` for [`super::Body::Stream`]
/// (to an HTTP/1.0 client, `minor_version == 0`, a stream is sent until close instead), and
/// `Connection: keep-alive|close`. 1xx and 204 carry no length; 304 carries none either (its
/// validators are what matter). The response's own `Content-Length`, `Transfer-Encoding` and
/// `Connection` headers are not copied (framing is the encoder's job), but a `close` token in its
/// `Connection` header turns `keep_alive` off. A `101 Switching Protocols` response is written with
/// its headers as they are (including `Connection: Upgrade`) and no framing.
pub fn encode_response_head(
    resp: &Response,
    req_method_is_head: bool,
    keep_alive: bool,
    minor_version: u8,
    out: &mut Vec<u8>,
) -> EncodedHead {
    let status = resp.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");

    let mut has_date = false;
    let mut wants_close = false;
    for (name, value) in resp.headers() {
        if name.eq_ignore_ascii_case("date") {
            has_date = true;
        } else if name.eq_ignore_ascii_case("connection") {
            wants_close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
    }
    if !has_date {
        out.extend_from_slice(b"Date: ");
        date::append_now(out);
        out.extend_from_slice(b"\r\n");
    }

    if status == 101 {
        for (name, value) in resp.headers() {
            push_header(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        return EncodedHead {
            framing: Framing::NoBody,
            keep_alive: true,
        };
    }

    let mut keep_alive = keep_alive && !wants_close;
    let no_body_status = status < 200 || status == 204 || status == 304;
    let body_allowed = !no_body_status && !req_method_is_head;
    let mut framing = Framing::NoBody;
    if !no_body_status {
        match resp.body_ref().len() {
            Some(n) => {
                out.extend_from_slice(b"Content-Length: ");
                push_u64(out, n);
                out.extend_from_slice(b"\r\n");
                framing = Framing::Length(n);
            }
            None if minor_version >= 1 => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                framing = Framing::Chunked;
            }
            None => {
                if body_allowed {
                    keep_alive = false;
                }
                framing = Framing::UntilClose;
            }
        }
    }
    if !body_allowed {
        framing = Framing::NoBody;
    }
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });

    for (name, value) in resp.headers() {
        let framing_header = name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("connection");
        if !framing_header {
            push_header(out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
    EncodedHead {
        framing,
        keep_alive,
    }
}

/// Appends one chunk of a chunked body. Empty data writes nothing (an empty chunk would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let len = data.len() as u64;
    let digits = (64 - len.leading_zeros()).div_ceil(4);
    for i in (0..digits).rev() {
        out.push(HEX[((len >> (i * 4)) & 0xf) as usize]);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk (no trailers), ending a chunked body.
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
