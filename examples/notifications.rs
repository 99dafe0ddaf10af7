//! Notifications: identity mailboxes. Log in as a user on the page (`/notifications.html`), send
//! messages to other users; users who are offline get theirs when they next come logged in.
//!
//! ```text
//! cargo run --example notifications        # http://127.0.0.1:3000/notifications.html
//! ```
//! `POST /login` (form `user=NAME` or JSON `{"user": NAME}`; a demo without a password) starts a
//! session and answers `303` to the page; `POST /logout` ends it. A WebSocket to `/inbox` opened
//! with the session cookie is registered as that user in `on_open` (stored messages follow);
//! without it the connection is a guest that can send but receives nothing.
//!
//! Events on `/inbox`:
//! - `whoami`: `{"event":"whoami","user":<name or null>}`.
//! - `send {to, message}` (WebSocket and AJAJ by POST): stores `{"event":"message","from":...,
//!   "message":...,"at":<unix seconds>}` in `to`'s mailbox and delivers it to every live
//!   connection of `to`, on every server; answers `{"event":"sent","to":...}`. The sender is the
//!   session's user (`guest` without one), never a name the client claims.
//! - `message` (server side only): written to the client.
//!
//! Without Redis the mailboxes live in this process's memory (lost when it exits); with
//! `PL_REDIS_URL` they live in Redis and every server sees them. Mailboxes of this controller type
//! expire after 7 days without access.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plezi::prelude::*;

/// The page users come back to after logging in or out.
const PAGE: &str = "/notifications.html";

/// `POST /login`: a demo login without a password; the session remembers `user`.
#[derive(Default)]
struct Login;

impl Controller for Login {
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let user = cx.params().get_str("user").unwrap_or_default().trim();
        if user.is_empty() || user.chars().count() > 40 || user.chars().any(char::is_control) {
            return Some(Response::text(
                400,
                "a user name of 1 to 40 characters, please\n",
            ));
        }
        let user = user.to_owned();
        let session = cx.session_mut().ok()?;
        session.renew(); // a new session id at login (session fixation)
        session.set("user", user);
        Some(Response::new(303).header("Location", PAGE))
    }
}

/// `POST /logout`: the session ends.
#[derive(Default)]
struct Logout;

impl Controller for Logout {
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        if let Ok(session) = cx.session_mut() {
            session.destroy();
        }
        Some(Response::new(303).header("Location", PAGE))
    }
}

/// One inbox connection.
#[derive(Default)]
struct Inbox {
    /// The session's user; `None` for a guest.
    user: Option<String>,
}

impl Inbox {
    fn whoami(&mut self, _cx: &mut Ctx<'_>, _msg: Value) -> Value {
        json!({"event": "whoami", "user": self.user})
    }

    fn send(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
        let (Some(to), Some(text)) = (msg["to"].as_str(), msg["message"].as_str()) else {
            return Ok(Answer::error(400, "send needs `to` and `message`", msg));
        };
        // Over WebSocket the connection's user; over AJAJ the request's session.
        let from = self
            .user
            .clone()
            .or_else(|| cx.session().get_str("user").map(str::to_owned))
            .unwrap_or_else(|| "guest".to_owned());
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
            ws whoami => Inbox::whoami,
            both send => Inbox::send,
            bus message => Inbox::message,
        ]
    }

    fn message_store_lifespan() -> Duration {
        Duration::from_secs(7 * 24 * 3600)
    }

    /// The session's user is registered: stored messages arrive now.
    fn on_open(&mut self, cx: &mut Ctx<'_>) {
        let Some(user) = cx.session().get_str("user").map(str::to_owned) else {
            return;
        };
        match cx.register_as(&user) {
            Ok(()) => self.user = Some(user),
            Err(e) => log::warn!("notifications: {user} not registered: {e}"),
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
        .route("/login", Login::default)?
        .route("/logout", Logout::default)?
        .route("/inbox", Inbox::default)?
        .run()
}
