//! A raw TCP client with deadlines: an HTTP/1.1 response reader and a hand-made WebSocket frame
//! writer/reader. Nothing here trusts the server: every read is bounded by a deadline and every parse
//! failure is reported, so a misbehaving server fails a test instead of hanging it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a single expected event (a response, a frame, an EOF) may take before a test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Why a read did not produce what was asked for.
#[derive(Debug)]
pub enum ReadErr {
    /// The peer closed the stream (or reset it) before the item was complete.
    Eof,
    /// The deadline passed first.
    Timeout,
    /// The bytes received do not parse.
    Protocol(String),
}

/// One HTTP response as received.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// "HTTP/1.1" or "HTTP/1.0".
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Header fields in order received (names as sent).
    pub headers: Vec<(String, String)>,
    /// Decoded body (de-chunked).
    pub body: Vec<u8>,
    /// Whether the body was chunked on the wire.
    pub chunked: bool,
}

impl HttpResponse {
    /// First value of a header, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, case-insensitive.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `Connection` contains the token (case-insensitive).
    pub fn connection_has(&self, token: &str) -> bool {
        self.header_all("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Body as UTF-8 (lossy), for messages and comparisons.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One WebSocket frame as received from the server.
#[derive(Debug, Clone)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 bits (should be zero: no extension is negotiated).
    pub rsv: u8,
    /// Opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong).
    pub opcode: u8,
    /// Whether the frame carried a mask (a server must never mask).
    pub masked: bool,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

/// WebSocket opcodes.
pub mod op {
    /// Continuation.
    pub const CONT: u8 = 0;
    /// Text.
    pub const TEXT: u8 = 1;
    /// Binary.
    pub const BINARY: u8 = 2;
    /// Close.
    pub const CLOSE: u8 = 8;
    /// Ping.
    pub const PING: u8 = 9;
    /// Pong.
    pub const PONG: u8 = 10;
}

impl Frame {
    /// The close code of a close frame (None when the payload is empty or this is not a close frame).
    pub fn close_code(&self) -> Option<u16> {
        if self.opcode == op::CLOSE && self.payload.len() >= 2 {
            Some(u16::from_be_bytes([self.payload[0], self.payload[1]]))
        } else {
            None
        }
    }

    /// Payload as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// The sample key from RFC 6455 §1.3 and its accept value.
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// `Sec-WebSocket-Accept` for [`WS_KEY`].
pub const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A GET upgrade request for `path` with the sample key, plus extra header lines ("Name: value").
pub fn upgrade_request(path: &str, extra: &[&str]) -> String {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req
}

/// Encodes a client frame. `mask: None` writes an unmasked frame (a protocol error for a client).
pub fn encode_frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A fresh, varying (not random: not needed here) masking key.
pub fn next_mask() -> [u8; 4] {
    static N: AtomicU32 = AtomicU32::new(0x1234_5678);
    let n = N.fetch_add(0x9e37_79b9, Ordering::Relaxed);
    n.to_be_bytes()
}

/// Close payload: code + reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// A raw TCP connection with a read buffer.
pub struct Client {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects (panics with the address on failure).
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, STEP)
            .unwrap_or_else(|e| panic!("connect to {addr} failed: {e}"));
        stream.set_nodelay(true).ok();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Wraps an already connected stream.
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_nodelay(true).ok();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all bytes (panics on failure).
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .unwrap_or_else(|e| panic!("write to server failed: {e}"));
    }

    /// Writes all bytes, reporting failure (the server may have closed already).
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        self.stream.write_all(bytes.as_ref())
    }

    /// Shuts down the write half (the server sees EOF).
    pub fn shutdown_write(&mut self) {
        self.stream.shutdown(Shutdown::Write).ok();
    }

    /// Bytes received and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Reads whatever arrives before `deadline` into the buffer. Ok(0) means EOF.
    fn fill(&mut self, deadline: Instant) -> Result<usize, ReadErr> {
        let now = Instant::now();
        if now >= deadline {
            return Err(ReadErr::Timeout);
        }
        let wait = (deadline - now).max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait)).ok();
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(ReadErr::Eof),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(ReadErr::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(_) => Err(ReadErr::Eof), // reset counts as closed
        }
    }

    /// Waits until the server closes the stream; returns the bytes received meanwhile.
    pub fn read_to_eof(&mut self, timeout: Duration) -> Result<Vec<u8>, ReadErr> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline) {
                Ok(_) => continue,
                Err(ReadErr::Eof) => return Ok(std::mem::take(&mut self.buf)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Panics unless the server closes the stream within `timeout`; returns the trailing bytes.
    pub fn expect_eof(&mut self, timeout: Duration) -> Vec<u8> {
        match self.read_to_eof(timeout) {
            Ok(rest) => rest,
            Err(e) => panic!(
                "expected the server to close the connection within {timeout:?}, got {e:?} \
                 (buffered: {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Whether the connection is still open after `wait` of silence (no bytes, no EOF).
    pub fn stays_open(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            match self.fill(deadline) {
                Ok(_) => continue,
                Err(ReadErr::Timeout) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Reads one response. `head`: the request was HEAD (no body follows).
    pub fn try_read_response(
        &mut self,
        head: bool,
        timeout: Duration,
    ) -> Result<HttpResponse, ReadErr> {
        let deadline = Instant::now() + timeout;
        let head_end = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos + 4;
            }
            if self.buf.len() > 1 << 20 {
                return Err(ReadErr::Protocol("response head over 1 MiB".into()));
            }
            self.fill(deadline)?;
        };
        let head_text = String::from_utf8_lossy(&self.buf[..head_end - 4]).into_owned();
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ReadErr::Protocol(format!("bad status line {status_line:?}")))?;
        if !version.starts_with("HTTP/1.") {
            return Err(ReadErr::Protocol(format!(
                "bad status line {status_line:?}"
            )));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| ReadErr::Protocol(format!("bad header line {line:?}")))?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        self.buf.drain(..head_end);
        let mut resp = HttpResponse {
            version,
            status,
            headers,
            body: Vec::new(),
            chunked: false,
        };
        if head || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        if chunked {
            resp.chunked = true;
            resp.body = self.read_chunked(deadline)?;
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl
                .parse()
                .map_err(|_| ReadErr::Protocol(format!("bad Content-Length {cl:?}")))?;
            while self.buf.len() < n {
                self.fill(deadline)?;
            }
            resp.body = self.buf.drain(..n).collect();
        } else {
            // Close-delimited body.
            loop {
                match self.fill(deadline) {
                    Ok(_) => {}
                    Err(ReadErr::Eof) => break,
                    Err(e) => return Err(e),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    fn read_chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, ReadErr> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = find(&self.buf, b"\r\n") {
                    break p;
                }
                self.fill(deadline)?;
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| ReadErr::Protocol(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let end = loop {
                        if let Some(p) = find(&self.buf[line_end + 2..], b"\r\n") {
                            break p;
                        }
                        self.fill(deadline)?;
                    };
                    let start = line_end + 2;
                    let empty = end == 0;
                    self.buf.drain(start..start + end + 2);
                    if empty {
                        break;
                    }
                }
                self.buf.drain(..line_end + 2);
                return Ok(body);
            }
            while self.buf.len() < line_end + 2 + size + 2 {
                self.fill(deadline)?;
            }
            let start = line_end + 2;
            body.extend_from_slice(&self.buf[start..start + size]);
            if &self.buf[start + size..start + size + 2] != b"\r\n" {
                return Err(ReadErr::Protocol("chunk not followed by CRLF".into()));
            }
            self.buf.drain(..start + size + 2);
        }
    }

    /// Reads one response or panics with what went wrong.
    pub fn read_response(&mut self) -> HttpResponse {
        self.try_read_response(false, STEP)
            .unwrap_or_else(|e| panic!("reading a response failed: {e:?}"))
    }

    /// Reads one response to a HEAD request.
    pub fn read_head_response(&mut self) -> HttpResponse {
        self.try_read_response(true, STEP)
            .unwrap_or_else(|e| panic!("reading a HEAD response failed: {e:?}"))
    }

    /// Sends a request and reads its response.
    pub fn request(&mut self, raw: impl AsRef<[u8]>) -> HttpResponse {
        self.send(raw);
        self.read_response()
    }

    /// Reads one WebSocket frame.
    pub fn try_read_frame(&mut self, timeout: Duration) -> Result<Frame, ReadErr> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf)? {
                self.buf.drain(..used);
                return Ok(frame);
            }
            self.fill(deadline)?;
        }
    }

    /// Reads one frame or panics.
    pub fn read_frame(&mut self) -> Frame {
        self.try_read_frame(STEP)
            .unwrap_or_else(|e| panic!("reading a WebSocket frame failed: {e:?}"))
    }

    /// Reads frames, answering nothing, until a data frame (text/binary/continuation) arrives;
    /// pings and pongs are skipped. Panics on close or timeout.
    pub fn read_data_frame(&mut self) -> Frame {
        loop {
            let f = self.read_frame();
            match f.opcode {
                op::PING | op::PONG => continue,
                op::CLOSE => panic!("expected a data frame, got close {:?}", f.close_code()),
                _ => return f,
            }
        }
    }

    /// Reads frames until a close frame arrives (skipping data, pings, pongs); returns it.
    pub fn read_until_close(&mut self, timeout: Duration) -> Result<Frame, ReadErr> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let f = self.try_read_frame(left)?;
            if f.opcode == op::CLOSE {
                return Ok(f);
            }
        }
    }

    /// Sends one masked client frame.
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let bytes = encode_frame(fin, opcode, payload, Some(next_mask()));
        self.send(bytes);
    }

    /// Sends a masked text message in one frame.
    pub fn send_text(&mut self, text: &str) {
        self.send_frame(true, op::TEXT, text.as_bytes());
    }

    /// Sends a masked binary message in one frame.
    pub fn send_binary(&mut self, data: &[u8]) {
        self.send_frame(true, op::BINARY, data);
    }

    /// Sends a masked close frame.
    pub fn send_close(&mut self, code: u16, reason: &str) {
        self.send_frame(true, op::CLOSE, &close_payload(code, reason));
    }

    /// Performs the upgrade on `path` (panics unless 101 with the right accept key).
    pub fn ws_handshake(&mut self, path: &str, extra: &[&str]) -> HttpResponse {
        self.send(upgrade_request(path, extra));
        let resp = self.read_head_response();
        assert_eq!(resp.status, 101, "upgrade on {path} refused: {resp:?}");
        assert_eq!(
            resp.header("sec-websocket-accept"),
            Some(WS_ACCEPT),
            "{resp:?}"
        );
        assert!(
            resp.header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket")),
            "101 without Upgrade: websocket: {resp:?}"
        );
        assert!(
            resp.connection_has("upgrade"),
            "101 without Connection: Upgrade: {resp:?}"
        );
        resp
    }

    /// Connects and upgrades on `path`.
    pub fn ws_connect(addr: SocketAddr, path: &str) -> Client {
        let mut c = Client::connect(addr);
        c.ws_handshake(path, &[]);
        c
    }

    /// Expects a text message in a single frame and returns it.
    pub fn expect_text(&mut self) -> String {
        let f = self.read_data_frame();
        assert_eq!(f.opcode, op::TEXT, "expected a text frame, got {f:?}");
        assert!(f.fin, "expected a single-frame message, got {f:?}");
        assert!(!f.masked, "server frames must not be masked");
        f.text()
    }

    /// Reads one whole message (reassembling fragments): (opcode, payload).
    pub fn read_message(&mut self) -> (u8, Vec<u8>) {
        let first = self.read_data_frame();
        assert_ne!(
            first.opcode,
            op::CONT,
            "message started with a continuation frame"
        );
        let mut payload = first.payload;
        let mut fin = first.fin;
        while !fin {
            let f = self.read_data_frame();
            assert_eq!(
                f.opcode,
                op::CONT,
                "expected a continuation frame, got {f:?}"
            );
            payload.extend_from_slice(&f.payload);
            fin = f.fin;
        }
        (first.opcode, payload)
    }

    /// Client-initiated close: sends `code`, expects the server's close echo and then EOF.
    pub fn close_handshake(&mut self, code: u16) -> Frame {
        self.send_close(code, "done");
        let f = self
            .read_until_close(STEP)
            .unwrap_or_else(|e| panic!("no close frame after sending close {code}: {e:?}"));
        self.expect_eof(STEP);
        f
    }
}

/// Parses one server frame from the front of `buf`: Ok(None) when incomplete.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ReadErr> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let rsv = (buf[0] >> 4) & 0x07;
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let mut pos = 2;
    let len = match buf[1] & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            pos = 4;
            u16::from_be_bytes([buf[2], buf[3]]) as usize
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            pos = 10;
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let n = u64::from_be_bytes(b);
            if n > 1 << 34 {
                return Err(ReadErr::Protocol(format!("absurd frame length {n}")));
            }
            n as usize
        }
        n => n as usize,
    };
    let mut key = [0u8; 4];
    if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        key.copy_from_slice(&buf[pos..pos + 4]);
        pos += 4;
    }
    if buf.len() < pos + len {
        return Ok(None);
    }
    let mut payload = buf[pos..pos + len].to_vec();
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Some((
        Frame {
            fin,
            rsv,
            opcode,
            masked,
            payload,
        },
        pos + len,
    )))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
