//! Notifications: identity mailboxes. Log in as a user on the page (`/notifications.html`), send
//! messages to other users; users who are offline get theirs at their next log in.
//!
//! ```text
//! cargo run --example notifications        # http://127.0.0.1:3000/notifications.html
//! ```
//! Events on `/inbox`:
//! - `login {user}` (WebSocket): registers the connection as `user`; answers
//!   `{"event":"login","user":...}`, then stored messages arrive as `message` events.
//! - `send {to, message}` (WebSocket and AJAJ): stores `{"event":"message","from":...,"message":...,
//!   "at":<unix seconds>}` in `to`'s mailbox and delivers it to every live connection of `to`, on
//!   every server; answers `{"event":"sent","to":...}`. Over AJAJ the sender is the `from` param.
//! - `message` (server side only): written to the client.
//!
//! Without Redis the mailboxes live in this process's memory (lost when it exits); with
//! `PL_REDIS_URL` they live in Redis and every server sees them. Mailboxes of this controller type
//! expire after 7 days without access.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plezi::prelude::*;

/// One inbox connection.
#[derive(Default)]
struct Inbox {
    user: Option<String>,
}

impl Inbox {
    fn login(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
        let Some(user) = msg["user"]
            .as_str()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(Answer::error(400, "login needs a `user`", msg));
        };
        if let Some(old) = self.user.take() {
            cx.unregister(&old)?;
        }
        cx.register_as(user)?;
        self.user = Some(user.to_owned());
        Ok(json!({"event": "login", "user": user}).into())
    }

    fn send(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
        let (Some(to), Some(text)) = (msg["to"].as_str(), msg["message"].as_str()) else {
            return Ok(Answer::error(400, "send needs `to` and `message`", msg));
        };
        let from = match (&self.user, msg["from"].as_str()) {
            (Some(user), _) => user.clone(),
            (None, Some(from)) => from.to_owned(),
            (None, None) => "anonymous".to_owned(),
        };
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        cx.notify(
            to,
            "message",
            json!({"from": from, "message": text, "at": at}),
        )?;
        Ok(json!({"event": "sent", "to": to}).into())
    }

    fn message(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }
}

impl Controller for Inbox {
    fn events() -> Events<Self> {
        events![
            ws login => Inbox::login,
            both send => Inbox::send,
            bus message => Inbox::message,
        ]
    }

    fn message_store_lifespan() -> Duration {
        Duration::from_secs(7 * 24 * 3600)
    }
}

fn main() -> Result<(), plezi::Error> {
    App::new()
        .public_folder(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/public"
        ))
        .client("/client.js")?
        .route("/inbox", Inbox::default)?
        .run()
}
