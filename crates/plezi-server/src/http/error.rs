//! Protocol errors found while reading a request, each mapped to the status the server answers with.

use std::fmt;

use super::response::Response;

/// Why a request could not be read. Every variant is answered with [`HttpError::response`] and the
/// connection is then closed: after any of these the byte stream can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed or smuggling-shaped request (400). The text says what was wrong.
    BadRequest(&'static str),
    /// The request head is larger than `HttpLimits::max_header_bytes` (431).
    HeaderTooLarge,
    /// The request has more header fields than `HttpLimits::max_headers` (431).
    TooManyHeaders,
    /// The body is larger than `HttpLimits::max_body_bytes` (413).
    BodyTooLarge,
    /// A feature the server does not implement, such as a transfer coding other than chunked (501).
    NotImplemented(&'static str),
    /// An HTTP version other than 1.0 or 1.1 (505).
    VersionNotSupported,
    /// The client took too long to send the request head (408). Produced by the connection, not the parser.
    Timeout,
    /// The request body arrived slower on average than the minimum data rate, after its grace
    /// period (408). Produced by the connection.
    BodyTooSlow,
    /// A parsed body (JSON, urlencoded) larger than its own limit (413).
    FormBodyTooLarge,
}

impl HttpError {
    /// The status code this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) => 400,
            HttpError::HeaderTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::BodyTooLarge | HttpError::FormBodyTooLarge => 413,
            HttpError::NotImplemented(_) => 501,
            HttpError::VersionNotSupported => 505,
            HttpError::Timeout | HttpError::BodyTooSlow => 408,
        }
    }

    /// A short `text/plain` answer carrying `Connection: close`; encode it with `keep_alive = false`
    /// (a `Connection: close` header also forces that in [`super::encode_head`]).
    pub fn response(&self) -> Response {
        Response::text(self.status(), format!("{self}\n")).header("Connection", "close")
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadRequest(why) => write!(f, "bad request: {why}"),
            HttpError::HeaderTooLarge => {
                f.write_str("request header fields too large: send a smaller request head")
            }
            HttpError::TooManyHeaders => {
                f.write_str("too many request header fields: send fewer header fields")
            }
            HttpError::BodyTooLarge => f.write_str("request body too large"),
            HttpError::NotImplemented(what) => write!(f, "not implemented: {what}"),
            HttpError::VersionNotSupported => {
                f.write_str("HTTP version not supported: use HTTP/1.1 or HTTP/1.0")
            }
            HttpError::Timeout => {
                f.write_str("request timeout: the request head arrived too slowly")
            }
            HttpError::BodyTooSlow => f.write_str(
                "request timeout: the request body arrived slower than the minimum data rate",
            ),
            HttpError::FormBodyTooLarge => f.write_str(
                "request body too large: JSON and urlencoded bodies have a smaller limit than uploads",
            ),
        }
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(HttpError::BadRequest("x").status(), 400);
        assert_eq!(HttpError::HeaderTooLarge.status(), 431);
        assert_eq!(HttpError::TooManyHeaders.status(), 431);
        assert_eq!(HttpError::BodyTooLarge.status(), 413);
        assert_eq!(HttpError::NotImplemented("x").status(), 501);
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
        assert_eq!(HttpError::Timeout.status(), 408);
        assert_eq!(HttpError::BodyTooSlow.status(), 408);
        assert_eq!(HttpError::FormBodyTooLarge.status(), 413);
    }

    #[test]
    fn response_closes() {
        let r = HttpError::BodyTooLarge.response();
        assert_eq!(r.status(), 413);
        assert!(
            r.headers()
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v == "close")
        );
    }
}
