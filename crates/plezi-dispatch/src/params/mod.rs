//! Request parameters: one map of JSON values built from the query string, the body and the route.
//!
//! Handlers see every input in one shape, the same JSON object an auto-dispatch event has:
//!
//! ```
//! use plezi_dispatch::{Params, ParamsLimits};
//!
//! let limits = ParamsLimits::default();
//! let mut params = Params::from_request(
//!     Some("id=ignored&page=2"),
//!     Some("application/json"),
//!     br#"{"event":"chat","n":3}"#,
//!     &limits,
//! )
//! .unwrap();
//! // Route params (from the router) win over everything:
//! let mut route = Params::new();
//! route.insert("id", "chat");
//! params.merge(route);
//! assert_eq!(params.get_str("id"), Some("chat"));
//! assert_eq!(params.get_str("page"), Some("2"));
//! assert_eq!(params.get("n"), Some(&serde_json::json!(3)));
//! ```
//!
//! ## Sources and merge order (later wins, top-level keys replaced whole)
//! 1. the query string (`?a=1`): values are strings, nested keys allowed (`user[name]`);
//! 2. the body: `application/x-www-form-urlencoded` (like the query) or JSON (an object's
//!    top-level keys keep their JSON types; a non-object is stored under `"_json"`); other
//!    content types are not parsed;
//! 3. the route: path parameters (strings), rewrite parameters and `"*"` (see the router).
//!
//! ## Limits ([`ParamsLimits`], checked per source)
//! At most [`ParamsLimits::DEFAULT_MAX_PARAMS`] pairs, keys of at most
//! [`ParamsLimits::DEFAULT_MAX_KEY_BYTES`] bytes and [`ParamsLimits::DEFAULT_MAX_DEPTH`] levels of
//! `[…]` nesting. Going over a limit is an error, not a silent truncation. A body that is parsed
//! (JSON or urlencoded) may be at most [`ParamsLimits::DEFAULT_MAX_BODY_BYTES`] (1 MiB), else
//! `413`: a second line of defence behind the server's own cap on parsed bodies; other bodies
//! (uploads) are capped by the server (`ServerConfig::max_body_bytes`) only.
//!
//! ## Errors
//! Every [`ParamsError`] means the request is malformed: answer `400 Bad Request`, or `413
//! Content Too Large` for a body over the cap ([`ParamsError::status`]).

mod body;
mod decode;
mod form;

use std::fmt;

use serde_json::{Map, Value};

pub use body::BodyKind;
pub use decode::{DecodeError, decode_path_segment};
// Only the fuzzers, benchmarks and tests use these.
#[cfg(feature = "internals")]
pub use body::JSON_KEY;
#[cfg(feature = "internals")]
pub use decode::decode_form_component;

/// Caps that stop a request from making the server build huge parameter maps.
///
/// ```
/// use plezi_dispatch::{ParamsLimits, Routes};
/// let mut routes = Routes::new();
/// routes.params_limits(ParamsLimits { max_depth: 2, ..ParamsLimits::default() });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamsLimits {
    /// Most `key=value` pairs (or JSON top-level keys) accepted from one source.
    pub max_params: usize,
    /// Longest key, in bytes after decoding (the whole `user[address][city]` string).
    pub max_key_bytes: usize,
    /// Most `[…]` groups in one nested key.
    pub max_depth: usize,
    /// Largest JSON or urlencoded body parsed into params, in bytes; bigger is
    /// [`ParamsError::BodyTooLarge`] (413).
    pub max_body_bytes: usize,
}

impl ParamsLimits {
    /// Default for [`ParamsLimits::max_params`].
    pub const DEFAULT_MAX_PARAMS: usize = 1000;
    /// Default for [`ParamsLimits::max_key_bytes`].
    pub const DEFAULT_MAX_KEY_BYTES: usize = 256;
    /// Default for [`ParamsLimits::max_depth`].
    pub const DEFAULT_MAX_DEPTH: usize = 8;
    /// Default for [`ParamsLimits::max_body_bytes`]: 1 MiB, Socket.IO's `maxHttpBufferSize`.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
}

