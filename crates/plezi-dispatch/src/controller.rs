//! The [`Controller`] trait: one type per resource, one instance per request or connection.

use std::time::Duration;

use plezi_messaging::{ConnectionUuid, DEFAULT_MAILBOX_LIFESPAN, HistoryLimits, Payload};
use plezi_server::{CloseInfo, Message, Response};
use serde_json::Value;

use crate::answer::Answer;
use crate::context::Ctx;
use crate::events::Events;

/// What `pre_connect` decides about a WebSocket upgrade.
///
/// ```
/// use plezi_dispatch::{Controller, Ctx, PreConnect};
/// #[derive(Default)]
/// struct Chat;
/// impl Controller for Chat {
///     fn pre_connect(&mut self, cx: &mut Ctx<'_>) -> PreConnect {
///         if cx.session().get_str("user").is_some() {
///             PreConnect::Accept
///         } else {
///             PreConnect::unauthorized()
///         }
///     }
/// }
/// ```
#[derive(Debug)]
pub enum PreConnect {
    /// Open the connection.
    Accept,
    /// Not this route: routing falls through to the next one (404 at the end).
    Decline,
    /// Answer the upgrade request with this response (e.g. 401 or 403) and open nothing.
    Refuse(Response),
}

impl PreConnect {
    /// `401 Unauthorized` (the request carries no valid credentials: log in first).
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn pre_connect(&mut self, cx: &mut Ctx<'_>) -> PreConnect {
    ///         if cx.session().exists() { PreConnect::Accept } else { PreConnect::unauthorized() }
    ///     }
    /// }
    /// ```
    pub fn unauthorized() -> PreConnect {
        PreConnect::refuse(401, "log in first\n")
    }

    /// `403 Forbidden` (the credentials are valid but not allowed here).
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Admin;
    /// impl Controller for Admin {
    ///     fn pre_connect(&mut self, cx: &mut Ctx<'_>) -> PreConnect {
    ///         match cx.session().get_str("role") {
    ///             Some("admin") => PreConnect::Accept,
    ///             Some(_) => PreConnect::forbidden(),
    ///             None => PreConnect::unauthorized(),
    ///         }
    ///     }
    /// }
    /// ```
    pub fn forbidden() -> PreConnect {
        PreConnect::refuse(403, "forbidden\n")
    }

    /// Any status with a plain-text body.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn pre_connect(&mut self, _cx: &mut Ctx<'_>) -> PreConnect {
    ///         PreConnect::refuse(503, "the chat is closed for maintenance\n")
    ///     }
    /// }
    /// ```
    pub fn refuse(status: u16, text: &str) -> PreConnect {
        PreConnect::Refuse(
            Response::text(status, text.to_owned()).header("Cache-Control", "no-store"),
        )
    }
}

/// A controller: HTTP actions, WebSocket hooks and an event table. Every method has a default,
/// so a controller implements only what it uses.
///
/// A fresh instance is built by the route's factory (`Chat::default`, a closure) for every HTTP
/// request and for every WebSocket connection; a connection's instance lives as long as the
/// connection, and its hooks never run concurrently (`&mut self`). `on_close` runs exactly once,
/// last.
///
/// - **HTTP** (REST, `docs/protocol.md#rest`): `index`, `show`, `new`, `create`, `update`, `delete` return
///   `Some(response)` to answer or `None` to decline (routing falls through to the next route,
///   ending in 404). The table: `GET` → `index` (no `id`), `new` (`id` = `new`) or `show`; `POST`
///   → `create`; `PUT`/`PATCH` → `update` (`create` without `id`); `DELETE` → `delete`; `_method`
///   overrides a `POST`. A request whose `id` names an HTTP-enabled event runs that event
///   instead (AJAJ).
/// - **WebSocket**: [`Controller::events`] decides the [`Mode`](crate::Mode): none (the default:
///   upgrades fall through), JSON auto-dispatch, or raw (`on_message` gets every message).
///   `pre_connect` may decline an upgrade (routing falls through) or refuse it (401/403).
///   Server-side deliveries pass [`Controller::accept_delivery`] first.
/// - **Server-side deliveries** (broadcast, multicast, unicast, channels, identities) run the
///   handler of the event's name with its data; its answer is written to this connection's
///   client. With no such handler the delivery is ignored.
///
/// ```
/// use plezi_dispatch::{events, Controller, Ctx, Events, SendError};
/// use plezi_server::Response;
/// use serde_json::{json, Value};
///
/// #[derive(Default)]
/// struct Room;
///
/// impl Room {
///     fn say(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Option<Value>, SendError> {
///         if cx.is_delivery() {
///             return Ok(Some(msg)); // another member said it: show it
///         }
///         cx.broadcast("say", json!({"from": cx.id(), "text": msg["text"]}))?;
///         Ok(None)
///     }
/// }
///
/// impl Controller for Room {
///     fn events() -> Events<Self> {
///         events![ws say => Room::say]
///     }
///     fn index(&mut self, _cx: &mut Ctx<'_>) -> Option<Response> {
///         Some(Response::html(200, "<h1>The room</h1>"))
///     }
/// }
/// ```
#[allow(unused_variables, reason = "default methods document their arguments")]
pub trait Controller: Send + Sized + 'static {
    /// The event table and WebSocket mode; read once, when the route is added. Default: no
    /// events, HTTP only.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Chat {
    ///     fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
    ///         msg
    ///     }
    /// }
    /// impl Controller for Chat {
    ///     fn events() -> Events<Self> {
    ///         events![both echo => Chat::echo] // auto-dispatch over WebSocket, and AJAJ by POST
    ///     }
    /// }
    /// ```
    fn events() -> Events<Self> {
        Events::none()
    }

