//! plezi-dispatch: routing, controllers, JSON auto-dispatch, AJAJ, the JavaScript client.
//!
//! This crate joins the server core (`plezi-server`) and the message bus (`plezi-messaging`): a
//! [`Controller`] type answers HTTP requests (REST actions), owns WebSocket connections (one
//! instance each), and handles *events* — from its WebSocket clients (auto-dispatch, spec §4),
//! from HTTP clients (AJAJ, spec §5) and from the server side (broadcast, multicast, unicast,
//! named channels, identity notifications, spec §2).
//!
//! # How to use
//!
//! ```no_run
//! use plezi_dispatch::{events, Answer, Controller, Ctx, Dispatcher, Events, Msg, Routes, SendError};
//! use plezi_messaging::{Bus, BusConfig};
//! use plezi_server::Server;
//! use serde_json::{json, Value};
//!
//! #[derive(Default)]
//! struct Chat;
//!
//! impl Chat {
//!     /// WebSocket and AJAJ: the message comes back as it was sent.
//!     fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
//!         msg
//!     }
//!     /// From a client: tell everyone else. From the bus: show it to this client (the message
//!     /// is shared by every receiver and written from one frame encoded once).
//!     fn chat(&mut self, cx: &mut Ctx<'_>, msg: Msg) -> Result<Option<Msg>, SendError> {
//!         if cx.is_delivery() {
//!             return Ok(Some(msg));
//!         }
//!         cx.broadcast("chat", json!({"from": cx.id(), "message": msg["message"]}))?;
//!         Ok(None)
//!     }
//! }
//!
//! impl Controller for Chat {
//!     fn events() -> Events<Self> {
//!         events![both echo => Chat::echo, ws chat => Chat::chat]
//!     }
//! }
//!
//! let mut routes = Routes::new();
//! routes.client("/client.js")?.controller("/chat", Chat::default)?;
//! let app = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
//! let server = Server::builder().bind("127.0.0.1:3000").service(app.service()).build()?;
//! app.attach(server.handle());
//! server.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! (The `plezi` facade crate does the wiring for you: `App::new().route("/chat", Chat::default)?.run()`.)
//!
//! - **Controllers** ([`Controller`]): every method has a default. REST actions (`index`, `show`,
//!   `new`, `create`, `update`, `delete`) return `Some(Response)` or `None` to fall through to the
//!   next route. WebSocket hooks: `pre_connect` ([`PreConnect`]: accept, decline or refuse with
//!   401/403), `on_open`, `on_message` (raw mode), `on_drained`, `on_shutdown`, `on_close`; plus
//!   `accept_delivery`, `unknown`, `failed_unicast`, `message_store_lifespan` and `bus_name`.
//! - **Events** ([`Events`], [`events!`]): `ws` (WebSocket clients), `both` (WebSocket and AJAJ by
//!   `POST`), `safe` (also AJAJ by `GET`/`HEAD`: no side effects), `bus` (server-side deliveries
//!   only). Handlers are `fn(&mut self, &mut Ctx<'_>, Msg) -> impl Into<Answer>` (or with a
//!   `serde_json::Value`: an owned copy, [`EventArg`]); every kind also runs for server-side
//!   deliveries of its name ([`Ctx::is_delivery`] tells them apart). A [`Msg`] returned unchanged is
//!   relayed from one frame shared by every receiver.
//! - **The context** ([`Ctx`]): `write`, `close`, `id()`, `broadcast`, `multicast`, `unicast`,
//!   `register_as`, `notify`, `subscribe`/`publish`, the fast paths `broadcast_raw`/
//!   `multicast_raw`, `params`, `cookies`, `set_cookie`, `session`/`session_mut`
//!   ([`session`]), `request`, `redirect_to` (on this site only), `source()`.
//! - **Answers** ([`Answer`]): a handler's return is written back (JSON as JSON text, a string as
//!   is, nothing for `()`/`None`), or becomes the AJAJ reply.
//! - **Routes** ([`Routes`]): controllers, the client script, rewrites, the 404 answer; errors
//!   ([`RegisterError`]) when a route is added. [`Dispatcher`] turns routes plus a bus into the
//!   server's [`Service`](plezi_server::Service) and the bus's sink.
//!
//! The wire format is in `docs/protocol.md`; a walk-through in `docs/guide.md`.

mod ajaj;
mod answer;
mod auto;
mod client_route;
mod connection;
mod context;
mod controller;
mod core;
mod dispatcher;
mod endpoint;
mod error;
mod events;
mod msg;
mod rate;
mod redirect;
mod routes;
mod sink;
mod wire;

pub mod cookies;
pub mod generated;
pub mod params;
pub mod router;
pub mod session;
pub mod testing;

pub use answer::Answer;
pub use client_route::client_etag;
pub use context::{Ctx, Source};
pub use controller::{Controller, PreConnect};
pub use dispatcher::{DispatchService, Dispatcher};
pub use error::{RegisterError, SendError};
pub use events::{EventKind, Events, Mode};
pub use msg::{EventArg, Msg};
pub use redirect::RedirectError;
pub use routes::Routes;
pub use session::{Session, SessionConfig, SessionKey, SessionKeyError};
