//! [`Ctx`]: what a controller method can see and do besides its own fields.

use std::cell::{Cell, OnceCell};
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Instant;

use plezi_messaging::{Bus, ConnectionUuid, Message, Payload, Target};
use plezi_server::{Request, Response, ServerHandle, SharedFrame, WebSocket, WriteError};
use serde_json::Value;

use crate::answer::Answer;
use crate::controller::Controller;
use crate::cookies::{Cookies, SetCookie};
use crate::core::{Core, KindInfo};
use crate::error::SendError;
use crate::params::Params;
use crate::rate::TokenBucket;
use crate::redirect::{self, RedirectError};
use crate::session::{Saved, Session};

/// Where the current call came from.
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
}

impl HttpExtras {
    pub(crate) fn new(params: Params) -> HttpExtras {
        HttpExtras {
            params,
            cookies: OnceCell::new(),
            set_cookies: Vec::new(),
            protocol: None,
            session: OnceCell::new(),
        }
    }

    /// Saves a changed session and adds the `Set-Cookie` headers to `resp`. A session that
    /// cannot be saved replaces the reply with an error answer (500: data over the cap; 503: the
    /// store is down), so a login never looks successful without its session.
    pub(crate) fn finish(&mut self, core: &Core, mut resp: Response) -> Response {
        if let Some(session) = self.session.get_mut() {
            match core.sessions.save(session) {
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
    fn session(&self, core: &Core, req: &Request) -> &Session {
        self.session.get_or_init(|| {
            let cookies = self
                .cookies
                .get_or_init(|| Cookies::parse(req.header_all("cookie")));
            core.sessions.load(core.sessions.verified_id(cookies))
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
pub struct Ctx<'a> {
    core: &'a Core,
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
        core: &'a Core,
        kind: &'a KindInfo,
        source: Source,
        conn: &'a mut ConnState,
        ws: Option<&'a mut (dyn WsPort + 'a)>,
    ) -> Ctx<'a> {
        Ctx {
            core,
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
        core: &'a Core,
        kind: &'a KindInfo,
        source: Source,
        req: &'a Request,
        http: &'a mut HttpExtras,
    ) -> Ctx<'a> {
        Ctx {
            core,
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
    pub fn source(&self) -> Source {
        self.source
    }

    /// Whether this call is a server-side delivery (broadcast, unicast...), not a client's own
    /// message.
    pub fn is_delivery(&self) -> bool {
        matches!(self.source, Source::Delivery { .. })
    }

    /// The connection that sent this delivery, if it came from one.
    pub fn sender(&self) -> Option<ConnectionUuid> {
        match self.source {
            Source::Delivery { from } => from,
            _ => None,
        }
    }

    /// The target of the delivery being handled (the channel name, the identity...).
    pub fn delivery_target(&self) -> Option<&Target> {
        self.target
    }

    /// This connection's UUID (its text form names the server and the connection); `None` for
    /// HTTP requests and `pre_connect`. Serializes as a JSON string.
    pub fn id(&self) -> Option<ConnectionUuid> {
        self.conn.as_ref().map(|c| c.uuid)
    }

    /// The controller type's bus name.
    pub fn controller_name(&self) -> &str {
        &self.kind.name
    }

    /// The WebSocket peer's address, or the HTTP client's.
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
    pub fn params(&self) -> &Params {
        match (&self.http, &self.conn) {
            (Some(h), _) => &h.params,
            (None, Some(c)) => &c.params,
            _ => &NO_PARAMS,
        }
    }

    /// The params, mutable.
    pub fn params_mut(&mut self) -> Option<&mut Params> {
        match (&mut self.http, &mut self.conn) {
            (Some(h), _) => Some(&mut h.params),
            (None, Some(c)) => Some(&mut c.params),
            _ => None,
        }
    }

    /// The HTTP request (HTTP actions, AJAJ, `pre_connect`).
    pub fn request(&self) -> Option<&Request> {
        self.req
    }

    /// The request's cookies (empty on a connection: read what you need in `pre_connect`).
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
    pub fn set_cookie(&mut self, cookie: SetCookie) -> Result<(), SendError> {
        let value = cookie
            .secure_by_default(self.core.secure_cookies)
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
    pub fn delete_cookie(&mut self, name: &str) -> Result<(), SendError> {
        self.set_cookie(SetCookie::delete(name))
    }

    /// The session (see [`crate::session`]): on HTTP actions, AJAJ requests and `pre_connect`,
    /// the one the request's cookie names; on a connection, the one its upgrade request carried
    /// (read once, at the first call). Without a valid cookie, an empty session
    /// ([`Session::exists`] is false). Calls with neither a request nor a connection see an
    /// empty session.
    pub fn session(&self) -> &Session {
        static NO_SESSION: LazyLock<Session> = LazyLock::new(Session::default);
        match (&self.http, self.req, &self.conn) {
            (Some(h), Some(req), _) => h.session(self.core, req),
            (_, _, Some(c)) => c
                .session
                .get_or_init(|| self.core.sessions.load(c.session_id.clone())),
            _ => &NO_SESSION,
        }
    }

    /// The session, to change it: HTTP actions and AJAJ requests only (the reply carries the
    /// cookie; changes are saved when it is sent). Elsewhere, including `pre_connect`,
    /// [`SendError::NoHttpReply`].
    pub fn session_mut(&mut self) -> Result<&mut Session, SendError> {
        let writable = matches!(self.source, Source::Http | Source::Ajaj)
            && self.req.is_some_and(|r| !r.is_websocket_upgrade());
        match (&mut self.http, self.req) {
            (Some(h), Some(req)) if writable => {
                h.session(self.core, req);
                h.session.get_mut().ok_or(SendError::NoHttpReply)
            }
            _ => Err(SendError::NoHttpReply),
        }
    }

    /// A `302 Found` redirect to `location` on this site: a path (`/items/7`, `/?page=2`) or an
    /// absolute `http(s)` URL whose host is the request's `Host`. Another host (`https://evil`,
    /// `//evil`, `/\evil`), another scheme (`javascript:`) and control characters are a
    /// [`RedirectError`]; use [`Ctx::redirect_external`] to leave the site on purpose.
    pub fn redirect_to(&self, location: &str) -> Result<Response, RedirectError> {
        let host = self.req.and_then(|r| r.header("host"));
        redirect::check_local(location, host)?;
        Ok(Response::new(302).header("Location", location))
    }

    /// A `302 Found` redirect to any absolute `http`/`https` URL or local path, another host
    /// included: for URLs the application chose, never one taken from the request unchecked.
    /// Control characters and other schemes are still a [`RedirectError`].
    pub fn redirect_external(&self, url: &str) -> Result<Response, RedirectError> {
        redirect::check_external(url)?;
        Ok(Response::new(302).header("Location", url))
    }

    /// In `pre_connect`: accept this WebSocket subprotocol (one the client offered).
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
    pub fn write(&mut self, text: &str) -> Result<(), SendError> {
        Ok(self.ws()?.write_text(text)?)
    }

    /// Writes a JSON value as a text message.
    pub fn write_json(&mut self, value: &Value) -> Result<(), SendError> {
        self.write(&value.to_string())
    }

    /// Writes a binary message.
    pub fn write_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        Ok(self.ws()?.write_binary(data)?)
    }

    /// Writes a pre-encoded frame (shared, not copied).
    pub fn write_frame(&mut self, frame: &SharedFrame) -> Result<(), SendError> {
        Ok(self.ws()?.write_frame(frame)?)
    }

    /// Closes the connection normally (1000).
    pub fn close(&mut self) {
        self.close_with(crate::generated::CLOSE_NORMAL, "");
    }

    /// Closes the connection with a code and a short reason.
    pub fn close_with(&mut self, code: u16, reason: &str) {
        if let Ok(ws) = self.ws() {
            ws.close(code, reason);
        }
    }

    /// Whether the connection is open (false after a close started, and on HTTP calls).
    pub fn is_open(&self) -> bool {
        self.ws.as_ref().is_some_and(|ws| ws.is_open())
    }

    /// Bytes queued for this connection and not yet written to its socket.
    pub fn pending(&self) -> usize {
        self.ws.as_ref().map_or(0, |ws| ws.pending())
    }

    // ---- the bus ----

    /// The application's bus.
    pub fn bus(&self) -> &Bus {
        &self.core.bus
    }

    /// The server (to reach connections by id, run timers...), once it runs.
    pub fn server(&self) -> Option<&ServerHandle> {
        match self.ws.as_ref().and_then(|ws| ws.server()) {
            Some(server) => Some(server),
            None => self.core.handle(),
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
        Ok(self.core.bus.publish(message)?)
    }

    /// Every other connection of this controller type, on every server, runs its handler for
    /// `event` with `data` (upstream `broadcast`).
    pub fn broadcast(&self, event: &str, data: Value) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: self.kind.name.clone(),
        };
        self.post(target, Payload::event(event, data), true)
    }

    /// Like [`Ctx::broadcast`], to the connections of controller type `C`.
    pub fn broadcast_to<C: Controller>(&self, event: &str, data: Value) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: C::bus_name(),
        };
        self.post(target, Payload::event(event, data), true)
    }

    /// Every other WebSocket connection of the application, on every server, runs its handler
    /// for `event` (upstream `multicast`).
    pub fn multicast(&self, event: &str, data: Value) -> Result<(), SendError> {
        self.post(Target::Multicast, Payload::event(event, data), true)
    }

    /// Connection `to`, wherever it is, runs its handler for `event`. If `to`'s server is gone,
    /// this connection's `failed_unicast` runs.
    pub fn unicast(&self, to: ConnectionUuid, event: &str, data: Value) -> Result<(), SendError> {
        self.post(Target::Unicast(to), Payload::event(event, data), false)
    }

    /// Every connection subscribed to `channel` (this one included, if subscribed) runs its
    /// handler for `event`.
    pub fn publish(&self, channel: &str, event: &str, data: Value) -> Result<(), SendError> {
        self.post(
            Target::Channel(channel.to_owned()),
            Payload::event(event, data),
            false,
        )
    }

    /// Fast path: `text` is written as is to every other connection of this controller type on
    /// every server, framed once per server; no handler runs.
    pub fn broadcast_raw(&self, text: &str) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: self.kind.name.clone(),
        };
        self.post(target, Payload::raw(text), true)
    }

