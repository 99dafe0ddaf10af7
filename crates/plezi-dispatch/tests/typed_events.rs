//! Typed payloads and replies over real sockets (`docs/protocol.md#typed-payloads`): a client's
//! message of the wrong shape is answered `err` 400 naming the field path, over WebSocket and
//! AJAJ alike, and the handler does not run; typed replies reach the client after its `_ack_`;
//! `Call` relays deliveries as they came; the generated TypeScript module names it all.

mod support;

use plezi_dispatch::{Call, Controller, Ctx, Events, Json, Relay, Routes, SendError, events};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::TestApp;
use ts_rs::TS;

#[derive(Deserialize, TS)]
struct Order {
    item: String,
    qty: u32,
    address: Address,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize, TS)]
struct Address {
    city: String,
    zip: String,
}

#[derive(Serialize, TS)]
struct Receipt {
    item: String,
    qty: u32,
    city: String,
    zip: String,
    tags: usize,
}

/// Extra fields refused.
#[derive(Deserialize, TS)]
#[serde(deny_unknown_fields)]
struct Strict {
    n: i64,
}

#[derive(Deserialize, TS)]
struct Say {
    text: String,
}

#[derive(Serialize, Deserialize, TS)]
struct Said {
    text: String,
}

#[derive(Default)]
struct Shop;

impl Shop {
    fn order(&mut self, _cx: &mut Ctx<'_>, Json(order): Json<Order>) -> Json<Receipt> {
        Json(Receipt {
            item: order.item,
            qty: order.qty,
            city: order.address.city,
            zip: order.address.zip,
            tags: order.tags.len(),
        })
    }

    fn strict(&mut self, _cx: &mut Ctx<'_>, Json(s): Json<Strict>) -> Json<i64> {
        Json(s.n * 2)
    }

    fn say(
        &mut self,
        cx: &mut Ctx<'_>,
        call: Call<Say, Said>,
    ) -> Result<Option<Relay<Said>>, SendError> {
        match call {
            Call::Delivery(said) => Ok(Some(said)),
            Call::Client(Say { text }) => {
                cx.broadcast("say", json!(Said { text }))?;
                Ok(None)
            }
        }
    }

    fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }
}

impl Controller for Shop {
    fn events() -> Events<Self> {
        events![
            both order => Shop::order,
            both strict => Shop::strict,
            ws say => Shop::say,
            ws echo => Shop::echo,
        ]
    }
}

fn routes() -> Routes {
    let mut routes = Routes::new();
    routes.controller("/shop", Shop::default).unwrap();
    routes
}

fn good_order() -> Value {
    json!({"event": "order", "item": "tea", "qty": 2, "address": {"city": "Oslo", "zip": "0150"}})
}

/// `order` with `field` (a JSON pointer) set to `value`.
fn order_with(pointer: &str, value: Value) -> Value {
    let mut order = good_order();
    *order
        .pointer_mut(pointer)
        .expect("a field of the good order") = value;
    order
}

#[test]
fn a_payload_of_the_wrong_shape_gets_400_naming_the_field_and_never_runs_the_handler() {
    let app = TestApp::start(routes());
    let mut ws = app.ws("/shop");
    let cases = [
        (
            order_with("/qty", json!("two")),
            "bad payload at `qty`: invalid type: string \"two\", expected u32",
        ),
        (
            order_with("/address/zip", json!(150)),
            "bad payload at `address.zip`: invalid type: integer `150`, expected a string",
        ),
        (
            order_with("/address", json!("Oslo")),
            "bad payload at `address`: invalid type: string \"Oslo\", expected struct Address",
        ),
        (
            json!({"event": "order", "item": "tea", "qty": 1, "address": {"city": "Oslo", "zip": "1"}, "tags": ["a", 2]}),
            "bad payload at `tags[1]`: invalid type: integer `2`, expected a string",
        ),
        (
            json!({"event": "order", "item": "tea", "address": {"city": "Oslo", "zip": "1"}}),
            "bad payload: missing field `qty`",
        ),
        (
            json!({"event": "order", "item": "tea", "qty": -1, "address": {"city": "Oslo", "zip": "1"}}),
            "bad payload at `qty`: invalid value: integer `-1`, expected u32",
        ),
    ];
    for (mut request, result) in cases {
        request["_EID_"] = json!(7);
        ws.send(&request);
        assert_eq!(ws.json(), json!({"event": "_ack_", "_EID_": 7}));
        assert_eq!(
            ws.json(),
            json!({"event": "err", "status": 400, "result": result, "request": request})
        );
    }
    // The handler never ran (it always replies), and the connection stays open.
    ws.nothing_before_echo("no receipt");
}

