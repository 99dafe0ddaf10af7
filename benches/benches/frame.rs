//! WebSocket frame encode/decode micro-benchmarks (plezi_server::ws).
//!
//! Run: `cargo bench -p plezi-benches --bench frame` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plezi_server::ws::{
    Data, Decoder, OpCode, SharedFrame, WsEvent, binary_frame, encode_frame, text_frame,
};

const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// A masked client frame (FIN set) carrying `payload`, as a browser would send it.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

fn encode(c: &mut Criterion) {
    let text64 = "x".repeat(64);
    let bin16k = vec![0xA5u8; 16 * 1024];
    let mut group = c.benchmark_group("ws_encode");

    group.throughput(Throughput::Bytes(64));
    let mut out = Vec::with_capacity(128);
    group.bench_function("text_64B_into_reused_vec", |b| {
        b.iter(|| {
            out.clear();
            encode_frame(
                OpCode::Data(Data::Text),
                true,
                black_box(text64.as_bytes()),
                &mut out,
            );
            black_box(out.len())
        })
    });
    group.bench_function("text_frame_64B_new_vec", |b| {
        b.iter(|| text_frame(black_box(&text64)))
    });
    group.bench_function("shared_frame_text_64B", |b| {
        b.iter(|| SharedFrame::text(black_box(&text64)))
    });

    group.throughput(Throughput::Bytes(bin16k.len() as u64));
    let mut out = Vec::with_capacity(bin16k.len() + 16);
    group.bench_function("binary_16KiB_into_reused_vec", |b| {
        b.iter(|| {
            out.clear();
            encode_frame(
                OpCode::Data(Data::Binary),
                true,
                black_box(&bin16k),
                &mut out,
            );
            black_box(out.len())
        })
    });
    group.bench_function("binary_frame_16KiB_new_vec", |b| {
        b.iter(|| binary_frame(black_box(&bin16k)))
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_decode");
    for (name, opcode, payload) in [
        ("masked_text_64B", 0x1, "x".repeat(64).into_bytes()),
        ("masked_binary_16KiB", 0x2, vec![0xA5u8; 16 * 1024]),
    ] {
        let template = client_frame(opcode, &payload);
        let mut buf = template.clone();
        let mut decoder = Decoder::new(1 << 20);
        group.throughput(Throughput::Bytes(payload.len() as u64));
        // Each iteration restores the masked bytes (decode unmasks in place): a memcpy of the frame
        // is included in the figure.
        group.bench_function(name, |b| {
            b.iter(|| {
                buf.copy_from_slice(&template);
                let mut delivered = 0;
                let consumed = decoder.decode(&mut buf, &mut |e| {
                    if let WsEvent::Message(m) = e {
                        black_box(m);
                        delivered += 1;
                    }
                });
                assert_eq!(consumed, Ok(template.len()));
                delivered
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
