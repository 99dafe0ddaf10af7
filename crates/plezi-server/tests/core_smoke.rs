//! Quick end-to-end checks of the server core over real sockets, with hand-made frames:
//! an HTTP GET, a WebSocket echo, a broadcast to three clients, and the 1001 on shutdown.
//! (The exhaustive interop, raw-probe and Autobahn suites live in the other test files.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plezi_server::{
    Body, CloseInfo, ConnId, Filter, Message, Reply, Request, Response, RunningServer, Server,
    ServerConfig, SharedFrame, Upgrade, WebSocket, WebSocketHandler,
};

const TIMEOUT: Duration = Duration::from_secs(5);

/// Echoes text and binary; a text starting with "all:" is broadcast to everyone instead.
struct Echo {
    closes: Arc<AtomicUsize>,
}

impl WebSocketHandler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        match msg {
            Message::Text(t) if t.starts_with("all:") => {
                ws.server()
                    .broadcast(SharedFrame::text(t), Filter::default());
            }
            Message::Text(t) => ws.write_text(t).expect("queue text"),
            Message::Binary(b) => ws.write_binary(b).expect("queue binary"),
        }
    }

    fn on_close(&mut self, _id: ConnId, _info: &CloseInfo) {
        self.closes.fetch_add(1, Ordering::SeqCst);
    }
}

fn start(closes: Arc<AtomicUsize>) -> RunningServer {
    start_with(ServerConfig::default(), closes)
}

fn start_with(config: ServerConfig, closes: Arc<AtomicUsize>) -> RunningServer {
    Server::builder()
        .bind("127.0.0.1:0")
        .threads(2)
        .config(config)
        .service(move |req: &mut Request| {
            if req.is_websocket_upgrade() {
                Reply::Upgrade(Upgrade::new(Box::new(Echo {
                    closes: closes.clone(),
                })))
            } else if req.path() == "/stream" {
                let body = Body::stream(std::io::Cursor::new(vec![b'z'; 100_000]));
                Reply::Response(Response::new(200).body(body))
            } else {
                Reply::Response(Response::text(200, format!("hello {}", req.path())))
            }
        })
        .build()
        .expect("build server")
        .spawn()
        .expect("spawn server")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    s
}

/// Reads until the end of an HTTP head; returns the head and any bytes after it.
fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
        let n = s.read(&mut chunk).expect("read head");
        assert!(
            n > 0,
            "connection closed before the end of the head: {buf:?}"
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn upgrade(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("send upgrade");
    let (head, rest) = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    assert!(rest.is_empty());
    s
}

/// A masked client frame.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one unmasked server frame: (opcode, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).expect("frame header");
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).expect("len16");
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).expect("len64");
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).expect("payload");
    (h[0] & 0x0f, payload)
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn http_get_keep_alive_and_pipelined() {
    let server = start(Arc::default());
    let mut s = connect(server.local_addr());
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut all = Vec::new();
    while !all.ends_with(b"hello /b") {
        let mut b = [0u8; 4096];
        let n = s.read(&mut b).expect("responses");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&all));
        all.extend_from_slice(&b[..n]);
    }
    let text = String::from_utf8_lossy(&all);
    let responses: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(responses.len(), 2, "{text}");
    for (resp, path) in responses.iter().zip(["/a", "/b"]) {
        assert!(resp.starts_with("200 OK\r\n"), "{resp}");
        assert!(resp.contains("Connection: keep-alive\r\n"), "{resp}");
        assert!(resp.ends_with(&format!("\r\n\r\nhello {path}")), "{resp}");
    }
    server.stop().expect("clean stop");
}

