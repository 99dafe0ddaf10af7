//! Controllers the socket tests share.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use plezi_dispatch::SetCookie;
use plezi_dispatch::{Answer, Controller, Ctx, Events, PreConnect, Routes, SendError, events};
use plezi_messaging::{ConnectionUuid, Payload};
use plezi_server::{CloseInfo, Message, Response};
use serde_json::{Value, json};

/// `Proto` on `/proto`, `Unknowing` on `/unknowing`, `Raw` on `/raw`: the routes the socket tests
/// start from.
pub fn proto_routes() -> Routes {
    let mut routes = Routes::new();
    routes
        .controller("/proto", Proto::default)
        .expect("the /proto route")
        .controller("/unknowing", Unknowing::default)
        .expect("the /unknowing route")
        .controller("/raw", Raw::default)
        .expect("the /raw route");
    routes
}

/// An auto-dispatch controller exercising every communication call.
#[derive(Default)]
pub struct Proto;

/// How many `Proto` connections closed (on_close ran).
pub static PROTO_CLOSED: AtomicUsize = AtomicUsize::new(0);

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

impl Proto {
    fn echo(&mut self, _: &mut Ctx<'_>, m: Value) -> Value {
        m
    }
    fn whoami(&mut self, cx: &mut Ctx<'_>, _: Value) -> Value {
        json!({"event": "whoami", "id": cx.id()})
    }
    fn text(&mut self, _: &mut Ctx<'_>, _: Value) -> &'static str {
        "plain text, not JSON"
    }
    fn nothing(&mut self, _: &mut Ctx<'_>, _: Value) {}
    /// Describes where the call came from.
    fn source(&mut self, cx: &mut Ctx<'_>, _: Value) -> Value {
        json!({"event": "source", "source": format!("{:?}", cx.source()), "sender": cx.sender(),
               "id": cx.id(), "params": cx.params().as_map()})
    }
    /// From a client: broadcast `data` as event `told`; receivers show what they got.
    fn tell(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<(), SendError> {
        cx.broadcast("told", m["data"].clone())
    }
    fn told(&mut self, cx: &mut Ctx<'_>, m: Value) -> Value {
        json!({"event": "told", "got": m, "from": cx.sender()})
    }
    fn shout(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<(), SendError> {
        cx.multicast("heard", m["data"].clone())
    }
    fn heard(&mut self, _: &mut Ctx<'_>, m: Value) -> Value {
        json!({"event": "heard", "got": m})
    }
    fn poke(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<(), SendError> {
        let to: ConnectionUuid = s(&m, "to").parse()?;
        cx.unicast(to, "poked", m["data"].clone())
    }
    fn poked(&mut self, cx: &mut Ctx<'_>, m: Value) -> Value {
        json!({"event": "poked", "got": m, "from": cx.sender()})
    }
    /// Registers this connection as `user` (the test controller trusts its clients; an
    /// application takes the identity from the session, see tests/sessions.rs).
    fn register(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<Value, SendError> {
        cx.register_as(&s(&m, "user"))?;
        Ok(json!({"event": "registered", "user": m["user"]}))
    }
    fn notify(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<(), SendError> {
        cx.notify(&s(&m, "user"), "notice", m["data"].clone())
    }
    fn notice(&mut self, _: &mut Ctx<'_>, m: Value) -> Value {
        m
    }
    fn join(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<Value, SendError> {
        cx.subscribe(&s(&m, "channel"))?;
        Ok(json!({"event": "joined", "channel": m["channel"]}))
    }
    fn say(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<(), SendError> {
        cx.publish(&s(&m, "channel"), "news", m["data"].clone())
    }
    fn news(&mut self, cx: &mut Ctx<'_>, m: Value) -> Value {
        json!({"event": "news", "got": m, "target": format!("{:?}", cx.delivery_target())})
    }
    fn raw_all(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<(), SendError> {
        cx.broadcast_raw(&s(&m, "text"))
    }
    fn raw_everyone(&mut self, cx: &mut Ctx<'_>, m: Value) -> Result<(), SendError> {
        cx.multicast_raw(&s(&m, "text"))
    }
    fn bye(&mut self, cx: &mut Ctx<'_>, _: Value) {
        cx.close_with(4000, "bye");
    }
    fn status(&mut self, _: &mut Ctx<'_>, m: Value) -> Answer {
        Answer::error(418, "teapot", m)
    }
}

impl Controller for Proto {
    fn events() -> Events<Self> {
        events![
            both echo => Proto::echo,
            safe peek => Proto::echo,
            ws whoami => Proto::whoami,
            both text => Proto::text,
            both nothing => Proto::nothing,
            both source => Proto::source,
            ws tell => Proto::tell,
            ws told => Proto::told,
            ws shout => Proto::shout,
            bus heard => Proto::heard,
            ws poke => Proto::poke,
            bus poked => Proto::poked,
            ws register => Proto::register,
            both notify => Proto::notify,
            bus notice => Proto::notice,
            ws join => Proto::join,
            ws say => Proto::say,
            bus news => Proto::news,
            ws raw_all => Proto::raw_all,
            ws raw_everyone => Proto::raw_everyone,
            ws bye => Proto::bye,
            both status => Proto::status,
        ]
    }

    fn failed_unicast(
        &mut self,
        _: &mut Ctx<'_>,
        target: ConnectionUuid,
        payload: &Payload,
    ) -> Answer {
        let event = match payload {
            Payload::Event { event, .. } => event.clone(),
            Payload::Raw(_) => "raw".to_owned(),
        };
        json!({"event": "failed", "to": target, "was": event}).into()
    }

    fn on_close(&mut self, _: &mut Ctx<'_>, _: &CloseInfo) {
        PROTO_CLOSED.fetch_add(1, Ordering::SeqCst);
    }
}

/// An auto-dispatch controller with its own `unknown`.
#[derive(Default)]
pub struct Unknowing;

impl Controller for Unknowing {
    fn events() -> Events<Self> {
        events![both echo => |_: &mut Unknowing, _: &mut Ctx<'_>, m: Value| m]
    }
    fn unknown(&mut self, cx: &mut Ctx<'_>, message: Value) -> Answer {
        json!({"event": "custom_unknown", "got": message, "source": format!("{:?}", cx.source())})
            .into()
    }
}

/// A raw controller: every message comes back prefixed; it still runs `heard` deliveries.
#[derive(Default)]
pub struct Raw;

impl Controller for Raw {
    fn events() -> Events<Self> {
        Events::raw().bus(
            "heard",
            |_: &mut Raw, _: &mut Ctx<'_>, m: Value| json!({"event": "raw_heard", "got": m}),
        )
    }
    fn on_open(&mut self, cx: &mut Ctx<'_>) {
        let _ = cx.write("raw: open");
    }
    fn on_message(&mut self, cx: &mut Ctx<'_>, message: Message<'_>) {
        let _ = match message {
            Message::Text(t) => cx.write(&format!("raw: {t}")),
            Message::Binary(b) => cx.write_binary(b),
        };
    }
}

/// A REST resource: every action answers with its name and id.
#[derive(Default)]
pub struct Items;

fn action(name: &str, cx: &Ctx<'_>) -> Option<Response> {
    let id = cx.params().get_str("id").unwrap_or("-");
    Some(Response::text(200, format!("{name} {id}")))
}

impl Controller for Items {
    fn events() -> Events<Self> {
        Events::none().both("publish", |_: &mut Items, cx: &mut Ctx<'_>, m: Value| {
            json!({"event": "publish", "got": m, "source": format!("{:?}", cx.source())})
        })
    }
    fn index(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let theme = cx.cookies().get("theme").unwrap_or("none").to_owned();
        Some(Response::text(200, format!("index - theme={theme}")))
    }
    fn show(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        match cx.params().get_str("id") {
            Some("decline") => None,
            Some("go") => cx.redirect_to("/items").ok(),
            Some("away") => Some(match cx.redirect_to("https://evil.example/") {
                Ok(_) => Response::text(500, "redirect_to left the site"),
                Err(e) => Response::text(400, e.to_string()),
            }),
            _ => action("show", cx),
        }
    }
    fn new(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        action("new", cx)
    }
    fn create(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        cx.set_cookie(SetCookie::new("made", "yes")).ok()?;
        if cx.write("no connection here") != Err(SendError::NotAConnection) {
            return Some(Response::text(500, "write on HTTP should fail"));
        }
        action("create", cx)
    }
    fn update(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        action("update", cx)
    }
    fn delete(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        action("delete", cx)
    }
}

/// Catches whatever the routes before it declined.
#[derive(Default)]
pub struct CatchAll;

impl Controller for CatchAll {
    fn index(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let rest = cx.params().get_str("*").unwrap_or_default().to_owned();
        Some(Response::text(200, format!("caught {rest}")))
    }
}

/// Accepts WebSocket upgrades with `?key=secret`, refuses `?key=<other>` with 403, `?key=`
/// with 401, and declines the rest (routing falls through).
#[derive(Default)]
pub struct Guarded;

impl Controller for Guarded {
    fn events() -> Events<Self> {
        events![ws whoami => |_: &mut Guarded, _: &mut Ctx<'_>, _: Value| json!({"event": "guarded"})]
    }
    fn pre_connect(&mut self, cx: &mut Ctx<'_>) -> PreConnect {
        match cx.params().get_str("key") {
            Some("secret") => PreConnect::Accept,
            Some("") => PreConnect::unauthorized(),
            Some(_) => PreConnect::forbidden(),
            None => PreConnect::Decline,
        }
    }
}

/// Takes the upgrades `Guarded` refused.
#[derive(Default)]
pub struct Fallback;

impl Controller for Fallback {
    fn events() -> Events<Self> {
        events![ws whoami => |_: &mut Fallback, _: &mut Ctx<'_>, _: Value| json!({"event": "fallback"})]
    }
}
