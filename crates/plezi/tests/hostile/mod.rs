//! Helpers for the attack tests: raw HTTP requests with any headers, a WebSocket client that can
//! send `Origin` and `Cookie` and report close codes, logins, the chat example started under a
//! chosen open-files limit, and the server's RSS. Every read has a deadline.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocket;

use crate::support::DEADLINE;

/// An HTTP answer read from a raw socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// Every value of header `name`.
    pub fn headers(&self, name: &str) -> Vec<String> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one HTTP answer (head, then a `Content-Length` body or everything up to the close).
pub fn read_reply(s: &mut TcpStream) -> Result<Reply, String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let started = Instant::now();
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if started.elapsed() > DEADLINE {
            return Err(format!("no answer head within {DEADLINE:?}"));
        }
        match s.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "closed without an answer (got {:?})",
                    String::from_utf8_lossy(&raw)
                ));
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("no answer head within {DEADLINE:?}"));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(format!(
                    "reading the answer: {e} (got {:?})",
                    String::from_utf8_lossy(&raw)
                ));
            }
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let mut reply = Reply {
        status,
        head,
        body: raw[head_end + 4..].to_vec(),
    };
    let length = reply
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if status == 101 || status == 304 || status == 204 {
        return Ok(reply);
    }
    loop {
        if length.is_some_and(|len| reply.body.len() >= len) {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.body.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if let Some(len) = length {
        reply.body.truncate(len);
    }
    Ok(reply)
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
    read_reply(&mut s).unwrap_or_else(|e| {
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

/// A WebSocket client that may send `Origin`/`Cookie`.
pub struct Client {
    socket: WebSocket<TcpStream>,
    name: String,
}

impl Client {
    /// Connects to `ws://addr/path` with the extra headers; panics when the upgrade is refused.
    pub fn connect(addr: SocketAddr, path: &str, headers: &[(&str, &str)], name: &str) -> Client {
        let url = format!("ws://{addr}{path}");
        let mut req = url
            .as_str()
            .into_client_request()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        for (k, v) in headers {
            let value = HeaderValue::from_str(v).expect("a valid header value");
            let key: tungstenite::http::HeaderName = k.parse().expect("a valid header name");
            req.headers_mut().insert(key, value);
        }
        let stream = connect(addr);
        let (socket, _) = tungstenite::client::client(req, stream)
            .unwrap_or_else(|e| panic!("{name}: WebSocket handshake with {url}: {e}"));
        Client {
            socket,
            name: name.to_owned(),
        }
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
        self.send_text(value.to_string());
    }

    /// Sends a text message as it is.
    pub fn send_text(&mut self, text: String) {
        let name = &self.name;
        self.socket
            .send(Message::text(text))
            .unwrap_or_else(|e| panic!("{name}: send: {e}"));
    }

    /// Sends a JSON value; false when the connection is already gone.
    pub fn try_send(&mut self, value: &Value) -> bool {
        self.socket.send(Message::text(value.to_string())).is_ok()
    }

    /// The next text message, or how the connection ended.
    pub fn next(&mut self) -> Result<String, Ended> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(t)) => return Ok(t.to_string()),
                Ok(Message::Close(f)) => {
                    return Err(Ended::Closed(f.map_or(1005, |f| u16::from(f.code))));
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    panic!("{}: no message within {DEADLINE:?}", self.name)
                }
                Err(e) => return Err(Ended::Gone(e.to_string())),
            }
        }
    }

    /// The next message as JSON; panics when the connection ended.
    pub fn json(&mut self) -> Value {
        match self.next() {
            Ok(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", self.name)),
            Err(end) => panic!("{}: ended: {end:?}", self.name),
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
            v["event"], "whoami",
            "{}: expected the whoami answer, got {v}",
            self.name
        );
        v
    }

    /// Sends an echo with `marker` and expects it as the next event: nothing else was queued.
    pub fn nothing_before_echo(&mut self, marker: &str) {
        self.send(&json!({"event": "echo", "marker": marker}));
        let v = self.event();
        assert_eq!(
            v["marker"], marker,
            "{}: expected only the echo, got {v}",
            self.name
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
