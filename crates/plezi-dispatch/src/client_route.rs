//! The `client` route: the bundled `PleziClient` ([`CLIENT_JS`]) at any path, always the version
//! of this server.
//!
//! `GET`/`HEAD` only, `text/javascript; charset=utf-8` (RFC 9239), `Cache-Control: no-cache`
//! (browsers revalidate) and an `ETag` of the client version plus a hash of the bundle, so a
//! browser never keeps a client from another build; `If-None-Match` answers 304.

use std::sync::{Arc, LazyLock};

use plezi_server::{Body, Request, Response};

use crate::generated::{CLIENT_JS, CLIENT_VERSION};

static BUNDLE: LazyLock<Arc<[u8]>> = LazyLock::new(|| Arc::from(CLIENT_JS.as_bytes()));

static ETAG: LazyLock<String> = LazyLock::new(|| {
    // FNV-1a over the bundle: stable across builds of the same source.
    let hash = CLIENT_JS.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{CLIENT_VERSION}-{hash:016x}\"")
});

/// The entity tag the client route sends.
pub(crate) fn client_etag() -> &'static str {
    &ETAG
}

/// Answers `req` with the client, or `None` for methods other than GET and HEAD.
pub(crate) fn serve(req: &Request) -> Option<Response> {
    if !matches!(req.method(), "GET" | "HEAD") {
        return None;
    }
    let etag = client_etag();
    let fresh = req.header_all("if-none-match").any(|v| {
        v.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    });
    let resp = if fresh {
        Response::new(304)
    } else {
        Response::new(200)
            .header("Content-Type", "text/javascript; charset=utf-8")
            .body(Body::Shared(BUNDLE.clone()))
    };
    Some(
        resp.header("ETag", etag)
            .header("Cache-Control", "no-cache"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_bundle_with_an_etag() {
        let resp = serve(&Request::new("GET", "/client.js")).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.header_value("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(resp.body_ref().as_bytes(), Some(CLIENT_JS.as_bytes()));
        let etag = resp.header_value("etag").unwrap().to_owned();
        assert!(etag.starts_with(&format!("\"{CLIENT_VERSION}-")));
        let again = serve(&Request::new("GET", "/client.js").with_header("If-None-Match", &etag));
        assert_eq!(again.unwrap().status(), 304);
        let weak = format!("\"x\", W/{etag}");
        let again = serve(&Request::new("GET", "/c").with_header("If-None-Match", &weak));
        assert_eq!(again.unwrap().status(), 304);
        let other = serve(&Request::new("GET", "/c").with_header("If-None-Match", "\"other\""));
        assert_eq!(other.unwrap().status(), 200);
        assert!(serve(&Request::new("POST", "/client.js")).is_none());
    }
}
