//! The router: path patterns tried in the order they were added, rewrite routes, REST mapping.
//!
//! Pure code: it takes a path string and returns route indices with their parameters. The
//! caller keeps what each [`RouteIdx`] stands for (a controller, the client script…).
//!
//! ```
//! use plezi_dispatch::router::Router;
//!
//! let mut router = Router::new();
//! router.add_rewrite("(:locale){en|fr|he}").unwrap();
//! let posts = router.add("/posts/(:id){publish}/(:title)").unwrap();
//! let users = router.add("/users").unwrap(); // becomes /users/(:id)
//!
//! let m = router.first_match("/fr/users/42").unwrap().unwrap();
//! assert_eq!(m.route, users);
//! assert_eq!(m.params.get_str("locale"), Some("fr"));
//! assert_eq!(m.params.get_str("id"), Some("42"));
//!
//! let m = router.first_match("/posts/publish/Hello%20World").unwrap().unwrap();
//! assert_eq!(m.route, posts);
//! assert_eq!(m.params.get_str("title"), Some("Hello World"));
//! assert!(router.first_match("/posts/other").unwrap().is_none());
//! ```
//!
//! The pattern syntax, path decoding, order and rewrites are documented on
//! [`Routes`](crate::Routes), which is how applications use this router.
//!
//! ## REST
//! [`rest_action`] maps the method (after [`effective_method`] applied the `_method` override)
//! and the `id` parameter to a controller [`Action`]:
//!
//! | method          | `id` names a handler | `id` = `new` | other `id` | no `id` (or empty) |
//! |-----------------|----------------------|--------------|------------|--------------------|
//! | `GET`, `HEAD`   | `Handler(id)`        | `New`        | `Show`     | `Index`            |
//! | `POST`          | `Handler(id)`        | `Create`     | `Create`   | `Create`           |
//! | `PUT`, `PATCH`  | `Update`             | `Create`     | `Update`   | `Create`           |
//! | `DELETE`        | `Delete`             | `Delete`     | `Delete`   | `Delete`           |
//! | anything else   | `None`: no action (the caller answers 404)                                |
//!
//! Handlers are reachable by `GET`/`HEAD`/`POST` only, as in the original Plezi. `_method`
//! overrides only a `POST`, and only to `PUT`, `PATCH` or `DELETE`.

mod error;
mod pattern;
mod rest;

use std::borrow::Cow;

use crate::params::{ParamSource, Params, ParamsError, decode_path_segment};
use pattern::{Constraint, Pattern};

pub use error::RouteError;
pub use rest::{Action, rest_action_for};
// Only the fuzzers, benchmarks and tests use these.
#[cfg(feature = "internals")]
pub use rest::{METHOD_OVERRIDE_PARAM, effective_method, rest_action};

/// Identifies a route by the order it was added (rewrites are not counted): the first
/// [`Router::add`] returns `RouteIdx(0)`, the next `RouteIdx(1)`…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteIdx(pub usize);

impl RouteIdx {
    /// The position, usable as an index into the caller's own table of route targets.
    pub fn index(self) -> usize {
        self.0
    }
}

/// One matching route with its parameters (rewrite params, then the route's own).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch {
    /// Which route matched.
    pub route: RouteIdx,
    /// Decoded path parameters as JSON strings (`"*"` for the catch-all).
    pub params: Params,
}

#[derive(Debug)]
enum Entry {
    Route {
        idx: RouteIdx,
        pattern: Pattern,
    },
    Rewrite {
        name: String,
        constraint: Constraint,
    },
}

/// An ordered list of route patterns and rewrites. Build it once, then share it (`Sync`).
#[derive(Debug, Default)]
pub struct Router {
    entries: Vec<Entry>,
    patterns: Vec<String>,
}

impl Router {
    /// An empty router (matches nothing).
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route, appending an optional `(:id)` unless the pattern names `id` or ends in `*`.
    pub fn add(&mut self, pattern: &str) -> Result<RouteIdx, RouteError> {
        let parsed = Pattern::parse(pattern, true)?;
        Ok(self.push_route(pattern, parsed))
    }

