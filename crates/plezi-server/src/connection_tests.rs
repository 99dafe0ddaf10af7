//! The connection state machine driven without a socket: an in-memory [`Transport`] stands in
//! for the TCP stream, and each test plays the loop (readiness, flushes, clock ticks, shutdown)
//! and checks what the connection answers and writes.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::{Poll, Waker};

use super::*;
use crate::config::ServerConfig;
use crate::handle::{Inbox, ServerHandle};
use crate::handler::{Reply, Service, Upgrade};
use crate::http::{Request, Response};
use crate::security::{Guards, OriginPolicy};
use crate::ws::{CloseInfo, Message};
use crate::ws_conn::CLOSE_WAIT_MS;

/// The stream under a connection: queued reads (then `WouldBlock`, or EOF once `eof` is set),
/// a send buffer with `room` bytes left, and the bytes written so far.
struct Fake {
    input: VecDeque<io::Result<Vec<u8>>>,
    eof: bool,
    written: Vec<u8>,
    room: usize,
    write_error: Option<io::ErrorKind>,
    shut: bool,
}

impl Default for Fake {
    fn default() -> Fake {
        Fake {
            input: VecDeque::new(),
            eof: false,
            written: Vec::new(),
            room: usize::MAX,
            write_error: None,
            shut: false,
        }
    }
}

impl Fake {
    fn feed(&mut self, bytes: &[u8]) {
        self.input.push_back(Ok(bytes.to_vec()));
    }

    /// The bytes written since the last call.
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.written)
    }
}

impl Write for Fake {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.write_error {
            return Err(kind.into());
        }
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Fake {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.pop_front() {
            Some(Ok(bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.input.push_front(Ok(bytes[n..].to_vec()));
                }
                Ok(n)
            }
            Some(Err(e)) => Err(e),
            None if self.eof => Ok(0),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn send(&mut self, out: &mut OutQueue) -> io::Result<Flush> {
        out.write_to(self)
    }

    fn shutdown_write(&mut self) {
        self.shut = true;
    }
}

/// What the handlers saw, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, event: String) {
        self.0.lock().expect("log lock").push(event);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("log lock"))
    }
}

/// Logs its hooks and echoes text.
struct Recorder(Log);

impl WebSocketHandler for Recorder {
    fn on_open(&mut self, _ws: &mut WebSocket<'_>) {
        self.0.push("open".into());
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        if let Message::Text(t) = msg {
            self.0.push(format!("message {t}"));
            let _ = ws.write_text(t);
        }
    }

    fn on_shutdown(&mut self, _ws: &mut WebSocket<'_>) {
        self.0.push("shutdown".into());
    }

    fn on_close(&mut self, _id: ConnId, info: &CloseInfo) {
        self.0.push(format!(
            "close {:?} {:?} by server: {}",
            info.code, info.reason, info.initiated_by_server
        ));
    }
}

const HEADER_MS: u32 = 1_000;
const KEEP_ALIVE_MS: u32 = 2_000;
const WS_IDLE_MS: u32 = 3_000;

