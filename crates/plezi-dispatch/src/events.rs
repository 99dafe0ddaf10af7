//! Event tables: which handler runs for which event name, and who may call it.
//!
//! Rust has no reflection, so a controller lists its events once, in [`Controller::events`]
//! (usually with the [`events!`](crate::events!) macro):
//!
//! ```
//! use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
//! use serde_json::Value;
//!
//! #[derive(Default)]
//! struct Chat;
//! impl Chat {
//!     fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value { msg }
//!     fn chat(&mut self, _cx: &mut Ctx<'_>, _msg: Value) {}
//!     fn tick(&mut self, _cx: &mut Ctx<'_>, msg: Msg) -> Msg { msg } // relayed as it came
//! }
//! impl Controller for Chat {
//!     fn events() -> Events<Self> {
//!         events![
//!             both echo => Chat::echo, // WebSocket events and AJAJ requests (POST)
//!             ws chat => Chat::chat,   // WebSocket events only
//!             bus tick => Chat::tick,  // only messages sent by the server (broadcast, unicast...)
//!         ]
//!     }
//! }
//! ```
//!
//! Every kind also receives server-side deliveries (broadcast, multicast, unicast, channels,
//! identities) of its name. Names are checked when the route is added: reserved names
//! ([`crate::generated::is_reserved`]) and duplicates are a [`RegisterError`].
//!
//! [`Controller::events`]: crate::Controller::events

use std::collections::HashMap;

use crate::answer::Answer;
use crate::context::Ctx;
use crate::error::RegisterError;
use crate::generated::is_reserved;
use crate::msg::{EventArg, Msg};
use crate::reply::{EventReply, ReplyType};
use crate::typescript::{EventShape, TypeScript};

/// How a controller's WebSocket connections behave.
///
/// ```
/// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
/// # use serde_json::Value;
/// # struct Chat;
/// # impl Chat {
/// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
/// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
/// # }
/// assert_eq!(Events::<Chat>::none().mode(), Mode::HttpOnly);
/// assert_eq!(Events::<Chat>::auto_dispatch().mode(), Mode::AutoDispatch);
/// assert_eq!(Events::<Chat>::raw().mode(), Mode::Raw);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// No WebSocket: upgrade requests fall through to the next route. The default.
    HttpOnly,
    /// JSON auto-dispatch: every client message is a JSON object whose `event` names a handler.
    AutoDispatch,
    /// Raw: every client message goes to `Controller::on_message` as it arrived.
    Raw,
}

/// Who may call a handler.
///
/// ```
/// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
/// # use serde_json::Value;
/// # struct Chat;
/// # impl Chat {
/// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
/// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
/// # }
/// let events = Events::auto_dispatch()
///     .add(EventKind::WebSocket, "say", Chat::say)
///     .add(EventKind::Safe, "stats", Chat::stats);
/// assert_eq!(events.names(), [("say", EventKind::WebSocket), ("stats", EventKind::Safe)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// WebSocket clients (and server-side deliveries).
    WebSocket,
    /// WebSocket clients and AJAJ/HTTP requests by `POST` (and server-side deliveries).
    Both,
    /// Like [`EventKind::Both`], and AJAJ requests by `GET`/`HEAD` too: for handlers without side
    /// effects (a `GET` can be sent by any page, e.g. with an `<img>` tag).
    Safe,
    /// Only server-side deliveries: broadcast, multicast, unicast, channels, identities.
    Bus,
}

impl EventKind {
    /// Whether a WebSocket client message may call it.
    ///
    /// ```
    /// use plezi_dispatch::EventKind;
    /// assert!(EventKind::Both.from_websocket());
    /// assert!(!EventKind::Bus.from_websocket());
    /// ```
    pub fn from_websocket(self) -> bool {
        matches!(
            self,
            EventKind::WebSocket | EventKind::Both | EventKind::Safe
        )
    }

