//! Web origins (RFC 6454) as the `Origin` request header and configuration name them: parsing,
//! normalisation and comparison. Pure code, no sockets.
//!
//! An [`Origin`] is either the opaque `null` origin or a tuple of scheme, host and port. Parsing
//! normalises what browsers and people may spell differently for the same origin (scheme and host
//! case, the default port `:80` for `http`/`ws` and `:443` for `https`/`wss`, IPv6 notation, one
//! trailing `/` in configuration) and refuses everything an `Origin` header never carries (paths,
//! queries, user info, whitespace, percent escapes, non-ASCII). Anything else is compared exactly:
//! `http://127.0.0.1.evil.example` is not `http://127.0.0.1`, and `http://localhost.` (trailing
//! dot) is not `http://localhost`.

use std::fmt;
use std::net::Ipv6Addr;

/// Longest origin text accepted (scheme, host and port); browsers' are far shorter.
const MAX_ORIGIN_LEN: usize = 1024;

/// A web origin: `null` or `scheme://host[:port]`, normalised (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    Null,
    Tuple {
        scheme: String,
        host: String,
        /// `None` only for a scheme without a known default port and no explicit port.
        port: Option<u16>,
    },
}

/// Why a text is not an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginError {
    /// Empty (or only whitespace in a list item).
    Empty,
    /// Longer than 1024 bytes.
    TooLong,
    /// No `scheme://` prefix, or a scheme that is not letters, digits, `+`, `-`, `.`.
    BadScheme,
    /// User info (`user@`), a path other than one trailing `/`, a query or a fragment.
    NotAnOrigin,
    /// The host is empty or has a byte no host may have (whitespace, `%`, control, non-ASCII...).
    BadHost,
    /// The port is empty, not decimal, or above 65535.
    BadPort,
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginError::Empty => "an origin cannot be empty; write scheme://host[:port]",
            OriginError::TooLong => "an origin is at most 1024 bytes",
            OriginError::BadScheme => {
                "an origin starts with a scheme and `://`, e.g. https://example.com"
            }
            OriginError::NotAnOrigin => {
                "an origin is scheme://host[:port] only: no user info, path, query or fragment"
            }
            OriginError::BadHost => {
                "the host of an origin is a DNS name or IP address (lowercase ASCII, no spaces or escapes)"
            }
            OriginError::BadPort => "the port of an origin is a number from 0 to 65535",
        })
    }
}

impl std::error::Error for OriginError {}

/// The default port of a scheme, when it has one that browsers omit.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn valid_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// A registered name or IPv4 address: letters, digits, `-`, `.`, `_`; no empty label inside.
fn valid_reg_name(h: &str) -> bool {
    !h.is_empty()
        && !h.starts_with('.')
        && !h.contains("..")
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

impl Origin {
    /// Parses and normalises an origin (`https://Example.COM:443` → `https://example.com`), or
    /// `null`. See the module docs for what is refused.
    pub fn parse(text: &str) -> Result<Origin, OriginError> {
        if text.is_empty() {
            return Err(OriginError::Empty);
        }
        if text.len() > MAX_ORIGIN_LEN {
            return Err(OriginError::TooLong);
        }
        if text == "null" {
            return Ok(Origin(Repr::Null));
        }
        let (scheme, rest) = text.split_once("://").ok_or(OriginError::BadScheme)?;
        if !valid_scheme(scheme) {
            return Err(OriginError::BadScheme);
        }
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\'))
        {
            return Err(OriginError::NotAnOrigin);
        }
        Self::from_authority(scheme, authority)
    }

    /// The origin of a request made to `authority` (a `Host` header: `host[:port]`) with `scheme`
    /// (`http` for plain connections).
    pub fn from_host(scheme: &str, authority: &str) -> Result<Origin, OriginError> {
        if !valid_scheme(scheme) {
            return Err(OriginError::BadScheme);
        }
        if authority.len() > MAX_ORIGIN_LEN {
            return Err(OriginError::TooLong);
        }
        if authority
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\'))
        {
            return Err(OriginError::NotAnOrigin);
        }
        Self::from_authority(scheme.to_ascii_lowercase(), authority)
    }

    fn from_authority(scheme: String, authority: &str) -> Result<Origin, OriginError> {
        if !authority.is_ascii() {
            return Err(OriginError::BadHost);
        }
        let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
            let (inside, after) = v6.split_once(']').ok_or(OriginError::BadHost)?;
            let addr: Ipv6Addr = inside.parse().map_err(|_| OriginError::BadHost)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(OriginError::BadHost)?),
            };
            (format!("[{addr}]"), port)
        } else {
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            if !valid_reg_name(host) {
                return Err(OriginError::BadHost);
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = match port_text {
            None => default_port(&scheme),
            Some(p) => {
                if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(OriginError::BadPort);
                }
                Some(p.parse::<u16>().map_err(|_| OriginError::BadPort)?)
            }
        };
        Ok(Origin(Repr::Tuple { scheme, host, port }))
    }

    /// The opaque `null` origin (sandboxed frames, `file:` pages, some redirects).
    pub fn null() -> Origin {
        Origin(Repr::Null)
    }

    /// Whether this is the `null` origin.
    pub fn is_null(&self) -> bool {
        matches!(self.0, Repr::Null)
    }

    /// The scheme (lowercase); `None` for `null`.
    pub fn scheme(&self) -> Option<&str> {
        match &self.0 {
            Repr::Null => None,
            Repr::Tuple { scheme, .. } => Some(scheme),
        }
    }

    /// The host (lowercase; IPv6 in brackets); `None` for `null`.
    pub fn host(&self) -> Option<&str> {
        match &self.0 {
            Repr::Null => None,
            Repr::Tuple { host, .. } => Some(host),
        }
    }

    /// The port, with the scheme's default filled in; `None` for `null` and for unknown schemes
    /// without a port.
    pub fn port(&self) -> Option<u16> {
        match &self.0 {
            Repr::Null => None,
            Repr::Tuple { port, .. } => *port,
        }
    }
}

