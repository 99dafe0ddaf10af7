//! The application-facing side of the server: [`Service`] answers HTTP requests with a [`Reply`];
//! an [`Upgrade`] hands the connection to a [`WebSocketHandler`], which sees its connection
//! through a [`WebSocket`].

use std::any::Any;
use std::net::SocketAddr;

use crate::conn_id::ConnId;
use crate::deferred::{LaterFn, Responder};
use crate::error::WriteError;
use crate::handle::ServerHandle;
use crate::http::{Request, Response};
use crate::ws::{CloseInfo, Message, SharedFrame};
use crate::ws_conn::WsIo;

/// A connection's behaviour after the upgrade. One instance per connection; all hooks run on the
/// connection's loop thread, never concurrently; `on_close` runs exactly once, last.
///
/// To reach the concrete type from a `&mut dyn WebSocketHandler` (in `ServerHandle::run`), upcast
/// to `&mut dyn Any` and downcast: `let any: &mut dyn Any = handler; any.downcast_mut::<T>()`.
///
/// ```
/// use plezi_server::{Message, WebSocket, WebSocketHandler};
/// struct Echo;
/// impl WebSocketHandler for Echo {
///     fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
///         let _ = match msg {
///             Message::Text(t) => ws.write_text(t),
///             Message::Binary(b) => ws.write_binary(b),
///         };
///     }
/// }
/// ```
pub trait WebSocketHandler: Any + Send {
    /// The upgrade is complete (the 101 is queued); the connection is open.
    fn on_open(&mut self, ws: &mut WebSocket<'_>) {
        let _ = ws;
    }

    /// A complete text or binary message arrived (fragments already reassembled, text already
    /// validated as UTF-8). The message borrows the read buffer: copy what you keep.
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>);

    /// The outbound queue became empty after being non-empty: a good moment to write more.
    fn on_drained(&mut self, ws: &mut WebSocket<'_>) {
        let _ = ws;
    }

    /// The server is stopping; runs before the server sends close 1001 (write a goodbye here, or
    /// close with your own code).
    fn on_shutdown(&mut self, ws: &mut WebSocket<'_>) {
        let _ = ws;
    }

    /// The connection is gone. Runs exactly once, after every other hook.
    fn on_close(&mut self, id: ConnId, info: &CloseInfo) {
        let _ = (id, info);
    }
}

/// The per-connection side of a WebSocket, handed to every hook. Valid only inside the hook.
///
/// Writes are queued (framed once) and flushed when the hook returns, together with everything
/// else queued in the same loop turn, in one vectored write.
pub struct WebSocket<'a> {
    pub(crate) id: ConnId,
    pub(crate) io: WsIo<'a>,
    pub(crate) peer: SocketAddr,
    pub(crate) server: &'a ServerHandle,
}

impl WebSocket<'_> {
    /// This connection's id (stable for its lifetime; use it with [`ServerHandle`]).
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Queues a text message.
    pub fn write_text(&mut self, text: &str) -> Result<(), WriteError> {
        self.io.write_text(self.id, self.peer, text)
    }

    /// Queues a binary message.
    pub fn write_binary(&mut self, data: &[u8]) -> Result<(), WriteError> {
        self.io.write_binary(self.id, self.peer, data)
    }

    /// Queues a pre-encoded frame, sharing its bytes (no copy).
    pub fn write_frame(&mut self, frame: &SharedFrame) -> Result<(), WriteError> {
        self.io.write_frame(self.id, self.peer, frame)
    }

    /// Starts the close handshake with `code` (an invalid code is replaced by 1000) and `reason`
    /// (cut to 123 bytes). Later writes return [`WriteError::Closed`]; `on_close` follows once the
    /// peer answers (or after a short timeout).
    pub fn close(&mut self, code: u16, reason: &str) {
        self.io.close(self.id, code, reason);
    }

    /// True until the close handshake starts (from either side).
    pub fn is_open(&self) -> bool {
        self.io.is_open()
    }

    /// Bytes queued and not yet written to the socket.
    pub fn pending(&self) -> usize {
        self.io.pending()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The server, to reach other connections and loops.
    pub fn server(&self) -> &ServerHandle {
        self.server
    }
}