#[test]
fn a_typed_reply_reaches_the_client_after_its_ack() {
    let app = TestApp::start(routes());
    let mut ws = app.ws("/shop");
    let mut order = good_order();
    order["_EID_"] = json!("e1");
    order["tags"] = json!(["gift", "fragile"]);
    ws.send(&order);
    assert_eq!(ws.json(), json!({"event": "_ack_", "_EID_": "e1"}));
    assert_eq!(
        ws.json(),
        json!({"event": "order", "item": "tea", "qty": 2, "city": "Oslo", "zip": "0150", "tags": 2})
    );
    // A reply that is no object is written as it is.
    ws.send(&json!({"event": "strict", "n": 21}));
    assert_eq!(ws.json(), json!(42));
}

#[test]
fn extra_fields_are_ignored_unless_the_type_denies_them() {
    let app = TestApp::start(routes());
    let mut ws = app.ws("/shop");
    let mut order = good_order();
    order["coupon"] = json!("SPRING");
    ws.send(&order);
    assert_eq!(ws.json()["item"], "tea");
    // The protocol's keys (`event`, `_EID_`) never count as extra fields.
    ws.send(&json!({"event": "strict", "_EID_": 1, "n": 1}));
    assert_eq!(ws.json()["event"], "_ack_");
    assert_eq!(ws.json(), json!(2));
    let request = json!({"event": "strict", "n": 1, "m": 2});
    ws.send(&request);
    let err = ws.json();
    assert_eq!(err["status"], 400);
    let result = err["result"].as_str().unwrap();
    assert!(
        result.starts_with("bad payload at `m`: unknown field `m`, expected `n`"),
        "{result}"
    );
    assert_eq!(err["request"], request);
}

#[test]
fn ajaj_gets_http_400_with_the_same_err_body_and_typed_replies_as_json() {
    let app = TestApp::start(routes());
    let request = order_with("/address/zip", json!(150));
    let reply = app.post_json("/shop/order", &request);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["event"], "err");
    assert_eq!(body["status"], 400);
    assert_eq!(
        body["result"],
        "bad payload at `address.zip`: invalid type: integer `150`, expected a string"
    );
    assert_eq!(body["request"]["address"]["zip"], 150);

    // `id` (the event's name over AJAJ) is no extra field for a strict type.
    let reply = app.post_json("/shop/strict", &json!({"n": 4}));
    assert_eq!((reply.status, reply.json()), (200, json!(8)));

    let reply = app.post_json("/shop/order", &good_order());
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"event": "order", "item": "tea", "qty": 2, "city": "Oslo", "zip": "0150", "tags": 0})
    );
    // A form's fields are text: a number field gets 400 naming it.
    let reply = app.http(
        "POST",
        "/shop/strict",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"n=x",
    );
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["result"]
            .as_str()
            .unwrap()
            .starts_with("bad payload at `n`: invalid type: string \"x\""),
        "{}",
        reply.text()
    );
}

#[test]
fn call_parses_the_client_and_relays_deliveries_as_they_came() {
    let app = TestApp::start(routes());
    let mut alice = app.ws("/shop");
    let mut bob = app.ws("/shop");
    alice.nothing_before_echo("alice ready");
    bob.nothing_before_echo("bob ready");
    alice.send(&json!({"event": "say", "text": 5}));
    assert_eq!(alice.json()["status"], 400);
    alice.send(&json!({"event": "say", "text": "hi"}));
    // The first delivery bob sees is the good one: the bad one was never broadcast.
    assert_eq!(bob.json(), json!({"event": "say", "text": "hi"}));
    alice.nothing_before_echo("a broadcast skips its sender");
}

#[test]
fn the_generated_module_names_events_payloads_and_replies() {
    let module = routes().typescript().render().unwrap();
    for expected in [
        "export type Order = { item: string, qty: number, address: Address, tags: Array<string>, };",
        "export type Address = { city: string, zip: string, };",
        r#""order": Order;"#,
        r#""strict": Strict;"#,
        r#""say": Say;"#,
        r#""echo": PleziClient.Fields;"#,
        r#""order": Receipt & { event: "order" };"#,
        r#""say": Said & { event: "say" };"#,
        r#""echo": PleziClient.Event;"#,
        "export type ShopClient = PleziClient.Typed<ShopEmits, ShopReceives, ShopAjaj>;",
    ] {
        assert!(module.contains(expected), "{expected} in\n{module}");
    }
    // `say` and `echo` are WebSocket-only: not in the AJAJ table.
    let ajaj = module
        .split("export interface ShopAjaj {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap();
    assert!(
        ajaj.contains(r#""order""#) && !ajaj.contains(r#""say""#),
        "{ajaj}"
    );
}
