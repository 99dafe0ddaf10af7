//! The opening handshake (RFC 6455 §4.2): checking an upgrade request and writing the 101 answer.

use std::fmt;

use tungstenite::handshake::derive_accept_key;

use super::extension::Deflate;

/// Result of checking a request that asks for a WebSocket upgrade.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UpgradeCheck {
    /// A valid RFC 6455 upgrade; `accept_key` goes into `Sec-WebSocket-Accept`.
    Valid {
        /// The derived `Sec-WebSocket-Accept` value.
        accept_key: String,
    },
    /// Not acceptable: answer with the error's status and headers, then handle the connection as
    /// after any other HTTP error.
    Invalid(HandshakeError),
}

/// Why an upgrade request was refused. Plain data: the HTTP layer turns it into a response with
/// [`HandshakeError::status`], [`HandshakeError::headers`] and the `Display` text as body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandshakeError {
    /// The method is not GET.
    NotGet,
    /// HTTP/1.0 (an upgrade needs HTTP/1.1 or later).
    HttpVersion,
    /// No `Upgrade: websocket` token.
    NoUpgradeToken,
    /// No `Connection: upgrade` token.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` missing, repeated, or not the base64 form of 16 bytes.
    BadKey,
}

impl HandshakeError {
    /// The HTTP status to answer with: 426 for an unsupported version, 400 otherwise.
    pub(crate) fn status(self) -> u16 {
        match self {
            HandshakeError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// Extra response headers the answer must carry (RFC 6455 §4.4: 426 lists our version).
    pub(crate) fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            HandshakeError::UnsupportedVersion => &[("Sec-WebSocket-Version", "13")],
            _ => &[],
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::NotGet => "a WebSocket upgrade must use the GET method",
            HandshakeError::HttpVersion => "a WebSocket upgrade needs HTTP/1.1 or later",
            HandshakeError::NoUpgradeToken => {
                "the Upgrade header must contain the token \"websocket\""
            }
            HandshakeError::NoConnectionUpgrade => {
                "the Connection header must contain the token \"upgrade\""
            }
            HandshakeError::UnsupportedVersion => {
                "only WebSocket version 13 is supported (Sec-WebSocket-Version: 13)"
            }
            HandshakeError::BadKey => {
                "Sec-WebSocket-Key must appear once and be the base64 encoding of 16 bytes"
            }
        })
    }
}

impl std::error::Error for HandshakeError {}

/// Checks an upgrade request given its method, HTTP/1.x minor version and header fields (name,
/// value; in order, repeated names allowed): GET, HTTP/1.1+, `Upgrade: websocket`, `Connection: upgrade`,
/// `Sec-WebSocket-Version: 13` (else 426) and a `Sec-WebSocket-Key` of 16 base64 bytes (else 400).
pub(crate) fn check_upgrade<'h>(
    method: &str,
    minor_version: u8,
    headers: impl Iterator<Item = (&'h str, &'h str)> + Clone,
) -> UpgradeCheck {
    match validate(method, minor_version, headers) {
        Ok(key) => UpgradeCheck::Valid {
            accept_key: derive_accept_key(key.as_bytes()),
        },
        Err(e) => UpgradeCheck::Invalid(e),
    }
}

/// The checks of [`check_upgrade`]; returns the (trimmed) key.
fn validate<'h>(
    method: &str,
    minor_version: u8,
    headers: impl Iterator<Item = (&'h str, &'h str)> + Clone,
) -> Result<&'h str, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::NotGet);
    }
    if minor_version < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    if !has_token(headers.clone(), "upgrade", "websocket") {
        return Err(HandshakeError::NoUpgradeToken);
    }
    if !has_token(headers.clone(), "connection", "upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    let mut versions = values(headers.clone(), "sec-websocket-version");
    match (versions.next(), versions.next()) {
        (Some(v), None) if v.trim() == "13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let mut keys = values(headers, "sec-websocket-key");
    match (keys.next(), keys.next()) {
        (Some(key), None) if is_base64_of_16_bytes(key.trim()) => Ok(key.trim()),
        _ => Err(HandshakeError::BadKey),
    }
}

/// Writes the complete `101 Switching Protocols` response head, with `Sec-WebSocket-Protocol` when
/// a protocol was chosen and `Sec-WebSocket-Extensions` when permessage-deflate was. A chosen
/// protocol that is not an HTTP token (so not one a client could have offered) is left out, with a
/// warning, rather than letting it break the header block.
pub(crate) fn accept_response(
    accept_key: &str,
    protocol: Option<&str>,
    deflate: Option<Deflate>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept_key.as_bytes());
    out.extend_from_slice(b"\r\n");
    match protocol {
        Some(p) if is_token(p) => {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Some(p) => log::warn!("websocket: chosen subprotocol {p:?} is not a valid token; not sent"),
        None => {}
    }
    if let Some(d) = deflate {
        d.write_response(out);
    }
    out.extend_from_slice(b"\r\n");
}

/// Values of every header called `name` (lower-case), compared case-insensitively.
fn values<'h>(
    headers: impl Iterator<Item = (&'h str, &'h str)>,
    name: &'static str,
) -> impl Iterator<Item = &'h str> {
    headers
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The non-empty comma-separated elements of a header value, trimmed.
fn tokens(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Whether any `name` header lists `token` (case-insensitive).
fn has_token<'h>(
    headers: impl Iterator<Item = (&'h str, &'h str)>,
    name: &'static str,
    token: &str,
) -> bool {
    values(headers, name)
        .flat_map(tokens)
        .any(|t| t.eq_ignore_ascii_case(token))
}

