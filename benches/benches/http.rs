//! HTTP/1.1 request-head parse and response-head encode micro-benchmarks (plezi_server::http).
//!
//! Run: `cargo bench -p plezi-benches --bench http` (add `-- --quick` for a short run).
//! `httparse_only` is the floor: the tokenizer plezi builds on, without validation or owned values.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use plezi_server::http::{HeadParse, HttpLimits, Request, Response, encode_head, parse_head};

/// A typical browser navigation: ~500 bytes, 10 header fields.
const BROWSER_GET: &[u8] = b"GET /articles/2024/hello-world?ref=home HTTP/1.1\r\n\
Host: localhost:3000\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Cookie: session=3f1c2a9e8b7d6c5f4e3d2c1b0a998877; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = HttpLimits::default();
    let mut group = c.benchmark_group("http_parse");
    group.throughput(Throughput::Bytes(BROWSER_GET.len() as u64));
    group.bench_function("httparse_only", |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            black_box(req.parse(black_box(BROWSER_GET)).ok())
        })
    });
    group.bench_function("parse_head_browser_get", |b| {
        b.iter(|| black_box(parse_head(black_box(BROWSER_GET), &limits)))
    });
    let peer: SocketAddr = "127.0.0.1:50000".parse().expect("literal address");
    group.bench_function("parse_head_into_request", |b| {
        b.iter(|| match parse_head(black_box(BROWSER_GET), &limits) {
            Ok(HeadParse::Complete { head, .. }) => {
                black_box(Request::from_head(head, Vec::new(), peer))
            }
            other => panic!("benchmark request did not parse: {other:?}"),
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_encode");
    let resp = Response::text(200, "Hello, World!");
    let mut out = Vec::with_capacity(512);
    group.bench_function("encode_head_small_200", |b| {
        b.iter(|| {
            out.clear();
            encode_head(black_box(&resp), false, true, &mut out);
            black_box(out.len())
        })
    });
    group.bench_function("build_and_encode_small_200", |b| {
        b.iter(|| {
            out.clear();
            let resp = Response::text(200, black_box("Hello, World!"));
            encode_head(&resp, false, true, &mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse, encode);
criterion_main!(benches);
