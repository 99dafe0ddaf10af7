//! Router behaviour: order, fall-through, optional segments, constraints, rewrites, decoding.

use serde_json::{Value, json};

use super::*;

fn router(patterns: &[&str]) -> Router {
    let mut r = Router::new();
    for p in patterns {
        r.add(p).unwrap_or_else(|e| panic!("{e}"));
    }
    r
}

/// All matches of `path` as (route index, params as JSON).
fn all(r: &Router, path: &str) -> Vec<(usize, Value)> {
    r.matches(path)
        .unwrap()
        .map(|m| (m.route.index(), m.params.into_json()))
        .collect()
}

fn first(r: &Router, path: &str) -> Option<(usize, Value)> {
    all(r, path).into_iter().next()
}

#[test]
fn literal_routes_with_auto_id() {
    let r = router(&["/users", "/"]);
    assert_eq!(first(&r, "/users"), Some((0, json!({}))));
    assert_eq!(first(&r, "/users/42"), Some((0, json!({"id":"42"}))));
    assert_eq!(first(&r, "/users/42/x"), None);
    assert_eq!(first(&r, "/"), Some((1, json!({}))));
    assert_eq!(first(&r, ""), Some((1, json!({}))));
    assert_eq!(first(&r, "/other"), Some((1, json!({"id":"other"}))));
}

#[test]
fn add_exact_has_no_auto_id() {
    let mut r = Router::new();
    let client = r.add_exact("/client.js").unwrap();
    assert_eq!(
        r.first_match("/client.js").unwrap().map(|m| m.route),
        Some(client)
    );
    assert!(r.first_match("/client.js/x").unwrap().is_none());
}

#[test]
fn first_added_wins_and_matches_fall_through_in_order() {
    let r = router(&["/a/:x", "/a/:y", "/:z/b", "/*"]);
    assert_eq!(
        all(&r, "/a/b"),
        vec![
            (0, json!({"x":"b"})),
            (1, json!({"y":"b"})),
            (2, json!({"z":"a"})),
            (3, json!({"*":"a/b"})),
        ]
    );
    // The iterator is lazy: a caller that stops at the first accepted route pays for no more.
    let mut it = r.matches("/a/b").unwrap();
    assert_eq!(it.next().map(|m| m.route), Some(RouteIdx(0)));
    assert_eq!(it.next().map(|m| m.route), Some(RouteIdx(1)));
}

#[test]
fn required_and_optional_parameters() {
    let r = router(&["/u/:uid/(:id)/(:fmt)"]);
    assert_eq!(first(&r, "/u"), None, "uid is required");
    assert_eq!(first(&r, "/u/7"), Some((0, json!({"uid":"7"}))));
    assert_eq!(first(&r, "/u/7/8"), Some((0, json!({"uid":"7","id":"8"}))));
    assert_eq!(
        first(&r, "/u/7/8/json"),
        Some((0, json!({"uid":"7","id":"8","fmt":"json"})))
    );
    assert_eq!(first(&r, "/u/7/8/json/x"), None);
}

#[test]
fn constrained_routes_from_the_seed() {
    // Plezi's own example: two routes for one controller.
    let r = router(&[
        "/(:id){publish}/(:title)",
        "/(:id){echo}/(:message)/(:data)",
    ]);
    assert_eq!(first(&r, "/"), Some((0, json!({}))));
    assert_eq!(
        first(&r, "/publish/Hmmm"),
        Some((0, json!({"id":"publish","title":"Hmmm"})))
    );
    assert_eq!(
        first(&r, "/echo/hi/there"),
        Some((1, json!({"id":"echo","message":"hi","data":"there"})))
    );
    assert_eq!(first(&r, "/echo"), Some((1, json!({"id":"echo"}))));
    assert_eq!(first(&r, "/other"), None);
    assert_eq!(first(&r, "/publishx"), None, "constraints are anchored");
}

#[test]
fn regex_constraints_with_quantifiers() {
    let r = router(&["/items/:id{\\d{1,4}}", "/items/:slug{[a-z-]+}"]);
    assert_eq!(first(&r, "/items/123"), Some((0, json!({"id":"123"}))));
    assert_eq!(first(&r, "/items/12345"), None);
    assert_eq!(first(&r, "/items/a-b"), Some((1, json!({"slug":"a-b"}))));
    assert_eq!(
        first(&r, "/items/a-b/9"),
        Some((1, json!({"slug":"a-b","id":"9"})))
    );
    assert_eq!(first(&r, "/items/A"), None);
}

#[test]
fn catch_all() {
    let r = router(&["/files/*", "/x/:a/*"]);
    assert_eq!(first(&r, "/files"), Some((0, json!({"*":""}))));
    assert_eq!(
        first(&r, "/files/a/b%20c/d"),
        Some((0, json!({"*":"a/b c/d"})))
    );
    assert_eq!(first(&r, "/x"), None);
    assert_eq!(first(&r, "/x/1/2"), Some((1, json!({"a":"1","*":"2"}))));
}

