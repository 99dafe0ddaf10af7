//! Compatibility with the *original* Plezi JavaScript client (upstream Plezi 0.14 – 0.16,
//! `resources/client.js`), checked at the protocol level.
//!
//! The original client cannot be vendored (project rule), so each test reproduces, byte for
//! byte, a message that client puts on the wire and asserts that our reply has the shape it
//! parses. What the original client does, in short (see `docs/client.md`, "Compatibility with
//! the original Plezi client"):
//!
//! - WebSocket: `new WebSocket(url)` where `url` defaults to the page's origin (`http` → `ws`)
//!   plus `location.pathname`, so the page and the socket share one path. Browsers send their
//!   usual handshake (`Origin`, `permessage-deflate` offer, Firefox's `Connection: keep-alive,
//!   Upgrade`), and `ws.close()` with no code sends an empty close frame.
//! - `emit(event, callback)`: `JSON.stringify(event)` with `_EID_` appended last when there is a
//!   timeout (10 ms by default when a callback is given). `_EID_` is the browser's `setTimeout`
//!   id, a positive integer. The `_ack_` reply is matched with `clearTimeout(msg._EID_)` and
//!   `client[msg._EID_]`, so it must carry the very same number, and it must come quickly
//!   (before the handler's work).
//! - Incoming messages are `JSON.parse`d and dispatched by `event` to `client[event]`; anything
//!   else (including our `err` answers) goes to `client.unknown`; `_ack_` never does.
//! - AJAJ: `POST` to the socket URL with `ws` → `http`, header `Content-type: application/json`,
//!   body `JSON.stringify(add ∪ event ∪ {id: event.event})` (key order: `add`'s keys, the
//!   event's keys, then `id`). A `200` reply body is `JSON.parse`d and dispatched like a
//!   WebSocket message (the content type is not looked at); any other status calls the
//!   failure callback. `ajaj.auto` re-sends a timed-out emit this way, `_EID_` included.
//! - Reconnect: after `onclose`, wait `reconnect_interval` and open a new identical WebSocket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use plezi::plezi_messaging::{Bus, BusConfig};
use plezi::prelude::*;
use tungstenite::Message as WsMessage;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocket};

/// How long any single wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// The page's path; the original client's default URL makes it the socket's path too.
const PAGE: &str = "/room";

/// A chat room as an auto-dispatch controller, with a page at its own path.
#[derive(Default)]
struct Room;

