//! A blocking WebSocket client (tungstenite) for JSON events. Every read has a deadline.

use std::net::{SocketAddr, TcpStream};

use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::protocol::WebSocket;

use super::DEADLINE;

/// A WebSocket client; failures name it (see [`Ws::named`]).
pub struct Ws {
    socket: WebSocket<TcpStream>,
    name: String,
}

impl Ws {
    /// Connects to `ws://addr/path`.
    pub fn connect(addr: SocketAddr, path: &str) -> Ws {
        Ws::try_connect(addr, path, None).unwrap_or_else(|e| panic!("ws://{addr}{path}: {e}"))
    }

    /// Connects with a `Cookie` header (a session cookie from `ExampleProcess::login`).
    pub fn connect_with_cookie(addr: SocketAddr, path: &str, cookie: &str) -> Ws {
        Ws::try_connect(addr, path, Some(cookie))
            .unwrap_or_else(|e| panic!("ws://{addr}{path}: {e}"))
    }

    /// Connects, or says why not (`HTTP 401` for a refused upgrade).
    pub fn try_connect(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Result<Ws, String> {
        use tungstenite::client::IntoClientRequest;
        let url = format!("ws://{addr}{path}");
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        if let Some(cookie) = cookie {
            let value =
                tungstenite::http::HeaderValue::from_str(cookie).map_err(|e| e.to_string())?;
            request.headers_mut().insert("Cookie", value);
        }
        match tungstenite::client::client(request, stream) {
            Ok((socket, _)) => Ok(Ws { socket, name: url }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                Err(format!("HTTP {}", resp.status().as_u16()))
            }
            Err(e) => Err(format!("WebSocket handshake: {e}")),
        }
    }

    /// Names this client in failure messages.
    pub fn named(mut self, name: &str) -> Ws {
        self.name = name.to_owned();
        self
    }

    /// Sends a JSON value as a text message.
    pub fn send(&mut self, value: &Value) {
        let name = &self.name;
        self.socket
            .send(Message::text(value.to_string()))
            .unwrap_or_else(|e| panic!("{name}: send: {e}"));
    }

    /// The next text message, as it is.
    pub fn text(&mut self) -> String {
        loop {
            match self.socket.read() {
                Ok(Message::Text(t)) => return t.to_string(),
                Ok(Message::Close(f)) => panic!("{}: closed by the server: {f:?}", self.name),
                Ok(Message::Binary(b)) => panic!("{}: unexpected binary message {b:?}", self.name),
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("{}: no message within {DEADLINE:?}", self.name)
                }
                Err(e) => panic!("{}: reading: {e}", self.name),
            }
        }
    }

    /// The next text message, parsed as JSON.
    pub fn json(&mut self) -> Value {
        let text = self.text();
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", self.name))
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

    /// Expects `expected` as the very next message (after skipping `skip` events).
    pub fn expect(&mut self, skip: &[&str], expected: &Value, why: &str) {
        let got = self.json_skipping(skip);
        assert_eq!(&got, expected, "{}: {why}", self.name);
    }

    /// Sends an `echo` with a marker and expects it next: nothing else was queued for this
    /// client before it.
    pub fn nothing_before_echo(&mut self, marker: &str) {
        self.only_echo(&[], marker);
    }

    /// Like [`Ws::nothing_before_echo`], ignoring `skip` events (presence chatter, for instance).
    pub fn only_echo(&mut self, skip: &[&str], marker: &str) {
        self.send(&json!({"event": "echo", "marker": marker}));
        let got = self.json_skipping(skip);
        assert_eq!(
            got["marker"], marker,
            "{}: expected only the echo, got {got}",
            self.name
        );
    }

    /// This connection's UUID (the `whoami` event).
    pub fn whoami(&mut self) -> String {
        self.send(&json!({"event": "whoami"}));
        let got = self.json();
        got["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: whoami answered {got}", self.name))
            .to_owned()
    }

    /// Closes the connection and waits for the server's close frame.
    pub fn close(mut self) {
        let _ = self.socket.close(None);
        while self.socket.read().is_ok() {}
    }
}