impl Default for ParamsLimits {
    fn default() -> Self {
        ParamsLimits {
            max_params: Self::DEFAULT_MAX_PARAMS,
            max_key_bytes: Self::DEFAULT_MAX_KEY_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Where a parameter came from (named in error messages).
///
/// ```
/// use plezi_dispatch::{ParamSource, Params, ParamsError, ParamsLimits};
/// let err = Params::from_query("a=%zz", &ParamsLimits::default()).unwrap_err();
/// assert!(matches!(err, ParamsError::BadEncoding { source: ParamSource::Query, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSource {
    /// The request path (route parameters).
    Path,
    /// The query string.
    Query,
    /// The request body.
    Body,
}

impl fmt::Display for ParamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamSource::Path => "path",
            ParamSource::Query => "query string",
            ParamSource::Body => "request body",
        })
    }
}

/// A malformed request: the caller answers `400 Bad Request` with the message.
///
/// ```
/// use plezi_dispatch::{Params, ParamsLimits};
/// let limits = ParamsLimits { max_params: 2, ..ParamsLimits::default() };
/// let err = Params::from_query("a=1&b=2&c=3", &limits).unwrap_err();
/// assert_eq!(err.status(), 400);
/// println!("{err}"); // names the source and the limit
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    /// A percent-escape or UTF-8 error.
    BadEncoding {
        /// Where the bad text was.
        source: ParamSource,
        /// What was wrong with it.
        error: DecodeError,
    },
    /// More pairs than [`ParamsLimits::max_params`].
    TooManyParams {
        /// Where.
        source: ParamSource,
        /// The limit in force.
        limit: usize,
    },
    /// A key longer than [`ParamsLimits::max_key_bytes`].
    KeyTooLong {
        /// Where.
        source: ParamSource,
        /// The limit in force.
        limit: usize,
    },
    /// A nested key deeper than [`ParamsLimits::max_depth`].
    TooDeep {
        /// Where.
        source: ParamSource,
        /// The limit in force.
        limit: usize,
    },
    /// A JSON content type with a body that is not valid JSON (the parser's message).
    InvalidJson(String),
    /// A JSON or urlencoded body longer than [`ParamsLimits::max_body_bytes`].
    BodyTooLarge {
        /// The limit in force.
        limit: usize,
    },
}

impl ParamsError {
    /// The HTTP status to answer with: 413 for [`ParamsError::BodyTooLarge`], else 400.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let limits = ParamsLimits { max_body_bytes: 4, ..ParamsLimits::default() };
    /// let err = Params::from_body(Some("application/json"), br#"{"a":1}"#, &limits).unwrap_err();
    /// assert_eq!(err.status(), 413);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            ParamsError::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamsError::BadEncoding { source, error } => write!(f, "bad {source}: {error}"),
            ParamsError::TooManyParams { source, limit } => {
                write!(
                    f,
                    "the {source} has more than {limit} parameters; send fewer"
                )
            }
            ParamsError::KeyTooLong { source, limit } => write!(
                f,
                "a parameter name in the {source} is longer than {limit} bytes; use shorter names"
            ),
            ParamsError::TooDeep { source, limit } => write!(
                f,
                "a parameter name in the {source} nests deeper than {limit} levels of [..]; flatten it"
            ),
            ParamsError::BodyTooLarge { limit } => write!(
                f,
                "the request body is over {limit} bytes, the most parsed into params (ParamsLimits::max_body_bytes); send less"
            ),
            ParamsError::InvalidJson(msg) => write!(
                f,
                "the request body is declared as JSON but does not parse ({msg}); send valid JSON or another Content-Type"
            ),
        }
    }
}

impl std::error::Error for ParamsError {}

/// The parameters a handler sees: string keys, JSON values.
///
/// Backed by a `serde_json::Map`, so iteration is in key order (sorted), and
/// [`Params::into_json`] gives the object handed to auto-dispatch handlers without copying.
///
/// ```
/// use plezi_dispatch::Ctx;
/// use plezi_server::Response;
///
/// // GET /search?q=rust&page=2
/// fn index(cx: &mut Ctx<'_>) -> Option<Response> {
///     let q = cx.params().get_str("q")?;
///     let page: u32 = cx.params().get_str("page").and_then(|p| p.parse().ok()).unwrap_or(1);
///     Some(Response::text(200, format!("{q}, page {page}")))
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    map: Map<String, Value>,
}

