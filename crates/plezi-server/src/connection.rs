//! One connection as the loop holds it, and the loop's per-connection operations: reading into
//! the loop's scratch buffer, handing bytes to the HTTP or WebSocket layer, flushing the outbound
//! queue, and the ways a connection ends (lingering close, abort, `on_close`).
//!
//! A connection keeps only what it must between events: leftover bytes of an incomplete head or
//! frame (`inbuf`, unallocated when empty) and its outbound queue (unallocated when empty).

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;

use mio::net::TcpStream;

use crate::conn_id::ConnId;
use crate::event_loop::EventLoop;
use crate::http_conn::{HttpConn, HttpNext, HttpState, Refill, STREAM_CHUNK};
use crate::outbound::{Flush, OutQueue};
use crate::panic_guard::guard;
use crate::socket_sink::SocketSink;
use crate::ws::CloseInfo;
use crate::ws_conn::{Phase, WsConn};

/// The socket may have bytes to read (edge-triggered readiness not yet consumed).
pub(crate) const READ_READY: u8 = 1;
/// The last write hit a full kernel buffer; wait for a writable event.
pub(crate) const WRITE_BLOCKED: u8 = 2;
/// Listed for a flush at the end of this loop turn.
pub(crate) const DIRTY: u8 = 4;
/// The peer sent FIN.
pub(crate) const PEER_EOF: u8 = 8;
/// The peer hung up (read until EOF, do not trust short reads).
pub(crate) const HUP: u8 = 16;
/// Listed to continue work next turn.
pub(crate) const READY: u8 = 32;
/// Dirty with fan-out frames only, waiting (the loop lags) so that more can join them.
pub(crate) const DEFERRED: u8 = 64;

/// Reads per readiness event before other connections get a turn.
const READ_BUDGET: usize = 8;
/// Flush rounds (write, refill, on_drained) per turn.
const FLUSH_ROUNDS: usize = 4;

/// One connection.
pub(crate) struct Conn {
    pub(crate) sock: TcpStream,
    pub(crate) flags: u8,
    /// Loop-clock ms of the last read (and, for HTTP, of the last write progress).
    pub(crate) last_active: u32,
    pub(crate) peer: SocketAddr,
    /// Unconsumed input (an incomplete head or frame); empty and unallocated when idle.
    pub(crate) inbuf: Vec<u8>,
    pub(crate) out: OutQueue,
    pub(crate) mode: Mode,
}

/// What protocol a connection speaks.
pub(crate) enum Mode {
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

impl Conn {
    pub(crate) fn new(sock: TcpStream, peer: SocketAddr, now: u32) -> Conn {
        Conn {
            sock,
            flags: 0,
            last_active: now,
            peer,
            inbuf: Vec::new(),
            out: OutQueue::default(),
            mode: Mode::Http(HttpConn::new(now)),
        }
    }

    /// Whether reading more now makes sense (false pauses the connection's input: backpressure
    /// while an HTTP response streams or the outbound queue is over the cap).
    fn accepts_input(&self, max_pending: usize) -> bool {
        match &self.mode {
            Mode::Http(h) => {
                matches!(h.state, HttpState::Head | HttpState::Body(_))
                    && self.flags & PEER_EOF == 0
                    && self.out.pending() < max_pending
            }
            Mode::Ws(_) | Mode::Linger { .. } => self.flags & PEER_EOF == 0,
        }
    }
}

impl EventLoop {
    /// Marks a connection for a flush at the end of this turn (also one whose fan-out frames
    /// were waiting: its own output does not wait).
    pub(crate) fn mark_dirty(&mut self, slot: u32) {
        if let Some(conn) = self.conns.get_mut(slot)
            && (conn.flags & DIRTY == 0 || conn.flags & DEFERRED != 0)
        {
            conn.flags = (conn.flags | DIRTY) & !DEFERRED;
            self.dirty.push(slot);
        }
    }

    /// Lists a connection to continue next turn (budget exhausted, input to resume).
    pub(crate) fn mark_ready(&mut self, slot: u32) {
        if let Some(conn) = self.conns.get_mut(slot)
            && conn.flags & READY == 0
        {
            conn.flags |= READY;
            self.ready.push(slot);
        }
    }

    /// Reads what the socket has (within the budget) and processes it.
    pub(crate) fn pump(&mut self, slot: u32) {
        let max_pending = self.env.ws_limits.max_pending;
        let mut reads = 0;
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            if conn.flags & READ_READY == 0 || !conn.accepts_input(max_pending) {
                break;
            }
            if reads == READ_BUDGET {
                self.mark_ready(slot);
                break;
            }
            match conn.sock.read(&mut self.scratch) {
                Ok(0) => {
                    conn.flags = (conn.flags | PEER_EOF) & !READ_READY;
                    self.on_eof(slot);
                    return;
                }
                Ok(n) => {
                    reads += 1;
                    conn.last_active = self.now;
                    // A short read emptied the socket buffer; a new edge comes with new data.
                    if n < self.scratch.len() && conn.flags & HUP == 0 {
                        conn.flags &= !READ_READY;
                    }
                    self.on_bytes(slot, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.flags &= !READ_READY;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.abort(slot, &e);
                    return;
                }
            }
        }
        self.mark_dirty(slot);
    }

