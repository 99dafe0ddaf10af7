//! The HTTP/1.1 layer as pure code over buffers: no sockets, no event loop.
//!
//! - [`parse_head`] turns the start of a read buffer into a validated [`RequestHead`] (or `Partial`,
//!   or an [`HttpError`] that maps to the status to answer with before closing). The head's text
//!   (method, target, fields) is copied into one buffer addressed by offsets (`head_text`): one
//!   allocation per head, which [`Request`] keeps.
//! - [`BodyDecoder`] decodes a `Content-Length` or chunked body incrementally.
//! - [`Request::from_head`] assembles what the service sees.
//! - [`encode_head`] / [`encode_response_head`] write a [`Response`]'s head; [`encode_chunk`] and
//!   [`encode_last_chunk`] frame a streamed body.
//!
//! What the connection layer relies on:
//! - [`encode_response_head`] takes the request's HTTP minor version and returns an [`EncodedHead`]
//!   ([`Framing`] + final keep-alive), so the caller knows whether to write a body, how, and whether
//!   to close afterwards. [`encode_head`] is that function for HTTP/1.1 with the result dropped.
//! - [`Response::into_parts`], [`Response::take_body`], [`Response::body_ref`],
//!   [`Response::header_value`], [`Response::headers`] for the writer; [`FileBody`] (the content of
//!   [`Body::File`]) with `read_into` / `advance` / `file` / `offset` for streaming from disk.
//! - [`Request::new`] + `with_header` / `with_body` build requests without a socket (tests);
//!   [`Request::header_all`], [`Request::take_body`], [`Request::minor_version`], [`Request::keep_alive`].
//! - `BodyKind::None` is also used for `Content-Length: 0`.

use crate::config::ServerConfig;

#[cfg(test)]
mod alloc_tests;
mod date;
mod decode;
mod encode;
mod error;
mod head_text;
mod origin;
mod parse;
mod request;
mod response;

pub(crate) use date::{format_system_time, parse_imf};
pub use decode::BodyDecoder;
pub use encode::{
    CONTINUE_100, EncodedHead, Framing, encode_chunk, encode_last_chunk, encode_response_head,
};
#[cfg(feature = "internals")]
pub use encode::{encode_head, reason_phrase};
pub use error::HttpError;
pub use origin::{Origin, OriginError};
pub use parse::{BodyKind, HeadParse, RequestHead, parse_head};
pub use request::Request;
pub use response::{Body, FileBody, HeaderError, Response};

/// Size limits applied while reading a request: the HTTP part of [`ServerConfig`], whose
/// defaults are the only ones (32 KiB of head, 128 fields, 50 MiB of body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request head (request line + header fields) in bytes; more is 431.
    pub max_header_bytes: usize,
    /// Most header fields in one request; more is 431.
    pub max_headers: usize,
    /// Largest request body in bytes; more is 413.
    pub max_body_bytes: usize,
}

/// Whether a `Content-Type` names a body the application parses in memory: `application/json`,
/// `application/*+json` or `application/x-www-form-urlencoded` (parameters ignored).
pub fn is_parsed_body_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let lower = essence.to_ascii_lowercase();
    lower == "application/json"
        || lower == "application/x-www-form-urlencoded"
        || (lower.starts_with("application/") && lower.ends_with("+json"))
}

impl From<&ServerConfig> for HttpLimits {
    fn from(config: &ServerConfig) -> HttpLimits {
        HttpLimits {
            max_header_bytes: config.max_header_bytes,
            max_headers: config.max_headers,
            max_body_bytes: config.max_body_bytes,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits::from(&ServerConfig::default())
    }
}