    /// Whether an AJAJ/HTTP request may call it.
    ///
    /// ```
    /// use plezi_dispatch::EventKind;
    /// assert!(EventKind::Both.from_http() && EventKind::Safe.from_http());
    /// assert!(!EventKind::WebSocket.from_http());
    /// ```
    pub fn from_http(self) -> bool {
        matches!(self, EventKind::Both | EventKind::Safe)
    }

    /// Whether an AJAJ request by `GET`/`HEAD` may call it.
    ///
    /// ```
    /// use plezi_dispatch::EventKind;
    /// assert!(EventKind::Safe.from_get());
    /// assert!(!EventKind::Both.from_get()); // POST only: any page can make a browser send a GET
    /// ```
    pub fn from_get(self) -> bool {
        matches!(self, EventKind::Safe)
    }
}

/// A handler with its return value already turned into an [`Answer`].
pub(crate) type HandlerFn<C> = Box<dyn Fn(&mut C, &mut Ctx<'_>, Msg) -> Answer + Send + Sync>;

/// One registered event.
pub(crate) struct Handler<C> {
    pub(crate) kind: EventKind,
    pub(crate) call: HandlerFn<C>,
    /// Its payload's TypeScript type (`None`: untyped).
    payload: fn(&mut TypeScript) -> Option<String>,
    /// What it replies, for TypeScript.
    reply: fn(&mut TypeScript) -> ReplyType,
}

/// A controller's event table and WebSocket [`Mode`]. Built with [`events!`](crate::events!) or
/// the builder methods; checked when the route is added.
///
/// ```
/// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
/// # use serde_json::Value;
/// # struct Chat;
/// # impl Chat {
/// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
/// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
/// # }
/// use plezi_dispatch::{events, Controller};
///
/// impl Controller for Chat {
///     fn events() -> Events<Self> {
///         // The same table as events![ws say => Chat::say, safe stats => Chat::stats]:
///         Events::auto_dispatch().ws("say", Chat::say).safe("stats", Chat::stats)
///     }
/// }
/// assert_eq!(Chat::events().mode(), Mode::AutoDispatch);
/// ```
pub struct Events<C> {
    mode: Mode,
    handlers: HashMap<String, Handler<C>>,
    /// Registration problems, reported when the route is added.
    problems: Vec<Problem>,
}

#[derive(Debug, Clone)]
enum Problem {
    Reserved(String),
    Duplicate(String),
    Empty,
}

impl<C> Default for Events<C> {
    fn default() -> Self {
        Events::none()
    }
}

impl<C> std::fmt::Debug for Events<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.handlers.iter().map(|(n, h)| (n, h.kind)).collect();
        names.sort();
        f.debug_struct("Events")
            .field("mode", &self.mode)
            .field("handlers", &names)
            .finish()
    }
}

impl<C> Events<C> {
    /// No WebSocket ([`Mode::HttpOnly`]); add `both` handlers for AJAJ.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// // HTTP only: no WebSocket, but `stats` answers AJAJ requests.
    /// let events = Events::none().safe("stats", Chat::stats);
    /// assert_eq!(events.mode(), Mode::HttpOnly);
    /// assert!(events.is_http("stats"));
    /// ```
    pub fn none() -> Events<C> {
        Events::with_mode(Mode::HttpOnly)
    }

    /// JSON auto-dispatch over WebSocket ([`Mode::AutoDispatch`]); what [`events!`](crate::events!) builds.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().ws("say", Chat::say);
    /// assert_eq!(events.mode(), Mode::AutoDispatch);
    /// ```
    pub fn auto_dispatch() -> Events<C> {
        Events::with_mode(Mode::AutoDispatch)
    }

    /// Raw WebSocket ([`Mode::Raw`]): client messages go to `on_message`; handlers added here
    /// still receive server-side deliveries (and `both` ones AJAJ requests).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// // Client frames go to `Controller::on_message`; `say` still runs for deliveries.
    /// let events = Events::raw().bus("say", Chat::say);
    /// assert_eq!(events.mode(), Mode::Raw);
    /// ```
    pub fn raw() -> Events<C> {
        Events::with_mode(Mode::Raw)
    }