#[test]
fn websocket_echo_with_hand_made_frames() {
    let closes = Arc::new(AtomicUsize::new(0));
    let server = start(closes.clone());
    let handle = server.handle();
    let mut s = upgrade(server.local_addr());
    wait_until("the upgrade to count", || handle.websocket_count() == 1);
    s.write_all(&client_frame(1, b"hi there")).expect("text");
    assert_eq!(read_frame(&mut s), (1, b"hi there".to_vec()));
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    s.write_all(&client_frame(2, &big)).expect("binary");
    assert_eq!(read_frame(&mut s), (2, big));
    s.write_all(&client_frame(9, b"ping!")).expect("ping");
    assert_eq!(read_frame(&mut s), (10, b"ping!".to_vec()));
    // Close handshake: the server echoes our code, then closes the TCP connection.
    s.write_all(&client_frame(8, &[0x03, 0xe8])).expect("close");
    assert_eq!(read_frame(&mut s), (8, vec![0x03, 0xe8]));
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("server closes");
    assert!(rest.is_empty());
    wait_until("on_close", || closes.load(Ordering::SeqCst) == 1);
    assert_eq!(handle.websocket_count(), 0);
    drop(s);
    server.stop().expect("clean stop");
}

#[test]
fn broadcast_reaches_three_clients_on_both_loops() {
    let server = start(Arc::default());
    let handle = server.handle();
    let mut clients: Vec<TcpStream> = (0..3).map(|_| upgrade(server.local_addr())).collect();
    wait_until("three upgrades", || handle.websocket_count() == 3);
    clients[0]
        .write_all(&client_frame(1, b"all: news"))
        .expect("send");
    for c in &mut clients {
        assert_eq!(read_frame(c), (1, b"all: news".to_vec()));
    }
    // From outside the loops too.
    handle.broadcast(SharedFrame::binary(b"\x01\x02"), Filter::default());
    for c in &mut clients {
        assert_eq!(read_frame(c), (2, vec![1, 2]));
    }
    drop(clients);
    server.stop().expect("clean stop");
}

#[test]
fn graceful_shutdown_sends_1001_and_waits_for_the_peer() {
    let closes = Arc::new(AtomicUsize::new(0));
    let server = start(closes.clone());
    let handle = server.handle();
    let mut s = upgrade(server.local_addr());
    wait_until("the upgrade to count", || handle.websocket_count() == 1);
    handle.shutdown();
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!(opcode, 8);
    assert_eq!(&payload[..2], &1001u16.to_be_bytes());
    // The server waits for our answer; on_close has not run yet.
    assert_eq!(closes.load(Ordering::SeqCst), 0);
    s.write_all(&client_frame(8, &payload[..2]))
        .expect("answer close");
    // The server closes the TCP connection after the handshake.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("server closes");
    assert!(rest.is_empty());
    drop(s);
    server.join().expect("clean stop");
    assert_eq!(closes.load(Ordering::SeqCst), 1);
    // New connections are refused once the server stopped.
    assert!(TcpStream::connect(handle.local_addr()).is_err());
}

/// Reads until the peer closes; returns everything.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read until close");
    all
}

#[test]
fn stream_body_is_sent_chunked_and_half_closed_clients_get_their_answer() {
    let server = start(Arc::default());
    let mut s = connect(server.local_addr());
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    s.shutdown(std::net::Shutdown::Write).expect("half close");
    let all = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:.200}");
    assert!(
        text.contains("Transfer-Encoding: chunked\r\n"),
        "{text:.200}"
    );
    assert!(text.ends_with("\r\n0\r\n\r\n"));
    let zs = all.iter().filter(|&&b| b == b'z').count();
    assert_eq!(zs, 100_000);
    server.stop().expect("clean stop");
}

