//! Quick end-to-end checks of the server core over real sockets, with hand-made frames:
//! an HTTP GET, a WebSocket echo, a broadcast to three clients, and the 1001 on shutdown.
//! (The exhaustive interop, raw-probe and Autobahn suites live in the other test files.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plezi_server::{
    ConnId, Filter, Message, Reply, Request, Response, RunningServer, Server, SharedFrame,
    WebSocket, WebSocketHandler,
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

    fn on_close(&mut self, _id: ConnId, _info: &plezi_server::CloseInfo) {
        self.closes.fetch_add(1, Ordering::SeqCst);
    }
}

fn start(closes: Arc<AtomicUsize>) -> RunningServer {
    Server::builder()
        .bind("127.0.0.1:0")
        .threads(2)
        .service(move |req: &mut Request| {
            if req.is_websocket_upgrade() {
                Reply::Upgrade(plezi_server::Upgrade::new(Box::new(Echo {
                    closes: closes.clone(),
                })))
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
