//! The fuzz bodies: each takes arbitrary bytes and panics only when the code under test panics
//! or breaks a checked property.

use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use plezi_dispatch::SessionKey;
use plezi_dispatch::params::{
    Params, ParamsError, ParamsLimits, decode_form_component, decode_path_segment,
};
use plezi_dispatch::router::{RouteError, Router, effective_method, rest_action_for};
use plezi_dispatch::{Cookies, SameSite, SetCookie};
use plezi_messaging::{ConnectionUuid, Envelope, EnvelopeBody, Payload, ServerId, glob_match};
use serde_json::Value;

/// A router with every kind of segment: literals, params, optional and constrained params,
/// regex and plain-word constraints, a catch-all, rewrites before and between routes.
fn fixed_router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut r = Router::new();
        fn ok<T>(x: Result<T, RouteError>) -> T {
            x.expect("fixed pattern")
        }
        ok(r.add_rewrite("(:locale){en|fr|he}"));
        ok(r.add("/posts/(:id){publish}/(:title)"));
        ok(r.add("/users"));
        ok(r.add_exact("/client.js"));
        ok(r.add("/files/*"));
        ok(r.add("/api/:version{v[0-9]+}/:name{[a-z]{1,8}|\\{x\\}}/(:rest){.*}"));
        ok(r.add_rewrite(":tenant{t-[0-9a-f]+}"));
        ok(r.add("/a/:b/(:c)/(:d){[^/]*é}"));
        ok(r.add_exact("/"));
        ok(r.add("*"));
        r
    })
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn check_matches(router: &Router, path: &str) {
    match router.matches(path) {
        Ok(matches) => {
            let mut last = None;
            for m in matches {
                assert!(m.route.index() < router.len());
                assert!(router.pattern(m.route).is_some());
                // In the order added, each route at most once.
                assert!(last < Some(m.route), "routes out of order");
                last = Some(m.route);
                let _ = rest_action_for("POST", &m.params, |h| h == "publish");
                let _ = rest_action_for("GET", &m.params, |h| h.len() == 3);
            }
        }
        Err(e) => {
            assert_eq!(e.status(), 400);
            assert!(!e.to_string().is_empty());
        }
    }
}

/// `Router::matches` on an arbitrary path against [`fixed_router`]: no panic, every match in
/// order and in range, and the REST mapping of each match's params.
pub fn router_match(data: &[u8]) {
    let path = text(data);
    check_matches(fixed_router(), &path);
    // The part before `?`, as the dispatcher passes it.
    if let Some((p, _)) = path.split_once('?') {
        check_matches(fixed_router(), p);
    }
}

/// `Router::add`, `add_exact` and `add_rewrite` on an arbitrary pattern: an error or a route,
/// never a panic; a route that was added then matches a few paths without panicking.
pub fn router_add(data: &[u8]) {
    if data.len() > 512 {
        return; // regex compilation time grows with the pattern; long ones add nothing here
    }
    let pattern = text(data);
    let mut router = Router::new();
    let added = router.add(&pattern);
    let exact = router.add_exact(&pattern);
    if let Err(e) = router.add_rewrite(&pattern) {
        assert!(!e.to_string().is_empty());
    }
    for r in [&added, &exact] {
        if let Err(e) = r {
            assert!(!e.to_string().is_empty());
        }
    }
    assert_eq!(
        router.len(),
        usize::from(added.is_ok()) + usize::from(exact.is_ok())
    );
    // Paths shaped like the pattern itself, and a few fixed ones.
    let stripped: String = pattern
        .chars()
        .filter(|c| !matches!(c, ':' | '(' | ')' | '{' | '}'))
        .collect();
    for path in [
        pattern.as_str(),
        &stripped,
        "/",
        "",
        "/x/y/z",
        "/en/42",
        "/%41/%2F",
    ] {
        check_matches(&router, path);
    }
}