const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// What a loop gives its connections, with a service that answers `you asked for PATH` and
/// upgrades to a [`Recorder`].
struct Fixture {
    env: Env,
    log: Log,
    scratch: Vec<u8>,
    _poll: Poll,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_scratch(64 * 1024)
    }

    fn with_scratch(len: usize) -> Fixture {
        let poll = Poll::new().expect("poll");
        let waker = Waker::new(poll.registry(), mio::Token(usize::MAX)).expect("waker");
        let addr = "127.0.0.1:3000".parse().expect("addr");
        let handle = ServerHandle::new(vec![Inbox::new(waker)], addr, Duration::ZERO);
        let log = Log::default();
        let for_service = log.clone();
        let service = move |req: &mut Request| {
            if req.is_websocket_upgrade() {
                Reply::Upgrade(Upgrade::new(Box::new(Recorder(for_service.clone()))))
            } else {
                Reply::Response(Response::text(
                    200,
                    format!("you asked for {}\n", req.path()),
                ))
            }
        };
        let config = ServerConfig {
            header_timeout: Duration::from_millis(HEADER_MS.into()),
            keep_alive_timeout: Duration::from_millis(KEEP_ALIVE_MS.into()),
            ws_idle_ping: Duration::from_millis(WS_IDLE_MS.into()),
            ..ServerConfig::default()
        };
        let guards = Guards {
            origins: OriginPolicy::same_origin(),
            cors: None,
        };
        let service: Arc<dyn Service> = Arc::new(service);
        let env = Env::new(
            handle,
            0,
            &config,
            service,
            None,
            Arc::new(guards),
            None,
            100,
        );
        Fixture {
            env,
            log,
            scratch: vec![0; len],
            _poll: poll,
        }
    }

    fn cx(&self, now: u32) -> ConnCx<'_> {
        ConnCx {
            env: &self.env,
            id: ConnId::new(0, 1, 0),
            now,
            stopping: false,
        }
    }

    fn conn(&self) -> Conn<Fake> {
        Conn::new(Fake::default(), "127.0.0.1:40000".parse().expect("addr"), 0)
    }

    /// The poller says the socket is readable (and, with `hup`, that the peer closed its side).
    fn readable(&mut self, conn: &mut Conn<Fake>, now: u32, hup: bool) -> Next {
        let ready = Readiness {
            readable: true,
            hup,
            writable: false,
        };
        self.event(conn, now, ready)
    }

    /// The poller reports `ready`.
    fn event(&mut self, conn: &mut Conn<Fake>, now: u32, ready: Readiness) -> Next {
        let cx = ConnCx {
            env: &self.env,
            id: ConnId::new(0, 1, 0),
            now,
            stopping: false,
        };
        conn.on_ready(ready, &cx, &mut self.scratch)
    }

    fn resume(&mut self, conn: &mut Conn<Fake>, now: u32) -> Next {
        let cx = ConnCx {
            env: &self.env,
            id: ConnId::new(0, 1, 0),
            now,
            stopping: false,
        };
        conn.resume(&cx, &mut self.scratch)
    }

    /// A connection upgraded to WebSocket at time 0, its 101 written and the log cleared.
    fn websocket(&mut self) -> Conn<Fake> {
        let mut conn = self.conn();
        conn.sock.feed(UPGRADE);
        assert_eq!(self.readable(&mut conn, 0, false), Next::Flush);
        assert_eq!(conn.flush(&self.cx(0)), Next::Wait);
        assert!(text(&conn.sock.take()).starts_with("HTTP/1.1 101 "));
        assert_eq!(self.log.take(), ["open"]);
        assert_eq!(self.env.handle.websocket_count(), 1);
        conn
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// A masked client frame (payload under 126 bytes).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A server close frame with `code` and `reason`.
fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut f = vec![0x88, 2 + reason.len() as u8];
    f.extend_from_slice(&code.to_be_bytes());
    f.extend_from_slice(reason.as_bytes());
    f
}

// --- reading ---------------------------------------------------------------------------------

#[test]
fn a_head_read_in_pieces_is_answered_once_complete() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.feed(b"GET /piece HTTP/1.1\r\nHost:");
    assert_eq!(fx.readable(&mut conn, 5, false), Next::Flush);
    assert!(conn.out.is_empty(), "nothing to answer yet");
    assert!(!conn.inbuf.is_empty(), "the partial head is kept");
    conn.sock.feed(b" x\r\n\r\n");
    assert_eq!(fx.readable(&mut conn, 6, false), Next::Flush);
    assert!(conn.inbuf.is_empty());
    assert_eq!(conn.flush(&fx.cx(6)), Next::Wait);
    let answer = text(&conn.sock.take());
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("you asked for /piece\n"), "{answer}");
    assert_eq!(conn.last_active, 6);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.feed(&[request("/one"), request("/two")].concat());
    assert_eq!(fx.readable(&mut conn, 0, false), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(0)), Next::Wait);
    let answers = text(&conn.sock.take());
    let one = answers.find("you asked for /one").expect("first answer");
    let two = answers.find("you asked for /two").expect("second answer");
    assert!(one < two, "{answers}");
}