/// What a [`Service`] answers.
pub enum Reply {
    /// An HTTP response.
    Response(Response),
    /// Switch the connection to WebSocket (only for requests where
    /// [`Request::is_websocket_upgrade`] is true; otherwise the client gets 426).
    Upgrade(Upgrade),
    /// The response comes later, through a [`Responder`] (see [`Reply::later`]).
    Later(Later),
}

impl Reply {
    /// A response that comes later: `f` runs once on the loop thread, right after the service
    /// returns, with the request's [`Responder`]; hand it to whatever finishes the work, on any
    /// thread. Meanwhile the connection reads nothing more (pipelined requests wait their turn).
    /// No answer within `ServerConfig::reply_timeout` → `504`; a responder dropped unanswered →
    /// `500`. For an upgrade request the answer is an HTTP response (no upgrade).
    pub fn later(f: impl FnOnce(Responder) + Send + 'static) -> Reply {
        Reply::Later(Later(Box::new(f)))
    }
}

/// A deferred answer's start (built by [`Reply::later`]).
pub struct Later(pub(crate) LaterFn);

impl From<Response> for Reply {
    fn from(r: Response) -> Reply {
        Reply::Response(r)
    }
}

impl From<Upgrade> for Reply {
    fn from(u: Upgrade) -> Reply {
        Reply::Upgrade(u)
    }
}

/// The answer to a WebSocket upgrade request: the handler that will own the connection, the
/// chosen subprotocol and a group tag for [`Filter`].
pub struct Upgrade {
    pub(crate) handler: Box<dyn WebSocketHandler>,
    pub(crate) protocol: Option<String>,
    pub(crate) tag: Option<u64>,
}

impl Upgrade {
    /// An upgrade handing the connection to `handler`.
    pub fn new(handler: Box<dyn WebSocketHandler>) -> Upgrade {
        Upgrade {
            handler,
            protocol: None,
            tag: None,
        }
    }

    /// The chosen `Sec-WebSocket-Protocol` (must be one of [`Request::websocket_protocols`]).
    pub fn protocol(mut self, p: &str) -> Upgrade {
        self.protocol = Some(p.to_owned());
        self
    }

    /// A group tag (dispatch uses the controller type) that [`Filter::tag`] selects on.
    pub fn tag(mut self, tag: u64) -> Upgrade {
        self.tag = Some(tag);
        self
    }
}

/// The application: runs on the loop thread for every request that static files did not answer.
/// Closures `Fn(&mut Request) -> Reply` are services.
///
/// ```
/// use plezi_server::{Reply, Request, Response, Service};
/// fn service() -> impl Service {
///     |req: &mut Request| Reply::Response(Response::text(200, format!("you asked for {}", req.path())))
/// }
/// ```
pub trait Service: Send + Sync + 'static {
    /// Answers one request. Runs on an event-loop thread: do not block.
    fn call(&self, req: &mut Request) -> Reply;
}

impl<F: Fn(&mut Request) -> Reply + Send + Sync + 'static> Service for F {
    fn call(&self, req: &mut Request) -> Reply {
        self(req)
    }
}

/// The default service: 404 for everything.
pub(crate) struct NotFound;

impl Service for NotFound {
    fn call(&self, _req: &mut Request) -> Reply {
        Reply::Response(Response::text(404, "Not Found\n"))
    }
}

/// Which WebSocket connections a fan-out ([`ServerHandle::broadcast`], [`ServerHandle::for_each`])
/// reaches: those with this tag (all when `None`), except one.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Only connections upgraded with this [`Upgrade::tag`]; `None` = every WebSocket connection.
    pub tag: Option<u64>,
    /// Skip this connection (typically the sender).
    pub except: Option<ConnId>,
}

impl Filter {
    /// Every WebSocket connection.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// Whether a connection with this id and tag is selected.
    pub(crate) fn matches(&self, id: ConnId, tag: Option<u64>) -> bool {
        self.except != Some(id) && (self.tag.is_none() || self.tag == tag)
    }
}
