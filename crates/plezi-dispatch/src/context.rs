//! [`Ctx`]: what a controller method can see and do besides its own fields.

use std::cell::{Cell, OnceCell};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use plezi_messaging::{Bus, ConnectionUuid, Message, Payload, Target};
use plezi_server::{Reply, Request, Response, ServerHandle, SharedFrame, WebSocket, WriteError};
use serde_json::Value;

use crate::answer::Answer;
use crate::app_state::{AppState, KindInfo};
use crate::controller::Controller;
use crate::cookies::{Cookies, SetCookie};
use crate::error::{RenderError, SendError};
use crate::params::Params;
use crate::rate::TokenBucket;
use crate::redirect::{self, RedirectError};
use crate::session::{Saved, Session};
use crate::stored_first::PendingNotifies;

/// Where the current call came from.
///
/// ```
/// # use plezi_dispatch::{Ctx, SendError};
/// # use serde_json::{json, Value};
/// use plezi_dispatch::Source;
///
/// fn chat(cx: &mut Ctx<'_>, msg: Value) -> Option<Value> {
///     match cx.source() {
///         Source::WebSocket | Source::Ajaj => None, // a client's own message: handle it
///         Source::Delivery { from } => Some(json!({"from": from, "text": msg["text"]})),
///         Source::Http | Source::Hook => None,
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A message from this connection's WebSocket client.
    WebSocket,
    /// An AJAJ request: an HTTP request whose `id` named an HTTP-enabled event.
    Ajaj,
    /// A REST action, or `pre_connect` (an HTTP request).
    Http,
    /// A server-side delivery (broadcast, multicast, unicast, channel, identity or mailbox),
    /// sent by connection `from` if the sender was one.
    Delivery {
        /// The sending connection, if any.
        from: Option<ConnectionUuid>,
    },
    /// A lifecycle hook (`on_open`, `on_drained`, `on_shutdown`, `on_close`, `failed_unicast`).
    Hook,
}

/// The per-connection state dispatch keeps next to a controller.
pub(crate) struct ConnState {
    pub(crate) uuid: ConnectionUuid,
    /// Params of the upgrade request (query and route).
    pub(crate) params: Params,
    /// Whether the connection registered an identity or subscribed to a channel (so the bus
    /// must forget it when it closes).
    pub(crate) on_bus: bool,
    /// The connection's `notify` rate limit (`BusConfig::notify_rate`).
    pub(crate) notify_bucket: Cell<TokenBucket>,
    /// The verified session id the upgrade request carried.
    pub(crate) session_id: Option<String>,
    /// That session, loaded at the first read (or by `pre_connect`).
    pub(crate) session: OnceCell<Session>,
}

/// The per-request state of an HTTP call.
pub(crate) struct HttpExtras {
    pub(crate) params: Params,
    pub(crate) cookies: OnceCell<Cookies>,
    pub(crate) set_cookies: Vec<String>,
    /// The subprotocol `pre_connect` accepted.
    pub(crate) protocol: Option<String>,
    /// The session, loaded at the first use.
    pub(crate) session: OnceCell<Session>,
    /// The notifications this request queued (the reply waits until they are stored).
    pub(crate) notifies: OnceCell<Arc<PendingNotifies>>,
}

impl HttpExtras {
    pub(crate) fn new(params: Params) -> HttpExtras {
        HttpExtras {
            params,
            cookies: OnceCell::new(),
            set_cookies: Vec::new(),
            protocol: None,
            session: OnceCell::new(),
            notifies: OnceCell::new(),
        }
    }

    /// The reply for `resp`: sent at once, or, when the request queued notifications, once
    /// every one of them is stored (an `err` answer if the store refused one).
    pub(crate) fn reply_once_stored(&self, resp: Response) -> Reply {
        match self.notifies.get() {
            Some(pending) => pending.clone().reply(resp),
            None => Reply::Response(resp),
        }
    }

    /// Saves a changed session and adds the `Set-Cookie` headers to `resp`. A session that
    /// cannot be saved replaces the reply with an error answer (500: data over the cap; 503: the
    /// store is down), so a login never looks successful without its session.
    pub(crate) fn finish(&mut self, app: &AppState, mut resp: Response) -> Response {
        if let Some(session) = self.session.get_mut() {
            match app.sessions.save(session) {
                Saved::Unchanged => {}
                Saved::Cookie(c) => self.set_cookies.push(c),
                Saved::Failed(status, text) => {
                    return Response::text(status, text).header("Cache-Control", "no-store");
                }
            }
        }
        for c in &self.set_cookies {
            resp = resp.header("Set-Cookie", c);
        }
        resp
    }

