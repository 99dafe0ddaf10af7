//! REST mapping: which controller action a request calls.
//!
//! The table is repeated in the router's module docs (this module is private).
//!
//! Inputs: the HTTP method (after the `_method` override, see [`effective_method`]), the route's
//! `id` parameter, and whether `id` names one of the controller's HTTP-enabled handlers.
//!
//! | method          | `id` names a handler | `id` = `new` | other `id` | no `id` |
//! |-----------------|----------------------|--------------|------------|---------|
//! | `GET`, `HEAD`   | `Handler(id)`        | `New`        | `Show`     | `Index` |
//! | `POST`          | `Handler(id)`        | `Create`     | `Create`   | `Create`|
//! | `PUT`, `PATCH`  | `Update`             | `Create`     | `Update`   | `Create`|
//! | `DELETE`        | `Delete`             | `Delete`     | `Delete`   | `Delete`|
//! | anything else   | `None` (no action: the caller answers 404/405)                    ||||
//!
//! An empty `id` counts as no `id`. Handlers are reachable by `GET`/`HEAD`/`POST` only, as in the
//! original Plezi (a `PUT /items/publish` updates the item whose id is `publish`). `new` is a
//! reserved name, so it never names a handler.
//!
//! `_method` override: only a `POST` can be overridden, and only to `PUT`, `PATCH` or `DELETE`
//! (case-insensitive), so a link (`GET`) never deletes anything and a form cannot pretend to be a
//! safe `GET`.

use serde_json::Value;

use crate::params::Params;

/// The controller action a request maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// An HTTP-enabled handler named by the `id` parameter.
    Handler(&'a str),
    /// `GET` without an id: list.
    Index,
    /// `GET` with an id: one item.
    Show,
    /// `GET` with id `new`: the form for a new item.
    New,
    /// `POST`, or `PUT`/`PATCH` without an id (or with `new`): make an item.
    Create,
    /// `PUT`/`PATCH` with an id: change an item.
    Update,
    /// `DELETE`: remove an item.
    Delete,
}

/// The name of the parameter that overrides a `POST`'s method.
pub const METHOD_OVERRIDE_PARAM: &str = "_method";

/// The method to route by: `method`, or for a `POST` a `PUT`/`PATCH`/`DELETE` named by
/// `override_value` (the `_method` param). Returned upper-case when overridden.
///
/// ```
/// use plezi_dispatch::router::effective_method;
/// assert_eq!(effective_method("POST", Some("delete")), "DELETE");
/// assert_eq!(effective_method("GET", Some("DELETE")), "GET");
/// assert_eq!(effective_method("POST", Some("GET")), "POST");
/// ```
pub fn effective_method<'a>(method: &'a str, override_value: Option<&str>) -> &'a str {
    if !method.eq_ignore_ascii_case("POST") {
        return method;
    }
    match override_value {
        Some(v) if v.eq_ignore_ascii_case("PUT") => "PUT",
        Some(v) if v.eq_ignore_ascii_case("PATCH") => "PATCH",
        Some(v) if v.eq_ignore_ascii_case("DELETE") => "DELETE",
        _ => method,
    }
}

/// Maps a request to an action (see the table in the module docs). `method` is compared
/// case-insensitively; `is_handler` says whether a name is an HTTP-enabled handler.
///
/// ```
/// use plezi_dispatch::router::{Action, rest_action};
/// let handlers = |name: &str| name == "publish";
/// assert_eq!(rest_action("GET", Some("publish"), handlers), Some(Action::Handler("publish")));
/// assert_eq!(rest_action("GET", Some("42"), handlers), Some(Action::Show));
/// assert_eq!(rest_action("PUT", None, handlers), Some(Action::Create));
/// assert_eq!(rest_action("OPTIONS", None, handlers), None);
/// ```
#[cfg(feature = "internals")]
pub fn rest_action<'a>(
    method: &str,
    id: Option<&'a str>,
    is_handler: impl Fn(&str) -> bool,
) -> Option<Action<'a>> {
    let id = match id {
        None | Some("") => Id::Missing,
        Some(name) => Id::Text(name),
    };
    map(method, id, is_handler)
}

/// [`rest_action`] reading `_method` and `id` from the merged params. A non-string `id` (a JSON
/// number from a body, say) counts as an id that names no handler; `null` counts as no id.
pub fn rest_action_for<'a>(
    method: &str,
    params: &'a Params,
    is_handler: impl Fn(&str) -> bool,
) -> Option<Action<'a>> {
    let method = effective_method(method, params.get_str(METHOD_OVERRIDE_PARAM));
    let id = match params.get("id") {
        None | Some(Value::Null) => Id::Missing,
        Some(Value::String(s)) if s.is_empty() => Id::Missing,
        Some(Value::String(s)) => Id::Text(s),
        Some(_) => Id::Other,
    };
    map(method, id, is_handler)
}