impl Params {
    /// An empty set.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let mut params = Params::new();
    /// params.insert("id", "7");
    /// assert_eq!(params.len(), 1);
    /// # let _ = ParamsLimits::default();
    /// ```
    pub fn new() -> Params {
        Params::default()
    }

    /// Parses a raw query string (without `?`), e.g. `a=1&b=x+y`.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let params = Params::from_query("q=a+b&user[name]=ann", &ParamsLimits::default()).unwrap();
    /// assert_eq!(params.get_str("q"), Some("a b"));
    /// assert_eq!(params.get("user").unwrap()["name"], "ann");
    /// ```
    pub fn from_query(query: &str, limits: &ParamsLimits) -> Result<Params, ParamsError> {
        let mut map = Map::new();
        form::parse_into(query, ParamSource::Query, limits, &mut map)?;
        Ok(Params { map })
    }

    /// Parses a request body according to its `Content-Type`: JSON (`application/json`,
    /// `application/*+json`) or urlencoded; other bodies give no params.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let limits = ParamsLimits::default();
    /// let params = Params::from_body(Some("application/json"), br#"{"n":3}"#, &limits).unwrap();
    /// assert_eq!(params.get("n"), Some(&serde_json::json!(3)));
    /// let params = Params::from_body(Some("image/png"), b"\x89PNG", &limits).unwrap();
    /// assert!(params.is_empty());
    /// ```
    pub fn from_body(
        content_type: Option<&str>,
        body: &[u8],
        limits: &ParamsLimits,
    ) -> Result<Params, ParamsError> {
        let mut map = Map::new();
        body::parse_into(content_type, body, limits, &mut map)?;
        Ok(Params { map })
    }

    /// Query then body (the body wins). Merge the route's params on top with [`Params::merge`].
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let params = Params::from_request(
    ///     Some("page=2&n=1"),
    ///     Some("application/x-www-form-urlencoded"),
    ///     b"n=5",
    ///     &ParamsLimits::default(),
    /// )
    /// .unwrap();
    /// assert_eq!(params.get_str("n"), Some("5")); // the body wins over the query
    /// assert_eq!(params.get_str("page"), Some("2"));
    /// ```
    pub fn from_request(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
        limits: &ParamsLimits,
    ) -> Result<Params, ParamsError> {
        let mut map = Map::new();
        if let Some(q) = query {
            form::parse_into(q, ParamSource::Query, limits, &mut map)?;
        }
        body::parse_into(content_type, body, limits, &mut map)?;
        Ok(Params { map })
    }

    /// Inserts every key of `later`, replacing existing keys (top level only, no deep merge).
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let mut params = Params::from_query("id=1&a=x", &ParamsLimits::default()).unwrap();
    /// let mut route = Params::new();
    /// route.insert("id", "7");
    /// params.merge(route);
    /// assert_eq!(params.get_str("id"), Some("7"));
    /// assert_eq!(params.get_str("a"), Some("x"));
    /// ```
    pub fn merge(&mut self, later: Params) {
        self.map.extend(later.map);
    }

    /// The value of `key`, if present.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let params = Params::from_query("tag[]=a&tag[]=b", &ParamsLimits::default()).unwrap();
    /// assert_eq!(params.get("tag"), Some(&serde_json::json!(["a", "b"])));
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// The value of `key` if it is a JSON string.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let mut params = Params::new();
    /// params.insert("n", 3);
    /// params.insert("s", "x");
    /// assert_eq!(params.get_str("s"), Some("x"));
    /// assert_eq!(params.get_str("n"), None); // a number, not a string
    /// ```
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(Value::as_str)
    }

