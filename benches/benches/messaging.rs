//! plezi-messaging hot paths: connection UUID format/parse, bus envelope encode/decode.
//!
//! Run: `cargo bench -p plezi-benches --bench messaging -- --quick`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plezi_messaging::{ConnectionUuid, Envelope, Message, Payload, ServerId, Target};

fn bench_uuid(c: &mut Criterion) {
    let uuid = ConnectionUuid::new(ServerId::from_u64(0x0123_4567_89ab_cdef), 3, 40_000, 17);
    let text = uuid.to_string();
    let mut g = c.benchmark_group("uuid");
    g.throughput(Throughput::Elements(1));
    g.bench_function("format_to_text", |b| {
        b.iter(|| black_box(black_box(uuid).to_text()))
    });
    g.bench_function("format_to_string", |b| {
        b.iter(|| black_box(black_box(uuid).to_string()))
    });
    g.bench_function("parse", |b| {
        b.iter(|| black_box(black_box(text.as_str()).parse::<ConnectionUuid>()))
    });
    g.bench_function("parse_reject", |b| {
        b.iter(|| {
            black_box(
                black_box("0123456789abcdef-0003-00009c40-0000001G").parse::<ConnectionUuid>(),
            )
        })
    });
    g.finish();
}

fn bench_envelope(c: &mut Criterion) {
    let origin = ServerId::from_u64(0xfeed);
    let from = ConnectionUuid::new(origin, 1, 2, 3);
    let event = Envelope::message(
        origin,
        Message::new(
            Target::Channel("room.42".into()),
            Payload::event("chat", serde_json::json!({"user": "ann", "text": "hello there, how are you?", "at": 1_700_000_000})),
        )
        .from_except(from),
    );
    let raw = Envelope::message(
        origin,
        Message::new(Target::Multicast, Payload::raw("x".repeat(64))),
    );
    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Elements(1));
    for (name, env) in [("event", &event), ("raw64B", &raw)] {
        let bytes = env.encode();
        g.bench_function(format!("encode_{name}"), |b| {
            let mut out = Vec::with_capacity(256);
            b.iter(|| {
                out.clear();
                black_box(env).encode_into(&mut out);
                black_box(out.len())
            })
        });
        g.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| black_box(Envelope::decode(black_box(&bytes), 1 << 20)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_uuid, bench_envelope);
criterion_main!(benches);