/// The `id` parameter as the table sees it.
#[derive(Clone, Copy)]
enum Id<'a> {
    Missing,
    Text(&'a str),
    /// Present but not text: never a handler, never `new`.
    Other,
}

fn map<'a>(method: &str, id: Id<'a>, is_handler: impl Fn(&str) -> bool) -> Option<Action<'a>> {
    let is = |m: &str| method.eq_ignore_ascii_case(m);
    let handler = match id {
        Id::Text(name) if is_handler(name) => Some(name),
        _ => None,
    };
    let is_new = matches!(id, Id::Text("new"));
    let missing = matches!(id, Id::Missing);
    if is("GET") || is("HEAD") {
        Some(match handler {
            Some(name) => Action::Handler(name),
            None if is_new => Action::New,
            None if missing => Action::Index,
            None => Action::Show,
        })
    } else if is("POST") {
        Some(handler.map_or(Action::Create, Action::Handler))
    } else if is("PUT") || is("PATCH") {
        Some(if missing || is_new {
            Action::Create
        } else {
            Action::Update
        })
    } else if is("DELETE") {
        Some(Action::Delete)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn handlers(name: &str) -> bool {
        matches!(name, "publish" | "echo")
    }

    /// The whole table, every method against every kind of id.
    #[test]
    fn rest_table_exhaustive() {
        let ids: [Option<&str>; 5] = [Some("publish"), Some("new"), Some("42"), None, Some("")];
        let table: [(&str, [Option<Action>; 5]); 11] = [
            (
                "GET",
                [
                    Some(Handler("publish")),
                    Some(New),
                    Some(Show),
                    Some(Index),
                    Some(Index),
                ],
            ),
            (
                "get",
                [
                    Some(Handler("publish")),
                    Some(New),
                    Some(Show),
                    Some(Index),
                    Some(Index),
                ],
            ),
            (
                "HEAD",
                [
                    Some(Handler("publish")),
                    Some(New),
                    Some(Show),
                    Some(Index),
                    Some(Index),
                ],
            ),
            (
                "POST",
                [
                    Some(Handler("publish")),
                    Some(Create),
                    Some(Create),
                    Some(Create),
                    Some(Create),
                ],
            ),
            (
                "PUT",
                [
                    Some(Update),
                    Some(Create),
                    Some(Update),
                    Some(Create),
                    Some(Create),
                ],
            ),
            (
                "PATCH",
                [
                    Some(Update),
                    Some(Create),
                    Some(Update),
                    Some(Create),
                    Some(Create),
                ],
            ),
            (
                "DELETE",
                [
                    Some(Delete),
                    Some(Delete),
                    Some(Delete),
                    Some(Delete),
                    Some(Delete),
                ],
            ),
            ("OPTIONS", [None, None, None, None, None]),
            ("TRACE", [None, None, None, None, None]),
            ("CONNECT", [None, None, None, None, None]),
            ("", [None, None, None, None, None]),
        ];
        for (method, expected) in table {
            for (id, want) in ids.iter().zip(expected) {
                assert_eq!(
                    rest_action(method, *id, handlers),
                    want,
                    "{method} id={id:?}"
                );
            }
        }
    }

    #[test]
    fn method_override_only_from_post_to_unsafe_verbs() {
        for (method, over, want) in [
            ("POST", Some("PUT"), "PUT"),
            ("POST", Some("patch"), "PATCH"),
            ("post", Some("Delete"), "DELETE"),
            ("POST", Some("GET"), "POST"),
            ("POST", Some("HEAD"), "POST"),
            ("POST", Some("bogus"), "POST"),
            ("POST", None, "POST"),
            ("GET", Some("DELETE"), "GET"),
            ("PUT", Some("DELETE"), "PUT"),
        ] {
            assert_eq!(effective_method(method, over), want, "{method} {over:?}");
        }
    }

    #[test]
    fn rest_action_for_reads_params() {
        let p: Params = [("_method", "delete"), ("id", "7")].into_iter().collect();
        assert_eq!(rest_action_for("POST", &p, handlers), Some(Delete));
        let p: Params = [("id", "echo")].into_iter().collect();
        assert_eq!(rest_action_for("POST", &p, handlers), Some(Handler("echo")));
        assert_eq!(
            rest_action_for("GET", &Params::new(), handlers),
            Some(Index)
        );
        // A non-string id is an id that names no handler; null is no id.
        let mut p = Params::new();
        p.insert("id", 5);
        assert_eq!(rest_action_for("GET", &p, handlers), Some(Show));
        assert_eq!(rest_action_for("PUT", &p, handlers), Some(Update));
        p.insert("id", serde_json::Value::Null);
        assert_eq!(rest_action_for("GET", &p, handlers), Some(Index));
        p.insert("id", "");
        assert_eq!(rest_action_for("PATCH", &p, handlers), Some(Create));
    }
}