impl fmt::Display for Origin {
    /// The serialized origin: `null`, or `scheme://host` plus `:port` unless it is the default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Null => f.write_str("null"),
            Repr::Tuple { scheme, host, port } => {
                write!(f, "{scheme}://{host}")?;
                match port {
                    Some(p) if Some(*p) != default_port(scheme) => write!(f, ":{p}"),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::str::FromStr for Origin {
    type Err = OriginError;
    fn from_str(s: &str) -> Result<Origin, OriginError> {
        Origin::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, OriginError> {
        Origin::parse(s).map(|o| o.to_string())
    }

    #[test]
    fn normalises_case_default_ports_and_ipv6() {
        assert_eq!(p("http://Example.COM").unwrap(), "http://example.com");
        assert_eq!(p("HTTPS://example.com:443").unwrap(), "https://example.com");
        assert_eq!(p("http://example.com:80/").unwrap(), "http://example.com");
        assert_eq!(p("http://127.0.0.1:3000").unwrap(), "http://127.0.0.1:3000");
        assert_eq!(p("http://[::1]:3000").unwrap(), "http://[::1]:3000");
        assert_eq!(
            p("http://[0:0:0:0:0:0:0:1]").unwrap(),
            p("http://[::1]:80").unwrap()
        );
        assert_eq!(p("wss://a.b:443").unwrap(), "wss://a.b");
        assert_eq!(p("null").unwrap(), "null");
        assert_eq!(
            p("chrome-extension://abcdef").unwrap(),
            "chrome-extension://abcdef"
        );
        assert_eq!(
            Origin::parse("https://a.example:8443").unwrap().port(),
            Some(8443)
        );
    }

    #[test]
    fn look_alikes_are_different_origins() {
        let own = Origin::from_host("http", "127.0.0.1:3000").unwrap();
        for other in [
            "http://127.0.0.1.evil.example:3000",
            "http://127.0.0.1:3001",
            "http://127.0.0.1",
            "https://127.0.0.1:3000",
            "ws://127.0.0.2:3000",
            "http://127.0.0.1.:3000",
            "http://localhost:3000",
        ] {
            assert_ne!(Origin::parse(other).unwrap(), own, "{other}");
        }
        assert_eq!(Origin::parse("HTTP://127.0.0.1:3000").unwrap(), own);
        assert_ne!(Origin::parse("null").unwrap(), own);
    }

    #[test]
    fn refuses_what_an_origin_never_has() {
        for (text, err) in [
            ("", OriginError::Empty),
            ("example.com", OriginError::BadScheme),
            ("://example.com", OriginError::BadScheme),
            ("1http://example.com", OriginError::BadScheme),
            ("http://user@example.com", OriginError::NotAnOrigin),
            ("http://127.0.0.1@evil.example", OriginError::NotAnOrigin),
            ("http://example.com/path", OriginError::NotAnOrigin),
            ("http://example.com?q", OriginError::NotAnOrigin),
            ("http://example.com#f", OriginError::NotAnOrigin),
            ("http://example.com\\@evil", OriginError::NotAnOrigin),
            ("http://", OriginError::BadHost),
            ("http://exa mple.com", OriginError::BadHost),
            (" http://example.com", OriginError::BadScheme),
            ("http://example.com ", OriginError::BadHost),
            ("http://exa%6dple.com", OriginError::BadHost),
            ("http://ex\u{e4}mple.com", OriginError::BadHost),
            ("http://a..b", OriginError::BadHost),
            ("http://.a", OriginError::BadHost),
            ("http://[::1", OriginError::BadHost),
            ("http://[nope]", OriginError::BadHost),
            ("http://[::1]x", OriginError::BadHost),
            ("http://a:", OriginError::BadPort),
            ("http://a:65536", OriginError::BadPort),
            ("http://a:+80", OriginError::BadPort),
            ("http://a:1:2", OriginError::BadHost),
            ("Null", OriginError::BadScheme),
        ] {
            assert_eq!(Origin::parse(text), Err(err), "{text:?}");
        }
        assert_eq!(
            Origin::parse(&format!("http://{}", "a".repeat(2000))),
            Err(OriginError::TooLong)
        );
    }

    #[test]
    fn host_headers() {
        assert_eq!(
            Origin::from_host("http", "LocalHost:80")
                .unwrap()
                .to_string(),
            "http://localhost"
        );
        assert_eq!(
            Origin::from_host("http", "[::1]:3000").unwrap().to_string(),
            "http://[::1]:3000"
        );
        assert!(Origin::from_host("http", "a@b").is_err());
        assert!(Origin::from_host("http", "").is_err());
    }
}
