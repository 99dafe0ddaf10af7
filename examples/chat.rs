//! Chat: the page `examples/public/index.html` (served at `/`) talks to an auto-dispatch
//! controller at `/chat`.
//!
//! ```text
//! cargo run --release --example chat                       # http://127.0.0.1:3000/
//! PL_REDIS_URL=redis://127.0.0.1:6379 PORT=3001 cargo run --release --example chat   # a second server
//! ```
//!
//! Events (client → server), all JSON objects:
//! - `echo` (WebSocket and AJAJ): the message comes back unchanged.
//! - `whoami`: `{"event":"whoami","id":<this connection's UUID>}`.
//! - `chat {message}`: every other chat connection, on every server, gets
//!   `{"event":"chat","from":<UUID>,"message":...}`.
//! - `dm {to, message}`: connection `to` gets `{"event":"dm","from":<UUID>,"message":...}`; if
//!   its server is gone the sender gets an `err` event with status 404.
//! - `login {user}`: registers the connection as `user`, answers `{"event":"login","user":...}`,
//!   then every notification stored for `user` arrives.
//! - `notify {user, message}` (WebSocket and AJAJ): `user`'s live connections get
//!   `{"event":"notice","message":...}`; an offline user gets it at the next `login`.
//! - `here {to, user}`: presence — answers a `joined` event (`to` gets `{"event":"here",...}`).
//!
//! Server-side only: `notice`, `joined` (someone logged in) and `left` (someone closed).
//! There is no `unknown` handler: unknown events get the `err` 404 answer.

use plezi::prelude::*;

/// One chat connection.
#[derive(Default)]
struct Chat {
    /// The name given at `login`.
    user: Option<String>,
}

impl Chat {
    /// `echo`: the received object, unchanged.
    fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }

    /// `whoami`: this connection's UUID.
    fn whoami(&mut self, cx: &mut Ctx<'_>, _msg: Value) -> Value {
        json!({"event": "whoami", "id": cx.id()})
    }

    /// `chat`: from the client, tell every other chat connection; from the bus, show it.
    fn chat(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Option<Value>, SendError> {
        if cx.is_delivery() {
            return Ok(Some(msg));
        }
        let chat = json!({"event": "chat", "from": cx.id(), "message": msg["message"]});
        cx.broadcast("chat", chat)?;
        Ok(None)
    }

    /// `dm`: from the client, unicast to `to`; from the bus, show it.
    fn dm(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
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

    /// `login`: register as `user`; stored notifications follow the answer.
    fn login(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
        let Some(user) = msg["user"].as_str().filter(|u| !u.is_empty()) else {
            return Ok(Answer::error(400, "login needs a `user`", msg));
        };
        cx.register_as(user)?;
        cx.broadcast("joined", json!({"user": user, "from": cx.id()}))?;
        self.user = Some(user.to_owned());
        Ok(json!({"event": "login", "user": user}).into())
    }

    /// `notify`: a notice for `user`, now or at their next login.
    fn notify(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
        let Some(user) = msg["user"].as_str() else {
            return Ok(Answer::error(400, "notify needs a `user`", msg));
        };
        cx.notify(user, "notice", json!({"message": msg["message"]}))?;
        Ok(Answer::Nothing)
    }

    /// `here`: from the client, tell `to` who we are; from the bus, show it.
    fn here(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
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

    /// `notice`, `joined`, `left` (server-side only): show them.
    fn relay(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }
}

impl Controller for Chat {
    fn events() -> Events<Self> {
        events![
            both echo => Chat::echo,
            ws whoami => Chat::whoami,
            ws chat => Chat::chat,
            ws dm => Chat::dm,
            ws login => Chat::login,
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
        .route("/chat", Chat::default)?
        .run()
}