    /// The controller type's name on the bus (broadcasts go to every connection of this name on
    /// every server). Default: the Rust type name. Servers that should share broadcasts must
    /// agree on it.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     // Servers built from different code versions still share broadcasts.
    ///     fn bus_name() -> String {
    ///         "chat".to_owned()
    ///     }
    /// }
    /// ```
    fn bus_name() -> String {
        std::any::type_name::<Self>().to_owned()
    }

    /// How long an identity's mailbox outlives its last access, for identities registered from
    /// this controller type (upstream `message_store_lifespan`). Default: 21 days.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// use std::time::Duration;
    ///
    /// impl Controller for Chat {
    ///     fn message_store_lifespan() -> Duration {
    ///         Duration::from_secs(7 * 24 * 3600) // a week
    ///     }
    /// }
    /// ```
    fn message_store_lifespan() -> Duration {
        DEFAULT_MAILBOX_LIFESPAN
    }

    /// Keep the last broadcasts to this controller type, so a client that reconnects recovers
    /// what it missed (`docs/protocol.md#recovery`; `PleziClient` does it by itself). Default:
    /// `None`, no history (nothing kept, nothing paid).
    ///
    /// ```
    /// # use plezi_dispatch::Controller;
    /// use plezi_messaging::HistoryLimits;
    /// use std::time::Duration;
    /// #[derive(Default)]
    /// struct Room;
    /// impl Controller for Room {
    ///     fn history() -> Option<HistoryLimits> {
    ///         Some(HistoryLimits { max_messages: 1_000, max_age: Duration::from_secs(300) })
    ///     }
    /// }
    /// ```
    fn history() -> Option<HistoryLimits> {
        None
    }

    /// A WebSocket upgrade request for this route (the request, params, cookies and session
    /// are in `cx`). [`PreConnect::Accept`] opens the connection, [`PreConnect::Decline`] lets
    /// routing fall through to the next route (404 at the end), [`PreConnect::Refuse`] answers
    /// with its response (`PreConnect::unauthorized()`: 401, `PreConnect::forbidden()`: 403).
    /// Default: accept.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn pre_connect(&mut self, cx: &mut Ctx<'_>) -> PreConnect {
    ///         match cx.params().get_str("room") {
    ///             Some(_) => PreConnect::Accept,
    ///             None => PreConnect::refuse(400, "name a room: /chat?room=lobby\n"),
    ///         }
    ///     }
    /// }
    /// ```
    fn pre_connect(&mut self, cx: &mut Ctx<'_>) -> PreConnect {
        PreConnect::Accept
    }

    /// Whether this connection takes a server-side delivery (broadcast, multicast, unicast,
    /// channel, identity or mailbox message) of `event`; `cx.sender()` is the sending
    /// connection (if any) and `cx.delivery_target()` how it was addressed. Return `false` to
    /// drop it: no handler runs, nothing is written (a mailbox message counts as delivered).
    /// Connection UUIDs are addresses, not secrets: anyone who learned one can unicast to it.
    /// Raw fast-path payloads (`broadcast_raw`, `multicast_raw`) do not pass here. Default:
    /// accept.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn accept_delivery(&mut self, cx: &mut Ctx<'_>, event: &str) -> bool {
    ///         // Unicasts are addressed by UUID: take private messages only from the same server.
    ///         event != "private" || cx.sender().is_some_and(|s| s.server() == cx.bus().server_id())
    ///     }
    /// }
    /// ```
    fn accept_delivery(&mut self, cx: &mut Ctx<'_>, event: &str) -> bool {
        true
    }

