//! Event dispatch without sockets (parse → handler → reply), through `testing::Harness`: a 60-byte
//! `echo` message, the same with `_EID_` (ack + reply), a handler answering a small `json!`
//! object, and an unknown event (the `err` 404 answer). Baseline in the same run: a bare
//! `serde_json` parse + encode of the same message.
//!
//! Run: `cargo bench -p plezi-benches --bench dispatch -- --quick`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use plezi_dispatch::testing::{Harness, Written};
use plezi_dispatch::{Controller, Ctx, Events, events};
use serde_json::{Value, json};

/// An auto-dispatch controller: `echo` returns its argument, `stats` a small object.
#[derive(Default)]
struct Bench;

impl Controller for Bench {
    fn events() -> Events<Self> {
        events![
            ws echo => |_: &mut Bench, _: &mut Ctx<'_>, msg: Value| msg,
            ws stats => |_: &mut Bench, _: &mut Ctx<'_>, _: Value| {
                json!({"event": "stats", "users": 3, "ok": true})
            },
        ]
    }
}

/// 60 bytes: `{"event":"echo","data":"` + 34 characters + `"}`.
const ECHO: &str = r#"{"event":"echo","data":"0123456789abcdefghijklmnopqrstuvwx"}"#;
const ECHO_EID: &str = r#"{"event":"echo","_EID_":7,"data":"0123456789abcdefghijklmnopqrstuvwx"}"#;
const STATS: &str = r#"{"event":"stats"}"#;
const UNKNOWN: &str = r#"{"event":"nope","data":"0123456789abcdefghijklmnopqrstuvwx"}"#;

/// Checks each case answers as the benchmark claims before timing it.
fn check(h: &mut Harness<Bench>) {
    assert_eq!(ECHO.len(), 60);
    assert!(matches!(&h.text(ECHO)[..], [Written::Text(t)] if t.contains("0123456789")));
    let acked = h.text(ECHO_EID);
    assert!(
        matches!(&acked[..], [Written::Text(a), Written::Text(r)]
            if a.contains("_ack_") && r.contains("0123456789")),
        "{acked:?}"
    );
    assert!(matches!(&h.text(STATS)[..], [Written::Text(t)] if t.contains("\"users\":3")));
    let err = h.text(UNKNOWN);
    assert!(
        matches!(&err[..], [Written::Text(t)] if t.contains("\"status\":404")),
        "{err:?}"
    );
    assert!(h.is_open());
}

fn bench_dispatch(c: &mut Criterion) {
    let mut h = Harness::new(Bench).expect("valid event table");
    h.open();
    check(&mut h);

    let mut group = c.benchmark_group("dispatch");
    group.bench_function("baseline_serde_parse_encode_60B", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_slice(black_box(ECHO.as_bytes())).expect("json");
            serde_json::to_vec(&v).expect("encodes")
        })
    });
    group.bench_function("echo_60B", |b| b.iter(|| h.text(black_box(ECHO))));
    group.bench_function("echo_60B_with_eid_ack", |b| {
        b.iter(|| h.text(black_box(ECHO_EID)))
    });
    group.bench_function("json_object_reply", |b| b.iter(|| h.text(black_box(STATS))));
    group.bench_function("unknown_event_err_404", |b| {
        b.iter(|| h.text(black_box(UNKNOWN)))
    });
    group.finish();
}

criterion_group!(benches, bench_dispatch);
criterion_main!(benches);
