//! The recovery tests' controller: a room whose broadcasts keep a history, and the helpers that
//! publish to it and read what a client got.

use std::time::Duration;

use plezi_dispatch::{Controller, Ctx, Events, Routes, SendError, events};
use plezi_messaging::{Bus, HistoryLimits, Message, Payload, Target};
use plezi_test_support::http::encode_query;
use plezi_test_support::ws::Ws;
use serde_json::{Value, json};

/// A room: relays `said` deliveries, echoes, follows channels. Its broadcasts keep 50 messages
/// for a minute.
#[derive(Default)]
pub struct Room;

impl Room {
    fn said(&mut self, cx: &mut Ctx<'_>, m: Value) -> Option<Value> {
        cx.is_delivery().then_some(m)
    }
    fn echo(&mut self, _cx: &mut Ctx<'_>, m: Value) -> Value {
        m
    }
    fn follow(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<Value, SendError> {
        cx.subscribe(m["channel"].as_str().unwrap_or_default())?;
        Ok(json!({"event": "following"}))
    }
}

impl Controller for Room {
    fn bus_name() -> String {
        "room".to_owned()
    }
    fn history() -> Option<HistoryLimits> {
        Some(HistoryLimits {
            max_messages: 50,
            max_age: Duration::from_secs(60),
        })
    }
    fn events() -> Events<Self> {
        events![
            bus said => Room::said,
            ws echo => Room::echo,
            ws follow => Room::follow,
        ]
    }
}

/// `/room` and the channel `news`, whose history keeps the default limits.
pub fn routes() -> Routes {
    let mut routes = Routes::new();
    routes.controller("/room", Room::default).expect("route");
    routes.channel_history("news", HistoryLimits::default());
    routes
}

/// Publishes `said` `{"n": n}` to `target`.
pub fn say(bus: &Bus, target: Target, n: u64) {
    bus.publish(Message::new(
        target,
        Payload::event("said", json!({"n": n})),
    ))
    .expect("published");
}

/// The room's broadcasts.
pub fn room() -> Target {
    Target::Broadcast {
        controller: "room".into(),
    }
}

/// The next `said` message: (n, its position).
pub fn said(ws: &mut Ws) -> (u64, Value) {
    let m = ws.json();
    assert_eq!(m["event"], "said", "{m}");
    (m["n"].as_u64().expect("n"), m["_pos_"].clone())
}

/// The path of a reconnect naming `positions`.
pub fn recover_path(positions: &[&Value]) -> String {
    let list = Value::Array(positions.iter().map(|p| (*p).clone()).collect()).to_string();
    format!("/room?_recover_={}", encode_query(&list))
}
