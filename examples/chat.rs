//! Chat: the page `examples/public/index.html` (served at `/`) talks to an auto-dispatch
//! controller at `/chat`.
//!
//! ```text
//! cargo run --release --example chat                       # http://127.0.0.1:3000/
//! PL_REDIS_URL=redis://127.0.0.1:6379 PORT=3001 cargo run --release --example chat   # a second server
//! ```
//!
//! Who is who: `POST /login` (a form `user=NAME` or JSON `{"user": NAME}`) starts a session
//! (a new, signed session cookie) and answers `303` to `/`; a WebSocket opened with that cookie is
//! registered as that user in `on_open` and receives the notices stored for them. Without it the
//! connection is a guest: it can chat and notify, but nobody can notify it. `POST /logout` ends
//! the session. This is a demo: there is no password, anyone may log in as any name (the page
//! says so). A real application checks a password or a single sign-on answer in `Login::create`.
//!
//! Events (client → server), all JSON objects:
//! - `echo` (WebSocket and AJAJ): the message comes back unchanged.
//! - `whoami`: `{"event":"whoami","id":<this connection's UUID>,"user":<name or null>}`.
//! - `chat {message}`: every other chat connection, on every server, gets
//!   `{"event":"chat","from":<UUID>,"message":...}`.
//! - `dm {to, message}`: connection `to` gets `{"event":"dm","from":<UUID>,"message":...}`; if
//!   its server is gone the sender gets an `err` event with status 404.
//! - `notify {user, message}` (WebSocket and AJAJ by POST): `user`'s live connections get
//!   `{"event":"notice","message":...}`; an offline user gets it when they next connect logged in.
//! - `here {to}`: presence — a logged-in connection answers a `joined` event (`to` gets
//!   `{"event":"here","user":...,"from":...}`).
//!
//! Server-side only: `notice`, `joined` (a logged-in connection opened) and `left` (it closed).
//! Presence (`joined`, `left`) goes to every other WebSocket by multicast, outside the room's
//! history: it describes who is here now, and kept in the history a mass reconnect (a rolling
//! restart) would fill the room's window with one `joined` and one `left` per client, which every
//! reconnecting client would then recover.
//! There is no `login` event and no `unknown` handler: unknown events get the `err` 404 answer.
//!
//! The room keeps its last 1,000 messages or 5 minutes: a page that reconnects gets what it missed,
//! and says whether it did (`docs/protocol.md#recovery`; with Redis the history lives there, so
//! the page may come back on another process).
//!
//! Health checks for load balancers: `GET /healthz` (live: 200 while the process runs) and
//! `GET /readyz` (ready: 200, then 503 from the moment SIGTERM arrives; the process then drains:
//! see `docs/operations.md`).
//!
//! Metrics for Prometheus: `GET /metrics` (connections, messages, fan-outs, HTTP answers, the bus,
//! handler latencies; `docs/operations.md#metrics`). A real deployment keeps that path away from
//! the public (`docs/security.md#metrics`).

use plezi::prelude::*;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Longest user name accepted at `POST /login`, in characters.
const MAX_NAME_CHARS: usize = 40;

/// `POST /login`: a demo login without a password (see the module docs).
#[derive(Default)]
struct Login;

impl Controller for Login {
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let user = cx.params().get_str("user").unwrap_or_default().trim();
        if user.is_empty()
            || user.chars().count() > MAX_NAME_CHARS
            || user.chars().any(char::is_control)
        {
            return Some(Response::text(
                400,
                format!("a user name of 1 to {MAX_NAME_CHARS} characters, please\n"),
            ));
        }
        let user = user.to_owned();
        let session = match cx.session_mut() {
            Ok(session) => session,
            Err(e) => return Some(Response::text(500, format!("{e}\n"))),
        };
        session.renew(); // a new id at login: a planted cookie is worthless (session fixation)
        session.set("user", user);
        Some(Response::new(303).header("Location", "/"))
    }
}

/// `POST /logout`: the session ends (its data is forgotten, the cookie deleted).
#[derive(Default)]
struct Logout;

impl Controller for Logout {
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        if let Ok(session) = cx.session_mut() {
            session.destroy();
        }
        Some(Response::new(303).header("Location", "/"))
    }
}

// The events' payloads (client → server) and what the client receives (server → client). The
// page's types (`examples/public/chat-events.d.ts`) are generated from them by `cargo xtask codegen`
// (`chat --typescript PATH`): rename a field here and the page's type check fails.

/// `chat`: a line for everyone.
#[derive(Deserialize, TS)]
struct Say {
    message: String,
}

/// `dm`: a line for one connection (a `to` that is no connection UUID gets `err` 400).
#[derive(Deserialize, TS)]
struct Whisper {
    #[ts(type = "string")]
    to: ConnectionUuid,
    message: String,
}

/// `notify`: a notice for a user, now or when they next connect logged in.
#[derive(Deserialize, TS)]
struct NoticeFor {
    user: String,
    message: String,
}

/// `here`: tell connection `to` who we are.
#[derive(Deserialize, TS)]
struct HereTo {
    #[ts(type = "string")]
    to: ConnectionUuid,
}

/// A `chat` or `dm` line as its receivers get it.
#[derive(Serialize, Deserialize, TS)]
struct Line {
    /// The sender's connection UUID.
    from: String,
    message: String,
}

/// `whoami`'s reply.
#[derive(Serialize, TS)]
struct WhoAmI {
    /// This connection's UUID.
    id: String,
    /// The session's user; null for a guest.
    user: Option<String>,
}

/// `notice`: a notice left for this user.
#[derive(Serialize, Deserialize, TS)]
struct Notice {
    message: String,
}

