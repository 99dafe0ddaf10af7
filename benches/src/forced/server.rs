//! The bench server of `plezi-load forced`: one room with a history, and identity notifications.
//!
//! Route `/room` (JSON auto-dispatch). A connection opened with `?user=NAME` is registered as `NAME`
//! (notifications to `NAME` reach it, or wait in its mailbox while it is away); without `user` it is
//! anonymous (the load's sender and notifier).
//! - `say {n}`: every other room connection gets `{"event":"say","n":n,"_pos_":...}` (the room keeps
//!   the default history, 1,000 messages or 5 minutes; deliveries are relayed unchanged, so they keep
//!   their position).
//! - `notify {user, k}`: `user` gets `{"event":"notice","k":k}` (no rate limit: the load notifies at a
//!   steady rate from one connection).
//! - `echo`: the message comes back (the client's "I am registered" check).

use plezi_dispatch::{Answer, Controller, Ctx, Dispatcher, Events, Routes, SendError, events};
use plezi_messaging::{Bus, BusConfig, HistoryLimits};
use plezi_server::Server;
use serde_json::{Value, json};

/// A room connection; `HISTORY` false keeps no history (the tests' proof that the load sees losses).
#[derive(Default)]
pub struct Room<const HISTORY: bool>;

impl<const HISTORY: bool> Room<HISTORY> {
    fn say(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Option<Value>, SendError> {
        if cx.is_delivery() {
            return Ok(Some(msg));
        }
        cx.broadcast("say", json!({"event": "say", "n": msg["n"]}))?;
        Ok(None)
    }

    fn notify(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Answer, SendError> {
        let Some(user) = msg["user"].as_str() else {
            return Ok(Answer::error(400, "notify needs a `user`", msg));
        };
        cx.notify(user, "notice", json!({"event": "notice", "k": msg["k"]}))?;
        Ok(Answer::Nothing)
    }

    fn relay(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }
}

impl<const HISTORY: bool> Controller for Room<HISTORY> {
    fn events() -> Events<Self> {
        events![
            ws say => Self::say,
            ws notify => Self::notify,
            ws echo => Self::relay,
            bus notice => Self::relay,
        ]
    }

    fn history() -> Option<HistoryLimits> {
        HISTORY.then(HistoryLimits::default)
    }

    fn on_open(&mut self, cx: &mut Ctx<'_>) {
        let Some(user) = cx.params().get_str("user").map(str::to_owned) else {
            return;
        };
        if let Err(e) = cx.register_as(&user) {
            eprintln!("plezi-load forced-server: {user} not registered: {e}");
        }
    }
}

/// Builds the room server on `addr` with `threads` event loops (in-process bus); returns its
/// `ws://…/room` URL and the server (to `run` in the foreground or `spawn`). `history` false: a room
/// without history (nothing can be recovered).
pub fn build(addr: &str, threads: usize, history: bool) -> Result<(String, Server), String> {
    let mut routes = Routes::new();
    let added = if history {
        routes.controller("/room", Room::<true>::default)
    } else {
        routes.controller("/room", Room::<false>::default)
    };
    added.map_err(|e| format!("the /room route: {e}"))?;
    let config = BusConfig {
        notify_rate: None,
        ..BusConfig::default()
    };
    let app = Dispatcher::new(routes, Bus::in_process(config));
    let server = Server::builder()
        .bind(addr)
        .threads(threads)
        .service(app.service())
        .build()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    app.attach(server.handle());
    let url = format!("ws://{}/room", server.local_addr());
    Ok((url, server))
}
