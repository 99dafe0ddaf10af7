//! [`Cors`]: cross-origin resource sharing, opt-in. Preflight answers and the headers of actual
//! responses (Fetch standard, "CORS protocol").

use std::fmt;
use std::time::Duration;

use super::is_token;
use crate::http::{Origin, Response};

/// Which other origins may read responses and send non-simple requests (opt-in; without a `Cors`
/// the server sends no CORS headers and browsers keep other origins out).
///
/// Set it with [`ServerBuilder::cors`](crate::ServerBuilder::cors). The server then answers every
/// preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) itself: `204` with the
/// grant when the origin, the method and every requested header are allowed, `403` without any
/// grant otherwise. Responses to an allowed origin carry `Access-Control-Allow-Origin` (the origin
/// echoed; `*` only with [`allow_any_origin`](Cors::allow_any_origin) and no credentials), and
/// `Vary: Origin`. Origins allowed here also pass the cross-site check.
///
/// ```
/// use plezi_server::{Cors, Origin};
/// use std::time::Duration;
/// let cors = Cors::new()
///     .allow_origin(Origin::parse("https://app.example")?)
///     .allow_methods(["GET", "POST", "DELETE"])
///     .allow_headers(["Content-Type", "X-Token"])
///     .allow_credentials(true)
///     .max_age(Duration::from_secs(600));
/// assert!(cors.allows_origin(&Origin::parse("https://app.example")?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Vec<Origin>,
    any_origin: bool,
    methods: Vec<String>,
    headers: Vec<String>,
    credentials: bool,
    max_age: Option<Duration>,
    expose: Vec<String>,
}

impl Default for Cors {
    /// No origin allowed yet; methods `GET`, `HEAD`, `POST`; no extra request headers; no
    /// credentials; no `Access-Control-Max-Age` (browsers then cache a preflight for 5 s).
    fn default() -> Cors {
        Cors {
            origins: Vec::new(),
            any_origin: false,
            methods: ["GET", "HEAD", "POST"].map(str::to_owned).to_vec(),
            headers: Vec::new(),
            credentials: false,
            max_age: None,
            expose: Vec::new(),
        }
    }
}

/// A CORS setting the server cannot send (checked by [`ServerBuilder::build`](crate::ServerBuilder::build)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsError {
    /// A method that is not an HTTP token.
    BadMethod(String),
    /// A header name that is not an HTTP token.
    BadHeader(String),
}

impl fmt::Display for CorsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorsError::BadMethod(m) => write!(
                f,
                "Cors: {m:?} is not an HTTP method; use tokens such as \"PUT\""
            ),
            CorsError::BadHeader(h) => write!(
                f,
                "Cors: {h:?} is not a header name; use tokens such as \"X-Token\""
            ),
        }
    }
}

impl std::error::Error for CorsError {}

