//! [`OriginPolicy`]: which browser origins may open a WebSocket or send a non-safe request.

use std::fmt;

use super::{Cors, is_safe_method};
use crate::http::{Origin, OriginError, Response};

/// Which origins a browser request may come from. The default is same-origin only.
///
/// An origin is allowed when it is the request's own origin (`http://` + its `Host` header), the
/// [public origin](OriginPolicy::public_origin) (what users see behind a proxy, e.g. an https
/// address), in the allow-list, or anything when [`allow_any`](OriginPolicy::allow_any) was
/// called. The opaque `null` origin (sandboxed frames, `file:` pages) passes only when it is in the
/// allow-list, even with `allow_any`.
///
/// The server applies it twice (`docs/security.md`, sections `origins` and `cross-site`):
/// - [`check_upgrade`](OriginPolicy::check_upgrade): a WebSocket upgrade with an `Origin` that is
///   not allowed gets `403`; no `Origin` (not a browser) passes.
/// - [`check_request`](OriginPolicy::check_request): a non-safe method from another site gets
///   `403`, following Go's `http.CrossOriginProtection`.
///
/// ```
/// use plezi_server::{Origin, OriginPolicy};
/// let policy = OriginPolicy::from_list("https://app.example, http://localhost:8080")?
///     .public_origin(Origin::parse("https://chat.example")?);
/// assert!(policy.check_upgrade(Some("https://chat.example"), Some("10.0.0.5:3000")).is_ok());
/// assert!(policy.check_upgrade(Some("http://10.0.0.5:3000"), Some("10.0.0.5:3000")).is_ok());
/// assert!(policy.check_upgrade(Some("https://evil.example"), Some("10.0.0.5:3000")).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    public: Option<Origin>,
    allowed: Vec<Origin>,
    any: bool,
}

/// Why a list of origins (the `PL_ALLOWED_ORIGINS` syntax) could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginListError {
    /// The list item that is not an origin.
    pub item: String,
    /// What is wrong with it.
    pub error: OriginError,
}

impl fmt::Display for OriginListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "allowed origins: {:?} is not an origin ({}); write a comma-separated list such as \"https://app.example, http://localhost:8080\", or \"*\" alone to allow any origin",
            self.item, self.error
        )
    }
}

impl std::error::Error for OriginListError {}

/// A request the policy refuses: answer it with [`Refusal::response`] (`403`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    message: String,
}

impl Refusal {
    fn new(message: String) -> Refusal {
        Refusal { message }
    }

    /// The status to answer with: 403.
    pub fn status(&self) -> u16 {
        403
    }

