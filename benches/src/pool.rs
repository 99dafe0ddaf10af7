//! Opening many WebSocket connections at once, a bounded number of handshakes at a time (so the
//! server's listen backlog never overflows into SYN retransmits), and the per-connection I/O helpers the
//! scenarios share.

use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::net::{self, Target};
use crate::ws::{self, FrameScanner, Upgrade};

/// Handshakes in progress at once.
const MAX_PENDING: usize = 128;

/// One open WebSocket client connection.
pub struct Conn {
    /// The socket (registered with the scenario's poll under `Token(index)`).
    pub stream: TcpStream,
    /// Frame boundaries of what the server sent.
    pub scanner: FrameScanner,
    /// Bytes that arrived with the upgrade response (frames, to feed first).
    pub early: Vec<u8>,
    /// Bytes written only partly; flushed on the next writable event.
    pub unsent: Vec<u8>,
    /// False once the server closed it or it failed.
    pub open: bool,
}

impl Conn {
    /// Writes `bytes` now, queueing what the socket does not take.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.unsent.is_empty() {
            self.unsent.extend_from_slice(bytes);
            return self.flush();
        }
        let mut done = 0;
        while done < bytes.len() {
            match self.stream.write(&bytes[done..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent.extend_from_slice(&bytes[done..]);
        Ok(())
    }

    /// Writes queued bytes (call on a writable event).
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Reads what the socket has into `buf`, handing each chunk to `on_bytes`. Returns false at end of
/// stream. A short read means the socket is drained (edge-triggered readiness fires again for new data),
/// which saves the extra `read` that would only return `WouldBlock`.
pub fn read_available(
    stream: &mut TcpStream,
    buf: &mut [u8],
    mut on_bytes: impl FnMut(&[u8]),
) -> io::Result<bool> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                on_bytes(&buf[..n]);
                if n < buf.len() {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

enum State {
    Connecting,
    Upgrading(Vec<u8>),
    Open,
}

/// Opens `count` WebSocket connections, connection `i` to `targets[i % targets.len()]`, spread over
/// `sources`, each registered with `poll` under `Token(index)` for reading and writing. Fails as a whole
/// on the first refused or broken connection, or when `timeout` passes.
pub fn connect_all(
    poll: &mut Poll,
    targets: &[Target],
    count: usize,
    sources: &[Ipv4Addr],
    timeout: Duration,
) -> Result<Vec<Conn>, String> {
    if targets.is_empty() {
        return Err("no server to connect to".into());
    }
    let requests: Vec<Vec<u8>> = targets
        .iter()
        .map(|t| ws::upgrade_request(&t.host, t.addr.port(), &t.path, t.deflate))
        .collect();
    let deadline = Instant::now() + timeout;
    let mut conns: Vec<Conn> = Vec::with_capacity(count);
    let mut states: Vec<State> = Vec::with_capacity(count);
    let mut pending = 0usize;
    let mut opened = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16 * 1024];
    let target_of = |i: usize| &targets[i % targets.len()];
    let fail = |i: usize, what: &dyn std::fmt::Display| {
        format!(
            "connection {} of {count} to {}: {what}",
            i + 1,
            target_of(i).addr
        )
    };

    while opened < count {
        while pending < MAX_PENDING && conns.len() < count {
            let i = conns.len();
            let src = sources[i % sources.len()];
            let mut stream = net::connect_from(src, target_of(i).addr).map_err(|e| fail(i, &e))?;
            poll.registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| fail(i, &e))?;
            conns.push(Conn {
                stream,
                scanner: FrameScanner::default(),
                early: Vec::new(),
                unsent: Vec::new(),
                open: true,
            });
            states.push(State::Connecting);
            pending += 1;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "only {opened} of {count} connections opened within {timeout:?}; is the server at {} overloaded?",
                target_of(opened).addr
            ));
        }
        poll.poll(&mut events, Some(deadline - now))
            .map_err(|e| format!("poll: {e}"))?;
        for event in events.iter() {
            let i = event.token().0;
            let conn = &mut conns[i];
            if let State::Connecting = states[i] {
                if let Some(e) = conn.stream.take_error().map_err(|e| fail(i, &e))? {
                    return Err(fail(i, &format!("{e} (is the server running?)")));
                }
                match conn.stream.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
                    Err(e) => return Err(fail(i, &e)),
                }
                conn.send(&requests[i % requests.len()])
                    .map_err(|e| fail(i, &e))?;
                states[i] = State::Upgrading(Vec::new());
            }
            if event.is_writable() {
                conn.flush().map_err(|e| fail(i, &e))?;
            }
            let State::Upgrading(head) = &mut states[i] else {
                continue;
            };
            if !event.is_readable() && !event.is_read_closed() {
                continue;
            }
            let alive = read_available(&mut conn.stream, &mut buf, |b| head.extend_from_slice(b))
                .map_err(|e| fail(i, &e))?;
            match ws::check_upgrade(head) {
                Upgrade::Incomplete if alive => {}
                Upgrade::Incomplete => {
                    return Err(fail(i, &"the server closed during the upgrade"));
                }
                Upgrade::Refused(status) => {
                    return Err(fail(i, &format!("upgrade refused: {status}")));
                }
                Upgrade::Done(at)
                    if target_of(i).deflate
                        && ws::find(&head[..at], b"permessage-deflate").is_none() =>
                {
                    return Err(fail(i, &"the server did not accept permessage-deflate"));
                }
                Upgrade::Done(at) => {
                    conn.early = head[at..].to_vec();
                    conn.open = alive;
                    states[i] = State::Open;
                    pending -= 1;
                    opened += 1;
                }
            }
        }
    }
    Ok(conns)
}