    /// The connection is open (`cx.id()` is its UUID).
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    ///         let _ = cx.write_json(&json!({"event": "welcome", "id": cx.id()}));
    ///     }
    /// }
    /// ```
    fn on_open(&mut self, cx: &mut Ctx<'_>) {}

    /// A message from the client of a raw controller ([`Events::raw`]); never called in
    /// auto-dispatch mode.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// use plezi_server::Message;
    ///
    /// impl Controller for Chat {
    ///     fn events() -> Events<Self> {
    ///         Events::raw() // on_message gets every frame
    ///     }
    ///     fn on_message(&mut self, cx: &mut Ctx<'_>, message: Message<'_>) {
    ///         if let Message::Text(text) = message {
    ///             let _ = cx.write(text); // echo
    ///         }
    ///     }
    /// }
    /// ```
    fn on_message(&mut self, cx: &mut Ctx<'_>, message: Message<'_>) {}

    /// The connection's outbound queue became empty after being non-empty.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn on_drained(&mut self, cx: &mut Ctx<'_>) {
    ///         let _ = cx.write("ready for more"); // a slow client caught up
    ///     }
    /// }
    /// ```
    fn on_drained(&mut self, cx: &mut Ctx<'_>) {}

    /// The server is stopping; runs before the server closes the connection (1001).
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
    ///         let _ = cx.write_json(&json!({"event": "restarting"}));
    ///     }
    /// }
    /// ```
    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {}

    /// The connection is gone (writing is no longer possible; the bus still is). Runs exactly
    /// once, last. Identity registrations and channel subscriptions end right after it.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// use plezi_server::CloseInfo;
    ///
    /// impl Controller for Chat {
    ///     fn on_close(&mut self, cx: &mut Ctx<'_>, info: &CloseInfo) {
    ///         let _ = cx.broadcast("left", json!({"id": cx.id(), "code": info.code}));
    ///     }
    /// }
    /// ```
    fn on_close(&mut self, cx: &mut Ctx<'_>, info: &CloseInfo) {}

    /// An auto-dispatch message with an unknown, missing or reserved event name (over WebSocket),
    /// or an AJAJ request naming no HTTP-enabled event that the REST action declined. Its answer
    /// is written back. Default: the `err` 404 answer.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// impl Controller for Chat {
    ///     fn events() -> Events<Self> {
    ///         Events::auto_dispatch()
    ///     }
    ///     fn unknown(&mut self, _cx: &mut Ctx<'_>, message: Value) -> Answer {
    ///         Answer::error(400, "this chat knows `say` and `join`", message)
    ///     }
    /// }
    /// ```
    fn unknown(&mut self, cx: &mut Ctx<'_>, message: Value) -> Answer {
        Answer::not_found(message)
    }

    /// A unicast this connection sent reached no server (the target's server is gone). The
    /// answer is written to this connection's client. Default: nothing.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Chat;
    /// use plezi_messaging::{ConnectionUuid, Payload};
    ///
    /// impl Controller for Chat {
    ///     fn failed_unicast(&mut self, _cx: &mut Ctx<'_>, to: ConnectionUuid, _p: &Payload) -> Answer {
    ///         Answer::error(404, format!("{to} is gone"), Value::Null)
    ///     }
    /// }
    /// ```
    fn failed_unicast(
        &mut self,
        cx: &mut Ctx<'_>,
        target: ConnectionUuid,
        payload: &Payload,
    ) -> Answer {
        Answer::Nothing
    }

    /// `GET` without an `id`: the list.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Items;
    /// impl Controller for Items {
    ///     fn index(&mut self, _cx: &mut Ctx<'_>) -> Option<Response> {
    ///         Some(Response::json(200, r#"[{"id":1}]"#))
    ///     }
    /// }
    /// ```
    fn index(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        None
    }

    /// `GET` with an `id` (`cx.params().get_str("id")`): one item.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Items;
    /// impl Controller for Items {
    ///     fn show(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
    ///         let id: u64 = cx.params().get_str("id")?.parse().ok()?; // not a number: next route
    ///         Some(Response::json(200, json!({"id": id}).to_string()))
    ///     }
    /// }
    /// ```
    fn show(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        None
    }

    /// `GET` with `id` = `new`: the form for a new item.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Items;
    /// impl Controller for Items {
    ///     fn new(&mut self, _cx: &mut Ctx<'_>) -> Option<Response> {
    ///         Some(Response::html(200, r#"<form method="post" action="/items">...</form>"#))
    ///     }
    /// }
    /// ```
    #[allow(
        clippy::wrong_self_convention,
        clippy::new_ret_no_self,
        reason = "the REST action named `new` (docs/protocol.md#rest)"
    )]
    fn new(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        None
    }

    /// `POST` (or `PUT`/`PATCH` without an `id`): make an item.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Items;
    /// impl Controller for Items {
    ///     fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
    ///         let name = cx.params().get_str("name")?;
    ///         // ... store it ...
    ///         Some(Response::new(201).header("Location", &format!("/items/{name}")))
    ///     }
    /// }
    /// ```
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        None
    }

    /// `PUT`/`PATCH` with an `id`: change an item.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Items;
    /// impl Controller for Items {
    ///     fn update(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
    ///         let id = cx.params().get_str("id")?;
    ///         Some(Response::text(200, format!("updated {id}\n")))
    ///     }
    /// }
    /// ```
    fn update(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        None
    }

    /// `DELETE`: remove an item.
    ///
    /// ```
    /// # use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, events};
    /// # use plezi_server::Response;
    /// # use serde_json::{json, Value};
    /// #[derive(Default)]
    /// struct Items;
    /// impl Controller for Items {
    ///     fn delete(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
    ///         let _id = cx.params().get_str("id")?;
    ///         Some(Response::new(204))
    ///     }
    /// }
    /// ```
    fn delete(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        None
    }
}