    /// The session of this request's cookies.
    fn session(&self, app: &AppState, req: &Request) -> &Session {
        self.session.get_or_init(|| {
            let cookies = self
                .cookies
                .get_or_init(|| Cookies::parse(req.header_all("cookie")));
            app.sessions.load(app.sessions.verified_id(cookies))
        })
    }
}

/// The connection side a context writes to (a [`WebSocket`] in the server; anything in tests).
pub(crate) trait WsPort {
    fn write_text(&mut self, text: &str) -> Result<(), WriteError>;
    fn write_binary(&mut self, data: &[u8]) -> Result<(), WriteError>;
    fn write_frame(&mut self, frame: &SharedFrame) -> Result<(), WriteError>;
    fn close(&mut self, code: u16, reason: &str);
    fn pending(&self) -> usize;
    fn is_open(&self) -> bool;
    fn server(&self) -> Option<&ServerHandle>;
    fn peer_addr(&self) -> SocketAddr;
}

impl WsPort for WebSocket<'_> {
    fn write_text(&mut self, text: &str) -> Result<(), WriteError> {
        WebSocket::write_text(self, text)
    }
    fn write_binary(&mut self, data: &[u8]) -> Result<(), WriteError> {
        WebSocket::write_binary(self, data)
    }
    fn write_frame(&mut self, frame: &SharedFrame) -> Result<(), WriteError> {
        WebSocket::write_frame(self, frame)
    }
    fn close(&mut self, code: u16, reason: &str) {
        WebSocket::close(self, code, reason);
    }
    fn pending(&self) -> usize {
        WebSocket::pending(self)
    }
    fn is_open(&self) -> bool {
        WebSocket::is_open(self)
    }
    fn server(&self) -> Option<&ServerHandle> {
        Some(WebSocket::server(self))
    }
    fn peer_addr(&self) -> SocketAddr {
        WebSocket::peer_addr(self)
    }
}

static NO_PARAMS: LazyLock<Params> = LazyLock::new(Params::new);
static NO_COOKIES: LazyLock<Cookies> = LazyLock::new(Cookies::default);

/// The context of one controller call: the connection (write, close, its UUID), the request
/// (params, cookies) and the bus (broadcast, unicast, identities, channels).
///
/// Which parts exist depends on the call ([`Ctx::source`]): WebSocket events, deliveries and
/// hooks have a connection; HTTP actions, AJAJ requests and `pre_connect` have a request;
/// `on_close` has the connection's id but can no longer write. Calls that need a missing part
/// return [`SendError::NotAConnection`] (or [`SendError::NoHttpReply`]).
///
/// ```
/// use plezi_dispatch::{events, Controller, Ctx, Events, SendError};
/// use serde_json::{json, Value};
///
/// #[derive(Default)]
/// struct Chat;
/// impl Chat {
///     fn say(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
///         cx.write("sent")?; // to this client
///         cx.broadcast("said", json!({"text": msg["text"]})) // to every other Chat connection
///     }
/// }
/// impl Controller for Chat {
///     fn events() -> Events<Self> {
///         events![ws say => Chat::say]
///     }
/// }
/// ```
pub struct Ctx<'a> {
    app: &'a AppState,
    kind: &'a KindInfo,
    source: Source,
    conn: Option<&'a mut ConnState>,
    ws: Option<&'a mut (dyn WsPort + 'a)>,
    req: Option<&'a Request>,
    http: Option<&'a mut HttpExtras>,
    target: Option<&'a Target>,
}

