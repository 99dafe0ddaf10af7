//! Test harness: a dispatch application on a real server (port 0), a blocking WebSocket client
//! (tungstenite) and a raw HTTP/1.1 client. Every wait has a deadline; nothing sleeps.
#![allow(dead_code)]

pub mod controllers;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use plezi_dispatch::{Dispatcher, Routes};
use plezi_messaging::{Bus, BusConfig};
use plezi_server::{RunningServer, Server};
use serde_json::Value;
use tungstenite::Message;
use tungstenite::protocol::WebSocket;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A running application.
pub struct TestApp {
    pub server: RunningServer,
    pub dispatcher: Dispatcher,
    pub addr: SocketAddr,
}

impl TestApp {
    /// Serves `routes` on an in-process bus, two event loops, a free port.
    pub fn start(routes: Routes) -> TestApp {
        TestApp::start_on(routes, Bus::in_process(BusConfig::default()))
    }

    /// Serves `routes` on `bus`.
    pub fn start_on(routes: Routes, bus: Bus) -> TestApp {
        let dispatcher = Dispatcher::new(routes, bus);
        let server = Server::builder()
            .bind("127.0.0.1:0")
            .threads(2)
            .service(dispatcher.service())
            .build()
            .expect("the test server binds");
        dispatcher.attach(server.handle());
        let addr = server.local_addr();
        let server = server.spawn().expect("the test server starts");
        TestApp {
            server,
            dispatcher,
            addr,
        }
    }

    /// A WebSocket client connected to `path`.
    pub fn ws(&self, path: &str) -> Ws {
        Ws::connect(self.addr, path).unwrap_or_else(|e| panic!("WebSocket to {path}: {e}"))
    }

    /// One HTTP request (`Connection: close`).
    pub fn http(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpReply {
        http(self.addr, method, target, headers, body)
    }

    /// A JSON POST.
    pub fn post_json(&self, target: &str, body: &Value) -> HttpReply {
        self.http(
            "POST",
            target,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }
}

/// A blocking WebSocket client.
pub struct Ws {
    socket: WebSocket<TcpStream>,
}

/// What the server did instead of sending a message.
#[derive(Debug, PartialEq)]
pub enum Got {
    Text(String),
    Binary(Vec<u8>),
    Closed(Option<u16>, String),
}

impl Ws {
    /// Connects, or returns the handshake failure (e.g. an HTTP 404).
    pub fn connect(addr: SocketAddr, path: &str) -> Result<Ws, String> {
        Ws::connect_with(addr, path, &[])
    }

    /// Connects with extra request headers (e.g. `Cookie`), or returns the handshake failure.
    pub fn connect_with(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Ws, String> {
        use tungstenite::client::IntoClientRequest;
        let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(DEADLINE))
            .map_err(|e| e.to_string())?;
        let url = format!("ws://{addr}{path}");
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        for (name, value) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| e.to_string())?;
            let value =
                tungstenite::http::HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            request.headers_mut().insert(name, value);
        }
        match tungstenite::client::client(request, stream) {
            Ok((socket, _)) => Ok(Ws { socket }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                Err(format!("HTTP {}", resp.status().as_u16()))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).expect("send");
    }

    /// Sends a JSON value.
    pub fn send(&mut self, value: &Value) {
        self.send_text(&value.to_string());
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) {
        self.socket
            .send(Message::binary(data.to_vec()))
            .expect("send");
    }

    /// The next data message or the close.
    pub fn next(&mut self) -> Got {
        loop {
            match self.socket.read() {
                Ok(Message::Text(t)) => return Got::Text(t.to_string()),
                Ok(Message::Binary(b)) => return Got::Binary(b.to_vec()),
                Ok(Message::Close(frame)) => {
                    return match frame {
                        Some(f) => Got::Closed(Some(u16::from(f.code)), f.reason.to_string()),
                        None => Got::Closed(None, String::new()),
                    };
                }
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Got::Closed(None, String::new());
                }
                Err(e) => panic!("reading from the server: {e}"),
            }
        }
    }

    /// The next text message.
    pub fn text(&mut self) -> String {
        match self.next() {
            Got::Text(t) => t,
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// The next text message, parsed as JSON.
    pub fn json(&mut self) -> Value {
        let text = self.text();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Expects the connection to close; returns the code and reason.
    pub fn closed(&mut self) -> (Option<u16>, String) {
        match self.next() {
            Got::Closed(code, reason) => (code, reason),
            other => panic!("expected a close, got {other:?}"),
        }
    }

    /// Proves nothing else is queued for this client: sends an `echo` with a marker and expects
    /// the marker to be the very next message.
    pub fn nothing_before_echo(&mut self, marker: &str) {
        self.send(&serde_json::json!({"event": "echo", "marker": marker}));
        let got = self.json();
        assert_eq!(got["marker"], marker, "expected only the echo, got {got}");
    }

    /// This connection's UUID, through the `whoami` event.
    pub fn whoami(&mut self) -> String {
        self.send(&serde_json::json!({"event": "whoami"}));
        let got = self.json();
        got["id"]
            .as_str()
            .unwrap_or_else(|| panic!("whoami: {got}"))
            .to_owned()
    }
}

/// An HTTP reply.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), read to the end.
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(req.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let started = Instant::now();
    let mut raw = Vec::new();
    loop {
        let mut buf = [0u8; 8192];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the HTTP reply after {:?}: {e}", started.elapsed()),
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpReply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Polls `f` until it returns `Some`, failing after the deadline.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10)); // polling with a deadline
    }
}
