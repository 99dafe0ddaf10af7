//! The request handed to a service: the parsed head, the decoded body and the peer address.

use std::net::{Ipv4Addr, SocketAddr};

use super::RequestHead;
use super::head_text::HeadText;

/// An HTTP request, fully received (head + decoded body).
///
/// The method, target and header fields share one buffer; the accessors borrow from it.
///
/// ```
/// use plezi_server::{Reply, Request, Response};
///
/// fn service(req: &mut Request) -> Reply {
///     let name = req.query().and_then(|q| q.strip_prefix("name=")).unwrap_or("world");
///     let agent = req.header("user-agent").unwrap_or("?");
///     Reply::Response(Response::text(200, format!("hello {name} ({agent}, {})\n", req.method())))
/// }
///
/// // A request built without a socket, as in a test:
/// let mut req = Request::new("GET", "/hi?name=ann").with_header("User-Agent", "curl");
/// assert!(matches!(service(&mut req), Reply::Response(r) if r.status() == 200));
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    text: HeadText,
    minor_version: u8,
    body: Vec<u8>,
    peer: SocketAddr,
    keep_alive: bool,
    websocket_upgrade: bool,
}

impl Request {
    /// Builds the request from a parsed head, its decoded body and the peer address (the server
    /// and the fuzzers do; a test builds one with [`Request::new`]).
    #[cfg_attr(not(feature = "internals"), doc(hidden))]
    pub fn from_head(head: RequestHead, body: Vec<u8>, peer: SocketAddr) -> Request {
        Request {
            text: head.text,
            minor_version: head.minor_version,
            body,
            peer,
            keep_alive: head.keep_alive,
            websocket_upgrade: false,
        }
    }