#[test]
fn the_read_budget_hands_the_turn_back_and_resume_finishes_it() {
    let mut fx = Fixture::with_scratch(64);
    let mut conn = fx.conn();
    let all: Vec<u8> = (0..20).flat_map(|i| request(&format!("/{i:02}"))).collect();
    assert!(all.len() > 9 * 64, "more than the budget's reads");
    conn.sock.feed(&all);
    assert_eq!(fx.readable(&mut conn, 0, false), Next::FlushAndResume);
    assert!(conn.flags.contains(Flags::READ_READY), "more to read");
    assert!(!conn.sock.input.is_empty());
    assert_eq!(fx.resume(&mut conn, 0), Next::Flush);
    assert!(conn.sock.input.is_empty());
    assert_eq!(conn.flush(&fx.cx(0)), Next::Wait);
    let answers = text(&conn.sock.take());
    assert_eq!(answers.matches("HTTP/1.1 200 OK").count(), 20);
    assert!(answers.ends_with("you asked for /19\n"));
}

#[test]
fn eof_before_any_request_drops_the_connection() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.eof = true;
    // A new connection waits for its first head: the drop comes with its flush.
    assert_eq!(fx.readable(&mut conn, 0, true), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(0)), Next::Drop { by_server: false });
    assert!(conn.sock.written.is_empty());
}

#[test]
fn eof_between_requests_drops_the_connection() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.feed(&request("/"));
    assert_eq!(fx.readable(&mut conn, 0, false), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(0)), Next::Wait);
    conn.sock.eof = true;
    let next = fx.readable(&mut conn, 1, true);
    assert_eq!(next, Next::Drop { by_server: false });
}

#[test]
fn a_half_closed_client_still_gets_its_answer() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.feed(&request("/last"));
    conn.sock.eof = true;
    assert_eq!(fx.readable(&mut conn, 0, true), Next::Flush);
    assert!(conn.flags.contains(Flags::PEER_EOF));
    assert_eq!(conn.flush(&fx.cx(0)), Next::Drop { by_server: false });
    assert!(text(&conn.sock.take()).ends_with("you asked for /last\n"));
}

#[test]
fn a_read_error_drops_the_connection() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock
        .input
        .push_back(Err(io::ErrorKind::ConnectionReset.into()));
    let next = fx.readable(&mut conn, 0, false);
    assert_eq!(next, Next::Drop { by_server: false });
}

// --- flushing --------------------------------------------------------------------------------

#[test]
fn a_full_socket_waits_for_writable_then_finishes() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.room = 10;
    conn.sock.feed(&request("/slow"));
    assert_eq!(fx.readable(&mut conn, 0, false), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(0)), Next::Wait);
    assert!(conn.flags.contains(Flags::WRITE_BLOCKED));
    assert_eq!(conn.sock.written.len(), 10);
    // Still blocked: a flush before the writable event does not write.
    assert_eq!(conn.flush(&fx.cx(0)), Next::Wait);
    assert_eq!(conn.sock.written.len(), 10);
    conn.sock.room = usize::MAX;
    let writable = Readiness {
        writable: true,
        ..Readiness::default()
    };
    assert_eq!(fx.event(&mut conn, 1, writable), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(1)), Next::Wait);
    assert!(conn.out.is_empty());
    assert!(text(&conn.sock.take()).ends_with("you asked for /slow\n"));
}

#[test]
fn a_write_error_drops_the_connection() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.write_error = Some(io::ErrorKind::BrokenPipe);
    conn.sock.feed(&request("/"));
    assert_eq!(fx.readable(&mut conn, 0, false), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(0)), Next::Drop { by_server: false });
}

#[test]
fn connection_close_lingers_until_the_peer_finishes() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock
        .feed(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(fx.readable(&mut conn, 0, false), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(0)), Next::Wait);
    assert!(
        conn.sock.shut,
        "our side is shut down once the answer is out"
    );
    assert!(matches!(conn.mode, Mode::Linger { since: 0 }));
    assert!(text(&conn.sock.take()).ends_with("you asked for /bye\n"));
    // Input while lingering is discarded; the peer's FIN ends it.
    conn.sock.feed(b"late bytes");
    conn.sock.eof = true;
    assert_eq!(
        fx.readable(&mut conn, 1, true),
        Next::Drop { by_server: false }
    );
    assert!(conn.sock.written.is_empty());
}

