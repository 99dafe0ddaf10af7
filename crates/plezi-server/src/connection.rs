//! One connection as its loop holds it, and what happens to it: readiness from the poller, input
//! read into the loop's scratch buffer and handed to the HTTP or WebSocket layer, output flushed,
//! the clock's timeouts, the server's shutdown, tasks addressed to a WebSocket, and the ways it
//! ends (lingering close, `on_close`). Each is a method that returns [`Next`], what the loop must
//! do: the connection decides, the loop only routes readiness, timers and tasks to it.
//!
//! A connection keeps only what it must between events: leftover bytes of an incomplete head or
//! frame (`inbuf`, unallocated when empty) and its outbound queue (unallocated when empty). It is
//! generic over its [`Transport`], so its tests drive it without a socket.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use mio::net::TcpStream;

use crate::conn_id::ConnId;
use crate::deferred::Responder;
use crate::env::Env;
use crate::flags::{Flags, Readiness};
use crate::handler::{Filter, WebSocket, WebSocketHandler};
use crate::http::{HttpError, Response};
use crate::http_conn::{HttpConn, HttpNext, HttpState, Refill, STREAM_CHUNK};
use crate::next::Next;
use crate::outbound::{Flush, OutQueue};
use crate::panic_guard::guard;
use crate::transport::Transport;
use crate::ws::SharedFrame;
use crate::ws_conn::{WsConn, WsCx, WsTimeout};

/// Reads per readiness event before other connections get a turn.
const READ_BUDGET: usize = 8;
/// Flush rounds (write, refill, `on_drained`) per turn.
const FLUSH_ROUNDS: usize = 4;
/// How long a finished connection waits for the peer's FIN.
const LINGER_MS: u32 = 2_000;

/// What a connection needs from its loop for one call.
pub(crate) struct ConnCx<'a> {
    /// What every connection of the loop shares.
    pub(crate) env: &'a Env,
    /// This connection's id.
    pub(crate) id: ConnId,
    /// The loop clock, in milliseconds.
    pub(crate) now: u32,
    /// The server is shutting down.
    pub(crate) stopping: bool,
}

impl ConnCx<'_> {
    fn ws(&self, peer: SocketAddr) -> WsCx<'_> {
        self.env.ws_cx(self.id, peer, self.now)
    }
}

/// One connection.
pub(crate) struct Conn<T = TcpStream> {
    sock: T,
    flags: Flags,
    /// Loop-clock ms of the last read (and, for HTTP, of the last write progress).
    last_active: u32,
    peer: SocketAddr,
    /// Unconsumed input (an incomplete head or frame); empty and unallocated when idle.
    inbuf: Leftover,
    out: OutQueue,
    mode: Mode,
}

/// Input read but not yet consumed (an incomplete head or frame): one pointer on a connection that
/// has none, which is almost every connection almost all the time.
#[derive(Default)]
pub(crate) struct Leftover(
    #[expect(
        clippy::box_collection,
        reason = "an idle connection holds one pointer here instead of a 24-byte Vec"
    )]
    Option<Box<Vec<u8>>>,
);

impl Leftover {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|b| b.is_empty())
    }

    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.get_or_insert_default().extend_from_slice(bytes);
    }

    /// The bytes, leaving nothing behind.
    fn take(&mut self) -> Vec<u8> {
        self.0.take().map(|b| *b).unwrap_or_default()
    }

    /// Keeps `bytes` (nothing is held for an empty buffer).
    fn put(&mut self, bytes: Vec<u8>) {
        self.0 = (!bytes.is_empty()).then(|| Box::new(bytes));
    }

    fn clear(&mut self) {
        self.0 = None;
    }
}

/// What protocol a connection speaks.
enum Mode {
    /// HTTP/1.1 requests.
    Http(HttpConn),
    /// WebSocket after an upgrade.
    Ws(WsConn),
    /// Finished: our side is shut down for writing; discard input until the peer's FIN.
    Linger {
        /// When lingering began.
        since: u32,
    },
}

impl<T: Transport> Conn<T> {
    /// A connection accepted at `now`; it speaks HTTP until an upgrade.
    pub(crate) fn new(sock: T, peer: SocketAddr, now: u32) -> Conn<T> {
        Conn {
            sock,
            flags: Flags::empty(),
            last_active: now,
            peer,
            inbuf: Leftover::default(),
            out: OutQueue::default(),
            mode: Mode::Http(HttpConn::new(now)),
        }
    }

