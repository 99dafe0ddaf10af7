//! plezi: a real-time web framework — controllers, JSON events over WebSocket and AJAJ, Redis
//! fan-out.
//!
//! This facade wires the three crates together: [`plezi_server`] (the mio HTTP/WebSocket core),
//! [`plezi_messaging`] (connection UUIDs, the in-process or Redis bus, identity mailboxes) and
//! [`plezi_dispatch`] (routes, controllers, auto-dispatch, AJAJ, the JavaScript client). Start with
//! the [`prelude`] and [`App`]:
//!
//! ```no_run
//! use plezi::prelude::*;
//!
//! #[derive(Default)]
//! struct Chat;
//!
//! impl Chat {
//!     fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
//!         msg
//!     }
//!     fn chat(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Option<Value>, SendError> {
//!         if cx.is_delivery() {
//!             return Ok(Some(msg)); // a broadcast from another connection: show it
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
//! fn main() -> Result<(), plezi::Error> {
//!     App::new() // PORT, HOST, PL_THREADS, PL_REDIS_URL, PL_APP_NAME, PL_SESSION_KEY... from the environment
//!         .public_folder("public")
//!         .client("/client.js")?
//!         .route("/chat", Chat::default)?
//!         .run()
//! }
//! ```
//!
//! `docs/guide.md` walks through controllers, events, communication, identities, AJAJ and the
//! JavaScript client; `docs/protocol.md` specifies the wire format.

mod app;
mod config;
mod error;
mod logger;

pub mod typescript;

pub use app::{App, Built, Running};
pub use config::Config;
pub use error::Error;
pub use logger::init_logging;

pub use plezi_dispatch;
pub use plezi_messaging;
pub use plezi_server;
pub use serde_json;

/// Everything an application usually needs: `use plezi::prelude::*;`.
///
/// ```
/// use plezi::prelude::*;
///
/// #[derive(Default)]
/// struct Greeter;
/// impl Greeter {
///     fn hello(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Value {
///         json!({"event": "hello", "to": msg["name"], "from": cx.id()})
///     }
/// }
/// impl Controller for Greeter {
///     fn events() -> Events<Self> {
///         events![safe hello => Greeter::hello]
///     }
/// }
/// let app: App = App::new().route("/greet", Greeter::default)?;
/// # Ok::<(), plezi::Error>(())
/// ```
pub mod prelude {
    pub use crate::{App, Config, Error};
    pub use plezi_dispatch::{
        Answer, Controller, Ctx, EventKind, Events, Mode, Msg, PreConnect, RedirectError,
        RenderError, SendError, Session, Source, events,
    };
    pub use plezi_dispatch::{Call, Json, Relay};
    pub use plezi_dispatch::{Cookies, SameSite, SetCookie};
    pub use plezi_messaging::{ConnectionUuid, HistoryLimits, Payload, Target};
    pub use plezi_server::{CloseInfo, Message, Request, Response};
    pub use serde_json::{Value, json};
}

/// The README's code example, compiled by `cargo test --doc` so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExample;