// --- timeouts --------------------------------------------------------------------------------

#[test]
fn a_head_that_does_not_arrive_in_time_gets_408_then_lingers_out() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.feed(b"GET / HTTP/1.1\r\n");
    assert_eq!(fx.readable(&mut conn, 0, false), Next::Flush);
    assert_eq!(conn.on_tick(&fx.cx(HEADER_MS - 1)), Next::Wait);
    assert_eq!(conn.on_tick(&fx.cx(HEADER_MS)), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(HEADER_MS)), Next::Wait);
    assert!(text(&conn.sock.take()).starts_with("HTTP/1.1 408 "));
    assert!(conn.sock.shut);
    let end = HEADER_MS + LINGER_MS;
    assert_eq!(conn.on_tick(&fx.cx(end - 1)), Next::Wait);
    assert_eq!(conn.on_tick(&fx.cx(end)), Next::Drop { by_server: true });
}

#[test]
fn an_idle_keep_alive_connection_is_dropped() {
    let mut fx = Fixture::new();
    let mut conn = fx.conn();
    conn.sock.feed(&request("/"));
    assert_eq!(fx.readable(&mut conn, 100, false), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(100)), Next::Wait);
    // Between requests the header timeout does not run; the keep-alive one does.
    assert_eq!(conn.on_tick(&fx.cx(100 + HEADER_MS)), Next::Wait);
    assert_eq!(conn.on_tick(&fx.cx(100 + KEEP_ALIVE_MS - 1)), Next::Wait);
    assert_eq!(
        conn.on_tick(&fx.cx(100 + KEEP_ALIVE_MS)),
        Next::Drop { by_server: true }
    );
}

#[test]
fn an_idle_websocket_is_pinged_then_given_up_with_1001() {
    let mut fx = Fixture::new();
    let mut conn = fx.websocket();
    assert_eq!(conn.on_tick(&fx.cx(WS_IDLE_MS - 1)), Next::Wait);
    assert_eq!(conn.on_tick(&fx.cx(WS_IDLE_MS)), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(WS_IDLE_MS)), Next::Wait);
    assert_eq!(conn.sock.take(), [0x89, 0x00], "an empty ping");
    assert_eq!(conn.on_tick(&fx.cx(2 * WS_IDLE_MS - 1)), Next::Wait);
    let next = conn.on_tick(&fx.cx(2 * WS_IDLE_MS));
    assert_eq!(next, Next::Drop { by_server: true });
    assert_eq!(conn.sock.take(), close_frame(1001, "idle"));
    conn.finish(&fx.cx(2 * WS_IDLE_MS), true);
    assert_eq!(
        fx.log.take(),
        ["close Some(1006) \"the peer did not answer a ping\" by server: true"]
    );
    assert_eq!(fx.env.handle.websocket_count(), 0);
}

#[test]
fn any_input_answers_the_idle_ping() {
    let mut fx = Fixture::new();
    let mut conn = fx.websocket();
    assert_eq!(conn.on_tick(&fx.cx(WS_IDLE_MS)), Next::Flush);
    conn.sock.feed(&client_frame(0xA, b""));
    let pong_at = WS_IDLE_MS + 500;
    assert_eq!(fx.readable(&mut conn, pong_at, false), Next::Flush);
    assert_eq!(conn.on_tick(&fx.cx(2 * WS_IDLE_MS)), Next::Wait);
    // Idle again for as long: a new ping, not a drop.
    assert_eq!(conn.on_tick(&fx.cx(pong_at + WS_IDLE_MS)), Next::Flush);
    assert!(fx.log.take().is_empty());
}

#[test]
fn a_close_handshake_the_peer_never_finishes_is_dropped() {
    let mut fx = Fixture::new();
    let mut conn = fx.websocket();
    let next = conn.with_ws(&fx.cx(100), "close", |_, ws| ws.close(1000, "bye"));
    assert_eq!(next, Next::Flush);
    assert_eq!(conn.flush(&fx.cx(100)), Next::Wait);
    assert_eq!(conn.sock.take(), close_frame(1000, "bye"));
    // Closing: tasks no longer reach the handler.
    let next = conn.with_ws(&fx.cx(101), "write", |_, ws| {
        let _ = ws.write_text("late");
    });
    assert_eq!(next, Next::Wait);
    assert_eq!(conn.on_tick(&fx.cx(100 + CLOSE_WAIT_MS - 1)), Next::Wait);
    let next = conn.on_tick(&fx.cx(100 + CLOSE_WAIT_MS));
    assert_eq!(next, Next::Drop { by_server: true });
    conn.finish(&fx.cx(100 + CLOSE_WAIT_MS), true);
    assert_eq!(fx.log.take(), ["close Some(1000) \"bye\" by server: true"]);
}