    fn with_mode(mode: Mode) -> Events<C> {
        Events {
            mode,
            handlers: HashMap::new(),
            problems: Vec::new(),
        }
    }

    /// Adds a handler WebSocket clients may call ([`EventKind::WebSocket`]).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().ws("say", Chat::say);
    /// assert!(!events.is_http("say"));
    /// ```
    pub fn ws<F, A, R>(self, name: &str, handler: F) -> Events<C>
    where
        F: Fn(&mut C, &mut Ctx<'_>, A) -> R + Send + Sync + 'static,
        A: EventArg,
        R: EventReply,
    {
        self.add(EventKind::WebSocket, name, handler)
    }

    /// Adds a handler WebSocket clients and AJAJ requests may call ([`EventKind::Both`]).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().both("say", Chat::say);
    /// assert!(events.is_http("say") && !events.is_safe("say"));
    /// ```
    pub fn both<F, A, R>(self, name: &str, handler: F) -> Events<C>
    where
        F: Fn(&mut C, &mut Ctx<'_>, A) -> R + Send + Sync + 'static,
        A: EventArg,
        R: EventReply,
    {
        self.add(EventKind::Both, name, handler)
    }

    /// Adds a handler WebSocket clients and AJAJ requests may call, `GET`/`HEAD` included
    /// ([`EventKind::Safe`]): only for handlers without side effects.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().safe("stats", Chat::stats);
    /// assert!(events.is_safe("stats")); // GET /chat/stats calls it
    /// ```
    pub fn safe<F, A, R>(self, name: &str, handler: F) -> Events<C>
    where
        F: Fn(&mut C, &mut Ctx<'_>, A) -> R + Send + Sync + 'static,
        A: EventArg,
        R: EventReply,
    {
        self.add(EventKind::Safe, name, handler)
    }

    /// Adds a handler only server-side deliveries reach ([`EventKind::Bus`]).
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().bus("say", Chat::say);
    /// assert_eq!(events.names(), [("say", EventKind::Bus)]); // no client can call it
    /// ```
    pub fn bus<F, A, R>(self, name: &str, handler: F) -> Events<C>
    where
        F: Fn(&mut C, &mut Ctx<'_>, A) -> R + Send + Sync + 'static,
        A: EventArg,
        R: EventReply,
    {
        self.add(EventKind::Bus, name, handler)
    }

    /// Adds a handler of any kind.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().add(EventKind::Both, "say", Chat::say);
    /// assert!(events.is_http("say"));
    /// ```
    pub fn add<F, A, R>(mut self, kind: EventKind, name: &str, handler: F) -> Events<C>
    where
        F: Fn(&mut C, &mut Ctx<'_>, A) -> R + Send + Sync + 'static,
        A: EventArg,
        R: EventReply,
    {
        if name.is_empty() {
            self.problems.push(Problem::Empty);
        } else if is_reserved(name) {
            self.problems.push(Problem::Reserved(name.to_owned()));
        } else if self.handlers.contains_key(name) {
            self.problems.push(Problem::Duplicate(name.to_owned()));
        } else {
            let event = name.to_owned();
            let call: HandlerFn<C> = Box::new(move |c, cx, m| {
                let source = cx.source();
                match A::from_msg(m, source) {
                    Ok(arg) => handler(c, cx, arg).into_answer(&event),
                    Err(bad) => bad.into_answer(&event, source),
                }
            });
            let handler = Handler {
                kind,
                call,
                payload: A::payload_type,
                reply: R::reply_type,
            };
            self.handlers.insert(name.to_owned(), handler);
        }
        self
    }

    /// The WebSocket mode.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// assert_eq!(Events::<Chat>::default().mode(), Mode::HttpOnly);
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The registered names and kinds, sorted by name.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().ws("say", Chat::say).bus("stats", Chat::stats);
    /// assert_eq!(events.names(), [("say", EventKind::WebSocket), ("stats", EventKind::Bus)]);
    /// ```
    pub fn names(&self) -> Vec<(&str, EventKind)> {
        let mut v: Vec<_> = self
            .handlers
            .iter()
            .map(|(n, h)| (n.as_str(), h.kind))
            .collect();
        v.sort();
        v
    }

    /// Whether no handler is registered.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// assert!(Events::<Chat>::auto_dispatch().is_empty());
    /// assert!(!Events::auto_dispatch().ws("say", Chat::say).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// Whether `name` names a handler AJAJ/HTTP requests may call.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().both("say", Chat::say).ws("stats", Chat::stats);
    /// assert!(events.is_http("say") && !events.is_http("stats") && !events.is_http("other"));
    /// ```
    pub fn is_http(&self, name: &str) -> bool {
        self.handlers.get(name).is_some_and(|h| h.kind.from_http())
    }

    /// Whether `name` names a handler AJAJ requests by `GET`/`HEAD` may call.
    ///
    /// ```
    /// # use plezi_dispatch::{Ctx, EventKind, Events, Mode};
    /// # use serde_json::Value;
    /// # struct Chat;
    /// # impl Chat {
    /// #     fn say(&mut self, _: &mut Ctx<'_>, m: Value) -> Value { m }
    /// #     fn stats(&mut self, _: &mut Ctx<'_>, _: Value) -> Value { Value::Null }
    /// # }
    /// let events = Events::auto_dispatch().safe("stats", Chat::stats).both("say", Chat::say);
    /// assert!(events.is_safe("stats") && !events.is_safe("say"));
    /// ```
    pub fn is_safe(&self, name: &str) -> bool {
        self.handlers.get(name).is_some_and(|h| h.kind.from_get())
    }

    /// Every event's name, kind, payload and reply types, sorted by name (types declared in `ts`).
    pub(crate) fn shapes(&self, ts: &mut TypeScript) -> Vec<EventShape> {
        let mut shapes: Vec<EventShape> = self
            .handlers
            .iter()
            .map(|(name, h)| EventShape {
                name: name.clone(),
                kind: h.kind,
                payload: (h.payload)(ts),
                reply: (h.reply)(ts),
            })
            .collect();
        shapes.sort_by(|a, b| a.name.cmp(&b.name));
        shapes
    }

    /// The first registration problem, as the error the route gets.
    pub(crate) fn check(&self, controller: &str) -> Result<(), RegisterError> {
        let controller = controller.to_owned();
        match self.problems.first() {
            None => Ok(()),
            Some(Problem::Empty) => Err(RegisterError::EmptyEventName { controller }),
            Some(Problem::Reserved(event)) => Err(RegisterError::ReservedEvent {
                controller,
                event: event.clone(),
            }),
            Some(Problem::Duplicate(event)) => Err(RegisterError::DuplicateEvent {
                controller,
                event: event.clone(),
            }),
        }
    }

    /// The handler a WebSocket client message named `name` calls.
    pub(crate) fn for_websocket(&self, name: &str) -> Option<&Handler<C>> {
        self.handlers
            .get(name)
            .filter(|h| h.kind.from_websocket() && !is_reserved(name))
    }

    /// The handler an AJAJ request for `name` calls.
    pub(crate) fn for_http(&self, name: &str) -> Option<&Handler<C>> {
        self.handlers
            .get(name)
            .filter(|h| h.kind.from_http() && !is_reserved(name))
    }

    /// The handler a server-side delivery of `name` calls.
    pub(crate) fn for_delivery(&self, name: &str) -> Option<&Handler<C>> {
        self.handlers.get(name)
    }
}

/// Builds an auto-dispatch event table ([`Events::auto_dispatch`]) from `kind name => handler`
/// entries, where `kind` is `ws` (WebSocket clients), `both` (WebSocket and AJAJ by `POST`),
/// `safe` (WebSocket and AJAJ by `POST`, `GET` or `HEAD`: no side effects) or `bus` (server-side
/// deliveries only), and `handler` is a method or closure
/// `Fn(&mut C, &mut Ctx<'_>, M) -> impl EventReply`, where the message `M` is a [`Msg`] (shared,
/// relayed unchanged for free), a `serde_json::Value` (an owned copy) or a typed payload
/// ([`Json<T>`], [`Call<T, D>`], [`Relay<T>`]); see [`EventArg`] and [`EventReply`].
///
/// [`Msg`]: crate::Msg
/// [`EventArg`]: crate::EventArg
/// [`EventReply`]: crate::EventReply
/// [`Json<T>`]: crate::Json
/// [`Call<T, D>`]: crate::Call
/// [`Relay<T>`]: crate::Relay
///
/// ```
/// use plezi_dispatch::{events, Ctx, Events};
/// use serde_json::Value;
/// struct Echo;
/// impl Echo {
///     fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value { msg }
/// }
/// let table: Events<Echo> = events![
///     both echo => Echo::echo,
///     ws ping => |_: &mut Echo, _: &mut Ctx<'_>, _: Value| "pong",
/// ];
/// assert_eq!(table.names().len(), 2);
/// ```
#[macro_export]
macro_rules! events {
    () => { $crate::Events::auto_dispatch() };
    ($($kind:ident $name:ident => $handler:expr),+ $(,)?) => {
        $crate::Events::auto_dispatch()$(.$kind(stringify!($name), $handler))+
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    struct T;

    fn nothing(_: &mut T, _: &mut Ctx<'_>, _: Value) {}

    #[test]
    fn kinds_gate_the_callers() {
        let e: Events<T> = Events::auto_dispatch()
            .ws("a", nothing)
            .both("b", nothing)
            .bus("c", nothing)
            .safe("d", nothing);
        assert!(e.check("T").is_ok());
        assert!(e.for_websocket("d").is_some() && e.for_http("d").is_some());
        assert!(e.is_safe("d") && !e.is_safe("b") && !e.is_safe("a") && !e.is_safe("c"));
        assert!(e.is_http("d"));
        assert!(e.for_websocket("a").is_some() && e.for_http("a").is_none());
        assert!(e.for_websocket("b").is_some() && e.for_http("b").is_some());
        assert!(e.for_websocket("c").is_none() && e.for_http("c").is_none());
        assert!(e.for_delivery("a").is_some() && e.for_delivery("c").is_some());
        assert!(e.is_http("b") && !e.is_http("a"));
        assert_eq!(
            e.names(),
            [
                ("a", EventKind::WebSocket),
                ("b", EventKind::Both),
                ("c", EventKind::Bus),
                ("d", EventKind::Safe)
            ]
        );
    }

    #[test]
    fn reserved_duplicate_and_empty_names_are_errors() {
        for name in ["close", "_x", "index", "new", "on_open", "_ack_", "id"] {
            let e: Events<T> = Events::auto_dispatch().ws(name, nothing);
            assert_eq!(
                e.check("T"),
                Err(RegisterError::ReservedEvent {
                    controller: "T".into(),
                    event: name.into()
                }),
                "{name}"
            );
            assert!(e.for_websocket(name).is_none());
        }
        let e: Events<T> = Events::auto_dispatch().ws("a", nothing).both("a", nothing);
        assert!(matches!(
            e.check("T"),
            Err(RegisterError::DuplicateEvent { .. })
        ));
        let e: Events<T> = Events::auto_dispatch().ws("", nothing);
        assert!(matches!(
            e.check("T"),
            Err(RegisterError::EmptyEventName { .. })
        ));
        // notify, register_as, subscribe and publish stay usable.
        let e: Events<T> = Events::auto_dispatch()
            .ws("notify", nothing)
            .ws("register_as", nothing)
            .ws("subscribe", nothing)
            .ws("publish", nothing);
        assert!(e.check("T").is_ok());
    }
}