/// `joined` and `here`: a logged-in connection and its user.
#[derive(Serialize, Deserialize, TS)]
struct Presence {
    user: String,
    from: String,
}

/// `left`: a logged-in connection closed.
#[derive(Serialize, Deserialize, TS)]
struct Gone {
    from: String,
}

/// One chat connection.
#[derive(Default)]
struct Chat {
    /// The session's user, if the upgrade request carried a session.
    user: Option<String>,
}

/// This connection's UUID as text (empty over HTTP, which these WebSocket events never see).
fn me(cx: &Ctx<'_>) -> String {
    cx.id().map(|id| id.to_string()).unwrap_or_default()
}

impl Chat {
    /// `echo`: the received object, unchanged.
    fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }

    /// `whoami`: this connection's UUID and user (null for a guest).
    fn whoami(&mut self, cx: &mut Ctx<'_>, _msg: Msg) -> Json<WhoAmI> {
        let user = self.user.clone();
        Json(WhoAmI { id: me(cx), user })
    }

    /// `chat`: from the client, tell every other chat connection; from the bus, show it (as it
    /// came: no copy and no encoding per receiver).
    fn chat(
        &mut self,
        cx: &mut Ctx<'_>,
        call: Call<Say, Line>,
    ) -> Result<Option<Relay<Line>>, SendError> {
        let message = match call {
            Call::Delivery(line) => return Ok(Some(line)),
            Call::Client(Say { message }) => message,
        };
        let line = Line {
            from: me(cx),
            message,
        };
        cx.broadcast("chat", json!(line))?;
        Ok(None)
    }

    /// `dm`: from the client, unicast to `to`; from the bus, show it.
    fn dm(
        &mut self,
        cx: &mut Ctx<'_>,
        call: Call<Whisper, Line>,
    ) -> Result<Option<Relay<Line>>, SendError> {
        let whisper = match call {
            Call::Delivery(line) => return Ok(Some(line)),
            Call::Client(whisper) => whisper,
        };
        let line = Line {
            from: me(cx),
            message: whisper.message,
        };
        cx.unicast(whisper.to, "dm", json!(line))?;
        Ok(None)
    }

    /// `notify`: a notice for `user`, now or when they next connect logged in. Open to every
    /// connection (guests included), as a message to an offline user is.
    fn notify(&mut self, cx: &mut Ctx<'_>, Json(n): Json<NoticeFor>) -> Result<(), SendError> {
        cx.notify(&n.user, "notice", json!(Notice { message: n.message }))
    }

    /// `here`: from the client, tell `to` who we are; from the bus, show it.
    fn here(
        &mut self,
        cx: &mut Ctx<'_>,
        call: Call<HereTo, Presence>,
    ) -> Result<Option<Relay<Presence>>, SendError> {
        let here = match call {
            Call::Delivery(presence) => return Ok(Some(presence)),
            Call::Client(here) => here,
        };
        if let Some(user) = &self.user {
            let presence = Presence {
                user: user.clone(),
                from: me(cx),
            };
            cx.unicast(here.to, "here", json!(presence))?;
        }
        Ok(None)
    }

    /// `notice`, `joined`, `left` (server-side only): show them. The message is shared by every
    /// receiver; returned unchanged, it is written from one frame encoded once for all of them.
    fn relay<T>(&mut self, _cx: &mut Ctx<'_>, msg: Relay<T>) -> Relay<T> {
        msg
    }
}

impl Controller for Chat {
    /// The room keeps its last 1,000 messages or 5 minutes, so a page that reconnects gets what
    /// it missed (`docs/protocol.md#recovery`; in Redis with the Redis bus).
    fn history() -> Option<HistoryLimits> {
        Some(HistoryLimits {
            max_messages: 1_000,
            max_age: std::time::Duration::from_secs(300),
        })
    }

    fn events() -> Events<Self> {
        events![
            both echo => Chat::echo,
            ws whoami => Chat::whoami,
            ws chat => Chat::chat,
            ws dm => Chat::dm,
            both notify => Chat::notify,
            ws here => Chat::here,
            bus notice => Chat::relay::<Notice>,
            bus joined => Chat::relay::<Presence>,
            bus left => Chat::relay::<Gone>,
        ]
    }

    /// A `dm` whose target's server is gone: `err` 404 to the sender.
    fn failed_unicast(
        &mut self,
        _cx: &mut Ctx<'_>,
        to: ConnectionUuid,
        payload: &Payload,
    ) -> Answer {
        match payload {
            Payload::Event { event, data } if event == "dm" => {
                Answer::not_found(json!({"event": "dm", "to": to, "message": data["message"]}))
            }
            _ => Answer::Nothing,
        }
    }

    /// A connection whose upgrade carried a session is registered as its user (stored notices
    /// follow) and announced; any other is a guest.
    fn on_open(&mut self, cx: &mut Ctx<'_>) {
        let Some(user) = cx.session().get_str("user").map(str::to_owned) else {
            return;
        };
        if let Err(e) = cx.register_as(&user) {
            log::warn!("chat: {user} not registered: {e}");
            return;
        }
        let _ = cx.multicast("joined", json!({"user": user, "from": cx.id()}));
        self.user = Some(user);
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>, _info: &CloseInfo) {
        if self.user.is_some() {
            let _ = cx.multicast("left", json!({"from": cx.id()}));
        }
    }
}

fn main() -> Result<(), plezi::Error> {
    App::new()
        .public_folder(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/public"
        ))
        .client("/client.js")?
        .health("/healthz", "/readyz")
        .metrics("/metrics")?
        .route("/login", Login::default)?
        .route("/logout", Logout::default)?
        .route("/chat", Chat::default)?
        .run_or_codegen() // `chat --typescript PATH`: the page's types (`cargo xtask codegen`)
}
