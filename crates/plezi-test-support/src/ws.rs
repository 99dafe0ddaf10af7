//! A blocking WebSocket client (tungstenite) for JSON events. Every read has a deadline; failures
//! name the client (see [`Ws::named`]).

use std::net::{SocketAddr, TcpStream};

use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::protocol::WebSocket;

use crate::DEADLINE;

/// A WebSocket client.
pub struct Ws {
    socket: WebSocket<TcpStream>,
    name: String,
}

/// What the server sent next.
#[derive(Debug, PartialEq)]
pub enum Got {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The close (code and reason), or the end of the stream (no code).
    Closed(Option<u16>, String),
    /// The connection failed without a close (a reset, a broken stream): what the socket said.
    Gone(String),
}

impl Ws {
    /// Connects to `ws://addr/path`; fails the test when the upgrade is refused.
    pub fn connect(addr: SocketAddr, path: &str) -> Ws {
        Ws::try_connect(addr, path, &[]).unwrap_or_else(|e| panic!("ws://{addr}{path}: {e}"))
    }

    /// Connects with a `Cookie` header (a session cookie).
    pub fn connect_with_cookie(addr: SocketAddr, path: &str, cookie: &str) -> Ws {
        Ws::try_connect(addr, path, &[("Cookie", cookie)])
            .unwrap_or_else(|e| panic!("ws://{addr}{path}: {e}"))
    }

    /// Connects with extra request headers, or says why not (`HTTP 401` for a refused upgrade).
    pub fn try_connect(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Ws, String> {
        use tungstenite::client::IntoClientRequest;
        let url = format!("ws://{addr}{path}");
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(DEADLINE))
            .map_err(|e| e.to_string())?;
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
            Ok((socket, _)) => Ok(Ws { socket, name: url }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                Err(format!("HTTP {}", resp.status().as_u16()))
            }
            Err(e) => Err(format!("WebSocket handshake: {e}")),
        }
    }

    /// The name failure messages give this client.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names this client in failure messages.
    pub fn named(mut self, name: &str) -> Ws {
        self.name = name.to_owned();
        self
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        let name = &self.name;
        self.socket
            .send(Message::text(text))
            .unwrap_or_else(|e| panic!("{name}: send: {e}"));
    }

    /// Sends a JSON value as a text message.
    pub fn send(&mut self, value: &Value) {
        self.send_text(&value.to_string());
    }

    /// Sends a text message; false when the connection is already gone.
    pub fn try_send_text(&mut self, text: &str) -> bool {
        self.socket.send(Message::text(text)).is_ok()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) {
        let name = &self.name;
        self.socket
            .send(Message::binary(data.to_vec()))
            .unwrap_or_else(|e| panic!("{name}: send: {e}"));
    }

    /// The next data message or the close; fails after the deadline.
    #[allow(clippy::should_implement_trait)] // blocks, and fails the test at the deadline
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
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("{}: no message within {DEADLINE:?}", self.name)
                }
                Err(e) => return Got::Gone(e.to_string()),
            }
        }
    }

    /// The next text message, as it is.
    pub fn text(&mut self) -> String {
        match self.next() {
            Got::Text(t) => t,
            other => panic!("{}: expected a text message, got {other:?}", self.name),
        }
    }

    /// The next text message, parsed as JSON.
    pub fn json(&mut self) -> Value {
        let text = self.text();
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", self.name))
    }

    /// Expects the connection to close next; returns the code and reason.
    pub fn closed(&mut self) -> (Option<u16>, String) {
        match self.next() {
            Got::Closed(code, reason) => (code, reason),
            other => panic!("{}: expected a close, got {other:?}", self.name),
        }
    }

    /// The next message whose `event` is not one of `skip` (presence chatter, for instance).
    pub fn json_skipping(&mut self, skip: &[&str]) -> Value {
        loop {
            let v = self.json();
            if !skip.iter().any(|s| v["event"] == *s) {
                return v;
            }
        }
    }

    /// Expects `expected` as the very next message (after skipping `skip` events). A `_pos_` (the
    /// message's place in a stream with a history) is compared only when `expected` has one.
    pub fn expect(&mut self, skip: &[&str], expected: &Value, why: &str) {
        let mut got = self.json_skipping(skip);
        if expected.get("_pos_").is_none()
            && let Some(object) = got.as_object_mut()
        {
            object.remove("_pos_");
        }
        assert_eq!(&got, expected, "{}: {why}", self.name);
    }

    /// Proves nothing else is queued for this client: sends an `echo` event with a marker and
    /// expects the marker to be the very next message.
    pub fn nothing_before_echo(&mut self, marker: &str) {
        self.only_echo(&[], marker);
    }

    /// Like [`Ws::nothing_before_echo`], ignoring `skip` events.
    pub fn only_echo(&mut self, skip: &[&str], marker: &str) {
        self.send(&json!({"event": "echo", "marker": marker}));
        let got = self.json_skipping(skip);
        assert_eq!(
            got["marker"], marker,
            "{}: expected only the echo, got {got}",
            self.name
        );
    }

    /// This connection's UUID, through the `whoami` event.
    pub fn whoami(&mut self) -> String {
        self.send(&json!({"event": "whoami"}));
        let got = self.json();
        got["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: whoami answered {got}", self.name))
            .to_owned()
    }

    /// Waits until bytes that arrived for this client and that it has not read contain `needle`,
    /// without reading them (a server frame's text payload is not masked, so it shows as is): the
    /// server wrote them, the application never saw them. Fails after the deadline.
    pub fn peek_until(&self, needle: &str) {
        let stream = self.socket.get_ref();
        let mut buf = vec![0u8; 1 << 16];
        let start = std::time::Instant::now();
        loop {
            let n = stream.peek(&mut buf).unwrap_or(0);
            if buf[..n]
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{}: {needle:?} did not arrive within {DEADLINE:?}",
                self.name
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Resets the connection (TCP RST, no close frame; what the client had not read is lost), as a
    /// client whose network failed.
    pub fn reset(self) {
        crate::reset_on_close(self.socket.get_ref());
    }

    /// Closes the connection and waits for the server's close frame.
    pub fn close(mut self) {
        let _ = self.socket.close(None);
        while self.socket.read().is_ok() {}
    }
}
