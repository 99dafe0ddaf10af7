//! Cookies: reading the `Cookie` request header and building `Set-Cookie` values.
//!
//! The details are on [`Cookies`] and [`SetCookie`].

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::params::decode_path_segment;

/// The cookies a request carried, by name.
///
/// ```
/// use plezi_dispatch::{Cookies, SameSite, SetCookie};
/// use std::time::Duration;
///
/// let header = SetCookie::new("name", "Ann Lee; admin")
///     .max_age(Duration::from_secs(3600))
///     .http_only(true)
///     .same_site(SameSite::Lax)
///     .to_header_value()
///     .unwrap();
/// assert_eq!(header, "name=Ann%20Lee%3B%20admin; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax");
///
/// // What the browser sends back reads as the original value.
/// let cookies = Cookies::parse(["name=Ann%20Lee%3B%20admin; theme=dark"]);
/// assert_eq!(cookies.get("name"), Some("Ann Lee; admin"));
/// ```
///
/// # Decisions
/// - Values are percent-encoded when set (every byte outside RFC 6265's `cookie-octet`, and `%`
///   itself) and percent-decoded when read, so any string round-trips. A received value whose
///   escapes do not decode (a cookie some other software set) is kept as sent: a foreign cookie
///   never fails a request. Surrounding double quotes are removed.
/// - Reading: several `Cookie` headers are accepted; pairs without `=` are skipped; when a name
///   repeats, the first one wins (browsers send the most specific path first); at most
///   [`Cookies::MAX_COOKIES`] are kept.
/// - Setting: names must be RFC 7230 tokens. Safe by default: `Path=/` (so a later delete with
///   the default path removes it), `HttpOnly` (scripts cannot read it) and `SameSite=Lax` (not
///   sent on cross-site subrequests and form posts), as Rails and Phoenix set their session
///   cookies; `Secure` when the application's public origin is https (through
///   [`Ctx::set_cookie`](crate::Ctx::set_cookie)). Each is opted out of explicitly
///   (`.http_only(false)`, `.no_same_site()`, `.secure(false)`). `Domain`, `Max-Age` and
///   `Expires` are added only when set. `SameSite=None` without `Secure` is an error (browsers
///   drop it).
/// - Deleting ([`SetCookie::delete`]): empty value, `Max-Age=0` and an `Expires` in 1970. Use the
///   same `Path`/`Domain` the cookie was set with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cookies {
    pairs: Vec<(String, String)>,
}

impl Cookies {
    /// Most cookies read from one request; later ones are ignored. Browsers keep at most ~180
    /// per domain, and the cap bounds the work a forged header can cause.
    pub const MAX_COOKIES: usize = 256;

    /// Parses every `Cookie` header value of a request (usually one).
    ///
    /// ```
    /// use plezi_dispatch::Cookies;
    /// let cookies = Cookies::parse(["theme=dark; lang=fr", "theme=light"]);
    /// assert_eq!(cookies.get("theme"), Some("dark")); // the first one wins
    /// assert_eq!(cookies.len(), 2);
    /// ```
    pub fn parse<'a>(headers: impl IntoIterator<Item = &'a str>) -> Cookies {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for header in headers {
            for item in header.split(';') {
                if pairs.len() == Self::MAX_COOKIES {
                    return Cookies { pairs };
                }
                let Some((name, value)) = item.split_once('=') else {
                    continue;
                };
                let name = name.trim();
                if name.is_empty() || pairs.iter().any(|(n, _)| n == name) {
                    continue;
                }
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                let value = decode_path_segment(value)
                    .map_or_else(|_| value.to_owned(), |v| v.into_owned());
                pairs.push((name.to_owned(), value));
            }
        }
        Cookies { pairs }
    }

    /// The value of cookie `name`.
    ///
    /// ```
    /// use plezi_dispatch::Cookies;
    /// let cookies = Cookies::parse(["name=Ann%20Lee"]);
    /// assert_eq!(cookies.get("name"), Some("Ann Lee"));
    /// assert_eq!(cookies.get("other"), None);
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every cookie, in the order received.
    ///
    /// ```
    /// use plezi_dispatch::Cookies;
    /// let cookies = Cookies::parse(["a=1; b=2"]);
    /// assert_eq!(cookies.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of distinct cookie names.
    ///
    /// ```
    /// assert_eq!(plezi_dispatch::Cookies::parse(["a=1; b=2"]).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the request had no cookies.
    ///
    /// ```
    /// assert!(plezi_dispatch::Cookies::parse([""]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The `SameSite` attribute.