    /// Puts the connection on one of its loop's lists ([`Flags::DIRTY`], [`Flags::READY`]);
    /// false when it already is on it.
    pub(crate) fn enlist(&mut self, list: Flags) -> bool {
        self.flags.insert(list)
    }

    /// Takes the connection off one of its loop's lists; false when it was not on it.
    pub(crate) fn delist(&mut self, list: Flags) -> bool {
        self.flags.remove(list)
    }

    /// The WebSocket side, while the connection is one.
    /// Bytes queued for this connection and not yet written.
    pub(crate) fn pending(&self) -> usize {
        self.out.pending()
    }

    pub(crate) fn websocket(&self) -> Option<&WsConn> {
        match &self.mode {
            Mode::Ws(ws) => Some(ws),
            Mode::Http(_) | Mode::Linger { .. } => None,
        }
    }

    /// Whether reading more now makes sense (false pauses the connection's input: backpressure
    /// while an HTTP response streams or the outbound queue is over the cap).
    fn accepts_input(&self, max_pending: usize) -> bool {
        match &self.mode {
            Mode::Http(h) => {
                matches!(h.state, HttpState::Head | HttpState::Body(_))
                    && !self.flags.contains(Flags::PEER_EOF)
                    && self.out.pending() < max_pending
            }
            Mode::Ws(_) | Mode::Linger { .. } => !self.flags.contains(Flags::PEER_EOF),
        }
    }

    /// The poller reported `ready` for the socket: note it, and read if there is input.
    pub(crate) fn on_ready(
        &mut self,
        ready: Readiness,
        cx: &ConnCx<'_>,
        scratch: &mut [u8],
    ) -> Next {
        let unblocked = ready.writable && self.flags.remove(Flags::WRITE_BLOCKED);
        if ready.hup {
            self.flags.insert(Flags::HUP);
        }
        if ready.readable {
            self.flags.insert(Flags::READ_READY);
            return self.on_readable(cx, scratch);
        }
        if unblocked { Next::Flush } else { Next::Wait }
    }