#[test]
fn rewrite_strips_a_locale_for_later_routes() {
    let mut r = Router::new();
    let before = r.add_exact("/en/about").unwrap();
    r.add_rewrite("(:locale){en|fr|he}").unwrap();
    let users = r.add("/users").unwrap();
    let root = r.add("/").unwrap();
    assert_eq!(r.len(), 3);
    let m = r.first_match("/fr/users/3").unwrap().unwrap();
    assert_eq!(m.route, users);
    assert_eq!(m.params.into_json(), json!({"locale":"fr","id":"3"}));
    // Without a locale the rewrite leaves the path alone.
    assert_eq!(first(&r, "/users/3"), Some((1, json!({"id":"3"}))));
    assert_eq!(
        first(&r, "/he"),
        Some((root.index(), json!({"locale":"he"})))
    );
    // Routes added before the rewrite see the full path.
    assert_eq!(
        r.first_match("/en/about").unwrap().map(|m| m.route),
        Some(before)
    );
    // `/de/users` is not a locale: the rewrite does not apply; the root route takes "de".
    assert_eq!(first(&r, "/de"), Some((2, json!({"id":"de"}))));
    // Fall-through continues on the rewritten path.
    assert_eq!(
        all(&r, "/en/users"),
        vec![
            (1, json!({"locale":"en"})),
            (2, json!({"locale":"en","id":"users"}))
        ]
    );
}

#[test]
fn stacked_rewrites_and_route_params_win() {
    let mut r = Router::new();
    r.add_rewrite(":locale{en|fr}").unwrap();
    r.add_rewrite("/(:version){v\\d+}").unwrap();
    r.add("/:locale").unwrap();
    assert_eq!(
        first(&r, "/fr/v2/page"),
        Some((0, json!({"version":"v2","locale":"page"})))
    );
}

#[test]
fn rewrite_errors() {
    let mut r = Router::new();
    for bad in ["(:locale)", ":locale", "/en", "/:a{x}/:b{y}", "*", ""] {
        assert!(
            matches!(r.add_rewrite(bad), Err(RouteError::BadRewrite { .. })),
            "{bad}"
        );
    }
    assert!(matches!(
        r.add_rewrite(":a{(}"),
        Err(RouteError::BadRegex { .. })
    ));
    assert!(r.first_match("/x").unwrap().is_none());
}

#[test]
fn percent_decoding_of_segments() {
    let r = router(&["/caf%C3%A9/:name", "/plus/:v"]);
    assert_eq!(
        first(&r, "/caf%c3%a9/a%2Fb"),
        Some((0, json!({"name":"a/b"})))
    );
    assert_eq!(first(&r, "/café/x"), Some((0, json!({"name":"x"}))));
    assert_eq!(first(&r, "/plus/a+b"), Some((1, json!({"v":"a+b"}))));
    assert_eq!(first(&r, "/plus/%2B"), Some((1, json!({"v":"+"}))));
    // An encoded slash does not split segments.
    assert_eq!(first(&r, "/plus%2Fv"), None);
}

#[test]
fn bad_path_encoding_is_an_error() {
    let r = router(&["/*"]);
    for bad in ["/a%", "/%zz", "/%FF"] {
        let err = r.matches(bad).unwrap_err();
        assert!(
            matches!(
                err,
                ParamsError::BadEncoding {
                    source: ParamSource::Path,
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn slashes_are_normalised() {
    let r = router(&["/a/:b"]);
    for p in ["/a/x", "/a/x/", "//a//x", "a/x"] {
        assert_eq!(first(&r, p), Some((0, json!({"b":"x"}))), "{p}");
    }
}

#[test]
fn errors_at_add_time_name_the_pattern() {
    let mut r = Router::new();
    let err = r.add("/(:a)/:b").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/(:a)/:b") && msg.contains("optional"),
        "{msg}"
    );
    assert!(r.add("/:x/:x").is_err());
    assert!(
        r.add("/:x{[}")
            .unwrap_err()
            .to_string()
            .contains("not a valid regex")
    );
    assert!(r.add("/a/*/b").is_err());
    assert!(r.is_empty(), "a failed add adds nothing");
    let ok = r.add("/ok").unwrap();
    assert_eq!(ok, RouteIdx(0));
    assert_eq!(r.pattern(ok), Some("/ok"));
    assert_eq!(r.pattern(RouteIdx(1)), None);
}

#[test]
fn empty_router_matches_nothing() {
    let r = Router::new();
    assert!(r.first_match("/").unwrap().is_none());
}

#[test]
fn router_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Router>();
}

#[test]
fn matches_does_not_borrow_the_path() {
    let r = router(&["/a/:x", "/a/:y"]);
    let mut path = String::from("/a/%41");
    let mut it = r.matches(&path).unwrap();
    path.clear(); // the request may change while the caller walks the matches
    assert_eq!(
        it.next().map(|m| m.params.into_json()),
        Some(json!({"x":"A"}))
    );
    assert_eq!(
        it.next().map(|m| m.params.into_json()),
        Some(json!({"y":"A"}))
    );
    assert!(it.next().is_none());
    assert!(path.is_empty());
}

#[test]
fn a_constraint_cannot_escape_its_anchors() {
    // `^(?:{body})$` with an unbalanced body: `a)|(b` would become `^(?:a)|(b)$`, which accepts
    // any segment starting with "a". Such a body is a pattern error, like any other bad regex.
    for body in ["a)|(b", "a)|(?:b", "x)(y"] {
        let mut r = Router::new();
        assert!(
            matches!(
                r.add(&format!("/p/:v{{{body}}}")),
                Err(RouteError::BadRegex { .. })
            ),
            "{body}"
        );
    }
    let r = router(&["/p/:v{a|b}"]);
    assert_eq!(first(&r, "/p/abc"), None);
}