///
/// ```
/// use plezi_dispatch::{SameSite, SetCookie};
/// let value = SetCookie::new("sid", "1").same_site(SameSite::Strict).to_header_value().unwrap();
/// assert!(value.ends_with("SameSite=Strict"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Also sent on top-level navigations from other sites (the browsers' default).
    Lax,
    /// Sent on cross-site requests too; requires `Secure`.
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// A `Set-Cookie` header value, built step by step and checked by
/// [`SetCookie::to_header_value`].
///
/// ```
/// use plezi_dispatch::{Ctx, SendError, SetCookie};
/// use serde_json::Value;
///
/// fn remember(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
///     let lang = msg["lang"].as_str().unwrap_or("en");
///     cx.set_cookie(SetCookie::new("lang", lang)) // Path=/; HttpOnly; SameSite=Lax
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<Duration>,
    expires: Option<SystemTime>,
    /// `None`: the application's default (`Secure` when its public origin is https).
    secure: Option<bool>,
    http_only: bool,
    same_site: Option<SameSite>,
}

impl SetCookie {
    /// A cookie `name=value` with the safe defaults: `Path=/`, `HttpOnly`, `SameSite=Lax`, and
    /// `Secure` when the application's public origin is https (set through
    /// [`Ctx::set_cookie`](crate::Ctx::set_cookie)). Opt out explicitly with
    /// [`SetCookie::http_only`]`(false)` (a cookie scripts must read),
    /// [`SetCookie::same_site`], [`SetCookie::no_same_site`] or [`SetCookie::secure`]`(false)`.
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// let value = SetCookie::new("lang", "fr").to_header_value().unwrap();
    /// assert_eq!(value, "lang=fr; Path=/; HttpOnly; SameSite=Lax");
    /// ```
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> SetCookie {
        SetCookie {
            name: name.into(),
            value: value.into(),
            path: Some("/".to_owned()),
            domain: None,
            max_age: None,
            expires: None,
            secure: None,
            http_only: true,
            same_site: Some(SameSite::Lax),
        }
    }

    /// A header that makes the browser drop cookie `name` (empty value, `Max-Age=0`, `Expires`
    /// in 1970). Set the same `path`/`domain` it was created with.
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// let value = SetCookie::delete("lang").to_header_value().unwrap();
    /// assert!(value.starts_with("lang=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970"));
    /// ```
    pub fn delete(name: impl Into<String>) -> SetCookie {
        SetCookie {
            max_age: Some(Duration::ZERO),
            expires: Some(UNIX_EPOCH),
            ..SetCookie::new(name, "")
        }
    }

    /// Sets `Path` (default `/`); an empty string leaves the attribute out.
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// let value = SetCookie::new("a", "1").path("/admin").to_header_value().unwrap();
    /// assert!(value.contains("; Path=/admin;"));
    /// ```
    pub fn path(mut self, path: impl Into<String>) -> SetCookie {
        let path = path.into();
        self.path = (!path.is_empty()).then_some(path);
        self
    }