impl<'a> Ctx<'a> {
    /// A call on an open connection.
    pub(crate) fn for_connection(
        app: &'a AppState,
        kind: &'a KindInfo,
        source: Source,
        conn: &'a mut ConnState,
        ws: Option<&'a mut (dyn WsPort + 'a)>,
    ) -> Ctx<'a> {
        Ctx {
            app,
            kind,
            source,
            conn: Some(conn),
            ws,
            req: None,
            http: None,
            target: None,
        }
    }

    /// A call for an HTTP request.
    pub(crate) fn for_request(
        app: &'a AppState,
        kind: &'a KindInfo,
        source: Source,
        req: &'a Request,
        http: &'a mut HttpExtras,
    ) -> Ctx<'a> {
        Ctx {
            app,
            kind,
            source,
            conn: None,
            ws: None,
            req: Some(req),
            http: Some(http),
            target: None,
        }
    }

    /// Sets the delivery target (builder style).
    pub(crate) fn with_target(mut self, target: &'a Target) -> Ctx<'a> {
        self.target = Some(target);
        self
    }

    /// Writes an answer to the connection (logged and dropped when it cannot be written).
    pub(crate) fn write_answer(&mut self, answer: &Answer) {
        let written = match answer {
            // A message other receivers share: its one frame, encoded once for all of them.
            Answer::Msg(m) if m.is_shared() => self.write_frame(m.frame()),
            _ => answer.encode().map_or(Ok(()), |text| self.write(&text)),
        };
        if let Err(e) = written {
            log::debug!("plezi: answer not written: {e}");
        }
    }

    // ---- where and who ----

    /// Where this call came from.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn hello(cx: &mut Ctx<'_>, _msg: Value) -> &'static str {
    ///     if cx.source() == plezi_dispatch::Source::Ajaj { "hello over HTTP" } else { "hello" }
    /// }
    /// ```
    pub fn source(&self) -> Source {
        self.source
    }

    /// Whether this call is a server-side delivery (broadcast, unicast...), not a client's own
    /// message.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn chat(cx: &mut Ctx<'_>, msg: Value) -> Result<Option<Value>, SendError> {
    ///     if cx.is_delivery() {
    ///         return Ok(Some(msg)); // another connection's broadcast: show it to this client
    ///     }
    ///     cx.broadcast("chat", msg)?; // this client's message: tell the others
    ///     Ok(None)
    /// }
    /// ```
    pub fn is_delivery(&self) -> bool {
        matches!(self.source, Source::Delivery { .. })
    }

    /// The connection that sent this delivery, if it came from one.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn ping(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     if let Some(from) = cx.sender() {
    ///         cx.unicast(from, "pong", json!({}))?; // answer the connection that sent the delivery
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn sender(&self) -> Option<ConnectionUuid> {
        match self.source {
            Source::Delivery { from } => from,
            _ => None,
        }
    }

    /// The target of the delivery being handled (the channel name, the identity...).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_messaging::Target;
    ///
    /// fn news(cx: &mut Ctx<'_>, msg: Value) -> Option<Value> {
    ///     match cx.delivery_target() {
    ///         Some(Target::Channel(name)) => Some(json!({"channel": name, "news": msg})),
    ///         _ => None,
    ///     }
    /// }
    /// ```
    pub fn delivery_target(&self) -> Option<&Target> {
        self.target
    }

    /// This connection's UUID (its text form names the server and the connection); `None` for
    /// HTTP requests and `pre_connect`. Serializes as a JSON string.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn whoami(cx: &mut Ctx<'_>, _msg: Value) -> Value {
    ///     json!({"id": cx.id()}) // {"id": "0123456789abcdef-0001-0000002a-00000003"}; null over HTTP
    /// }
    /// ```
    pub fn id(&self) -> Option<ConnectionUuid> {
        self.conn.as_ref().map(|c| c.uuid)
    }

    /// The controller type's bus name.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn hello(cx: &mut Ctx<'_>, _msg: Value) -> String {
    ///     format!("hello from {}", cx.controller_name())
    /// }
    /// ```
    pub fn controller_name(&self) -> &str {
        &self.kind.name
    }

    /// The WebSocket peer's address, or the HTTP client's.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn hello(cx: &mut Ctx<'_>, _msg: Value) {
    ///     if let Some(addr) = cx.peer_addr() {
    ///         log::info!("hello from {addr}");
    ///     }
    /// }
    /// ```
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match (&self.ws, self.req) {
            (Some(ws), _) => Some(ws.peer_addr()),
            (None, Some(req)) => Some(req.peer_addr()),
            _ => None,
        }
    }

    // ---- the request ----

    /// The request params: query string, body (urlencoded or JSON) and route params, merged.
    /// On a connection: those of the upgrade request.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// // GET /items/7?page=2 on the route "/items"
    /// fn show(cx: &mut Ctx<'_>) -> Option<plezi_server::Response> {
    ///     let id = cx.params().get_str("id")?; // "7": the route's (:id)
    ///     let page = cx.params().get_str("page").unwrap_or("1");
    ///     Some(plezi_server::Response::text(200, format!("item {id}, page {page}")))
    /// }
    /// ```
    pub fn params(&self) -> &Params {
        match (&self.http, &self.conn) {
            (Some(h), _) => &h.params,
            (None, Some(c)) => &c.params,
            _ => &NO_PARAMS,
        }
    }

    /// The params, mutable.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn create(cx: &mut Ctx<'_>) -> Option<plezi_server::Response> {
    ///     let params = cx.params_mut()?;
    ///     params.remove("password"); // keep it out of what is logged below
    ///     log::info!("create {:?}", cx.params());
    ///     None
    /// }
    /// ```
    pub fn params_mut(&mut self) -> Option<&mut Params> {
        match (&mut self.http, &mut self.conn) {
            (Some(h), _) => Some(&mut h.params),
            (None, Some(c)) => Some(&mut c.params),
            _ => None,
        }
    }

    /// The HTTP request (HTTP actions, AJAJ, `pre_connect`).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn index(cx: &mut Ctx<'_>) -> Option<plezi_server::Response> {
    ///     let agent = cx.request()?.header("user-agent").unwrap_or("unknown");
    ///     Some(plezi_server::Response::text(200, format!("hello, {agent}")))
    /// }
    /// ```
    pub fn request(&self) -> Option<&Request> {
        self.req
    }

    /// The request's cookies (empty on a connection: read what you need in `pre_connect`).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn index(cx: &mut Ctx<'_>) -> Option<plezi_server::Response> {
    ///     let theme = cx.cookies().get("theme").unwrap_or("light");
    ///     Some(plezi_server::Response::text(200, format!("theme: {theme}")))
    /// }
    /// ```
    pub fn cookies(&self) -> &Cookies {
        match (&self.http, self.req) {
            (Some(h), Some(req)) => h
                .cookies
                .get_or_init(|| Cookies::parse(req.header_all("cookie"))),
            _ => &NO_COOKIES,
        }
    }

    /// Adds a `Set-Cookie` header to the HTTP reply. Cookies are `HttpOnly`, `SameSite=Lax`
    /// and, when the application's public origin is https, `Secure` unless the [`SetCookie`]
    /// says otherwise.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_dispatch::SetCookie;
    /// use std::time::Duration;
    ///
    /// fn theme(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     let theme = msg["theme"].as_str().unwrap_or("light");
    ///     cx.set_cookie(SetCookie::new("theme", theme).max_age(Duration::from_secs(86_400)))
    /// }
    /// ```
    pub fn set_cookie(&mut self, cookie: SetCookie) -> Result<(), SendError> {
        let value = cookie
            .secure_by_default(self.app.secure_cookies)
            .to_header_value()?;
        match (&mut self.http, self.source) {
            (Some(h), Source::Http | Source::Ajaj)
                if self.req.is_some_and(|r| !r.is_websocket_upgrade()) =>
            {
                h.set_cookies.push(value);
                Ok(())
            }
            _ => Err(SendError::NoHttpReply),
        }
    }

    /// Deletes cookie `name` (set with the default `Path=/`).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn forget_theme(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     cx.delete_cookie("theme")
    /// }
    /// ```
    pub fn delete_cookie(&mut self, name: &str) -> Result<(), SendError> {
        self.set_cookie(SetCookie::delete(name))
    }

    /// The session (see [`Session`]): on HTTP actions, AJAJ requests and `pre_connect`,
    /// the one the request's cookie names; on a connection, the one its upgrade request carried
    /// (read once, at the first call). Without a valid cookie, an empty session
    /// ([`Session::exists`] is false). Calls with neither a request nor a connection see an
    /// empty session.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn whoami(cx: &mut Ctx<'_>, _msg: Value) -> Value {
    ///     json!({"user": cx.session().get_str("user")}) // null when not logged in
    /// }
    /// ```
    pub fn session(&self) -> &Session {
        static NO_SESSION: LazyLock<Session> = LazyLock::new(Session::default);
        match (&self.http, self.req, &self.conn) {
            (Some(h), Some(req), _) => h.session(self.app, req),
            (_, _, Some(c)) => c
                .session
                .get_or_init(|| self.app.sessions.load(c.session_id.clone())),
            _ => &NO_SESSION,
        }
    }

    /// The session, to change it: HTTP actions and AJAJ requests only (the reply carries the
    /// cookie; changes are saved when it is sent). Elsewhere, including `pre_connect`,
    /// [`SendError::NoHttpReply`].
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn login(cx: &mut Ctx<'_>, msg: Value) -> Result<&'static str, SendError> {
    ///     let user = msg["user"].as_str().unwrap_or_default().to_owned();
    ///     let session = cx.session_mut()?; // HTTP actions and AJAJ only
    ///     session.renew(); // a new id at login
    ///     session.set("user", user);
    ///     Ok("welcome")
    /// }
    /// ```
    pub fn session_mut(&mut self) -> Result<&mut Session, SendError> {
        let writable = matches!(self.source, Source::Http | Source::Ajaj)
            && self.req.is_some_and(|r| !r.is_websocket_upgrade());
        match (&mut self.http, self.req) {
            (Some(h), Some(req)) if writable => {
                h.session(self.app, req);
                h.session.get_mut().ok_or(SendError::NoHttpReply)
            }
            _ => Err(SendError::NoHttpReply),
        }
    }

    /// A `302 Found` redirect to `location` on this site: a path (`/items/7`, `/?page=2`) or an
    /// absolute `http(s)` URL whose host is the request's `Host`. Another host (`https://evil`,
    /// `//evil`, `/\evil`), another scheme (`javascript:`) and control characters are a
    /// [`RedirectError`]; use [`Ctx::redirect_external`] to leave the site on purpose.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_server::Response;
    ///
    /// fn create(cx: &mut Ctx<'_>) -> Option<Response> {
    ///     // ... store the item ...
    ///     cx.redirect_to("/items/7").ok() // 302 Found, Location: /items/7
    /// }
    /// ```
    pub fn redirect_to(&self, location: &str) -> Result<Response, RedirectError> {
        let host = self.req.and_then(|r| r.header("host"));
        redirect::check_local(location, host)?;
        Ok(Response::new(302).header("Location", location))
    }

    /// A `302 Found` redirect to any absolute `http`/`https` URL or local path, another host
    /// included: for URLs the application chose, never one taken from the request unchecked.
    /// Control characters and other schemes are still a [`RedirectError`].
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_server::Response;
    ///
    /// fn index(cx: &mut Ctx<'_>) -> Option<Response> {
    ///     cx.redirect_external("https://docs.example/start").ok()
    /// }
    /// ```
    pub fn redirect_external(&self, url: &str) -> Result<Response, RedirectError> {
        redirect::check_external(url)?;
        Ok(Response::new(302).header("Location", url))
    }

    /// In `pre_connect`: accept this WebSocket subprotocol (one the client offered).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_dispatch::PreConnect;
    ///
    /// fn pre_connect(cx: &mut Ctx<'_>) -> PreConnect {
    ///     let offered = cx.request().is_some_and(|r| r.websocket_protocols().any(|p| p == "chat.v2"));
    ///     if offered {
    ///         cx.accept_protocol("chat.v2");
    ///     }
    ///     PreConnect::Accept
    /// }
    /// ```
    pub fn accept_protocol(&mut self, protocol: &str) {
        if let Some(h) = &mut self.http {
            h.protocol = Some(protocol.to_owned());
        }
    }

    // ---- the connection ----

    fn ws(&mut self) -> Result<&mut (dyn WsPort + 'a), SendError> {
        match &mut self.ws {
            Some(ws) => Ok(&mut **ws),
            None => Err(SendError::NotAConnection),
        }
    }

    /// Writes a text message to this connection's client.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn on_open(cx: &mut Ctx<'_>) -> Result<(), SendError> {
    ///     cx.write("welcome")
    /// }
    /// ```
    pub fn write(&mut self, text: &str) -> Result<(), SendError> {
        Ok(self.ws()?.write_text(text)?)
    }

    /// Writes a JSON value as a text message.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn on_open(cx: &mut Ctx<'_>) -> Result<(), SendError> {
    ///     cx.write_json(&json!({"event": "welcome", "id": cx.id()}))
    /// }
    /// ```
    pub fn write_json(&mut self, value: &Value) -> Result<(), SendError> {
        self.write(&value.to_string())
    }

    /// Writes a binary message.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn snapshot(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     cx.write_binary(&[0x89, b'P', b'N', b'G'])
    /// }
    /// ```
    pub fn write_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        Ok(self.ws()?.write_binary(data)?)
    }

    /// Writes a pre-encoded frame (shared, not copied).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_server::SharedFrame;
    ///
    /// fn replay(cx: &mut Ctx<'_>, frames: &[SharedFrame]) -> Result<(), SendError> {
    ///     for frame in frames {
    ///         cx.write_frame(frame)?; // encoded once, shared by every connection that gets it
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn write_frame(&mut self, frame: &SharedFrame) -> Result<(), SendError> {
        Ok(self.ws()?.write_frame(frame)?)
    }

    /// Closes the connection normally (1000).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn bye(cx: &mut Ctx<'_>, _msg: Value) {
    ///     cx.close();
    /// }
    /// ```
    pub fn close(&mut self) {
        self.close_with(crate::generated::CLOSE_NORMAL, "");
    }

    /// Closes the connection with a code and a short reason.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn spam(cx: &mut Ctx<'_>, _msg: Value) {
    ///     cx.close_with(1008, "too many messages");
    /// }
    /// ```
    pub fn close_with(&mut self, code: u16, reason: &str) {
        if let Ok(ws) = self.ws() {
            ws.close(code, reason);
        }
    }

    /// Whether the connection is open (false after a close started, and on HTTP calls).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn tick(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     if cx.is_open() {
    ///         cx.write_json(&msg)?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn is_open(&self) -> bool {
        self.ws.as_ref().is_some_and(|ws| ws.is_open())
    }

    /// Bytes queued for this connection and not yet written to its socket.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn tick(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     if cx.pending() > 64 * 1024 {
    ///         return Ok(()); // a slow client: skip this update, it gets the next one
    ///     }
    ///     cx.write_json(&msg)
    /// }
    /// ```
    pub fn pending(&self) -> usize {
        self.ws.as_ref().map_or(0, |ws| ws.pending())
    }

    // ---- the bus ----

    /// The application's bus.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn stats(cx: &mut Ctx<'_>, _msg: Value) -> Value {
    ///     json!({"server": cx.bus().server_id().to_string()})
    /// }
    /// ```
    pub fn bus(&self) -> &Bus {
        &self.app.bus
    }

    /// The server (to reach connections by id, run timers...), once it runs.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use std::time::Duration;
    ///
    /// fn remind(cx: &mut Ctx<'_>, _msg: Value) {
    ///     if let Some(server) = cx.server() {
    ///         server.run_after(Duration::from_secs(5), || log::info!("five seconds later"));
    ///     }
    /// }
    /// ```
    pub fn server(&self) -> Option<&ServerHandle> {
        match self.ws.as_ref().and_then(|ws| ws.server()) {
            Some(server) => Some(server),
            None => self.app.handle(),
        }
    }

    fn me(&self) -> Option<ConnectionUuid> {
        self.id()
    }

    fn post(&self, target: Target, payload: Payload, skip_me: bool) -> Result<(), SendError> {
        let mut message = Message::new(target, payload);
        if let Some(me) = self.me() {
            message = if skip_me {
                message.from_except(me)
            } else {
                message.from(me)
            };
        }
        Ok(self.app.bus.publish(message)?)
    }

    /// Every other connection of this controller type, on every server, runs its handler for
    /// `event` with `data` (upstream `broadcast`).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn chat(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     // Every other connection of this controller type runs its `chat` handler with the data.
    ///     cx.broadcast("chat", json!({"from": cx.id(), "text": msg["text"]}))
    /// }
    /// ```
    pub fn broadcast(&self, event: &str, data: Value) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: self.kind.name.clone(),
        };
        self.post(target, Payload::event(event, data), true)
    }

    /// Like [`Ctx::broadcast`], to the connections of controller type `C`.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_dispatch::Controller;
    ///
    /// #[derive(Default)]
    /// struct Dashboard;
    /// impl Controller for Dashboard {}
    ///
    /// fn order(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     cx.broadcast_to::<Dashboard>("new_order", msg) // the dashboards' `new_order` handlers run
    /// }
    /// ```
    pub fn broadcast_to<C: Controller>(&self, event: &str, data: Value) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: C::bus_name(),
        };
        self.post(target, Payload::event(event, data), true)
    }

    /// Every other WebSocket connection of the application, on every server, runs its handler
    /// for `event` (upstream `multicast`).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn announce(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     cx.multicast("announcement", msg) // every other WebSocket of the application
    /// }
    /// ```
    pub fn multicast(&self, event: &str, data: Value) -> Result<(), SendError> {
        self.post(Target::Multicast, Payload::event(event, data), true)
    }

    /// Connection `to`, wherever it is, runs its handler for `event`. If `to`'s server is gone,
    /// this connection's `failed_unicast` runs.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// use plezi_messaging::ConnectionUuid;
    ///
    /// fn whisper(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     let Some(to) = msg["to"].as_str().and_then(|t| t.parse::<ConnectionUuid>().ok()) else {
    ///         return Ok(());
    ///     };
    ///     cx.unicast(to, "whisper", json!({"from": cx.id(), "text": msg["text"]}))
    /// }
    /// ```
    pub fn unicast(&self, to: ConnectionUuid, event: &str, data: Value) -> Result<(), SendError> {
        self.post(Target::Unicast(to), Payload::event(event, data), false)
    }

    /// Every connection subscribed to `channel` (this one included, if subscribed) runs its
    /// handler for `event`.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn headline(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     cx.publish("news", "headline", msg) // every subscriber of `news` runs `headline`
    /// }
    /// ```
    pub fn publish(&self, channel: &str, event: &str, data: Value) -> Result<(), SendError> {
        self.post(
            Target::Channel(channel.to_owned()),
            Payload::event(event, data),
            false,
        )
    }

    /// Fast path: `text` is written as is to every other connection of this controller type on
    /// every server, framed once per server; no handler runs.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn tick(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     cx.broadcast_raw(r#"{"event":"tick"}"#) // written as is, no handler runs
    /// }
    /// ```
    pub fn broadcast_raw(&self, text: &str) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: self.kind.name.clone(),
        };
        self.post(target, Payload::raw(text), true)
    }

    /// Fast path: `text` is written as is to every other WebSocket connection of the
    /// application on every server; no handler runs.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn restart_notice(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     cx.multicast_raw(r#"{"event":"notice","text":"restarting in 1 minute"}"#)
    /// }
    /// ```
    pub fn multicast_raw(&self, text: &str) -> Result<(), SendError> {
        self.post(Target::Multicast, Payload::raw(text), true)
    }

    fn conn_mut(&mut self) -> Result<&mut ConnState, SendError> {
        self.conn.as_deref_mut().ok_or(SendError::NotAConnection)
    }

    /// Registers this connection as `identity` (a user id): `notify(identity, ..)` reaches it,
    /// and stored notifications arrive now. The mailbox lifespan is this controller type's
    /// `message_store_lifespan`. Ends when the connection closes.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn on_open(cx: &mut Ctx<'_>) -> Result<(), SendError> {
    ///     let Some(user) = cx.session().get_str("user").map(str::to_owned) else {
    ///         return Ok(());
    ///     };
    ///     cx.register_as(&user) // notify(user, ..) now reaches this connection; stored mail arrives
    /// }
    /// ```
    pub fn register_as(&mut self, identity: &str) -> Result<(), SendError> {
        let lifespan = self.kind.lifespan;
        let conn = self.conn_mut()?;
        conn.on_bus = true;
        let uuid = conn.uuid;
        Ok(self.app.bus.register_as(identity, uuid, Some(lifespan))?)
    }

    /// Ends this connection's registration as `identity`.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn logout(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     cx.unregister(msg["user"].as_str().unwrap_or_default())
    /// }
    /// ```
    pub fn unregister(&mut self, identity: &str) -> Result<(), SendError> {
        let uuid = self.conn_mut()?.uuid;
        self.app.bus.unregister(identity, uuid);
        Ok(())
    }

    /// Stores `event` with `data` in `identity`'s mailbox and signals its live connections on
    /// every server: they run their handler for `event`; an offline identity gets it when it
    /// next registers (store-then-signal).
    ///
    /// Never waits for Redis (`Bus::notify_from`): the in-memory store answers at once; with
    /// Redis the notification is queued for the bus's mailbox thread, stored in call order (two
    /// notifications from one connection arrive in order), and a refusal found then reaches
    /// this connection's client as an `err` event (507 for a full mailbox or store, 503 when
    /// Redis failed) with `"request":{"notify":<identity>,"event":<event>}`. An AJAJ request or
    /// HTTP action is answered only once its notifications are stored, and a refusal becomes its
    /// reply (`docs/protocol.md#notify-over-http`).
    ///
    /// Calls made for a client are rate limited (`BusConfig::notify_rate`, default 20 per second
    /// with bursts of 100): per connection for WebSocket events and hooks, per peer address for
    /// AJAJ and HTTP actions; deliveries are not limited. Errors, and the `err` status a handler
    /// that returns them answers with: [`SendError::RateLimited`] (429),
    /// `BusError::MailboxFull`/`StoreFull` (507), `BusError::IdentityTooLong` (400),
    /// `BusError::NotifyQueueFull` (503).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn invite(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     let to = msg["to"].as_str().unwrap_or_default();
    ///     // Stored first: `to` gets it now if online, else when they next connect.
    ///     cx.notify(to, "invitation", json!({"room": msg["room"]}))
    /// }
    /// ```
    pub fn notify(&self, identity: &str, event: &str, data: Value) -> Result<(), SendError> {
        self.take_notify_token()?;
        let payload = Payload::event(event, data);
        let Some(http) = self.http.as_deref() else {
            return Ok(self.app.bus.notify_from(self.me(), identity, payload)?);
        };
        let pending = http.notifies.get_or_init(Arc::default).clone();
        pending.start();
        let (who, what, answered) = (identity.to_owned(), event.to_owned(), pending.clone());
        let queued = self.app.bus.notify_then(identity, payload, move |stored| {
            answered.done(&who, &what, stored)
        });
        if queued.is_err() {
            pending.cancel();
        }
        Ok(queued?)
    }

    /// Renders template `name` from the routes' templates folder ([`crate::Routes::templates`])
    /// with `context`: a page fragment for a WebSocket or AJAJ answer (the way `render
    /// :chatmessage, format: 'ajax'` answers in Plezi), or any text. Escaping follows the file
    /// name (`.html` escapes HTML). Returned as a handler's error, it answers `err` 500 and logs.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, RenderError};
    /// # use serde_json::{json, Value};
    /// fn chat(cx: &mut Ctx<'_>, msg: Value) -> Result<String, RenderError> {
    ///     cx.render("chat/message.html", json!({"from": cx.id(), "text": msg["text"]}))
    /// }
    /// ```
    pub fn render(
        &self,
        name: &str,
        context: impl serde::Serialize,
    ) -> Result<String, RenderError> {
        match &self.app.templates {
            Some(templates) => templates.render(name, context),
            None => Err(RenderError::no_folder(name)),
        }
    }

    /// Renders template `name` as a whole response for an HTTP action: `200` with the
    /// `Content-Type` of its file name, or `500` (logged) when it fails.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Ctx};
    /// # use plezi_server::Response;
    /// # use serde_json::json;
    /// # struct Home;
    /// # impl Controller for Home {
    /// fn index(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
    ///     Some(cx.render_page("home.html", json!({"title": "Welcome"})))
    /// }
    /// # }
    /// ```
    pub fn render_page(&self, name: &str, context: impl serde::Serialize) -> Response {
        match &self.app.templates {
            Some(templates) => templates.page(name, context),
            None => {
                log::error!("plezi: {}", RenderError::no_folder(name));
                Response::text(500, "Internal Server Error\n")
            }
        }
    }

    /// Applies `BusConfig::notify_rate` to this call's client.
    fn take_notify_token(&self) -> Result<(), SendError> {
        let config = self.app.bus.config();
        let Some(limit) = &config.notify_rate else {
            return Ok(());
        };
        if self.is_delivery() {
            return Ok(());
        }
        let now = Instant::now();
        let taken = match (&self.conn, self.req) {
            (Some(conn), _) => {
                let mut bucket = conn.notify_bucket.get();
                let taken = bucket.take(now, limit);
                conn.notify_bucket.set(bucket);
                taken
            }
            (None, Some(req)) => self.app.notify_peers.take(
                req.peer_addr().ip(),
                now,
                limit,
                config.notify_rate_peers,
            ),
            (None, None) => Ok(()),
        };
        taken.map_err(|retry_after| SendError::RateLimited { retry_after })
    }

    /// Subscribes this connection to the named channel. Once this returns, every message published
    /// to the channel on any server reaches this connection (with Redis, a server that had no
    /// subscriber of the channel yet waits for Redis to confirm its subscription, up to
    /// `BusConfig::join_timeout`).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn join(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     let room = msg["room"].as_str().unwrap_or("lobby");
    ///     cx.subscribe(&format!("room:{room}"))
    /// }
    /// ```
    pub fn subscribe(&mut self, channel: &str) -> Result<(), SendError> {
        let conn = self.conn_mut()?;
        conn.on_bus = true;
        let uuid = conn.uuid;
        self.app.bus.subscribe(uuid, channel);
        Ok(())
    }

    /// Subscribes this connection to every channel matching the Redis glob `pattern`.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn follow_all_rooms(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     cx.psubscribe("room:*")
    /// }
    /// ```
    pub fn psubscribe(&mut self, pattern: &str) -> Result<(), SendError> {
        let conn = self.conn_mut()?;
        conn.on_bus = true;
        let uuid = conn.uuid;
        self.app.bus.psubscribe(uuid, pattern);
        Ok(())
    }

    /// Ends this connection's subscription to `channel`.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn leave(cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
    ///     let room = msg["room"].as_str().unwrap_or("lobby");
    ///     cx.unsubscribe(&format!("room:{room}"))
    /// }
    /// ```
    pub fn unsubscribe(&mut self, channel: &str) -> Result<(), SendError> {
        let uuid = self.conn_mut()?.uuid;
        self.app.bus.unsubscribe(uuid, channel);
        Ok(())
    }

    /// Ends this connection's subscription to `pattern`.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, SendError};
    /// # use serde_json::{json, Value};
    /// fn unfollow_all_rooms(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
    ///     cx.punsubscribe("room:*")
    /// }
    /// ```
    pub fn punsubscribe(&mut self, pattern: &str) -> Result<(), SendError> {
        let uuid = self.conn_mut()?.uuid;
        self.app.bus.punsubscribe(uuid, pattern);
        Ok(())
    }
}