// --- WebSocket ---------------------------------------------------------------------------------

#[test]
fn a_websocket_echoes_then_ends_on_the_peers_close() {
    let mut fx = Fixture::new();
    let mut conn = fx.websocket();
    conn.sock.feed(&client_frame(0x1, b"hi"));
    assert_eq!(fx.readable(&mut conn, 10, false), Next::Flush);
    assert_eq!(conn.flush(&fx.cx(10)), Next::Wait);
    assert_eq!(conn.sock.take(), [0x81, 0x02, b'h', b'i']);
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    conn.sock.feed(&client_frame(0x8, &close));
    assert_eq!(fx.readable(&mut conn, 20, false), Next::Flush);
    // Our answer goes out, `on_close` runs, and the connection lingers for the peer's FIN.
    assert_eq!(conn.flush(&fx.cx(20)), Next::Wait);
    assert_eq!(conn.sock.take(), close_frame(1000, ""));
    assert!(conn.sock.shut);
    assert_eq!(
        fx.log.take(),
        [
            "message hi".to_owned(),
            "close Some(1000) \"done\" by server: false".to_owned()
        ]
    );
    assert_eq!(fx.env.handle.websocket_count(), 0);
    // `finish` after the end does not run `on_close` again.
    conn.finish(&fx.cx(30), true);
    assert!(fx.log.take().is_empty());
}

#[test]
fn a_broadcast_frame_reaches_a_selected_websocket() {
    let mut fx = Fixture::new();
    let mut conn = fx.websocket();
    let id = ConnId::new(0, 1, 0);
    assert!(conn.selected_by(&Filter::all(), id));
    let except = Filter {
        except: Some(id),
        ..Filter::all()
    };
    assert!(!conn.selected_by(&except, id));
    let frame = SharedFrame::text("to all");
    conn.write_shared(&fx.cx(5), &frame);
    assert_eq!(conn.flush(&fx.cx(5)), Next::Wait);
    assert_eq!(conn.sock.take(), frame.as_bytes());
    let http = fx.conn();
    assert!(!http.selected_by(&Filter::all(), id));
}

// --- shutdown --------------------------------------------------------------------------------

#[test]
fn shutdown_drops_idle_http_and_closes_websockets_with_1001() {
    let mut fx = Fixture::new();
    let mut idle = fx.conn();
    assert_eq!(idle.on_shutdown(&fx.cx(0)), Next::Drop { by_server: true });
    let mut busy = fx.conn();
    busy.sock.feed(b"GET / HTTP/1.1\r\n");
    assert_eq!(fx.readable(&mut busy, 0, false), Next::Flush);
    assert_eq!(
        busy.on_shutdown(&fx.cx(0)),
        Next::Wait,
        "a request in progress finishes"
    );
    let mut ws = fx.websocket();
    assert_eq!(ws.on_shutdown(&fx.cx(50)), Next::Flush);
    assert_eq!(fx.log.take(), ["shutdown"]);
    assert_eq!(ws.flush(&fx.cx(50)), Next::Wait);
    assert_eq!(ws.sock.take(), close_frame(1001, "server shutting down"));
}

/// Idle connections must stay small: this is what one costs in the slab, besides the handler's
/// own box and the kernel's socket buffers.
#[test]
fn connection_struct_stays_small() {
    let conn = std::mem::size_of::<Conn>();
    let ws = std::mem::size_of::<WsConn>();
    let http = std::mem::size_of::<HttpConn>();
    println!("size_of Conn = {conn}, WsConn = {ws}, HttpConn = {http}");
    assert!(conn <= 216, "Conn grew to {conn} bytes");
}
