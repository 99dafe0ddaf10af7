//! A client that pipelines many requests and never reads must not make the server queue their
//! responses: past `max_pending_bytes` the server stops answering (and reading) until the queue
//! drains, then answers every request, in order.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plezi_server::{Reply, Request, Response, Server, ServerConfig};

const REQUESTS: usize = 400;
const BODY: usize = 200 * 1024;

#[test]
fn pipelined_requests_wait_for_the_outbound_queue_to_drain() {
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .threads(1)
        .config(ServerConfig {
            max_pending_bytes: 64 * 1024,
            ..ServerConfig::default()
        })
        .service(move |req: &mut Request| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut body = format!("{n} {}\n", req.path()).into_bytes();
            body.resize(BODY, b'.');
            Reply::Response(Response::new(200).body(body))
        })
        .build()
        .expect("server builds")
        .spawn()
        .expect("server starts");

    let mut client = TcpStream::connect(server.local_addr()).expect("connect");
    let mut burst = Vec::new();
    for i in 0..REQUESTS {
        burst.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    client.write_all(&burst).expect("send the burst");

    // Wait until the server stops answering (the count holds still for 300 ms, 5 s at most).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = (answered.load(Ordering::SeqCst), Instant::now());
    while Instant::now() < deadline && last.1.elapsed() < Duration::from_millis(300) {
        std::thread::sleep(Duration::from_millis(20));
        let now = answered.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    // Kernel socket buffers on loopback absorb a few MB of responses; the queue adds about one
    // response over the 64 KiB cap. Without backpressure all 400 (80 MB) would be answered.
    let stalled_at = answered.load(Ordering::SeqCst);
    assert!(
        stalled_at < REQUESTS / 4,
        "the server answered {stalled_at} of {REQUESTS} pipelined requests nobody read"
    );

    // Now read everything: every request is answered, in order.
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut data = Vec::new();
    let mut buf = vec![0; 256 * 1024];
    let mut responses = 0;
    let mut scanned = 0;
    while responses < REQUESTS {
        let n = client.read(&mut buf).expect("read responses");
        assert!(n > 0, "connection closed after {responses} responses");
        data.extend_from_slice(&buf[..n]);
        // Each response is a head followed by exactly BODY bytes starting "<n> /<i>\n".
        while let Some(end) = find(&data[scanned..], b"\r\n\r\n") {
            let body_start = scanned + end + 4;
            if data.len() < body_start + BODY {
                break;
            }
            let line_end = data[body_start..]
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(0);
            let line = String::from_utf8_lossy(&data[body_start..body_start + line_end]);
            assert!(
                line.ends_with(&format!(" /{responses}")),
                "response {responses} answered {line:?}"
            );
            responses += 1;
            scanned = body_start + BODY;
        }
        if scanned > 0 {
            data.drain(..scanned);
            scanned = 0;
        }
    }
    assert_eq!(answered.load(Ordering::SeqCst), REQUESTS);
    server.stop().expect("server stops");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