    /// A request that did not come from a socket (tests, in-process dispatch): HTTP/1.1, no headers,
    /// empty body, peer `0.0.0.0:0`.
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("POST", "/items?draft=1");
    /// assert_eq!((req.method(), req.path(), req.query()), ("POST", "/items", Some("draft=1")));
    /// ```
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            text: HeadText::new(method, target, 0, 0),
            minor_version: 1,
            body: Vec::new(),
            peer: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            keep_alive: true,
            websocket_upgrade: false,
        }
    }

    /// Appends a header (builder style, for [`Request::new`]).
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("GET", "/").with_header("Accept", "text/html");
    /// assert_eq!(req.header("accept"), Some("text/html"));
    /// ```
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.text.push_field(name, value.as_bytes());
        self
    }

    /// Replaces the body (builder style, for [`Request::new`]).
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("POST", "/items").with_body(r#"{"name":"x"}"#);
    /// assert_eq!(req.body(), br#"{"name":"x"}"#);
    /// ```
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The method token ("GET", "POST", ...).
    ///
    /// ```
    /// use plezi_server::Request;
    /// assert_eq!(Request::new("DELETE", "/items/7").method(), "DELETE");
    /// ```
    pub fn method(&self) -> &str {
        self.text.method()
    }

    /// The raw request-target as sent (`/a%20b?x=1`).
    ///
    /// ```
    /// use plezi_server::Request;
    /// assert_eq!(Request::new("GET", "/a%20b?x=1").target(), "/a%20b?x=1");
    /// ```
    pub fn target(&self) -> &str {
        self.text.target()
    }

    /// The raw path part of the target (not percent-decoded). For an absolute-form target
    /// (`http://host/p?q`) this is `/p`; for `*` it is `*`.
    ///
    /// ```
    /// use plezi_server::Request;
    /// assert_eq!(Request::new("GET", "/a%20b?x=1").path(), "/a%20b"); // not decoded
    /// ```
    pub fn path(&self) -> &str {
        let target = self.target();
        let without_query = target.split_once('?').map_or(target, |(p, _)| p);
        match without_query.split_once("://") {
            Some((_, rest)) if !without_query.starts_with('/') => {
                rest.find('/').map_or("/", |i| &rest[i..])
            }
            _ => without_query,
        }
    }

    /// The raw query string without the `?`, if the target has one.
    ///
    /// ```
    /// use plezi_server::Request;
    /// assert_eq!(Request::new("GET", "/search?q=rust").query(), Some("q=rust"));
    /// assert_eq!(Request::new("GET", "/").query(), None);
    /// ```
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The first value of a header, compared case-insensitively.
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("GET", "/").with_header("X-Id", "1").with_header("x-id", "2");
    /// assert_eq!(req.header("X-ID"), Some("1"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.text.value(name)
    }

    /// Every value of a header, in order, compared case-insensitively.
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("GET", "/").with_header("Cookie", "a=1").with_header("Cookie", "b=2");
    /// assert_eq!(req.header_all("cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
    /// ```
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.text.values(name)
    }

    /// All headers in arrival order, names as sent.
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("GET", "/").with_header("Host", "example.com");
    /// assert_eq!(req.headers().collect::<Vec<_>>(), [("Host", "example.com")]);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.text.fields()
    }

    /// The decoded body.
    ///
    /// ```
    /// use plezi_server::Request;
    /// assert!(Request::new("GET", "/").body().is_empty());
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out, leaving it empty.
    ///
    /// ```
    /// use plezi_server::Request;
    /// let mut req = Request::new("POST", "/upload").with_body(vec![1, 2, 3]);
    /// let body = req.take_body(); // no copy
    /// assert_eq!(body, [1, 2, 3]);
    /// assert!(req.body().is_empty());
    /// ```
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    /// The address of the client.
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("GET", "/");
    /// assert!(req.peer_addr().ip().is_unspecified()); // no socket: 0.0.0.0:0
    /// ```
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    ///
    /// ```
    /// use plezi_server::Request;
    /// assert_eq!(Request::new("GET", "/").minor_version(), 1); // HTTP/1.1
    /// ```
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// Whether the client asked to keep the connection open after this request.
    ///
    /// ```
    /// use plezi_server::Request;
    /// assert!(Request::new("GET", "/").keep_alive());
    /// ```
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// True when this is a valid RFC 6455 upgrade request (checked by the server before the service runs).
    ///
    /// ```
    /// use plezi_server::{Reply, Request, Response};
    ///
    /// fn service(req: &mut Request) -> Reply {
    ///     if req.is_websocket_upgrade() {
    ///         return Reply::Response(Response::text(404, "no WebSocket here\n"));
    ///     }
    ///     Reply::Response(Response::text(200, "hello\n"))
    /// }
    /// ```
    pub fn is_websocket_upgrade(&self) -> bool {
        self.websocket_upgrade
    }

    /// Set by the server once the WebSocket layer has validated the handshake.
    pub(crate) fn set_websocket_upgrade(&mut self, yes: bool) {
        self.websocket_upgrade = yes;
    }

    /// The subprotocols offered in `Sec-WebSocket-Protocol` (all fields, comma-separated, trimmed).
    ///
    /// ```
    /// use plezi_server::Request;
    /// let req = Request::new("GET", "/ws").with_header("Sec-WebSocket-Protocol", "chat.v2, chat.v1");
    /// assert_eq!(req.websocket_protocols().collect::<Vec<_>>(), ["chat.v2", "chat.v1"]);
    /// ```
    pub fn websocket_protocols(&self) -> impl Iterator<Item = &str> {
        self.header_all("sec-websocket-protocol")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query() {
        let r = Request::new("GET", "/a%20b?x=1&y");
        assert_eq!(r.path(), "/a%20b");
        assert_eq!(r.query(), Some("x=1&y"));
        let r = Request::new("GET", "/plain");
        assert_eq!(r.path(), "/plain");
        assert_eq!(r.query(), None);
        let r = Request::new("GET", "/q?");
        assert_eq!(r.query(), Some(""));
        let r = Request::new("GET", "http://example.com/x/y?z");
        assert_eq!(r.path(), "/x/y");
        assert_eq!(r.query(), Some("z"));
        let r = Request::new("GET", "http://example.com");
        assert_eq!(r.path(), "/");
        let r = Request::new("GET", "/redirect?to=http://x/y");
        assert_eq!(r.path(), "/redirect");
        let r = Request::new("GET", "/odd://path");
        assert_eq!(r.path(), "/odd://path");
        assert_eq!(Request::new("OPTIONS", "*").path(), "*");
    }

    #[test]
    fn headers_are_case_insensitive() {
        let r = Request::new("GET", "/")
            .with_header("X-Thing", "1")
            .with_header("x-thing", "2")
            .with_header("Sec-WebSocket-Protocol", "chat, , superchat")
            .with_header("sec-websocket-protocol", "v3");
        assert_eq!(r.header("x-THING"), Some("1"));
        assert_eq!(r.header_all("X-Thing").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(r.header("missing"), None);
        assert_eq!(
            r.websocket_protocols().collect::<Vec<_>>(),
            ["chat", "superchat", "v3"]
        );
        assert_eq!(r.headers().count(), 4);
    }

    #[test]
    fn from_head_keeps_everything() {
        let mut text = HeadText::new("POST", "/p", 0, 1);
        text.push_field("Host", b"h");
        let head = RequestHead {
            text,
            minor_version: 0,
            body: super::super::BodyKind::Length(2),
            keep_alive: false,
            expect_continue: false,
            upgrade_websocket: true,
        };
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut r = Request::from_head(head, b"hi".to_vec(), peer);
        assert_eq!(r.method(), "POST");
        assert_eq!(r.minor_version(), 0);
        assert!(!r.keep_alive());
        assert_eq!(r.peer_addr(), peer);
        assert_eq!(r.body(), b"hi");
        // The head's Upgrade header alone does not make it a validated WebSocket request.
        assert!(!r.is_websocket_upgrade());
        r.set_websocket_upgrade(true);
        assert!(r.is_websocket_upgrade());
        assert_eq!(r.take_body(), b"hi");
        assert!(r.body().is_empty());
    }
}