    /// Reads what the socket has into the loop's `scratch` buffer (up to [`READ_BUDGET`] reads,
    /// then it asks to resume next turn) and processes it.
    pub(crate) fn on_readable(&mut self, cx: &ConnCx<'_>, scratch: &mut [u8]) -> Next {
        let max_pending = cx.env.ws_limits.max_pending;
        let mut reads = 0;
        while self.flags.contains(Flags::READ_READY) && self.accepts_input(max_pending) {
            if reads == READ_BUDGET {
                return Next::FlushAndResume;
            }
            match self.sock.read(scratch) {
                Ok(0) => {
                    self.flags.insert(Flags::PEER_EOF);
                    self.flags.remove(Flags::READ_READY);
                    return self.on_eof(cx);
                }
                Ok(n) => {
                    reads += 1;
                    self.last_active = cx.now;
                    // A short read emptied the socket buffer; a new edge comes with new data.
                    if n < scratch.len() && !self.flags.contains(Flags::HUP) {
                        self.flags.remove(Flags::READ_READY);
                    }
                    self.on_bytes(cx, scratch, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flags.remove(Flags::READ_READY);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.lost(&e),
            }
        }
        Next::Flush
    }

    /// Continues deferred work: buffered input first, then the socket.
    pub(crate) fn resume(&mut self, cx: &ConnCx<'_>, scratch: &mut [u8]) -> Next {
        self.process_leftover(cx);
        self.on_readable(cx, scratch)
    }

    /// Processes `n` fresh bytes from `scratch` (after any leftover input).
    fn on_bytes(&mut self, cx: &ConnCx<'_>, scratch: &mut [u8], n: usize) {
        if self.inbuf.is_empty() {
            let used = self.process(cx, &mut scratch[..n]);
            if used < n {
                self.inbuf.extend_from_slice(&scratch[used..n]);
            }
        } else {
            self.inbuf.extend_from_slice(&scratch[..n]);
            self.process_leftover(cx);
        }
    }

    /// Processes the connection's buffered input (after a pause, or with appended bytes).
    fn process_leftover(&mut self, cx: &ConnCx<'_>) {
        if self.inbuf.is_empty() {
            return;
        }
        let mut buf = self.inbuf.take();
        let used = self.process(cx, &mut buf);
        buf.drain(..used);
        if !buf.is_empty() && self.inbuf.is_empty() {
            if buf.capacity() > 4 * buf.len() + 4096 {
                buf.shrink_to_fit();
            }
            self.inbuf.put(buf);
        }
    }

    /// Hands `input` to the connection's protocol; returns the bytes consumed.
    fn process(&mut self, cx: &ConnCx<'_>, input: &mut [u8]) -> usize {
        let mut pos = 0;
        loop {
            match &mut self.mode {
                Mode::Http(http) => {
                    let hcx = cx.env.http_cx(self.peer, cx.now, cx.stopping);
                    let (used, next) = http.on_input(&hcx, &mut self.out, &input[pos..]);
                    pos += used;
                    match next {
                        HttpNext::NeedMore | HttpNext::Paused | HttpNext::Close => return pos,
                        HttpNext::Upgrade(ws) => self.upgrade(cx, *ws),
                        HttpNext::Later(later, ticket) => {
                            let responder = Responder::new(cx.id, ticket, cx.env.handle.clone());
                            // A panic drops the responder, which answers 500.
                            guard("a Reply::later closure", || later(responder));
                            return pos;
                        }
                    }
                }
                Mode::Ws(ws) => {
                    return pos + ws.on_input(&mut self.out, &cx.ws(self.peer), &mut input[pos..]);
                }
                Mode::Linger { .. } => return input.len(),
            }
        }
    }

    /// The answer to a deferred request arrived (see `deferred.rs`): it is sent, and the input
    /// that waited behind the request is processed.
    pub(crate) fn on_reply(&mut self, cx: &ConnCx<'_>, ticket: u64, resp: Response) -> Next {
        let Mode::Http(http) = &mut self.mode else {
            return Next::Wait;
        };
        let hcx = cx.env.http_cx(self.peer, cx.now, cx.stopping);
        http.complete(&hcx, &mut self.out, ticket, resp)
            .map_or(Next::Wait, after_deferred_answer)
    }

    /// The switch to WebSocket: the connection is counted and its handler's `on_open` runs.
    fn upgrade(&mut self, cx: &ConnCx<'_>, ws: WsConn) {
        self.mode = Mode::Ws(ws);
        cx.env
            .handle
            .shared
            .websockets
            .fetch_add(1, Ordering::Relaxed);
        if let Mode::Ws(ws) = &mut self.mode {
            ws.with_socket(&mut self.out, &cx.ws(self.peer), "on_open", |h, s| {
                h.on_open(s)
            });
        }
    }

    /// The peer sent FIN.
    fn on_eof(&mut self, cx: &ConnCx<'_>) -> Next {
        match &self.mode {
            // A half-closed HTTP client still gets the answers to what it sent.
            Mode::Http(h) if !h.is_idle() || !self.out.is_empty() || !self.inbuf.is_empty() => {
                self.process_leftover(cx);
                Next::Flush
            }
            Mode::Ws(ws) if ws.is_closed() => Next::Flush,
            _ => Next::Drop { by_server: false },
        }
    }

    /// An I/O error ended the connection.
    fn lost(&self, e: &io::Error) -> Next {
        log::debug!("plezi: connection from {} lost: {e}", self.peer);
        Next::Drop { by_server: false }
    }

    /// Writes what is queued; refills a streamed body; runs `on_drained`; ends a connection that
    /// is finished.
    pub(crate) fn flush(&mut self, cx: &ConnCx<'_>) -> Next {
        // A streamed response finished with the next request's input waiting.
        let mut resume = false;
        for _ in 0..FLUSH_ROUNDS {
            if let Mode::Http(http) = &mut self.mode
                && matches!(http.state, HttpState::Streaming(_))
                && self.out.pending() < STREAM_CHUNK
            {
                match http.refill(&mut self.out) {
                    Ok(Refill::More) => {}
                    Ok(Refill::Done) => resume |= matches!(http.state, HttpState::Head),
                    Err(e) => {
                        log::error!(
                            "plezi: {}: streaming a response body failed: {e}",
                            self.peer
                        );
                        return Next::Drop { by_server: true };
                    }
                }
            }
            let before = self.out.pending();
            if before > 0 && !self.flags.contains(Flags::WRITE_BLOCKED) {
                match self.sock.send(&mut self.out) {
                    Ok(Flush::Blocked) => {
                        self.flags.insert(Flags::WRITE_BLOCKED);
                    }
                    Ok(Flush::Drained) => {}
                    Err(e) => return self.lost(&e),
                }
                if self.out.pending() < before && matches!(self.mode, Mode::Http(_)) {
                    self.last_active = cx.now;
                }
            }
            let next = if !self.out.is_empty() {
                if self.flags.contains(Flags::WRITE_BLOCKED) {
                    Next::Wait
                } else {
                    // Not blocked but not drained: a streamed body with more to come.
                    Next::Resume
                }
            } else {
                match &mut self.mode {
                    Mode::Http(http) => match http.state {
                        HttpState::Streaming(_) => continue,
                        // A half-closed client still gets the deferred answer.
                        HttpState::Waiting(_) => Next::Wait,
                        HttpState::Closing => self.linger(cx.now),
                        HttpState::Head | HttpState::Body(_) => {
                            if self.flags.contains(Flags::PEER_EOF) {
                                Next::Drop { by_server: false }
                            } else if !self.inbuf.is_empty()
                                || self.flags.contains(Flags::READ_READY)
                            {
                                Next::Resume
                            } else {
                                Next::Wait
                            }
                        }
                    },
                    Mode::Ws(ws) if ws.is_open() && before > 0 => {
                        ws.with_socket(&mut self.out, &cx.ws(self.peer), "on_drained", |h, s| {
                            h.on_drained(s)
                        });
                        if self.out.is_empty() && !ws.is_closed() {
                            Next::Wait
                        } else {
                            continue;
                        }
                    }
                    Mode::Ws(ws) if ws.is_closed() => {
                        self.end_ws(cx, false);
                        self.linger(cx.now)
                    }
                    Mode::Ws(_) | Mode::Linger { .. } => Next::Wait,
                }
            };
            return if resume { next.and_resume() } else { next };
        }
        Next::Resume
    }

    /// Shuts our side down and waits (briefly) for the peer's FIN before closing, so the peer
    /// reads everything we sent instead of a reset.
    fn linger(&mut self, now: u32) -> Next {
        self.sock.shutdown_write();
        self.mode = Mode::Linger { since: now };
        self.inbuf.clear();
        self.out = OutQueue::default();
        if self.flags.contains(Flags::PEER_EOF) {
            Next::Drop { by_server: false }
        } else if self.flags.contains(Flags::READ_READY) {
            Next::Resume
        } else {
            Next::Wait
        }
    }

    /// The clock: the header, body-rate and keep-alive timeouts of HTTP, the idle ping and the
    /// close-handshake wait of a WebSocket, the end of lingering.
    pub(crate) fn on_tick(&mut self, cx: &ConnCx<'_>) -> Next {
        let (now, env) = (cx.now, cx.env);
        let t = &env.timeouts;
        let elapsed = |since: u32, limit: u32| now.wrapping_sub(since) >= limit;
        let idle = elapsed(self.last_active, t.keep_alive);
        let out = &mut self.out;
        match &mut self.mode {
            Mode::Http(http) => match (&http.state, http.head_started) {
                (HttpState::Head, Some(started)) if elapsed(started, t.header) => {
                    http.time_out(&env.http_cx(self.peer, now, cx.stopping), out);
                    Next::Flush
                }
                (HttpState::Head, None) if idle && out.is_empty() => Next::Drop { by_server: true },
                // Not while input is paused for backpressure: then we are not reading.
                (HttpState::Body(body), _)
                    if out.pending() < env.ws_limits.max_pending
                        && body.too_slow(now, env.min_body_rate, env.min_body_grace) =>
                {
                    let hcx = env.http_cx(self.peer, now, cx.stopping);
                    http.fail(&hcx, out, &HttpError::BodyTooSlow);
                    Next::Flush
                }
                (HttpState::Body(_), _) if idle => {
                    http.time_out(&env.http_cx(self.peer, now, cx.stopping), out);
                    Next::Flush
                }
                (HttpState::Waiting(_), _) if http.reply_overdue(now, t.reply) => {
                    let hcx = env.http_cx(self.peer, now, cx.stopping);
                    after_deferred_answer(http.reply_timed_out(&hcx, out))
                }
                (HttpState::Streaming(_) | HttpState::Closing, _) if idle => {
                    Next::Drop { by_server: true }
                }
                (HttpState::Head, _) if idle && !out.is_empty() => Next::Drop { by_server: true },
                _ => Next::Wait,
            },
            Mode::Ws(ws) => match ws.on_tick(out, now, self.last_active, t.ws_idle) {
                WsTimeout::NotYet => Next::Wait,
                WsTimeout::Ping => Next::Flush,
                WsTimeout::GiveUp => {
                    // Best effort: the close frame goes out if the socket takes it now.
                    let _ = self.sock.send(out);
                    Next::Drop { by_server: true }
                }
                WsTimeout::Drop => Next::Drop { by_server: true },
            },
            Mode::Linger { since } if elapsed(*since, LINGER_MS) => Next::Drop { by_server: true },
            Mode::Linger { .. } => Next::Wait,
        }
    }

    /// The server begins to stop: an idle HTTP connection is dropped; a WebSocket gets
    /// `on_shutdown`, then close 1001.
    pub(crate) fn on_shutdown(&mut self, cx: &ConnCx<'_>) -> Next {
        match &self.mode {
            Mode::Http(http)
                if matches!(http.state, HttpState::Head)
                    && self.out.is_empty()
                    && self.inbuf.is_empty() =>
            {
                Next::Drop { by_server: true }
            }
            Mode::Ws(_) => self.with_ws(cx, "on_shutdown", |h, ws| {
                h.on_shutdown(ws);
                ws.close(1001, "server shutting down");
            }),
            Mode::Http(_) | Mode::Linger { .. } => Next::Wait,
        }
    }

    /// Runs `f` with the handler of an open WebSocket (nothing when the connection is not one, or
    /// is closing).
    pub(crate) fn with_ws(
        &mut self,
        cx: &ConnCx<'_>,
        what: &str,
        f: impl FnOnce(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) -> Next {
        match &mut self.mode {
            Mode::Ws(ws) if ws.is_open() => {
                ws.with_socket(&mut self.out, &cx.ws(self.peer), what, f);
                Next::Flush
            }
            Mode::Ws(_) | Mode::Http(_) | Mode::Linger { .. } => Next::Wait,
        }
    }

    /// Whether a fan-out with `filter` reaches this connection (an open WebSocket it selects).
    pub(crate) fn selected_by(&self, filter: &Filter, id: ConnId) -> bool {
        self.websocket()
            .is_some_and(|ws| ws.selected_by(filter, id))
    }

    /// Queues a frame shared with other connections (a broadcast), under the outbound cap and
    /// the slow-consumer policy.
    pub(crate) fn write_shared(&mut self, cx: &ConnCx<'_>, frame: &SharedFrame) {
        if let Mode::Ws(ws) = &mut self.mode {
            let _ = ws.write_shared(&mut self.out, &cx.ws(self.peer), frame);
        }
    }

    /// The loop drops the connection now: a WebSocket gets `on_close` with what is known of the
    /// close (`by_server`: we dropped it rather than the peer or the network).
    pub(crate) fn finish(&mut self, cx: &ConnCx<'_>, by_server: bool) {
        self.end_ws(cx, by_server);
    }

    /// Runs `on_close` (once) if the connection is a WebSocket, leaving it in `Linger` mode.
    fn end_ws(&mut self, cx: &ConnCx<'_>, by_server: bool) {
        if !matches!(self.mode, Mode::Ws(_)) {
            return;
        }
        let Mode::Ws(mut ws) = std::mem::replace(&mut self.mode, Mode::Linger { since: cx.now })
        else {
            return;
        };
        cx.env
            .handle
            .shared
            .websockets
            .fetch_sub(1, Ordering::Relaxed);
        ws.on_close(cx.id, by_server);
    }
}

/// What follows a deferred request's answer (or its 504): flush it, and process the input that
/// waited behind it when the connection stays open.
fn after_deferred_answer(next: HttpNext) -> Next {
    match next {
        HttpNext::NeedMore => Next::FlushAndResume,
        _ => Next::Flush,
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
