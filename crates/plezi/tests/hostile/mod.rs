//! Helpers for the attack tests: raw HTTP requests with any headers, a WebSocket client that can
//! send `Origin` and `Cookie` and report close codes, logins, the chat example started under a
//! chosen open-files limit, and the server's RSS. Every read has a deadline.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use plezi_test_support::ws::{Got, Ws};
use serde_json::{Value, json};

use crate::support::DEADLINE;

/// An HTTP answer read from a raw socket.
pub use plezi_test_support::raw::HttpResponse as Reply;

/// Reads one HTTP answer (head, then the body its framing says, or everything up to the close).
pub fn read_reply(s: &mut TcpStream) -> Result<Reply, String> {
    read_answer(s, false)
}

/// Like [`read_reply`]; `head`: the request was HEAD (no body follows the head).
fn read_answer(s: &mut TcpStream, head: bool) -> Result<Reply, String> {
    let stream = s
        .try_clone()
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    plezi_test_support::raw::Client::from_stream(stream)
        .try_read_response(head, DEADLINE)
        .map_err(|e| format!("no answer: {e:?}"))
}

/// Connects to `addr` with the test deadline as read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    s
}

/// Sends `request` as it is on a new connection and reads one answer.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = connect(addr);
    // A server that answers early (413, 403) may close before it read everything: a broken pipe is
    // then part of the attack, not the test's failure.
    let _ = s.write_all(request);
    read_answer(&mut s, request.starts_with(b"HEAD ")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}",
            String::from_utf8_lossy(&request[..request.len().min(200)])
        )
    })
}

/// A request with `Host: addr`, `Connection: close`, the given headers and a body (with its
/// `Content-Length` unless `headers` has one, or the method is GET/HEAD with an empty body).
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_length = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    let bodiless = body.is_empty() && matches!(method, "GET" | "HEAD");
    if !has_length && !bodiless {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"")
}

/// The status of a WebSocket upgrade of `path` with the given extra headers (101 or a refusal).
pub fn upgrade_status(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    raw(addr, head.as_bytes())
}

/// `POST /login` with form `user=NAME`: the session cookie (`name=value`) of the 303 answer.
pub fn login(addr: SocketAddr, user: &str) -> String {
    let reply = request(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("user={user}").as_bytes(),
    );
    assert_eq!(reply.status, 303, "POST /login as {user}: {reply:?}");
    session_cookie(&reply)
}

/// The `name=value` of the first `Set-Cookie` of `reply`.
pub fn session_cookie(reply: &Reply) -> String {
    let set = reply
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no Set-Cookie in {reply:?}"));
    set.split(';').next().unwrap_or_default().trim().to_owned()
}

/// How a WebSocket read ended when it did not give a text message.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// A close frame with this code (1005 when it had none).
    Closed(u16),
    /// The connection ended without a close frame.
    Gone(String),
}

/// A WebSocket client on the chat example that may send `Origin`/`Cookie` and reports how the
/// connection ended.
pub struct Client(Ws);

impl Client {
    /// Connects to `ws://addr/path` with the extra headers; panics when the upgrade is refused.
    pub fn connect(addr: SocketAddr, path: &str, headers: &[(&str, &str)], name: &str) -> Client {
        let ws = Ws::try_connect(addr, path, headers)
            .unwrap_or_else(|e| panic!("{name}: WebSocket handshake with {path}: {e}"));
        Client(ws.named(name))
    }

    /// A guest (no cookie) on `/chat`.
    pub fn guest(addr: SocketAddr, name: &str) -> Client {
        Client::connect(addr, "/chat", &[], name)
    }

    /// A connection on `/chat` with the session `cookie`.
    pub fn with_cookie(addr: SocketAddr, cookie: &str, name: &str) -> Client {
        Client::connect(addr, "/chat", &[("Cookie", cookie)], name)
    }

    /// Sends a JSON value.
    pub fn send(&mut self, value: &Value) {
        self.0.send(value);
    }

    /// Sends a text message as it is.
    pub fn send_text(&mut self, text: String) {
        self.0.send_text(&text);
    }

    /// Sends a JSON value; false when the connection is already gone.
    pub fn try_send(&mut self, value: &Value) -> bool {
        self.0.try_send_text(&value.to_string())
    }

    /// The next text message, or how the connection ended.
    pub fn next(&mut self) -> Result<String, Ended> {
        loop {
            match self.0.next() {
                Got::Text(t) => return Ok(t),
                Got::Binary(_) => continue,
                Got::Closed(code, _) => return Err(Ended::Closed(code.unwrap_or(1005))),
                Got::Gone(e) => return Err(Ended::Gone(e)),
            }
        }
    }

    /// The next message as JSON; panics when the connection ended.
    pub fn json(&mut self) -> Value {
        match self.next() {
            Ok(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", self.0.name())),
            Err(end) => panic!("{}: ended: {end:?}", self.0.name()),
        }
    }

    /// The next message whose `event` is not one of the presence events.
    pub fn event(&mut self) -> Value {
        loop {
            let v = self.json();
            if !matches!(v["event"].as_str(), Some("joined" | "left" | "chat")) {
                return v;
            }
        }
    }

    /// The `whoami` answer.
    pub fn whoami(&mut self) -> Value {
        self.send(&json!({"event": "whoami"}));
        let v = self.event();
        assert_eq!(
            v["event"],
            "whoami",
            "{}: expected the whoami answer, got {v}",
            self.0.name()
        );
        v
    }

    /// Sends an echo with `marker` and expects it as the next event: nothing else was queued.
    pub fn nothing_before_echo(&mut self, marker: &str) {
        self.send(&json!({"event": "echo", "marker": marker}));
        let v = self.event();
        assert_eq!(
            v["marker"],
            marker,
            "{}: expected only the echo, got {v}",
            self.0.name()
        );
    }

    /// Reads until the connection ends; what ended it.
    pub fn ended(&mut self) -> Ended {
        loop {
            if let Err(end) = self.next() {
                return end;
            }
        }
    }
}

/// The resident set of process `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e} (did the server exit?)"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("a VmRSS line")
}
