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
//! There is no `login` event and no `unknown` handler: unknown events get the `err` 404 answer.
//!
//! The room keeps its last 1,000 messages or 5 minutes: a page that reconnects gets what it missed,
//! and says whether it did (`docs/protocol.md#recovery`; with the in-process bus for now).
//!
//! Health checks for load balancers: `GET /healthz` (live: 200 while the process runs) and
//! `GET /readyz` (ready: 200, then 503 from the moment SIGTERM arrives; the process then drains:
//! see `docs/operations.md`).
//!
//! Metrics for Prometheus: `GET /metrics` (connections, messages, fan-outs, HTTP answers, the bus,
//! handler latencies; `docs/operations.md#metrics`). A real deployment keeps that path away from
//! the public (`docs/security.md#metrics`).

use plezi::prelude::*;

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

/// One chat connection.
#[derive(Default)]
struct Chat {
    /// The session's user, if the upgrade request carried a session.
    user: Option<String>,
}

impl Chat {
    /// `echo`: the received object, unchanged.
    fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }

    /// `whoami`: this connection's UUID and user (null for a guest).
    fn whoami(&mut self, cx: &mut Ctx<'_>, _msg: Value) -> Value {
        json!({"event": "whoami", "id": cx.id(), "user": self.user})
    }

    /// `chat`: from the client, tell every other chat connection; from the bus, show it (as it
    /// came: no copy and no encoding per receiver).
    fn chat(&mut self, cx: &mut Ctx<'_>, msg: Msg) -> Result<Option<Msg>, SendError> {
        if cx.is_delivery() {
            return Ok(Some(msg));
        }
        let chat = json!({"event": "chat", "from": cx.id(), "message": msg["message"]});
        cx.broadcast("chat", chat)?;
        Ok(None)
    }

    /// `dm`: from the client, unicast to `to`; from the bus, show it.
    fn dm(&mut self, cx: &mut Ctx<'_>, msg: Msg) -> Result<Answer, SendError> {
        if cx.is_delivery() {
            return Ok(msg.into());
        }
        let Some(to) = msg["to"].as_str().and_then(|to| to.parse().ok()) else {
            return Ok(Answer::error(400, "`to` must be a connection UUID", msg));
        };
        let dm = json!({"event": "dm", "from": cx.id(), "message": msg["message"]});
        cx.unicast(to, "dm", dm)?;
        Ok(Answer::Nothing)
    }

    /// `notify`: a notice for `user`, now or when they next connect logged in. Open to every
    /// connection (guests included), as a message to an offline user is.
    fn notify(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
        let Some(user) = msg["user"].as_str() else {
            return Ok(Answer::error(400, "notify needs a `user`", msg));
        };
        cx.notify(user, "notice", json!({"message": msg["message"]}))?;
        Ok(Answer::Nothing)
    }

    /// `here`: from the client, tell `to` who we are; from the bus, show it.
    fn here(&mut self, cx: &mut Ctx<'_>, msg: Msg) -> Result<Answer, SendError> {
        if cx.is_delivery() {
            return Ok(msg.into());
        }
        if let (Some(to), Some(user)) =
            (msg["to"].as_str().and_then(|t| t.parse().ok()), &self.user)
        {
            cx.unicast(to, "here", json!({"user": user, "from": cx.id()}))?;
        }
        Ok(Answer::Nothing)
    }

    /// `notice`, `joined`, `left` (server-side only): show them. The message is shared by every
    /// receiver; returned unchanged, it is written from one frame encoded once for all of them.
    fn relay(&mut self, _cx: &mut Ctx<'_>, msg: Msg) -> Msg {
        msg
    }
}

impl Controller for Chat {
    /// The room keeps its last 1,000 messages or 5 minutes, so a page that reconnects gets what
    /// it missed (`docs/protocol.md#recovery`; with the in-process bus for now).
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
            bus notice => Chat::relay,
            bus joined => Chat::relay,
            bus left => Chat::relay,
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
        let _ = cx.broadcast("joined", json!({"user": user, "from": cx.id()}));
        self.user = Some(user);
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>, _info: &CloseInfo) {
        if self.user.is_some() {
            let _ = cx.broadcast("left", json!({"from": cx.id()}));
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
        .run()
}