    /// Fast path: `text` is written as is to every other WebSocket connection of the
    /// application on every server; no handler runs.
    pub fn multicast_raw(&self, text: &str) -> Result<(), SendError> {
        self.post(Target::Multicast, Payload::raw(text), true)
    }

    fn conn_mut(&mut self) -> Result<&mut ConnState, SendError> {
        self.conn.as_deref_mut().ok_or(SendError::NotAConnection)
    }

    /// Registers this connection as `identity` (a user id): `notify(identity, ..)` reaches it,
    /// and stored notifications arrive now. The mailbox lifespan is this controller type's
    /// `message_store_lifespan`. Ends when the connection closes.
    pub fn register_as(&mut self, identity: &str) -> Result<(), SendError> {
        let lifespan = self.kind.lifespan;
        let conn = self.conn_mut()?;
        conn.on_bus = true;
        let uuid = conn.uuid;
        Ok(self.core.bus.register_as(identity, uuid, Some(lifespan))?)
    }

    /// Ends this connection's registration as `identity`.
    pub fn unregister(&mut self, identity: &str) -> Result<(), SendError> {
        let uuid = self.conn_mut()?.uuid;
        self.core.bus.unregister(identity, uuid);
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
    /// Redis failed) with `"request":{"notify":<identity>,"event":<event>}`.
    ///
    /// Calls made for a client are rate limited (`BusConfig::notify_rate`, default 20 per second
    /// with bursts of 100): per connection for WebSocket events and hooks, per peer address for
    /// AJAJ and HTTP actions; deliveries are not limited. Errors, and the `err` status a handler
    /// that returns them answers with: [`SendError::RateLimited`] (429),
    /// `BusError::MailboxFull`/`StoreFull` (507), `BusError::IdentityTooLong` (400),
    /// `BusError::NotifyQueueFull` (503).
    pub fn notify(&self, identity: &str, event: &str, data: Value) -> Result<(), SendError> {
        self.take_notify_token()?;
        Ok(self
            .core
            .bus
            .notify_from(self.me(), identity, Payload::event(event, data))?)
    }

    /// Applies `BusConfig::notify_rate` to this call's client.
    fn take_notify_token(&self) -> Result<(), SendError> {
        let config = self.core.bus.config();
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
            (None, Some(req)) => self.core.notify_peers.take(
                req.peer_addr().ip(),
                now,
                limit,
                config.notify_rate_peers,
            ),
            (None, None) => Ok(()),
        };
        taken.map_err(|retry_after| SendError::RateLimited { retry_after })
    }

    /// Subscribes this connection to the named channel.
    pub fn subscribe(&mut self, channel: &str) -> Result<(), SendError> {
        let conn = self.conn_mut()?;
        conn.on_bus = true;
        let uuid = conn.uuid;
        self.core.bus.subscribe(uuid, channel);
        Ok(())
    }

    /// Subscribes this connection to every channel matching the Redis glob `pattern`.
    pub fn psubscribe(&mut self, pattern: &str) -> Result<(), SendError> {
        let conn = self.conn_mut()?;
        conn.on_bus = true;
        let uuid = conn.uuid;
        self.core.bus.psubscribe(uuid, pattern);
        Ok(())
    }

    /// Ends this connection's subscription to `channel`.
    pub fn unsubscribe(&mut self, channel: &str) -> Result<(), SendError> {
        let uuid = self.conn_mut()?.uuid;
        self.core.bus.unsubscribe(uuid, channel);
        Ok(())
    }

    /// Ends this connection's subscription to `pattern`.
    pub fn punsubscribe(&mut self, pattern: &str) -> Result<(), SendError> {
        let uuid = self.conn_mut()?.uuid;
        self.core.bus.punsubscribe(uuid, pattern);
        Ok(())
    }
}