    /// A short `text/plain` 403 saying what was refused and how to allow it.
    pub fn response(&self) -> Response {
        Response::text(403, format!("{}\n", self.message))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

const HOW_TO_ALLOW: &str = "to allow it, add it to the allowed origins (OriginPolicy::allow, PL_ALLOWED_ORIGINS) or set the public origin (PL_PUBLIC_ORIGIN)";

impl OriginPolicy {
    /// Same-origin only (the default).
    pub fn same_origin() -> OriginPolicy {
        OriginPolicy::default()
    }

    /// Reads the `PL_ALLOWED_ORIGINS` syntax: origins separated by commas (spaces around them are
    /// ignored; `null` allows the opaque origin), or `*` alone for any origin. An empty list is
    /// same-origin only.
    pub fn from_list(list: &str) -> Result<OriginPolicy, OriginListError> {
        let mut policy = OriginPolicy::default();
        let items: Vec<&str> = list.split(',').map(str::trim).collect();
        if items.iter().all(|i| i.is_empty()) {
            return Ok(policy);
        }
        if items == ["*"] {
            return Ok(policy.allow_any());
        }
        for item in items {
            if item == "*" {
                return Err(OriginListError {
                    item: item.to_owned(),
                    error: OriginError::BadScheme,
                });
            }
            let origin = Origin::parse(item).map_err(|error| OriginListError {
                item: item.to_owned(),
                error: if item.is_empty() {
                    OriginError::Empty
                } else {
                    error
                },
            })?;
            policy = policy.allow(origin);
        }
        Ok(policy)
    }

    /// The origin users see (behind a TLS-terminating proxy, e.g. `https://chat.example`); allowed
    /// like the request's own origin.
    pub fn public_origin(mut self, origin: Origin) -> OriginPolicy {
        self.public = Some(origin);
        self
    }

    /// Adds an origin to the allow-list (`Origin::null()` allows the opaque origin).
    pub fn allow(mut self, origin: Origin) -> OriginPolicy {
        if !self.allowed.contains(&origin) {
            self.allowed.push(origin);
        }
        self
    }

    /// Allows every origin except `null` (which still needs [`allow`](OriginPolicy::allow)). Turns
    /// the WebSocket origin check and the cross-site check off for real origins: only for those
    /// who mean it.
    pub fn allow_any(mut self) -> OriginPolicy {
        self.any = true;
        self
    }

    /// The public origin, if set.
    pub fn public(&self) -> Option<&Origin> {
        self.public.as_ref()
    }

    /// The allow-list.
    pub fn allowed(&self) -> &[Origin] {
        &self.allowed
    }

    /// Whether [`allow_any`](OriginPolicy::allow_any) is on.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// Whether `origin` is trusted without looking at the request's `Host`: public origin,
    /// allow-list, or any (never `null` unless listed).
    fn trusted(&self, origin: &Origin) -> bool {
        if origin.is_null() {
            return self.allowed.contains(origin);
        }
        self.any || self.public.as_ref() == Some(origin) || self.allowed.contains(origin)
    }

    /// Whether `origin` is the own origin of a request with this `Host` header.
    fn own(origin: &Origin, host: Option<&str>) -> bool {
        host.and_then(|h| Origin::from_host("http", h).ok())
            .is_some_and(|own| &own == origin)
    }

    /// Whether a request to `host` (its `Host` header) may come from `origin`.
    pub fn allows(&self, origin: &Origin, host: Option<&str>) -> bool {
        self.trusted(origin) || Self::own(origin, host)
    }

    /// The WebSocket upgrade check: `origin` and `host` are the request's `Origin` and `Host`
    /// header values. No `Origin` passes (not a browser); an `Origin` that is not allowed, or not
    /// an origin at all, is refused.
    pub fn check_upgrade(&self, origin: Option<&str>, host: Option<&str>) -> Result<(), Refusal> {
        let Some(text) = origin else {
            return Ok(());
        };
        match Origin::parse(text) {
            Ok(o) if self.allows(&o, host) => Ok(()),
            Ok(o) if o.is_null() => Err(Refusal::new(format!(
                "forbidden: WebSocket connections from the null origin (sandboxed or file: pages) are refused; {HOW_TO_ALLOW}"
            ))),
            Ok(o) => Err(Refusal::new(format!(
                "forbidden: WebSocket connections from origin {o} are refused (not this server's origin); {HOW_TO_ALLOW}"
            ))),
            Err(e) => Err(Refusal::new(format!(
                "forbidden: the Origin header of this WebSocket upgrade is not an origin ({e})"
            ))),
        }
    }

    /// The cross-site request check (Go 1.25's `http.CrossOriginProtection` rules) for a request
    /// with this method and `Sec-Fetch-Site`, `Origin` and `Host` header values:
    /// - `GET`, `HEAD`, `OPTIONS` pass;
    /// - `Sec-Fetch-Site: same-origin` or `none` passes; any other value (`cross-site`,
    ///   `same-site`) passes only when the origin is trusted: the public origin, the allow-list,
    ///   any (with [`allow_any`](OriginPolicy::allow_any)), or allowed by `cors`;
    /// - without `Sec-Fetch-Site` (older browsers), an `Origin` must be allowed as for
    ///   [`check_upgrade`](OriginPolicy::check_upgrade) (or by `cors`); `null` included;
    /// - neither header passes (not a browser).
    pub fn check_request(
        &self,
        method: &str,
        sec_fetch_site: Option<&str>,
        origin: Option<&str>,
        host: Option<&str>,
        cors: Option<&Cors>,
    ) -> Result<(), Refusal> {
        if is_safe_method(method) {
            return Ok(());
        }
        let parsed = origin.map(Origin::parse);
        let trusted = match &parsed {
            Some(Ok(o)) => self.trusted(o) || cors.is_some_and(|c| c.allows_origin(o)),
            _ => false,
        };
        let shown = match &parsed {
            Some(Ok(o)) => o.to_string(),
            Some(Err(_)) => "(not an origin)".to_owned(),
            None => "(no Origin header)".to_owned(),
        };
        match sec_fetch_site.map(str::trim) {
            Some(site) if site.eq_ignore_ascii_case("same-origin") => Ok(()),
            Some(site) if site.eq_ignore_ascii_case("none") => Ok(()),
            Some(_) if trusted => Ok(()),
            Some(site) => Err(Refusal::new(format!(
                "forbidden: cross-site {method} request from {shown} refused (Sec-Fetch-Site: {}); {HOW_TO_ALLOW}, or allow it with CORS",
                sanitize(site)
            ))),
            None => match &parsed {
                None => Ok(()),
                Some(Ok(o)) if trusted || Self::own(o, host) => Ok(()),
                Some(_) => Err(Refusal::new(format!(
                    "forbidden: cross-site {method} request from {shown} refused (its Origin is not this server's); {HOW_TO_ALLOW}, or allow it with CORS"
                ))),
            },
        }
    }
}

/// A header value shown in an answer: printable ASCII only, at most 32 bytes.
fn sanitize(v: &str) -> String {
    v.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Option<&str> = Some("127.0.0.1:3000");

    fn o(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    #[test]
    fn default_is_same_origin_only() {
        let p = OriginPolicy::default();
        assert!(p.check_upgrade(None, HOST).is_ok());
        assert!(p.check_upgrade(Some("http://127.0.0.1:3000"), HOST).is_ok());
        assert!(
            p.check_upgrade(Some("HTTP://127.0.0.1:3000/"), HOST)
                .is_ok()
        );
        for bad in [
            "http://127.0.0.1.evil.example:3000",
            "http://127.0.0.1:3001",
            "https://127.0.0.1:3000",
            "http://127.0.0.1",
            "http://127.0.0.1.:3000",
            "http://evil@127.0.0.1:3000",
            "http://127.0.0.1:3000@evil.example",
            "http://127.0.0.1:3000 ",
            " http://127.0.0.1:3000",
            "null",
            "",
            "garbage",
        ] {
            let err = p.check_upgrade(Some(bad), HOST).unwrap_err();
            assert_eq!(err.status(), 403, "{bad}");
        }
        // No Host: nothing is own.
        assert!(
            p.check_upgrade(Some("http://127.0.0.1:3000"), None)
                .is_err()
        );
        let msg = p
            .check_upgrade(Some("http://evil.example"), HOST)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("http://evil.example") && msg.contains("PL_ALLOWED_ORIGINS"));
    }

    #[test]
    fn public_origin_allow_list_any_and_null() {
        let p = OriginPolicy::default()
            .public_origin(o("https://chat.example"))
            .allow(o("http://localhost:8080"));
        assert!(
            p.check_upgrade(Some("https://chat.example:443"), HOST)
                .is_ok()
        );
        assert!(p.check_upgrade(Some("http://localhost:8080"), HOST).is_ok());
        assert!(p.check_upgrade(Some("http://chat.example"), HOST).is_err());
        assert!(p.check_upgrade(Some("null"), HOST).is_err());

        let any = OriginPolicy::default().allow_any();
        assert!(
            any.check_upgrade(Some("https://evil.example"), HOST)
                .is_ok()
        );
        assert!(any.check_upgrade(Some("null"), HOST).is_err());
        assert!(any.check_upgrade(Some("not an origin"), HOST).is_err());
        let null = OriginPolicy::default().allow(Origin::null());
        assert!(null.check_upgrade(Some("null"), HOST).is_ok());
    }

    #[test]
    fn from_list_syntax() {
        let p = OriginPolicy::from_list(" https://a.example , http://b.example:81,null").unwrap();
        assert_eq!(
            p.allowed()
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>(),
            ["https://a.example", "http://b.example:81", "null"]
        );
        assert!(OriginPolicy::from_list("*").unwrap().allows_any());
        assert!(OriginPolicy::from_list("  ").unwrap().allowed().is_empty());
        let err = OriginPolicy::from_list("https://a.example, *").unwrap_err();
        assert_eq!(err.item, "*");
        let err = OriginPolicy::from_list("https://a.example,,http://b").unwrap_err();
        assert_eq!(err.error, OriginError::Empty);
        let err = OriginPolicy::from_list("a.example").unwrap_err();
        assert!(err.to_string().contains("\"a.example\""));
    }

    #[test]
    fn cross_site_rules() {
        let p = OriginPolicy::default().allow(o("https://partner.example"));
        let check = |m: &str, site: Option<&str>, origin: Option<&str>| {
            p.check_request(m, site, origin, HOST, None).is_ok()
        };
        // Safe methods always pass.
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(check(m, Some("cross-site"), Some("https://evil.example")));
        }
        assert!(check(
            "POST",
            Some("same-origin"),
            Some("https://evil.example")
        ));
        assert!(check("POST", Some("none"), None));
        assert!(!check(
            "POST",
            Some("cross-site"),
            Some("https://evil.example")
        ));
        assert!(!check(
            "POST",
            Some("same-site"),
            Some("http://sub.127.0.0.1:3000")
        ));
        assert!(!check("DELETE", Some("cross-site"), None));
        assert!(!check("POST", Some("bogus"), None));
        // Sec-Fetch-Site says cross-site: only trusted origins, not a Host match.
        assert!(!check(
            "POST",
            Some("cross-site"),
            Some("http://127.0.0.1:3000")
        ));
        assert!(check(
            "POST",
            Some("cross-site"),
            Some("https://partner.example")
        ));
        // Without Sec-Fetch-Site: Origin against Host.
        assert!(check("POST", None, Some("http://127.0.0.1:3000")));
        assert!(!check("POST", None, Some("http://127.0.0.1:3001")));
        assert!(!check("POST", None, Some("null")));
        assert!(!check("PUT", None, Some("garbage")));
        assert!(check("POST", None, Some("https://partner.example")));
        // Neither header: not a browser.
        assert!(check("POST", None, None));
        // CORS-allowed origins pass.
        let cors = Cors::new().allow_origin(o("https://api-client.example"));
        assert!(
            p.check_request(
                "POST",
                Some("cross-site"),
                Some("https://api-client.example"),
                HOST,
                Some(&cors)
            )
            .is_ok()
        );
    }
}
