//! HTTP requests through the dispatcher's service, end to end without sockets: routing, params
//! (JSON body), the handler, the JSON reply body. An AJAJ `POST /chat` `{"id":"echo","x":1}` and a
//! REST `GET /notes/42` (`show`). Baseline in the same run: a bare `serde_json` parse + encode of
//! the same body.
//!
//! The request is built once and reused: `DispatchService::call` does not change it. The server's
//! HTTP parsing and response writing are not included (see the `http` bench).
//!
//! Run: `cargo bench -p plezi-benches --bench ajaj -- --quick`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use plezi_dispatch::{Controller, Ctx, DispatchService, Dispatcher, Events, Routes, events};
use plezi_messaging::{Bus, BusConfig};
use plezi_server::{Reply, Request, Response, Service};
use serde_json::{Value, json};

/// AJAJ: `echo` (WebSocket and HTTP) returns its argument.
#[derive(Default)]
struct Chat;

impl Controller for Chat {
    fn events() -> Events<Self> {
        events![both echo => |_: &mut Chat, _: &mut Ctx<'_>, msg: Value| msg]
    }
}

/// REST: `show` answers note 42 as JSON.
#[derive(Default)]
struct Notes;

impl Controller for Notes {
    fn show(&mut self, cx: &mut Ctx<'_>) -> Option<Response> {
        let id: u64 = cx.params().get_str("id")?.parse().ok()?;
        let note = json!({"id": id, "title": "groceries", "body": "milk, eggs"});
        Some(Response::json(200, note.to_string()))
    }
}

const BODY: &[u8] = br#"{"id":"echo","x":1}"#;

fn service() -> DispatchService {
    let mut routes = Routes::new();
    routes
        .controller("/chat", Chat::default)
        .and_then(|r| r.controller("/notes", Notes::default))
        .expect("valid routes");
    Dispatcher::new(routes, Bus::in_process(BusConfig::default())).service()
}

/// The reply's status and body, to check a case before timing it.
fn answer(reply: Reply) -> (u16, Vec<u8>) {
    match reply {
        Reply::Response(r) => {
            let status = r.status();
            let body = r.body_ref().as_bytes().expect("an in-memory body");
            (status, body.to_vec())
        }
        Reply::Upgrade(_) | Reply::Later(_) => panic!("unexpected upgrade or deferred answer"),
    }
}

fn bench_ajaj(c: &mut Criterion) {
    let service = service();
    let mut post = Request::new("POST", "/chat")
        .with_header("Content-Type", "application/json")
        .with_body(BODY);
    let mut show = Request::new("GET", "/notes/42");

    let (status, body) = answer(service.call(&mut post));
    let echoed: Value = serde_json::from_slice(&body).expect("JSON reply");
    assert_eq!(status, 200);
    assert_eq!(echoed, json!({"id": "echo", "x": 1, "event": "echo"}));
    let (status, body) = answer(service.call(&mut show));
    let note: Value = serde_json::from_slice(&body).expect("JSON reply");
    assert_eq!(status, 200);
    assert_eq!(note["id"], 42);

    let mut group = c.benchmark_group("ajaj");
    group.bench_function("baseline_serde_parse_encode_body", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(BODY)).expect("json");
            serde_json::to_vec(&v).expect("encodes")
        })
    });
    group.bench_function("post_chat_echo", |b| {
        b.iter(|| service.call(black_box(&mut post)))
    });
    group.bench_function("rest_get_notes_42_show", |b| {
        b.iter(|| service.call(black_box(&mut show)))
    });
    group.finish();
}

criterion_group!(benches, bench_ajaj);
criterion_main!(benches);
