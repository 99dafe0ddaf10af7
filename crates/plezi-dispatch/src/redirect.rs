//! Checking redirect targets: [`Ctx::redirect_to`](crate::Ctx::redirect_to) stays on the site
//! unless told otherwise ([`Ctx::redirect_external`](crate::Ctx::redirect_external)).

use std::fmt;

/// Why a redirect target was refused.
///
/// ```
/// use plezi_dispatch::{Ctx, RedirectError};
/// use plezi_server::Response;
///
/// fn back(cx: &mut Ctx<'_>) -> Option<Response> {
///     let to = cx.params().get_str("return_to").unwrap_or("/");
///     match cx.redirect_to(to) {
///         Ok(redirect) => Some(redirect),
///         Err(RedirectError::OtherHost { .. }) => cx.redirect_to("/").ok(), // an open-redirect attempt
///         Err(_) => Some(Response::text(400, "bad return_to\n")),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// The target is on another host (`https://other.example/`, `//other.example`); use
    /// `Ctx::redirect_external` if that is meant.
    OtherHost {
        /// The target given.
        location: String,
    },
    /// The target cannot be a safe `Location`: empty, control characters, spaces, non-ASCII
    /// (percent-encode it), a backslash, user info (`user@host`), or a scheme other than
    /// `http`/`https`.
    Unsafe {
        /// The target given.
        location: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::OtherHost { location } => write!(
                f,
                "refusing to redirect to {location:?}: it leaves this site; use a path such as \"/items\", or Ctx::redirect_external for a URL the application chose"
            ),
            RedirectError::Unsafe { location, reason } => {
                write!(f, "refusing to redirect to {location:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for RedirectError {}

fn unsafe_(location: &str, reason: &'static str) -> RedirectError {
    RedirectError::Unsafe {
        location: location.to_owned(),
        reason,
    }
}

/// Characters, then the shape common to both checks; returns the scheme and the rest when the
/// target is absolute.
fn split_scheme(location: &str) -> Result<Option<(&str, &str)>, RedirectError> {
    if location.is_empty() {
        return Err(unsafe_(location, "it is empty"));
    }
    if location.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(unsafe_(
            location,
            "it has control characters, spaces or non-ASCII bytes (percent-encode them)",
        ));
    }
    if location.contains('\\') {
        return Err(unsafe_(
            location,
            "it has a backslash (browsers read it as '/')",
        ));
    }
    let end = location
        .find([':', '/', '?', '#'])
        .unwrap_or(location.len());
    let first = location.as_bytes()[0];
    let is_scheme = location[end..].starts_with(':')
        && first.is_ascii_alphabetic()
        && location[..end]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !is_scheme {
        return Ok(None);
    }
    let scheme = &location[..end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(unsafe_(
            location,
            "only http and https URLs are redirected to",
        ));
    }
    Ok(Some((scheme, &location[end + 1..])))
}

/// The authority (`host[:port]`) of the part after `scheme:`.
fn authority<'l>(location: &str, rest: &'l str) -> Result<&'l str, RedirectError> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err(unsafe_(location, "an absolute URL needs //host"));
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..end];
    if authority.is_empty() {
        return Err(unsafe_(location, "an absolute URL needs //host"));
    }
    if authority.contains('@') {
        return Err(unsafe_(
            location,
            "user info (user@host) is not redirected to",
        ));
    }
    Ok(authority)
}

/// A target on this site: a path (not `//…`), a relative reference, or an `http(s)` URL whose
/// authority is `host` (the request's `Host` header).
pub(crate) fn check_local(location: &str, host: Option<&str>) -> Result<(), RedirectError> {
    match split_scheme(location)? {
        None if location.starts_with("//") => Err(RedirectError::OtherHost {
            location: location.to_owned(),
        }),
        None => Ok(()),
        Some((_, rest)) => {
            let authority = authority(location, rest)?;
            match host {
                Some(host) if host.eq_ignore_ascii_case(authority) => Ok(()),
                _ => Err(RedirectError::OtherHost {
                    location: location.to_owned(),
                }),
            }
        }
    }
}

/// Any `http(s)` URL with a host, or a local target.
pub(crate) fn check_external(location: &str) -> Result<(), RedirectError> {
    match split_scheme(location)? {
        None => Ok(()),
        Some((_, rest)) => authority(location, rest).map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_targets() {
        let host = Some("app.example:8080");
        for ok in [
            "/",
            "/items/7",
            "/?page=2",
            "?page=2",
            "#top",
            "edit",
            "items/7?x=a:b",
            "/a:b",
            "http://app.example:8080/x",
            "HTTPS://APP.example:8080",
        ] {
            assert_eq!(check_local(ok, host), Ok(()), "{ok}");
        }
        for other in [
            "//evil.example",
            "//evil.example/x",
            "https://evil.example",
            "http://app.example/",
            "http://app.example:8080.evil.example/",
        ] {
            assert!(
                matches!(
                    check_local(other, host),
                    Err(RedirectError::OtherHost { .. })
                ),
                "{other}"
            );
        }
        assert!(check_local("http://app.example:8080/", None).is_err());
        for bad in [
            "",
            "/\\evil.example",
            "\\\\evil.example",
            "/ok\r\nSet-Cookie: a=b",
            "/a b",
            "\t//evil.example",
            "/caf\u{e9}",
            "javascript:alert(1)",
            "data:text/html,x",
            "http:evil.example",
            "https://user@app.example:8080/",
            "http://",
        ] {
            assert!(
                matches!(check_local(bad, host), Err(RedirectError::Unsafe { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn external_targets() {
        for ok in ["https://other.example/x?y", "http://a", "/local"] {
            assert_eq!(check_external(ok), Ok(()), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "https://x\r\n",
            "https:///x",
            "ftp://x",
            "https://a@b",
        ] {
            assert!(check_external(bad).is_err(), "{bad:?}");
        }
        let e = check_local("//evil", Some("a")).unwrap_err().to_string();
        assert!(e.contains("redirect_external"), "{e}");
    }
}