/// `Params::from_request` on an arbitrary query, content type and body (separated by NUL
/// bytes; the first byte picks limits and whether there is a query): no panic, limits hold.
pub fn params(data: &[u8]) {
    let [selector, rest @ ..] = data else { return };
    let mut parts = rest.splitn(3, |&b| b == 0);
    let query = text(parts.next().unwrap_or_default());
    let content_type = text(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let limits = if selector & 1 == 0 {
        ParamsLimits::default()
    } else {
        ParamsLimits {
            max_params: 3,
            max_key_bytes: 6,
            max_depth: 1,
            max_body_bytes: ParamsLimits::DEFAULT_MAX_BODY_BYTES,
        }
    };
    let content_type = match selector >> 1 & 3 {
        0 => Some("application/json"),
        1 => Some("application/x-www-form-urlencoded; charset=utf-8"),
        2 => None,
        _ => Some(content_type.as_str()),
    };
    let query = (selector & 0x10 == 0).then_some(query.as_str());
    match Params::from_request(query, content_type, body, &limits) {
        Ok(params) => {
            assert!(params.len() <= 2 * limits.max_params);
            for (key, _) in params.iter() {
                assert!(key.len() <= limits.max_key_bytes);
            }
            let _ = effective_method("POST", params.get_str("_method"));
            let _ = rest_action_for("PUT", &params, |h| h.is_empty());
            let _ = params.into_json().to_string();
        }
        Err(e) => {
            assert_eq!(e.status(), 400);
            assert!(!e.to_string().is_empty());
            if let ParamsError::BadEncoding { error, .. } = e {
                assert!(!error.to_string().is_empty());
            }
        }
    }
    if let Some(q) = query {
        let _ = Params::from_query(q, &limits);
        for part in q.split(['&', '=']) {
            let _ = decode_form_component(part);
            let _ = decode_path_segment(part);
        }
    }
}

/// The key of the `session_cookie` seeds (`corpus/session_cookie/seed-valid` is signed with it).
pub const FUZZ_SESSION_KEY: [u8; 32] = [0x42; 32];

/// A session cookie value, raw and through `Cookies::parse`: verification never panics, and
/// whatever verifies is exactly what signing its id gives (no other value is accepted: a
/// mutated signature, id, separator or length never verifies).
pub fn session_cookie(data: &[u8]) {
    static KEY: OnceLock<SessionKey> = OnceLock::new();
    let key = KEY.get_or_init(|| SessionKey::new(FUZZ_SESSION_KEY).expect("a 32-byte key"));
    let value = text(data);
    if let Some(id) = key.verify(&value) {
        assert_eq!(key.sign(id), value, "only the exact signed value verifies");
        assert_eq!(id.len(), 43);
    }
    let header = format!("plezi_session={value}");
    let cookies = Cookies::parse([header.as_str()]);
    if let Some(v) = cookies.get("plezi_session")
        && let Some(id) = key.verify(v)
    {
        assert_eq!(key.sign(id), v);
    }
}

/// `Cookies::parse` on arbitrary `Cookie` headers (one per line), then `SetCookie` with
/// arbitrary fields: no panic, at most `MAX_COOKIES` read, first name wins, a header value never
/// contains CR/LF, and a value written by `SetCookie` reads back unchanged.
pub fn cookies(data: &[u8]) {
    let [flags, secs @ .., _] = data else { return };
    let all = text(data);
    let headers: Vec<&str> = all.split('\n').collect();
    let cookies = Cookies::parse(headers.iter().copied());
    assert!(cookies.len() <= Cookies::MAX_COOKIES);
    for (name, value) in cookies.iter() {
        assert_eq!(
            cookies.get(name),
            Some(value),
            "the first cookie of a name wins"
        );
    }

    let mut fields = all.splitn(4, '\t');
    let name = fields.next().unwrap_or_default();
    let value = fields.next().unwrap_or_default();
    let path = fields.next().unwrap_or_default();
    let domain = fields.next().unwrap_or_default();
    let mut secs_bytes = [0u8; 8];
    for (slot, b) in secs_bytes.iter_mut().zip(secs.iter().rev()) {
        *slot = *b;
    }
    let secs = u64::from_le_bytes(secs_bytes);
    let mut set = SetCookie::new(name, value)
        .path(path)
        .secure(flags & 1 != 0)
        .http_only(flags & 2 != 0)
        .max_age(Duration::from_secs(secs));
    if flags & 4 != 0 {
        set = set.domain(domain);
    }
    if flags & 8 != 0 {
        // Times far in the future (and their dates) are the application's, but must not panic.
        if let Some(at) = UNIX_EPOCH.checked_add(Duration::from_secs(secs)) {
            set = set.expires(at);
        }
    }
    set = match flags >> 4 & 3 {
        0 => set,
        1 => set.same_site(SameSite::Lax),
        2 => set.same_site(SameSite::Strict),
        _ => set.same_site(SameSite::None),
    };
    let _ = SetCookie::delete(name).to_header_value();
    match set.to_header_value() {
        Ok(header) => {
            assert!(
                !header.contains(['\r', '\n', '\0']),
                "header injection: {header:?}"
            );
            let pair = header.split(';').next().unwrap_or_default();
            let read = Cookies::parse([pair]);
            assert_eq!(read.get(name.trim()), Some(value), "set {pair:?}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// UUID and server-id parsing: no panic; what parses prints back as the same text.
pub fn uuid(data: &[u8]) {
    let s = text(data);
    if let Ok(u) = ConnectionUuid::from_str(&s) {
        assert_eq!(u.to_string(), s);
        assert_eq!(&u.to_text()[..], s.as_bytes());
    }
    if let Ok(id) = ServerId::from_str(&s) {
        assert_eq!(id.to_string(), s);
    }
    let _ = serde_json::from_slice::<ConnectionUuid>(data);
}

/// `Envelope::decode` on arbitrary bytes (the first byte picks `max_len`): no panic; what
/// decodes encodes to bytes that decode to the same envelope.
pub fn envelope(data: &[u8]) {
    let [selector, bytes @ ..] = data else { return };
    let max = if *selector < 0x80 {
        usize::from(*selector) * 4
    } else {
        1 << 20
    };
    match Envelope::decode(bytes, max) {
        Ok(env) => {
            let encoded = env.encode();
            let mut back =
                Envelope::decode(&encoded, usize::MAX).expect("our own encoding decodes");
            // serde_json's default float parser may be one ULP off ("1.5e200"; its
            // `float_roundtrip` feature is off): compare event data with that tolerance.
            if let (EnvelopeBody::Message(a), EnvelopeBody::Message(b)) =
                (&mut back.body, &env.body)
                && let (Payload::Event { data: da, .. }, Payload::Event { data: db, .. }) =
                    (&mut a.payload, &b.payload)
                && json_close(da, db)
            {
                *da = db.clone();
            }
            assert_eq!(back, env);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// JSON equality where two floats may differ in their last bits.
fn json_close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && json_close(vx, vy))
        }
        _ => a == b,
    }
}

/// `glob_match` with an arbitrary pattern and text (split at the first NUL): no panic, and the
/// obvious matches hold.
pub fn glob(data: &[u8]) {
    let s = text(data);
    let (pattern, subject) = s.split_once('\0').unwrap_or((&s, ""));
    let _ = glob_match(pattern, subject);
    assert!(glob_match("*", subject));
    if !pattern.contains(['*', '?', '[', ']', '\\']) {
        assert!(glob_match(pattern, pattern));
    }
}