    /// Processes `n` fresh bytes from the scratch buffer (after any leftover input).
    fn on_bytes(&mut self, slot: u32, n: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.inbuf.is_empty() {
            let mut scratch = std::mem::take(&mut self.scratch);
            let used = self.process(slot, &mut scratch[..n]);
            if used < n
                && let Some(conn) = self.conns.get_mut(slot)
            {
                conn.inbuf.extend_from_slice(&scratch[used..n]);
            }
            self.scratch = scratch;
        } else {
            conn.inbuf.extend_from_slice(&self.scratch[..n]);
            self.process_leftover(slot);
        }
    }

    /// Processes the connection's buffered input (after a pause, or with appended bytes).
    pub(crate) fn process_leftover(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.inbuf.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut conn.inbuf);
        let used = self.process(slot, &mut buf);
        buf.drain(..used);
        if let Some(conn) = self.conns.get_mut(slot)
            && !buf.is_empty()
            && conn.inbuf.is_empty()
        {
            if buf.capacity() > 4 * buf.len() + 4096 {
                buf.shrink_to_fit();
            }
            conn.inbuf = buf;
        }
    }

    /// Hands `input` to the connection's protocol; returns the bytes consumed.
    fn process(&mut self, slot: u32, input: &mut [u8]) -> usize {
        let Some(generation) = self.conns.generation(slot) else {
            return input.len();
        };
        let id = ConnId::new(self.index, slot, generation);
        let mut pos = 0;
        loop {
            let now = self.now;
            let stopping = self.stopping;
            let EventLoop {
                conns, env, tags, ..
            } = self;
            let Some(conn) = conns.get_mut(slot) else {
                return input.len();
            };
            match &mut conn.mode {
                Mode::Http(http) => {
                    let cx = env.http_cx(conn.peer, now, stopping);
                    let (used, next) = http.on_input(&cx, &mut conn.out, &input[pos..]);
                    pos += used;
                    match next {
                        HttpNext::NeedMore | HttpNext::Paused | HttpNext::Close => return pos,
                        HttpNext::Upgrade(ws) => {
                            tags.insert(slot, ws.tag);
                            conn.mode = Mode::Ws(*ws);
                            env.handle.shared.websockets.fetch_add(1, Ordering::Relaxed);
                            if let Mode::Ws(ws) = &mut conn.mode {
                                let cx = env.ws_cx(id, conn.peer, now);
                                ws.with_socket(&mut conn.out, &cx, "on_open", |h, s| h.on_open(s));
                            }
                        }
                    }
                }
                Mode::Ws(ws) => {
                    let cx = env.ws_cx(id, conn.peer, now);
                    return pos + ws.on_input(&mut conn.out, &cx, &mut input[pos..]);
                }
                Mode::Linger { .. } => return input.len(),
            }
        }
    }