impl Room {
    /// `echo` (WebSocket and AJAJ): the received object.
    fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }

    /// `shout` (WebSocket): every other room connection gets a `chat` event.
    fn shout(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Option<Value>, SendError> {
        if cx.is_delivery() {
            return Ok(Some(msg));
        }
        let chat = json!({"event": "chat", "from": cx.id(), "text": msg["text"]});
        cx.broadcast("shout", chat)?;
        Ok(None)
    }

    /// `quiet` (WebSocket and AJAJ): answers nothing.
    fn quiet(&mut self, _cx: &mut Ctx<'_>, _msg: Value) {}
}

impl Controller for Room {
    fn events() -> Events<Self> {
        events![
            both echo => Room::echo,
            ws shout => Room::shout,
            both quiet => Room::quiet,
        ]
    }

    fn index(&mut self, _cx: &mut Ctx<'_>) -> Option<Response> {
        Some(Response::html(
            200,
            "<script src='/client.js'></script><script>var c = new PleziClient();</script>",
        ))
    }
}

/// The room app's configuration on `port` (0: any free port).
fn config(port: u16) -> Config {
    Config {
        port,
        threads: Some(1),
        // Compression off: the browser here is simulated by tungstenite, which does not inflate.
        // Real browsers' compressed exchanges: browser_deflate.rs and browser_chat.rs.
        ws_deflate: Some(None),
        ..Config::default()
    }
}

/// Starts the room app on `port` (0: any free port); fails when the port is taken.
fn try_start(port: u16) -> Result<plezi::Running, plezi::Error> {
    App::with_config(config(port))
        .bus(Bus::in_process(BusConfig::default()))
        .route(PAGE, Room::default)
        .expect("the route is valid")
        .spawn()
}

/// Starts the room app on `port` (0: any free port).
fn start(port: u16) -> plezi::Running {
    try_start(port).expect("the app starts")
}

/// Stops the app the way a browser sees a server restart: every open socket gets the server's
/// `1001 going away` close and answers it (a browser always does), then `onclose` would fire.
fn stop(running: plezi::Running, sockets: Vec<BrowserSocket>) {
    let stopping = std::thread::spawn(move || running.stop());
    for mut ws in sockets {
        assert_eq!(ws.closed(), Some(CloseCode::Away));
    }
    stopping
        .join()
        .expect("stop does not panic")
        .expect("clean stop");
}

/// Which browser's WebSocket handshake to send.
#[derive(Clone, Copy, Debug)]
enum Browser {
    /// Chromium: `Connection: Upgrade`, a `permessage-deflate` offer.
    Chromium,
    /// Firefox: `Connection: keep-alive, Upgrade`, a `permessage-deflate` offer.
    Firefox,
}

/// A WebSocket opened the way `new WebSocket(url)` in a browser opens it.
struct BrowserSocket {
    socket: WebSocket<TcpStream>,
}

impl BrowserSocket {
    /// The original client's `reconnect()`: a browser handshake to `ws://addr{path}`.
    fn open(addr: SocketAddr, path: &str, browser: Browser) -> BrowserSocket {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let head = match browser {
            Browser::Chromium => format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nPragma: no-cache\r\n\
                 Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n\
                 Upgrade: websocket\r\nOrigin: http://{addr}\r\nSec-WebSocket-Version: 13\r\n\
                 Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\
                 Sec-WebSocket-Key: {key}\r\n\
                 Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            ),
            Browser::Firefox => format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; \
                 rv:121.0) Gecko/20100101 Firefox/121.0\r\nAccept: */*\r\n\
                 Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n\
                 Sec-WebSocket-Version: 13\r\nOrigin: http://{addr}\r\n\
                 Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Key: {key}\r\n\
                 Connection: keep-alive, Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
                 Upgrade: websocket\r\n\r\n"
            ),
        };
        stream
            .write_all(head.as_bytes())
            .expect("send the handshake");
        // Read the reply head byte by byte so no frame byte is taken from the socket.
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => reply.push(byte[0]),
                other => panic!(
                    "{browser:?} handshake to {path}: reply ended ({other:?}) after {:?}",
                    String::from_utf8_lossy(&reply)
                ),
            }
        }
        let reply = String::from_utf8_lossy(&reply).into_owned();
        let (status, headers) = parse_head(&reply);
        assert_eq!(status, 101, "{browser:?} handshake to {path}:\n{reply}");
        assert_eq!(
            header(&headers, "sec-websocket-accept"),
            Some(derive_accept_key(key.as_bytes()).as_str()),
            "{reply}"
        );
        // The browser offered permessage-deflate and no subprotocol: with compression off
        // (`Config::ws_deflate`) the server answers with neither.
        assert_eq!(
            header(&headers, "sec-websocket-extensions"),
            None,
            "{reply}"
        );
        assert_eq!(header(&headers, "sec-websocket-protocol"), None, "{reply}");
        BrowserSocket {
            socket: WebSocket::from_raw_socket(stream, Role::Client, None),
        }
    }

    /// `ws.send(text)`: one masked text frame.
    fn send(&mut self, text: &str) {
        self.socket
            .send(WsMessage::text(text))
            .expect("send a text frame");
    }

    /// Sends `text` and returns the next message.
    fn next_after(&mut self, text: &str) -> String {
        self.send(text);
        self.next()
    }

    /// The next message as `onmessage` sees it: `e.data` of a text frame.
    fn next(&mut self) -> String {
        loop {
            match self.socket.read() {
                Ok(WsMessage::Text(t)) => return t.to_string(),
                Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
                Ok(other) => panic!("expected a text message, got {other:?}"),
                Err(e) => panic!("no text message within {DEADLINE:?}: {e}"),
            }
        }
    }

    /// The next message, `JSON.parse`d; it must be an object with a string `event`, which is
    /// what the original client dispatches on.
    fn next_event(&mut self) -> Value {
        let text = self.next();
        let v: Value = serde_json(&text);
        assert!(
            v["event"].is_string(),
            "the original client dispatches on a string `event`: {text}"
        );
        v
    }

    /// Waits for the server's close frame (answering it like a browser) and the end of the
    /// stream; returns the close code the browser's `onclose` would report.
    fn closed(&mut self) -> Option<CloseCode> {
        let mut code = None;
        loop {
            match self.socket.read() {
                Ok(WsMessage::Close(frame)) => code = frame.map(|f| f.code),
                Ok(WsMessage::Text(t)) => panic!("expected the close, got the message {t}"),
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed) => return code,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("the server did not close within {DEADLINE:?}")
                }
                Err(_) => return code,
            }
        }
    }
}

/// Parses JSON text or fails naming it.
fn serde_json(text: &str) -> Value {
    plezi::serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// The status and lower-cased headers of an HTTP reply head.
fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// The first value of header `name` (lower case).
fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// An HTTP reply as `XMLHttpRequest` sees it.
struct XhrReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// A browser's keep-alive HTTP connection, used by `XMLHttpRequest`.
struct Xhr {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Xhr {
    fn connect(addr: SocketAddr) -> Xhr {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        Xhr {
            addr,
            reader: BufReader::new(stream),
        }
    }

    /// The original `ajaj.emit`: `req.open("POST", url)`,
    /// `req.setRequestHeader("Content-type", content_type)`, `req.send(body)`.
    fn post(&mut self, path: &str, content_type: &str, body: &str) -> XhrReply {
        let addr = self.addr;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\
             Content-Length: {}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n\
             Content-type: {content_type}\r\nAccept: */*\r\nOrigin: http://{addr}\r\n\
             Referer: http://{addr}{PAGE}\r\nAccept-Encoding: gzip, deflate, br\r\n\
             Accept-Language: en-US,en;q=0.9\r\n\r\n{body}",
            body.len()
        );
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send the request");
        self.reply()
    }

    /// Reads one reply (`Content-Length` or chunked body).
    fn reply(&mut self) -> XhrReply {
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            let n = self
                .reader
                .read_line(&mut head)
                .unwrap_or_else(|e| panic!("reading the reply head: {e} after {head:?}"));
            assert!(n > 0, "the connection closed after {head:?}");
        }
        let (status, headers) = parse_head(&head);
        let body = if let Some(len) = header(&headers, "content-length") {
            let len: usize = len.parse().expect("a numeric Content-Length");
            let mut body = vec![0u8; len];
            self.reader.read_exact(&mut body).expect("the body");
            body
        } else if header(&headers, "transfer-encoding") == Some("chunked") {
            self.chunked()
        } else {
            panic!("a keep-alive reply needs a length: {head}")
        };
        let body = String::from_utf8(body).expect("a UTF-8 body");
        XhrReply {
            status,
            headers,
            body,
        }
    }

    fn chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            self.reader.read_line(&mut size).expect("a chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
            let mut chunk = vec![0u8; size + 2];
            self.reader.read_exact(&mut chunk).expect("a chunk");
            if size == 0 {
                return body;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

#[test]
fn the_default_url_is_the_pages_own_path_and_both_browsers_handshakes_open() {
    let running = start(0);
    let addr = running.local_addr();
    // The page the client runs in, at the path the socket will use (`location.pathname`).
    let mut xhr = Xhr::connect(addr);
    let request = format!(
        "GET {PAGE} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/html\r\nConnection: keep-alive\r\n\r\n"
    );
    xhr.reader
        .get_mut()
        .write_all(request.as_bytes())
        .expect("send");
    let page = xhr.reply();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("new PleziClient()"), "{}", page.body);
    let mut sockets = Vec::new();
    for browser in [Browser::Chromium, Browser::Firefox] {
        let mut ws = BrowserSocket::open(addr, PAGE, browser);
        ws.send(r#"{"event":"echo","text":"hi"}"#);
        let echo = ws.next_event();
        assert_eq!(echo["event"], "echo", "{browser:?}");
        assert_eq!(echo["text"], "hi", "{browser:?}");
        sockets.push(ws);
    }
    stop(running, sockets);
}

#[test]
fn emit_with_a_callback_gets_the_ack_first_with_the_same_timer_id() {
    let running = start(0);
    let mut ws = BrowserSocket::open(running.local_addr(), PAGE, Browser::Chromium);
    // `emit({event: "echo", text: "hi"}, cb)`: `_EID_` is a `setTimeout` id, appended last.
    for eid in ["1", "17", "2147483647"] {
        ws.send(&format!(r#"{{"event":"echo","text":"hi","_EID_":{eid}}}"#));
        // The ack comes before the handler's answer (the default timeout is only 10 ms), with
        // the same number: `clearTimeout(msg._EID_)` and `client[msg._EID_]` need it.
        assert_eq!(ws.next(), format!(r#"{{"event":"_ack_","_EID_":{eid}}}"#));
        let echo = ws.next_event();
        assert_eq!(echo["event"], "echo");
        assert_eq!(echo["text"], "hi");
        assert_eq!(echo["_EID_"].to_string(), eid);
    }
    // `emit(event)` with no callback and no `emit_timeout`: no `_EID_`, so no `_ack_`; the
    // first message back is the answer.
    ws.send(r#"{"event":"echo","text":"no ack"}"#);
    assert_eq!(ws.next_event()["text"], "no ack");
    // `emit(event, cb)` for a handler that answers nothing: only the ack.
    ws.send(r#"{"event":"quiet","_EID_":4}"#);
    assert_eq!(ws.next(), r#"{"event":"_ack_","_EID_":4}"#);
    ws.send(r#"{"event":"echo","text":"after quiet"}"#);
    assert_eq!(ws.next_event()["text"], "after quiet");
    stop(running, vec![ws]);
}

#[test]
fn unknown_reserved_and_nameless_events_get_an_err_event_and_the_socket_stays_open() {
    let running = start(0);
    let mut ws = BrowserSocket::open(running.local_addr(), PAGE, Browser::Firefox);
    for (sent, eid) in [
        (r#"{"event":"nosuch","_EID_":3}"#, Some(3)),
        (r#"{"event":"close"}"#, None),
        (r#"{"event":"_ack_","_EID_":9}"#, Some(9)),
        (r#"{"text":"no event name"}"#, None),
    ] {
        if let Some(eid) = eid {
            assert_eq!(
                ws.next_after(sent),
                format!(r#"{{"event":"_ack_","_EID_":{eid}}}"#)
            );
        } else {
            ws.send(sent);
        }
        // The original client has no `err` member, so this reaches `client.unknown(msg)`.
        let err = ws.next_event();
        assert_eq!(err["event"], "err", "{sent}");
        assert_eq!(err["status"], 404, "{sent}");
        assert_eq!(err["request"], serde_json(sent), "{sent}");
    }
    ws.send(r#"{"event":"echo","text":"still open"}"#);
    assert_eq!(ws.next_event()["text"], "still open");
    stop(running, vec![ws]);
}

#[test]
fn server_pushed_events_are_dispatched_by_their_event_name() {
    let running = start(0);
    let addr = running.local_addr();
    let mut alice = BrowserSocket::open(addr, PAGE, Browser::Chromium);
    let mut bob = BrowserSocket::open(addr, PAGE, Browser::Firefox);
    // Both connections are open once each has had an answer.
    for ws in [&mut alice, &mut bob] {
        ws.send(r#"{"event":"echo","text":"ready"}"#);
        assert_eq!(ws.next_event()["text"], "ready");
    }
    alice.send(r#"{"event":"shout","text":"hello","_EID_":2}"#);
    assert_eq!(alice.next(), r#"{"event":"_ack_","_EID_":2}"#);
    // Bob's `client.chat(msg)` runs.
    let chat = bob.next_event();
    assert_eq!(chat["event"], "chat");
    assert_eq!(chat["text"], "hello");
    assert!(chat["from"].is_string(), "{chat}");
    // Alice gets nothing else: her next message is the answer to her next emit.
    alice.send(r#"{"event":"echo","text":"only this"}"#);
    assert_eq!(alice.next_event()["text"], "only this");
    stop(running, vec![alice, bob]);
}

#[test]
fn ajaj_emit_posts_json_with_id_and_gets_a_dispatchable_json_reply() {
    let running = start(0);
    let mut xhr = Xhr::connect(running.local_addr());
    // `client.ajaj.add = {token: "abc"}; client.ajaj.emit({event: "echo", text: "over http"})`:
    // `add`'s keys, the event's keys, then `id`.
    let reply = xhr.post(
        PAGE,
        "application/json",
        r#"{"token":"abc","event":"echo","text":"over http","id":"echo"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        header(&reply.headers, "content-type").is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    // `JSON.parse(responseText)` then `___dispatch`: `client.echo(res)` runs.
    let echo = serde_json(&reply.body);
    assert_eq!(echo["event"], "echo");
    assert_eq!(echo["text"], "over http");
    assert_eq!(echo["token"], "abc");

    // Older Firefox appended a charset to an XHR string body's content type.
    let reply = xhr.post(
        PAGE,
        "application/json;charset=UTF-8",
        r#"{"event":"echo","text":"charset","id":"echo"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json(&reply.body)["text"], "charset");

    // `ajaj.auto`: a timed-out emit is re-sent over AJAJ as it was, `_EID_` (the timer id)
    // included. The reply is the handler's answer, never an `_ack_`.
    let reply = xhr.post(
        PAGE,
        "application/json",
        r#"{"event":"echo","text":"late","_EID_":12,"id":"echo"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let echo = serde_json(&reply.body);
    assert_eq!(echo["event"], "echo");
    assert_eq!(echo["text"], "late");

    // An unknown event, or one that is WebSocket-only: not 200, so the original client calls
    // the emit's failure callback with the posted object.
    for (name, body) in [
        ("nosuch", r#"{"event":"nosuch","id":"nosuch"}"#),
        ("shout", r#"{"event":"shout","text":"x","id":"shout"}"#),
    ] {
        let reply = xhr.post(PAGE, "application/json", body);
        assert_eq!(reply.status, 404, "{name}: {}", reply.body);
    }

    // The original keeps an `id` member the event already has (`if (!combined.id)`), so this
    // `ajaj.emit({event: "echo", id: 7})` is routed by `7`, which names no handler.
    let reply = xhr.post(PAGE, "application/json", r#"{"event":"echo","id":7}"#);
    assert_eq!(reply.status, 404, "{}", reply.body);

    // A handler that answers nothing: 200 with an empty body. The original client then
    // `JSON.parse("")`s it, logs a parse error and calls no callback (the original server
    // answered 404 here, which called the failure callback): documented difference.
    let reply = xhr.post(
        PAGE,
        "application/json",
        r#"{"event":"quiet","id":"quiet"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "");
    running.stop().expect("clean stop");
}

#[test]
fn close_without_a_code_is_answered_and_the_connection_ends() {
    let running = start(0);
    let mut ws = BrowserSocket::open(running.local_addr(), PAGE, Browser::Chromium);
    ws.send(r#"{"event":"echo","text":"before close"}"#);
    assert_eq!(ws.next_event()["text"], "before close");
    // `client.close()` → `ws.close()`: a close frame with no status code.
    ws.socket.close(None).expect("send the close frame");
    let code = ws.closed();
    assert!(
        matches!(code, None | Some(CloseCode::Normal | CloseCode::Status)),
        "the server's close answer: {code:?}"
    );
    // The server ends the TCP connection too (RFC 6455 §7.1.1: the server closes first), so
    // the browser's `onclose` fires at once; the browser then closes its side.
    let mut rest = Vec::new();
    let end = ws.socket.get_mut().read_to_end(&mut rest);
    assert!(
        matches!(end, Ok(0)),
        "after the close handshake: {end:?} {rest:?}"
    );
    drop(ws);
    running.stop().expect("clean stop");
}

#[test]
fn a_server_restart_closes_with_going_away_and_the_same_handshake_reconnects() {
    let running = start(0);
    let addr = running.local_addr();
    let mut ws = BrowserSocket::open(addr, PAGE, Browser::Chromium);
    ws.send(r#"{"event":"echo","text":"first life"}"#);
    assert_eq!(ws.next_event()["text"], "first life");
    // The server says `1001 going away`; `onclose` fires and, with `autoreconnect`, the client
    // calls `reconnect()` after `reconnect_interval` (200 ms), again after every failed attempt.
    stop(running, vec![ws]);
    let started = Instant::now();
    let restarted = loop {
        match try_start(addr.port()) {
            Ok(running) => break running,
            Err(e) if started.elapsed() < DEADLINE => {
                eprintln!("port {} not free yet: {e}", addr.port());
                std::thread::sleep(Duration::from_millis(200)); // the client's own retry pace
            }
            Err(e) => panic!("the app did not restart on port {}: {e}", addr.port()),
        }
    };
    let mut ws = BrowserSocket::open(addr, PAGE, Browser::Chromium);
    ws.send(r#"{"event":"echo","text":"second life","_EID_":1}"#);
    assert_eq!(ws.next(), r#"{"event":"_ack_","_EID_":1}"#);
    assert_eq!(ws.next_event()["text"], "second life");
    stop(restarted, vec![ws]);
}