    /// Sets `key`, returning the previous value.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let mut params = Params::new();
    /// assert_eq!(params.insert("a", 1), None);
    /// assert_eq!(params.insert("a", 2), Some(1.into()));
    /// ```
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.map.insert(key.into(), value.into())
    }

    /// Removes `key`, returning its value.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let mut params = Params::new();
    /// params.insert("password", "secret");
    /// assert_eq!(params.remove("password"), Some("secret".into()));
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let params = Params::from_query("debug", &ParamsLimits::default()).unwrap();
    /// assert!(params.contains_key("debug"));
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Number of top-level keys.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// assert_eq!(Params::from_query("a=1&b=2", &ParamsLimits::default()).unwrap().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no params.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// assert!(Params::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Iterates over `(key, value)` pairs in key order.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let params = Params::from_query("b=2&a=1", &ParamsLimits::default()).unwrap();
    /// let keys: Vec<&String> = params.iter().map(|(k, _)| k).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.map.iter()
    }

    /// Borrows the underlying JSON map.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let params = Params::from_query("a=1", &ParamsLimits::default()).unwrap();
    /// assert_eq!(params.as_map()["a"], "1");
    /// ```
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The params as a JSON object value.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let params = Params::from_query("a=1", &ParamsLimits::default()).unwrap();
    /// assert_eq!(params.into_json(), serde_json::json!({"a": "1"}));
    /// ```
    pub fn into_json(self) -> Value {
        Value::Object(self.map)
    }

    /// The underlying JSON map.
    ///
    /// ```
    /// use plezi_dispatch::{Params, ParamsLimits};
    /// let map = Params::from_query("a=1", &ParamsLimits::default()).unwrap().into_map();
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }
}

impl From<Map<String, Value>> for Params {
    fn from(map: Map<String, Value>) -> Params {
        Params { map }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Params {
        Params {
            map: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_order_query_then_body_then_route() {
        let limits = ParamsLimits::default();
        let mut p = Params::from_request(
            Some("a=query&b=query&c=query"),
            Some("application/x-www-form-urlencoded"),
            b"b=body&c=body",
            &limits,
        )
        .unwrap();
        p.merge(Params::from_iter([("c", "route")]));
        assert_eq!(p.into_json(), json!({"a":"query","b":"body","c":"route"}));
    }

    #[test]
    fn json_body_replaces_query_key_whole() {
        let mut p = Params::from_request(
            Some("user[name]=q&user[age]=1"),
            Some("application/json"),
            br#"{"user":{"name":"b"}}"#,
            &ParamsLimits::default(),
        )
        .unwrap();
        assert_eq!(p.get("user"), Some(&json!({"name":"b"})));
        assert_eq!(p.remove("user"), Some(json!({"name":"b"})));
        assert!(p.is_empty());
    }

    #[test]
    fn errors_propagate_from_each_source() {
        let l = ParamsLimits::default();
        assert!(Params::from_request(Some("%"), None, b"", &l).is_err());
        assert!(Params::from_request(None, Some("application/json"), b"nope", &l).is_err());
        assert!(Params::from_query("a=%C3", &l).is_err());
        assert!(Params::from_body(Some("application/json"), b"{", &l).is_err());
    }

    #[test]
    fn accessors() {
        let mut p = Params::new();
        assert!(p.is_empty());
        assert_eq!(p.insert("s", "x"), None);
        p.insert("n", 5);
        assert_eq!(p.get_str("s"), Some("x"));
        assert_eq!(p.get_str("n"), None);
        assert!(p.contains_key("n"));
        assert_eq!(p.len(), 2);
        let keys: Vec<_> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["n", "s"]);
        assert_eq!(p.as_map().len(), 2);
        assert_eq!(Params::from(p.clone().into_map()), p);
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let e = ParamsError::TooManyParams {
            source: ParamSource::Query,
            limit: 3,
        };
        assert_eq!(
            e.to_string(),
            "the query string has more than 3 parameters; send fewer"
        );
        assert_eq!(e.status(), 400);
        let e = ParamsError::BadEncoding {
            source: ParamSource::Path,
            error: DecodeError::NotUtf8,
        };
        assert!(e.to_string().starts_with("bad path: "));
    }
}
