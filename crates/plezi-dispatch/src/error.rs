//! The errors of this layer: [`RegisterError`] when an application is put together, [`SendError`]
//! when a handler talks to a connection or the bus.

use std::fmt;
use std::time::Duration;

use plezi_messaging::{BusError, ParseUuidError};
use plezi_server::WriteError;

use crate::cookies::CookieError;
use crate::router::RouteError;

/// A route or an event table that cannot be used; returned when the route is added, so a typo
/// fails at start-up rather than at the first request.
///
/// ```
/// use plezi_dispatch::{events, Controller, Ctx, Events, RegisterError, Routes};
/// use serde_json::Value;
///
/// #[derive(Default)]
/// struct Chat;
/// impl Controller for Chat {
///     fn events() -> Events<Self> {
///         events![ws close => |_: &mut Chat, _: &mut Ctx<'_>, m: Value| m] // `close` is reserved
///     }
/// }
/// let err = Routes::new().controller("/chat", Chat::default).unwrap_err();
/// assert!(matches!(err, RegisterError::ReservedEvent { .. }));
/// println!("{err}"); // names the event and says what to do
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// The route pattern is invalid (the router's message says how to write it).
    Route(RouteError),
    /// An event name the protocol reserves (it starts with `_` or is one of
    /// `generated::RESERVED_NAMES`, such as `close` or `index`).
    ReservedEvent {
        /// The controller type.
        controller: String,
        /// The event name.
        event: String,
    },
    /// The same event name registered twice in one table.
    DuplicateEvent {
        /// The controller type.
        controller: String,
        /// The event name.
        event: String,
    },
    /// An empty event name.
    EmptyEventName {
        /// The controller type.
        controller: String,
    },
    /// Two controller types with the same bus name (`Controller::bus_name`).
    DuplicateController {
        /// The shared name.
        name: String,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Route(e) => write!(f, "{e}"),
            RegisterError::ReservedEvent { controller, event } => write!(
                f,
                "{controller}: {event:?} is a reserved name and can never be an event (names starting \
                 with '_' and the controller API names such as close, id, index or new are reserved); \
                 rename the event"
            ),
            RegisterError::DuplicateEvent { controller, event } => write!(
                f,
                "{controller}: the event {event:?} is registered twice; keep one entry per name"
            ),
            RegisterError::EmptyEventName { controller } => {
                write!(
                    f,
                    "{controller}: an event name is empty; give every event a name"
                )
            }
            RegisterError::DuplicateController { name } => write!(
                f,
                "two controller types share the bus name {name:?}; override Controller::bus_name in one of them"
            ),
        }
    }
}

impl std::error::Error for RegisterError {}

impl From<RouteError> for RegisterError {
    fn from(e: RouteError) -> RegisterError {
        RegisterError::Route(e)
    }
}

/// Why a handler could not write, close, or reach the bus.
///
/// ```
/// use plezi_dispatch::{Ctx, SendError};
/// use serde_json::Value;
///
/// fn hello(cx: &mut Ctx<'_>, _msg: Value) -> Result<(), SendError> {
///     match cx.write("hello") {
///         Err(SendError::NotAConnection) => Ok(()), // an AJAJ call: the answer is the reply
///         other => other,
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// This call has no WebSocket connection (an HTTP or AJAJ request, or `on_close`); write to
    /// the HTTP reply by returning it instead.
    NotAConnection,
    /// The connection refused the write (closing, or a slow consumer past its queue cap).
    Write(WriteError),
    /// The bus refused the message (its publish queue is full, or a mailbox is full).
    Bus(BusError),
    /// A connection UUID that does not parse.
    BadUuid(ParseUuidError),
    /// A cookie that cannot be sent.
    Cookie(CookieError),
    /// This call has no HTTP reply to carry a header (WebSocket events and `pre_connect` cannot
    /// set cookies: the upgrade answer carries none).
    NoHttpReply,
    /// The client called `notify` more often than `BusConfig::notify_rate` allows (answered as
    /// `err` 429).
    RateLimited {
        /// How long until the client may notify again.
        retry_after: Duration,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotAConnection => write!(
                f,
                "this call has no WebSocket connection (HTTP, AJAJ or on_close): return the reply instead of writing it"
            ),
            SendError::Write(e) => write!(f, "cannot write to the connection: {e}"),
            SendError::Bus(e) => write!(f, "{e}"),
            SendError::BadUuid(e) => write!(f, "not a connection UUID: {e}"),
            SendError::Cookie(e) => write!(f, "{e}"),
            SendError::NoHttpReply => write!(
                f,
                "this call has no HTTP reply to carry a cookie (WebSocket events and pre_connect cannot set cookies); set it from an HTTP action or AJAJ request"
            ),
            SendError::RateLimited { retry_after } => write!(
                f,
                "too many notifications: retry in {} ms (the limit is BusConfig::notify_rate)",
                retry_after.as_millis().max(1)
            ),
        }
    }
}

impl std::error::Error for SendError {}

impl From<WriteError> for SendError {
    fn from(e: WriteError) -> SendError {
        SendError::Write(e)
    }
}

impl From<BusError> for SendError {
    fn from(e: BusError) -> SendError {
        SendError::Bus(e)
    }
}

impl From<ParseUuidError> for SendError {
    fn from(e: ParseUuidError) -> SendError {
        SendError::BadUuid(e)
    }
}

impl From<CookieError> for SendError {
    fn from(e: CookieError) -> SendError {
        SendError::Cookie(e)
    }
}

/// A template that could not be rendered: no templates folder, a missing file, a syntax error, or
/// a failure while rendering (an undefined filter, a type error). A handler that returns it answers
/// `err` 500, and the details go to the log, not to the client.
///
/// ```
/// use plezi_dispatch::{Ctx, RenderError};
/// use serde_json::{json, Value};
///
/// fn message(cx: &mut Ctx<'_>, msg: Value) -> Result<String, RenderError> {
///     cx.render("chat/message.html", json!({"text": msg["text"]})) // escaped: it is HTML
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    template: String,
    message: String,
}

impl RenderError {
    pub(crate) fn new(template: &str, error: &minijinja::Error) -> RenderError {
        RenderError {
            template: template.to_owned(),
            message: format!("{error:#}"),
        }
    }

    pub(crate) fn no_folder(template: &str) -> RenderError {
        RenderError {
            template: template.to_owned(),
            message: "no templates folder: name one with Routes::templates (or App::templates)"
                .to_owned(),
        }
    }

    /// The template's name.
    pub fn template(&self) -> &str {
        &self.template
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template {:?}: {}", self.template, self.message)
    }
}

impl std::error::Error for RenderError {}