/// 16 bytes encode to 22 base64 characters and `==`.
fn is_base64_of_16_bytes(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b[22..] == *b"=="
        && b[..22]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// An RFC 9110 token (`tchar`s, at least one).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: &str, minor: u8, h: &[(String, String)]) -> UpgradeCheck {
        check_upgrade(
            method,
            minor,
            h.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        )
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn good() -> Vec<(String, String)> {
        headers(&[
            ("Host", "example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ])
    }

    fn with(name: &str, value: Option<&str>) -> Vec<(String, String)> {
        let mut h: Vec<_> = good()
            .into_iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .collect();
        if let Some(v) = value {
            h.push((name.to_string(), v.to_string()));
        }
        h
    }

    fn error(method: &str, minor: u8, h: &[(String, String)]) -> HandshakeError {
        match check(method, minor, h) {
            UpgradeCheck::Invalid(e) => e,
            UpgradeCheck::Valid { .. } => panic!("expected an error"),
        }
    }

    #[test]
    fn rfc_sample_key() {
        assert_eq!(
            check("GET", 1, &good()),
            UpgradeCheck::Valid {
                accept_key: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string()
            }
        );
    }

    #[test]
    fn header_names_and_tokens_are_case_insensitive_and_listed() {
        let h = headers(&[
            ("upgrade", "h2c, WebSocket"),
            ("CONNECTION", "keep-alive"),
            ("connection", "keep-alive, UPGRADE"),
            ("sec-websocket-key", " dGhlIHNhbXBsZSBub25jZQ== "),
            ("SEC-WEBSOCKET-VERSION", "13"),
        ]);
        assert!(matches!(check("GET", 1, &h), UpgradeCheck::Valid { .. }));
    }

    #[test]
    fn missing_or_bad_key_is_400() {
        for key in [
            None,
            Some(""),
            Some("dGhlIHNhbXBsZSBub25jZQ"),   // no padding
            Some("dGhlIHNhbXBsZSBub25jZQ=a"), // bad padding
            Some("dGhlIHNhbXBsZSBub25jZSE="), // 17 bytes
            Some("dGhlIHNhbXBsZSBub25j"),     // 15 bytes
            Some("dGhlIHNhbXBsZSBub2*jZQ=="), // not base64
        ] {
            let e = error("GET", 1, &with("Sec-WebSocket-Key", key));
            assert_eq!(e, HandshakeError::BadKey, "key {key:?}");
            assert_eq!(e.status(), 400);
            assert!(e.headers().is_empty());
        }
        let mut twice = good();
        twice.push((
            "Sec-WebSocket-Key".into(),
            "AAAAAAAAAAAAAAAAAAAAAA==".into(),
        ));
        assert_eq!(error("GET", 1, &twice), HandshakeError::BadKey);
    }

    #[test]
    fn version_other_than_13_is_426_with_version_header() {
        for v in [Some("8"), Some("14"), None, Some("13, 8")] {
            let e = error("GET", 1, &with("Sec-WebSocket-Version", v));
            assert_eq!(e, HandshakeError::UnsupportedVersion, "version {v:?}");
            assert_eq!(e.status(), 426);
            assert_eq!(e.headers(), &[("Sec-WebSocket-Version", "13")]);
        }
    }

    #[test]
    fn missing_connection_or_upgrade_token_is_400() {
        assert_eq!(
            error("GET", 1, &with("Connection", None)),
            HandshakeError::NoConnectionUpgrade
        );
        assert_eq!(
            error("GET", 1, &with("Connection", Some("keep-alive"))),
            HandshakeError::NoConnectionUpgrade
        );
        assert_eq!(
            error("GET", 1, &with("Upgrade", Some("h2c"))),
            HandshakeError::NoUpgradeToken
        );
        assert_eq!(error("GET", 1, &with("Upgrade", None)).status(), 400);
    }

    #[test]
    fn post_and_http_1_0_are_400() {
        assert_eq!(error("POST", 1, &good()), HandshakeError::NotGet);
        assert_eq!(error("get", 1, &good()), HandshakeError::NotGet);
        assert_eq!(error("GET", 0, &good()), HandshakeError::HttpVersion);
        assert_eq!(HandshakeError::NotGet.status(), 400);
        assert!(HandshakeError::NotGet.to_string().contains("GET"));
    }

    #[test]
    fn accept_response_bytes() {
        let mut out = Vec::new();
        accept_response("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", None, None, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        out.clear();
        accept_response("k", Some("chat"), None, &mut out);
        assert!(out.ends_with(b"Sec-WebSocket-Accept: k\r\nSec-WebSocket-Protocol: chat\r\n\r\n"));
        out.clear();
        accept_response("k", Some("bad\r\nX-Injected: 1"), None, &mut out);
        assert!(!out.windows(8).any(|w| w == b"Injected"));
        assert!(out.ends_with(b"Sec-WebSocket-Accept: k\r\n\r\n"));
    }
}