#[test]
fn header_timeout_answers_408_and_closes() {
    let config = ServerConfig {
        header_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = start_with(config, Arc::default());
    let mut s = connect(server.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\nHost").expect("send");
    let all = read_to_close(&mut s);
    assert!(
        all.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&all)
    );
    server.stop().expect("clean stop");
}

/// Records its id on open so the test can reach it through the handle.
struct Tracked {
    ids: Arc<parking_lot::Mutex<Vec<ConnId>>>,
    closed: Arc<parking_lot::Mutex<Vec<CloseInfo>>>,
    hits: u32,
}

impl WebSocketHandler for Tracked {
    fn on_open(&mut self, ws: &mut WebSocket<'_>) {
        self.ids.lock().push(ws.id());
    }
    fn on_message(&mut self, _ws: &mut WebSocket<'_>, _msg: Message<'_>) {}
    fn on_close(&mut self, _id: ConnId, info: &CloseInfo) {
        self.closed.lock().push(info.clone());
    }
}

type Ids = Arc<parking_lot::Mutex<Vec<ConnId>>>;
type Closed = Arc<parking_lot::Mutex<Vec<CloseInfo>>>;

fn start_tracked(config: ServerConfig) -> (RunningServer, Ids, Closed) {
    let ids: Ids = Arc::default();
    let closed: Closed = Arc::default();
    let (i, c) = (ids.clone(), closed.clone());
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .threads(2)
        .config(config)
        .service(move |_req: &mut Request| {
            Reply::Upgrade(Upgrade::new(Box::new(Tracked {
                ids: i.clone(),
                closed: c.clone(),
                hits: 0,
            })))
        })
        .build()
        .expect("build")
        .spawn()
        .expect("spawn");
    (server, ids, closed)
}

#[test]
fn handle_writes_runs_and_closes_by_id_and_ignores_stale_ids() {
    let (server, ids, closed) = start_tracked(ServerConfig::default());
    let handle = server.handle();
    let mut s = upgrade(server.local_addr());
    wait_until("on_open", || ids.lock().len() == 1);
    let id = ids.lock()[0];

    handle.write(id, SharedFrame::text("direct"));
    assert_eq!(read_frame(&mut s), (1, b"direct".to_vec()));

    handle.run(id, |h, ws| {
        let any: &mut dyn std::any::Any = h;
        let tracked = any.downcast_mut::<Tracked>().expect("a Tracked handler");
        tracked.hits += 1;
        ws.write_text(&format!("hits={}", tracked.hits))
            .expect("write");
    });
    assert_eq!(read_frame(&mut s), (1, b"hits=1".to_vec()));

    handle.close(id, 4000, "bye");
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!((opcode, &payload[..]), (8, &b"\x0f\xa0bye"[..]));
    s.write_all(&client_frame(8, &payload[..2]))
        .expect("answer");
    assert!(read_to_close(&mut s).is_empty());
    wait_until("on_close", || closed.lock().len() == 1);
    let info = closed.lock()[0].clone();
    assert_eq!(info.code, Some(4000));
    assert!(info.initiated_by_server);

    // The slot is reused by the next connection; the old id must not reach it.
    let mut s2 = upgrade(server.local_addr());
    wait_until("second on_open", || ids.lock().len() == 2);
    let id2 = ids.lock()[1];
    assert_ne!(id, id2);
    handle.write(id, SharedFrame::text("stale"));
    handle.write(id2, SharedFrame::text("fresh"));
    assert_eq!(read_frame(&mut s2), (1, b"fresh".to_vec()));
    drop(s2);
    server.stop().expect("clean stop");
}

#[test]
fn timers_run_on_loop_and_run_blocking() {
    let server = start(Arc::default());
    let handle = server.handle();
    let once = Arc::new(AtomicUsize::new(0));
    let every = Arc::new(AtomicUsize::new(0));
    let o = once.clone();
    handle.run_after(Duration::from_millis(20), move || {
        o.fetch_add(1, Ordering::SeqCst);
    });
    let e = every.clone();
    let timer = handle.run_every(Duration::from_millis(10), move || {
        e.fetch_add(1, Ordering::SeqCst);
    });
    wait_until("run_after", || once.load(Ordering::SeqCst) == 1);
    wait_until("three run_every ticks", || {
        every.load(Ordering::SeqCst) >= 3
    });
    handle.cancel_timer(timer);
    // After the cancel is processed (a task queued behind it ran), the count stops moving.
    let (tx, rx) = std::sync::mpsc::channel();
    let loop_of_timer = (0..handle.loops()).collect::<Vec<_>>();
    for l in loop_of_timer {
        let tx = tx.clone();
        handle.run_on_loop(l, move || {
            let name = std::thread::current().name().map(str::to_owned);
            tx.send(name).expect("send");
        });
    }
    for _ in 0..handle.loops() {
        let name = rx.recv_timeout(TIMEOUT).expect("run_on_loop ran");
        assert!(name.is_some_and(|n| n.starts_with("plezi-loop-")));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    handle.run_blocking(move || {
        let name = std::thread::current().name().map(str::to_owned);
        tx.send(name).expect("send");
    });
    let name = rx.recv_timeout(TIMEOUT).expect("run_blocking ran");
    assert_eq!(name.as_deref(), Some("plezi-blocking"));
    let after_cancel = every.load(Ordering::SeqCst);
    let cancelled = handle.run_after(Duration::from_millis(30), || panic!("cancelled timer ran"));
    handle.cancel_timer(cancelled);
    let (tx, rx) = std::sync::mpsc::channel();
    handle.run_after(Duration::from_millis(60), move || {
        tx.send(()).expect("send")
    });
    rx.recv_timeout(TIMEOUT).expect("later timer ran");
    assert_eq!(every.load(Ordering::SeqCst), after_cancel);
    assert_eq!(once.load(Ordering::SeqCst), 1);
    server.stop().expect("clean stop");
}

#[test]
fn slow_consumer_is_closed_with_1008() {
    let config = ServerConfig {
        max_pending_bytes: 256 * 1024,
        ..ServerConfig::default()
    };
    let (server, ids, closed) = start_tracked(config);
    let handle = server.handle();
    let mut s = upgrade(server.local_addr());
    wait_until("on_open", || ids.lock().len() == 1);
    // Far more than the kernel buffers hold; the client reads nothing meanwhile.
    let frame = SharedFrame::binary(&vec![7u8; 64 * 1024]);
    for _ in 0..600 {
        handle.broadcast(frame.clone(), Filter::default());
    }
    let mut frames = 0;
    let code = loop {
        let (opcode, payload) = read_frame(&mut s);
        if opcode == 8 {
            break u16::from_be_bytes([payload[0], payload[1]]);
        }
        assert_eq!((opcode, payload.len()), (2, 64 * 1024));
        frames += 1;
    };
    assert_eq!(code, 1008);
    assert!(frames < 600, "the cap never applied");
    drop(s);
    wait_until("on_close", || closed.lock().len() == 1);
    assert_eq!(closed.lock()[0].code, Some(1008));
    server.stop().expect("clean stop");
}

#[test]
fn silent_peer_is_pinged_then_dropped() {
    let config = ServerConfig {
        ws_idle_ping: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let (server, ids, closed) = start_tracked(config);
    let mut s = upgrade(server.local_addr());
    wait_until("on_open", || ids.lock().len() == 1);
    assert_eq!(read_frame(&mut s).0, 9, "a ping after the idle period");
    // No pong: the server gives up after another period.
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!((opcode, &payload[..2]), (8, &1001u16.to_be_bytes()[..]));
    wait_until("on_close", || closed.lock().len() == 1);
    assert_eq!(closed.lock()[0].code, Some(1006));
    drop(s);
    server.stop().expect("clean stop");
}

#[test]
fn answered_pings_keep_the_connection() {
    let config = ServerConfig {
        ws_idle_ping: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let (server, ids, closed) = start_tracked(config);
    let mut s = upgrade(server.local_addr());
    wait_until("on_open", || ids.lock().len() == 1);
    for _ in 0..3 {
        let (opcode, payload) = read_frame(&mut s);
        assert_eq!(opcode, 9);
        s.write_all(&client_frame(10, &payload)).expect("pong");
    }
    assert!(closed.lock().is_empty());
    drop(s);
    server.stop().expect("clean stop");
}