    /// The peer sent FIN.
    fn on_eof(&mut self, slot: u32) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match &conn.mode {
            // A half-closed HTTP client still gets the answers to what it sent.
            Mode::Http(h) if !h.is_idle() || !conn.out.is_empty() || !conn.inbuf.is_empty() => {
                self.process_leftover(slot);
                self.mark_dirty(slot);
            }
            Mode::Ws(ws) if matches!(ws.state.phase, Phase::Closed { .. }) => self.mark_dirty(slot),
            _ => self.remove(slot, false),
        }
    }

    /// Writes what is queued; refills streamed bodies; runs `on_drained`; ends finished
    /// connections.
    pub(crate) fn flush(&mut self, slot: u32) {
        let Some(generation) = self.conns.generation(slot) else {
            return;
        };
        let id = ConnId::new(self.index, slot, generation);
        for _ in 0..FLUSH_ROUNDS {
            let now = self.now;
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            if let Mode::Http(http) = &mut conn.mode
                && matches!(http.state, HttpState::Streaming(_))
                && conn.out.pending() < STREAM_CHUNK
            {
                match http.refill(&mut conn.out) {
                    Ok(Refill::More) => {}
                    Ok(Refill::Done) => {
                        if matches!(http.state, HttpState::Head) {
                            self.mark_ready(slot);
                        }
                    }
                    Err(e) => {
                        log::error!(
                            "plezi: {}: streaming a response body failed: {e}",
                            conn.peer
                        );
                        self.remove(slot, true);
                        return;
                    }
                }
            }
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            let before = conn.out.pending();
            if before > 0 && conn.flags & WRITE_BLOCKED == 0 {
                match conn.out.write_to(&mut SocketSink(&conn.sock)) {
                    Ok(Flush::Blocked) => conn.flags |= WRITE_BLOCKED,
                    Ok(Flush::Drained) => {}
                    Err(e) => {
                        self.abort(slot, &e);
                        return;
                    }
                }
                if conn.out.pending() < before && matches!(conn.mode, Mode::Http(_)) {
                    conn.last_active = now;
                }
            }
            if !conn.out.is_empty() {
                if conn.flags & WRITE_BLOCKED == 0 {
                    // Not blocked but not drained: a streamed body with more to come.
                    self.mark_ready(slot);
                }
                return;
            }
            // The queue is empty.
            match &mut conn.mode {
                Mode::Http(http) => match http.state {
                    HttpState::Streaming(_) => continue,
                    HttpState::Closing => {
                        self.linger(slot);
                        return;
                    }
                    HttpState::Head | HttpState::Body(_) => {
                        if conn.flags & PEER_EOF != 0 {
                            self.remove(slot, false);
                        } else if !conn.inbuf.is_empty() || conn.flags & READ_READY != 0 {
                            self.mark_ready(slot);
                        }
                        return;
                    }
                },
                Mode::Ws(ws) => match ws.state.phase {
                    Phase::Open if before > 0 => {
                        let cx = self.env.ws_cx(id, conn.peer, now);
                        ws.with_socket(&mut conn.out, &cx, "on_drained", |h, s| h.on_drained(s));
                        if conn.out.is_empty() && !matches!(ws.state.phase, Phase::Closed { .. }) {
                            return;
                        }
                    }
                    Phase::Open | Phase::CloseSent { .. } => return,
                    Phase::Closed { .. } => {
                        self.end_ws(slot);
                        self.linger(slot);
                        return;
                    }
                },
                Mode::Linger { .. } => return,
            }
        }
        self.mark_ready(slot);
    }

    /// Runs `on_close` (once) if the connection is a WebSocket, leaving it in `Linger` mode.
    pub(crate) fn end_ws(&mut self, slot: u32) {
        let Some(generation) = self.conns.generation(slot) else {
            return;
        };
        let id = ConnId::new(self.index, slot, generation);
        let now = self.now;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if !matches!(conn.mode, Mode::Ws(_)) {
            return;
        }
        let Mode::Ws(mut ws) = std::mem::replace(&mut conn.mode, Mode::Linger { since: now })
        else {
            return;
        };
        self.tags.remove(slot);
        self.env
            .handle
            .shared
            .websockets
            .fetch_sub(1, Ordering::Relaxed);
        let info = ws.close_info();
        guard("on_close", || ws.handler.on_close(id, &info));
    }

    /// Shuts our side down and waits (briefly) for the peer's FIN before closing, so the peer
    /// reads everything we sent instead of a reset.
    pub(crate) fn linger(&mut self, slot: u32) {
        let now = self.now;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let _ = conn.sock.shutdown(Shutdown::Write);
        conn.mode = Mode::Linger { since: now };
        conn.inbuf = Vec::new();
        conn.out = OutQueue::default();
        if conn.flags & PEER_EOF != 0 {
            self.remove(slot, false);
        } else if conn.flags & READ_READY != 0 {
            self.mark_ready(slot);
        }
    }

    /// An I/O error ended the connection.
    pub(crate) fn abort(&mut self, slot: u32, e: &io::Error) {
        if let Some(conn) = self.conns.get_mut(slot) {
            log::debug!("plezi: connection from {} lost: {e}", conn.peer);
        }
        self.remove(slot, false);
    }

    /// Drops the connection now; a WebSocket gets `on_close` with what is known of the close
    /// (`by_server`: we dropped it rather than the peer or the network).
    pub(crate) fn remove(&mut self, slot: u32, by_server: bool) {
        if let Some(conn) = self.conns.get_mut(slot)
            && let Mode::Ws(ws) = &mut conn.mode
            && ws.state.info.is_none()
        {
            ws.state.info = Some(Box::new(CloseInfo {
                code: None,
                reason: String::new(),
                initiated_by_server: by_server,
            }));
        }
        self.end_ws(slot);
        // Dropping the socket closes it, which also removes it from the poller.
        if self.conns.remove(slot).is_some() {
            self.env.handle.connection_closed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle connections must stay small: this is what one costs in the slab, besides the
    /// handler's own box and the kernel's socket buffers.
    #[test]
    fn connection_struct_stays_small() {
        let conn = std::mem::size_of::<Conn>();
        let ws = std::mem::size_of::<WsConn>();
        let http = std::mem::size_of::<HttpConn>();
        println!("size_of Conn = {conn}, WsConn = {ws}, HttpConn = {http}");
        assert!(conn <= 256, "Conn grew to {conn} bytes");
    }
}