    /// Adds a route exactly as written (no automatic `(:id)`): for fixed paths such as
    /// `/client.js`.
    pub fn add_exact(&mut self, pattern: &str) -> Result<RouteIdx, RouteError> {
        let parsed = Pattern::parse(pattern, false)?;
        Ok(self.push_route(pattern, parsed))
    }

    /// Adds a rewrite: one constrained parameter such as `(:locale){en|fr|he}` (or
    /// `:locale{en|fr|he}`, the same thing) that strips a matching first segment for the routes
    /// added after it.
    pub fn add_rewrite(&mut self, pattern: &str) -> Result<(), RouteError> {
        let parsed = Pattern::parse(pattern, false)?;
        let (name, constraint) = parsed
            .into_rewrite()
            .ok_or_else(|| RouteError::BadRewrite {
                pattern: pattern.to_owned(),
            })?;
        self.entries.push(Entry::Rewrite { name, constraint });
        Ok(())
    }

    fn push_route(&mut self, source: &str, pattern: Pattern) -> RouteIdx {
        let idx = RouteIdx(self.patterns.len());
        self.patterns.push(source.to_owned());
        self.entries.push(Entry::Route { idx, pattern });
        idx
    }

    /// Number of routes (rewrites not counted).
    #[cfg(feature = "internals")]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether no route was added.
    #[cfg(feature = "internals")]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The pattern a route was added with, as written.
    #[cfg(feature = "internals")]
    pub fn pattern(&self, route: RouteIdx) -> Option<&str> {
        self.patterns.get(route.0).map(String::as_str)
    }

    /// Every route matching `path` (the path only, no `?query`), in the order added.
    /// Fails when a segment cannot be percent-decoded (answer 400).
    ///
    /// The iterator owns the decoded segments, so it does not borrow `path`: the caller may
    /// mutate the request between two matches.
    pub fn matches(&self, path: &str) -> Result<Matches<'_>, ParamsError> {
        let segments = split_path(path)?;
        Ok(Matches {
            entries: self.entries.iter(),
            segments,
            offset: 0,
            rewritten: Params::new(),
        })
    }

    /// The first route matching `path`, if any.
    #[cfg(feature = "internals")]
    pub fn first_match(&self, path: &str) -> Result<Option<RouteMatch>, ParamsError> {
        Ok(self.matches(path)?.next())
    }
}

/// Splits a raw path on `/`, drops empty segments and percent-decodes the rest.
fn split_path(path: &str) -> Result<Vec<String>, ParamsError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            decode_path_segment(s)
                .map(Cow::into_owned)
                .map_err(|error| ParamsError::BadEncoding {
                    source: ParamSource::Path,
                    error,
                })
        })
        .collect()
}

/// The routes matching one path, in order ([`Router::matches`]). Owns the decoded segments.
#[derive(Debug)]
pub struct Matches<'r> {
    entries: std::slice::Iter<'r, Entry>,
    segments: Vec<String>,
    /// Segments stripped by rewrites so far.
    offset: usize,
    rewritten: Params,
}

impl Iterator for Matches<'_> {
    type Item = RouteMatch;

    fn next(&mut self) -> Option<RouteMatch> {
        for entry in self.entries.by_ref() {
            let rest = &self.segments[self.offset..];
            match entry {
                Entry::Rewrite { name, constraint } => {
                    if let Some(first) = rest.first().filter(|s| constraint.accepts(s)) {
                        self.rewritten.insert(name.clone(), first.as_str());
                        self.offset += 1;
                    }
                }
                Entry::Route { idx, pattern } => {
                    if pattern.is_match(rest) {
                        let mut params = self.rewritten.clone();
                        pattern.capture(rest, &mut params);
                        return Some(RouteMatch {
                            route: *idx,
                            params,
                        });
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