/// The answer to a preflight request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preflight {
    /// Allowed: answer `204` with these headers.
    Granted(Vec<(&'static str, String)>),
    /// Not allowed: answer `403` without a grant; the text says why.
    Refused(String),
}

impl Preflight {
    /// The response: `204` with the grant, or a `403` text. Both carry `Vary`.
    pub fn response(self) -> Response {
        let vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
        match self {
            Preflight::Granted(headers) => {
                let mut resp = Response::new(204);
                for (name, value) in headers {
                    resp = resp.header(name, &value);
                }
                resp.header("Vary", vary)
            }
            Preflight::Refused(why) => Response::text(403, format!("{why}\n")).header("Vary", vary),
        }
    }
}

/// Methods a browser sends cross-origin without asking (CORS-safelisted).
fn simple_method(m: &str) -> bool {
    matches!(m, "GET" | "HEAD" | "POST")
}

impl Cors {
    /// The defaults (see [`Cors::default`]); add origins with [`allow_origin`](Cors::allow_origin).
    pub fn new() -> Cors {
        Cors::default()
    }

    /// Allows one origin (`Origin::null()` allows the opaque origin).
    pub fn allow_origin(mut self, origin: Origin) -> Cors {
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
        self
    }

    /// Allows every origin except `null`. Without credentials the answer is
    /// `Access-Control-Allow-Origin: *`; with them the origin is echoed.
    pub fn allow_any_origin(mut self) -> Cors {
        self.any_origin = true;
        self
    }

    /// The methods allowed (replaces the default `GET`, `HEAD`, `POST`).
    pub fn allow_methods<I, S>(mut self, methods: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.methods = methods.into_iter().map(|m| m.as_ref().to_owned()).collect();
        self
    }

    /// Request headers allowed beyond the CORS-safelisted ones (compared case-insensitively).
    pub fn allow_headers<I, S>(mut self, headers: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.headers = headers
            .into_iter()
            .map(|h| h.as_ref().to_ascii_lowercase())
            .collect();
        self
    }

    /// Whether cookies and HTTP authentication may be sent (`Access-Control-Allow-Credentials`).
    pub fn allow_credentials(mut self, yes: bool) -> Cors {
        self.credentials = yes;
        self
    }

    /// How long browsers may cache a preflight answer (`Access-Control-Max-Age`, in seconds).
    pub fn max_age(mut self, age: Duration) -> Cors {
        self.max_age = Some(age);
        self
    }

    /// Response headers scripts on allowed origins may read (`Access-Control-Expose-Headers`).
    pub fn expose_headers<I, S>(mut self, headers: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.expose = headers.into_iter().map(|h| h.as_ref().to_owned()).collect();
        self
    }

    /// Checks that every method and header name can be sent.
    pub fn validate(&self) -> Result<(), CorsError> {
        if let Some(m) = self.methods.iter().find(|m| !is_token(m)) {
            return Err(CorsError::BadMethod(m.clone()));
        }
        if let Some(h) = self
            .headers
            .iter()
            .chain(&self.expose)
            .find(|h| !is_token(h))
        {
            return Err(CorsError::BadHeader(h.clone()));
        }
        Ok(())
    }

    /// Whether `origin` is allowed (never `null` unless listed).
    pub fn allows_origin(&self, origin: &Origin) -> bool {
        if origin.is_null() {
            return self.origins.contains(origin);
        }
        self.any_origin || self.origins.contains(origin)
    }

    /// Whether a request with these `Origin` and `Access-Control-Request-Method` values is a
    /// preflight (its method must also be `OPTIONS`).
    pub fn is_preflight(method: &str, origin: Option<&str>, request_method: Option<&str>) -> bool {
        method == "OPTIONS" && origin.is_some() && request_method.is_some()
    }

    fn allow_origin_value(&self, origin: &Origin) -> String {
        if self.any_origin && !self.credentials {
            "*".to_owned()
        } else {
            origin.to_string()
        }
    }

    /// Decides a preflight from its `Origin`, `Access-Control-Request-Method` and
    /// `Access-Control-Request-Headers` values.
    pub fn preflight(
        &self,
        origin: &str,
        request_method: &str,
        request_headers: Option<&str>,
    ) -> Preflight {
        let origin = match Origin::parse(origin) {
            Ok(o) if self.allows_origin(&o) => o,
            Ok(o) => {
                return Preflight::Refused(format!(
                    "CORS preflight refused: origin {o} is not allowed"
                ));
            }
            Err(e) => {
                return Preflight::Refused(format!(
                    "CORS preflight refused: the Origin header is not an origin ({e})"
                ));
            }
        };
        let method = request_method.trim();
        if !is_token(method) || !self.methods.iter().any(|m| m == method) {
            return Preflight::Refused(format!(
                "CORS preflight refused: method {:?} is not allowed",
                method.chars().take(32).collect::<String>()
            ));
        }
        let mut asked = Vec::new();
        for name in request_headers
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            let lower = name.to_ascii_lowercase();
            if !is_token(&lower) || !self.headers.contains(&lower) {
                return Preflight::Refused(format!(
                    "CORS preflight refused: request header {:?} is not allowed",
                    name.chars().take(64).collect::<String>()
                ));
            }
            asked.push(lower);
        }
        let mut grant = vec![(
            "Access-Control-Allow-Origin",
            self.allow_origin_value(&origin),
        )];
        if self.credentials {
            grant.push(("Access-Control-Allow-Credentials", "true".to_owned()));
        }
        let methods: Vec<&str> = self
            .methods
            .iter()
            .map(String::as_str)
            .filter(|m| !simple_method(m) || *m == method)
            .collect();
        if !methods.is_empty() {
            grant.push(("Access-Control-Allow-Methods", methods.join(", ")));
        }
        if !asked.is_empty() {
            grant.push(("Access-Control-Allow-Headers", asked.join(", ")));
        }
        if let Some(age) = self.max_age {
            grant.push(("Access-Control-Max-Age", age.as_secs().to_string()));
        }
        Preflight::Granted(grant)
    }

    /// The CORS headers of an actual (non-preflight) response to a request with this `Origin`:
    /// the grant for an allowed origin, and `Vary: Origin` whenever the answer depends on it.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let fixed_star = self.any_origin && !self.credentials;
        if !fixed_star {
            out.push(("Vary", "Origin".to_owned()));
        }
        let Some(origin) = origin.and_then(|o| Origin::parse(o).ok()) else {
            return out;
        };
        if !self.allows_origin(&origin) {
            return out;
        }
        out.push((
            "Access-Control-Allow-Origin",
            self.allow_origin_value(&origin),
        ));
        if self.credentials {
            out.push(("Access-Control-Allow-Credentials", "true".to_owned()));
        }
        if !self.expose.is_empty() {
            out.push(("Access-Control-Expose-Headers", self.expose.join(", ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new()
            .allow_origin(Origin::parse("https://app.example").unwrap())
            .allow_methods(["GET", "POST", "PUT"])
            .allow_headers(["Content-Type", "X-Token"])
            .max_age(Duration::from_secs(600))
    }

    fn header<'a>(h: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn preflight_grants_only_what_is_allowed() {
        let c = cors();
        let Preflight::Granted(g) =
            c.preflight("https://app.example", "PUT", Some("x-token, Content-Type"))
        else {
            panic!("refused")
        };
        assert_eq!(
            header(&g, "Access-Control-Allow-Origin"),
            Some("https://app.example")
        );
        assert_eq!(header(&g, "Access-Control-Allow-Methods"), Some("PUT"));
        assert_eq!(
            header(&g, "Access-Control-Allow-Headers"),
            Some("x-token, content-type")
        );
        assert_eq!(header(&g, "Access-Control-Max-Age"), Some("600"));
        assert_eq!(header(&g, "Access-Control-Allow-Credentials"), None);

        for (origin, method, headers) in [
            ("https://evil.example", "PUT", None),
            ("https://app.example.evil", "PUT", None),
            ("null", "PUT", None),
            ("not an origin", "PUT", None),
            ("https://app.example", "DELETE", None),
            ("https://app.example", "put", None),
            ("https://app.example", "PUT", Some("X-Other")),
            ("https://app.example", "PUT", Some("x-token, bad header")),
        ] {
            assert!(
                matches!(c.preflight(origin, method, headers), Preflight::Refused(_)),
                "{origin} {method} {headers:?}"
            );
        }
    }

    #[test]
    fn never_star_with_credentials() {
        let any = Cors::new().allow_any_origin();
        let h = any.response_headers(Some("https://x.example"));
        assert_eq!(header(&h, "Access-Control-Allow-Origin"), Some("*"));
        let creds = Cors::new().allow_any_origin().allow_credentials(true);
        let h = creds.response_headers(Some("https://x.example"));
        assert_eq!(
            header(&h, "Access-Control-Allow-Origin"),
            Some("https://x.example")
        );
        assert_eq!(header(&h, "Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(header(&h, "Vary"), Some("Origin"));
        assert!(
            creds
                .response_headers(Some("null"))
                .iter()
                .all(|(n, _)| *n == "Vary")
        );
    }

    #[test]
    fn actual_responses() {
        let c = cors().expose_headers(["X-Count"]);
        let h = c.response_headers(Some("https://app.example"));
        assert_eq!(
            header(&h, "Access-Control-Allow-Origin"),
            Some("https://app.example")
        );
        assert_eq!(header(&h, "Access-Control-Expose-Headers"), Some("X-Count"));
        assert_eq!(
            c.response_headers(Some("https://evil.example")),
            vec![("Vary", "Origin".to_owned())]
        );
        assert_eq!(
            c.response_headers(None),
            vec![("Vary", "Origin".to_owned())]
        );
    }

    #[test]
    fn validation() {
        assert!(cors().validate().is_ok());
        assert_eq!(
            Cors::new().allow_methods(["GET", "P UT"]).validate(),
            Err(CorsError::BadMethod("P UT".into()))
        );
        assert!(Cors::new().allow_headers(["a:b"]).validate().is_err());
        assert!(Cors::new().expose_headers(["X\r\n"]).validate().is_err());
    }
}