    /// Sets `Domain`.
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// let value = SetCookie::new("a", "1").domain("example.com").to_header_value().unwrap();
    /// assert!(value.contains("; Domain=example.com"));
    /// ```
    pub fn domain(mut self, domain: impl Into<String>) -> SetCookie {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `Max-Age` (whole seconds).
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// use std::time::Duration;
    /// let value = SetCookie::new("a", "1").max_age(Duration::from_secs(60)).to_header_value().unwrap();
    /// assert!(value.contains("; Max-Age=60"));
    /// ```
    pub fn max_age(mut self, age: Duration) -> SetCookie {
        self.max_age = Some(age);
        self
    }

    /// Sets `Expires` (an HTTP date; times before 1970 are written as 1970).
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
    /// let value = SetCookie::new("a", "1").expires(at).to_header_value().unwrap();
    /// assert!(value.contains("; Expires=Sun, 06 Nov 1994 08:49:37 GMT"));
    /// ```
    pub fn expires(mut self, at: SystemTime) -> SetCookie {
        self.expires = Some(at);
        self
    }

    /// Sets or clears `Secure` (sent over HTTPS only). Unset, it follows the application: on when
    /// its public origin is https.
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// let value = SetCookie::new("a", "1").secure(true).to_header_value().unwrap();
    /// assert!(value.contains("; Secure"));
    /// ```
    pub fn secure(mut self, on: bool) -> SetCookie {
        self.secure = Some(on);
        self
    }

    /// Sets `Secure` to `on` unless [`SetCookie::secure`] already chose.
    pub(crate) fn secure_by_default(mut self, on: bool) -> SetCookie {
        self.secure.get_or_insert(on);
        self
    }

    /// Sets or clears `HttpOnly` (hidden from JavaScript). Default: on.
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// // A cookie the page's JavaScript reads:
    /// let value = SetCookie::new("theme", "dark").http_only(false).to_header_value().unwrap();
    /// assert!(!value.contains("HttpOnly"));
    /// ```
    pub fn http_only(mut self, on: bool) -> SetCookie {
        self.http_only = on;
        self
    }

    /// Sets `SameSite` (default `Lax`).
    ///
    /// ```
    /// use plezi_dispatch::{SameSite, SetCookie};
    /// let value = SetCookie::new("a", "1").same_site(SameSite::Strict).to_header_value().unwrap();
    /// assert!(value.contains("SameSite=Strict"));
    /// ```
    pub fn same_site(mut self, same_site: SameSite) -> SetCookie {
        self.same_site = Some(same_site);
        self
    }

    /// Leaves the `SameSite` attribute out (the browser's own default applies).
    ///
    /// ```
    /// use plezi_dispatch::SetCookie;
    /// let value = SetCookie::new("a", "1").no_same_site().to_header_value().unwrap();
    /// assert!(!value.contains("SameSite"));
    /// ```
    pub fn no_same_site(mut self) -> SetCookie {
        self.same_site = None;
        self
    }

    /// The header value (without `Set-Cookie: `), or why it cannot be sent.
    ///
    /// ```
    /// use plezi_dispatch::{SameSite, SetCookie};
    /// assert!(SetCookie::new("bad name", "1").to_header_value().is_err()); // not a token
    /// // SameSite=None needs Secure, or browsers drop the cookie:
    /// assert!(SetCookie::new("a", "1").same_site(SameSite::None).to_header_value().is_err());
    /// ```
    pub fn to_header_value(&self) -> Result<String, CookieError> {
        if self.name.is_empty() || !self.name.bytes().all(is_token_byte) {
            return Err(CookieError::BadName(self.name.clone()));
        }
        let mut out = String::with_capacity(self.name.len() + self.value.len() + 32);
        out.push_str(&self.name);
        out.push('=');
        encode_value(&self.value, &mut out);
        if let Some(path) = &self.path {
            check_attribute("Path", path, |b| (0x20..0x7f).contains(&b) && b != b';')?;
            out.push_str("; Path=");
            out.push_str(path);
        }
        if let Some(domain) = &self.domain {
            check_attribute("Domain", domain, |b| {
                b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
            })?;
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(age) = self.max_age {
            out.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if let Some(at) = self.expires {
            out.push_str("; Expires=");
            out.push_str(&http_date(at));
        }
        let secure = self.secure.unwrap_or(false);
        if secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(same_site) = self.same_site {
            if same_site == SameSite::None && !secure {
                return Err(CookieError::SameSiteNoneWithoutSecure);
            }
            out.push_str("; SameSite=");
            out.push_str(same_site.as_str());
        }
        Ok(out)
    }
}

/// Why a [`SetCookie`] cannot be sent.
///
/// ```
/// use plezi_dispatch::{CookieError, SetCookie};
/// let err: CookieError = SetCookie::new("", "1").to_header_value().unwrap_err();
/// println!("{err}"); // says what a cookie name may contain
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieError {
    /// The name is empty or not an RFC 7230 token.
    BadName(String),
    /// An attribute value with characters it may not contain.
    BadAttribute {
        /// `Path` or `Domain`.
        attribute: &'static str,
        /// The value given.
        value: String,
    },
    /// `SameSite=None` without `Secure`.
    SameSiteNoneWithoutSecure,
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::BadName(name) => write!(
                f,
                "cookie name {name:?} is empty or has characters outside A-Z a-z 0-9 !#$%&'*+-.^_`|~"
            ),
            CookieError::BadAttribute { attribute, value } => write!(
                f,
                "cookie {attribute} {value:?} has characters a {attribute} may not contain (';', control or non-ASCII)"
            ),
            CookieError::SameSiteNoneWithoutSecure => f.write_str(
                "SameSite=None needs Secure (browsers drop it otherwise); call .secure(true)",
            ),
        }
    }
}

impl std::error::Error for CookieError {}

fn check_attribute(
    attribute: &'static str,
    value: &str,
    allowed: impl Fn(u8) -> bool,
) -> Result<(), CookieError> {
    if value.bytes().all(allowed) {
        Ok(())
    } else {
        Err(CookieError::BadAttribute {
            attribute,
            value: value.to_owned(),
        })
    }
}

/// RFC 7230 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Percent-encodes everything outside RFC 6265 `cookie-octet`, plus `%`.
fn encode_value(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        let plain =
            matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E) && b != b'%';
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); times before 1970 give the epoch.
fn http_date(at: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31); H. Hinnant's algorithm, days ≥ 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_several_headers_first_wins_quotes_and_junk() {
        let c = Cookies::parse([
            "a=1; b=\"quoted\"; junk; =noname; c=x=y",
            "a=2; d=%41%zz; e=caf%C3%A9",
        ]);
        assert_eq!(c.get("a"), Some("1"));
        assert_eq!(c.get("b"), Some("quoted"));
        assert_eq!(c.get("c"), Some("x=y"));
        assert_eq!(c.get("d"), Some("%41%zz"), "undecodable value kept as sent");
        assert_eq!(c.get("e"), Some("café"));
        assert_eq!(c.get("junk"), None);
        assert_eq!(c.len(), 5);
        let names: Vec<_> = c.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert!(Cookies::parse([""]).is_empty());
        assert!(Cookies::parse(std::iter::empty()).is_empty());
    }

    #[test]
    fn cookie_count_is_capped() {
        let header: String = (0..1000).map(|i| format!("c{i}={i}; ")).collect();
        let c = Cookies::parse([header.as_str(), "late=1"]);
        assert_eq!(c.len(), Cookies::MAX_COOKIES);
        assert_eq!(c.get("c255"), Some("255"));
        assert_eq!(c.get("c256"), None);
        assert_eq!(c.get("late"), None);
    }

    #[test]
    fn round_trip_of_awkward_values() {
        for value in [
            "plain",
            "with space",
            "a;b,c\"d\\e",
            "100%",
            "שלום",
            "",
            "+/=?",
        ] {
            let header = SetCookie::new("k", value).to_header_value().unwrap();
            let sent = header.split(';').next().unwrap();
            assert!(
                sent.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b','),
                "{sent}"
            );
            assert_eq!(Cookies::parse([sent]).get("k"), Some(value), "{header}");
        }
    }

    #[test]
    fn every_attribute() {
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let h = SetCookie::new("sid", "abc")
            .path("/app")
            .domain("example.com")
            .max_age(Duration::from_millis(90_500))
            .expires(at)
            .secure(true)
            .http_only(true)
            .same_site(SameSite::None)
            .to_header_value()
            .unwrap();
        assert_eq!(
            h,
            "sid=abc; Path=/app; Domain=example.com; Max-Age=90; \
             Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; SameSite=None"
        );
        let h = SetCookie::new("s", "v")
            .path("")
            .same_site(SameSite::Strict)
            .to_header_value()
            .unwrap();
        assert_eq!(h, "s=v; HttpOnly; SameSite=Strict");
    }

    #[test]
    fn safe_defaults_and_explicit_opt_outs() {
        let plain = SetCookie::new("s", "v");
        assert_eq!(
            plain.to_header_value().unwrap(),
            "s=v; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            plain
                .clone()
                .secure_by_default(true)
                .to_header_value()
                .unwrap(),
            "s=v; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            plain
                .clone()
                .secure(false)
                .secure_by_default(true)
                .to_header_value()
                .unwrap(),
            "s=v; Path=/; HttpOnly; SameSite=Lax",
            "an explicit choice wins over the application's default"
        );
        assert_eq!(
            plain
                .http_only(false)
                .no_same_site()
                .to_header_value()
                .unwrap(),
            "s=v; Path=/"
        );
    }

    #[test]
    fn delete_expires_the_cookie() {
        assert_eq!(
            SetCookie::delete("sid").to_header_value().unwrap(),
            "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            SetCookie::delete("sid")
                .path("/app")
                .to_header_value()
                .unwrap(),
            "sid=; Path=/app; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn validation_errors() {
        for bad in ["", "a b", "a;b", "a=b", "é", "a\"b"] {
            assert_eq!(
                SetCookie::new(bad, "v").to_header_value(),
                Err(CookieError::BadName(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(matches!(
            SetCookie::new("a", "v").path("/x;Secure").to_header_value(),
            Err(CookieError::BadAttribute {
                attribute: "Path",
                ..
            })
        ));
        assert!(matches!(
            SetCookie::new("a", "v")
                .domain("ex ample.com")
                .to_header_value(),
            Err(CookieError::BadAttribute {
                attribute: "Domain",
                ..
            })
        ));
        let err = SetCookie::new("a", "v")
            .same_site(SameSite::None)
            .to_header_value()
            .unwrap_err();
        assert!(err.to_string().contains(".secure(true)"));
    }

    #[test]
    fn http_dates() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
        ];
        for (secs, want) in cases {
            assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(secs)), want);
        }
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(10)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}
