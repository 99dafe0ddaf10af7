//! One event loop: a thread with its own `mio::Poll`, its own connections (a slab addressed by
//! `ConnId`), a task inbox fed by other threads, timers, and a coarse tick for connection
//! timeouts.
//!
//! One turn: poll (timeout = the next timer, tick or grace deadline) → socket events (read and
//! process input) → inbox tasks → due timers → the timeout tick → deferred work → flush every
//! connection that got output this turn. Deferring the flushes to the end of the turn gives one
//! vectored write per connection for everything queued during the turn (a burst of broadcasts, a
//! batch of pipelined requests).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::config::ServerConfig;
use crate::conn_id::ConnId;
use crate::connection::{Conn, DEFERRED, DIRTY, HUP, READ_READY, READY, WRITE_BLOCKED};
use crate::handle::{ServerHandle, Task};
use crate::handler::Service;
use crate::http::HttpLimits;
use crate::http_conn::HttpCx;
use crate::security::Guards;
use crate::slab::Slab;
use crate::static_files::StaticFiles;
use crate::tag_index::TagIndex;
use crate::timers::Timers;
use crate::ws_conn::{WsCx, WsLimits};

/// Token of the inbox waker.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Token of the listener (loop 0 only).
const LISTENER: Token = Token(usize::MAX - 1);
/// Event bit (never stored in `Conn::flags`): the socket became writable.
const EV_WRITABLE: u8 = 0x80;
/// Size of the per-loop read buffer.
const SCRATCH: usize = 64 * 1024;
/// Most connections one turn flushes from each of its two lists (this turn's and the backlog's): a
/// broadcast to many connections is written in slices, with polls for other connections' input
/// in between, and frames that reach a connection still in the backlog leave in the same write.
const FLUSH_BUDGET: usize = 256;
/// Most connections one turn accepts; a flood of connections is taken in slices, with the loop's
/// other work in between.
const ACCEPT_BUDGET: usize = 256;
/// How long to wait for the peer's close frame after ours, and for its FIN after our shutdown.
pub(crate) const CLOSE_WAIT_MS: u32 = 5_000;
/// How long a finished connection waits for the peer's FIN.
pub(crate) const LINGER_MS: u32 = 2_000;

/// Connection timeouts in loop-clock milliseconds.
pub(crate) struct Timeouts {
    pub(crate) header: u32,
    pub(crate) keep_alive: u32,
    pub(crate) ws_idle: u32,
    pub(crate) grace: u32,
}

/// What every connection of a loop shares.
pub(crate) struct Env {
    pub(crate) handle: ServerHandle,
    pub(crate) service: Arc<dyn Service>,
    pub(crate) statics: Option<Arc<StaticFiles>>,
    pub(crate) limits: HttpLimits,
    pub(crate) ws_limits: WsLimits,
    pub(crate) timeouts: Timeouts,
    pub(crate) access_log: bool,
    pub(crate) guards: Arc<Guards>,
    pub(crate) max_form_body: usize,
    /// Minimum request body rate (bytes/s, 0 = off) and its grace period (ms).
    pub(crate) min_body_rate: u32,
    pub(crate) min_body_grace: u32,
    /// Most connections of the whole server (checked when loop 0 accepts).
    pub(crate) max_connections: usize,
    /// How long fan-out frames may wait for a write when the loop lags, in ms (0 = never).
    pub(crate) coalesce: u32,
}

fn millis(d: Duration) -> u32 {
    // Capped so wrapping clock arithmetic stays unambiguous.
    d.as_millis().clamp(1, 1 << 30) as u32
}

impl Env {
    pub(crate) fn new(
        handle: ServerHandle,
        config: &ServerConfig,
        service: Arc<dyn Service>,
        statics: Option<Arc<StaticFiles>>,
        guards: Arc<Guards>,
        max_connections: usize,
    ) -> Env {
        Env {
            handle,
            service,
            statics,
            limits: HttpLimits::from(config),
            ws_limits: WsLimits {
                max_pending: config.max_pending_bytes,
                policy: config.slow_consumer,
                max_message: config.ws_max_message_bytes,
            },
            timeouts: Timeouts {
                header: millis(config.header_timeout),
                keep_alive: millis(config.keep_alive_timeout),
                ws_idle: millis(config.ws_idle_ping),
                grace: millis(config.shutdown_grace),
            },
            access_log: config.access_log,
            guards,
            max_form_body: config.max_form_body_bytes,
            min_body_rate: config.min_body_rate,
            min_body_grace: millis(config.min_body_rate_grace),
            max_connections,
            coalesce: config.broadcast_coalesce.as_millis().min(1 << 30) as u32,
        }
    }

    pub(crate) fn http_cx(&self, peer: SocketAddr, now: u32, stopping: bool) -> HttpCx<'_> {
        HttpCx {
            service: self.service.as_ref(),
            statics: self.statics.as_deref(),
            limits: &self.limits,
            ws_limits: &self.ws_limits,
            access_log: self.access_log,
            guards: &self.guards,
            max_form_body: self.max_form_body,
            stopping,
            now,
            peer,
        }
    }

    pub(crate) fn ws_cx(&self, id: ConnId, peer: SocketAddr, now: u32) -> WsCx<'_> {
        WsCx {
            id,
            peer,
            server: &self.handle,
            limits: &self.ws_limits,
            now,
        }
    }

    /// The interval of the timeout scan: a quarter of the shortest timeout, between 10 ms and 1 s.
    pub(crate) fn tick_ms(&self) -> u32 {
        let t = &self.timeouts;
        (t.header.min(t.keep_alive).min(t.ws_idle) / 4).clamp(10, 1000)
    }
}

/// One event loop and everything it owns.
pub(crate) struct EventLoop {
    pub(crate) index: u16,
    pub(crate) poll: Poll,
    events: Events,
    pub(crate) listener: Option<TcpListener>,
    pub(crate) conns: Slab<Conn>,
    /// The open WebSocket connections by tag, for fan-outs.
    pub(crate) tags: TagIndex,
    pub(crate) scratch: Box<[u8]>,
    pub(crate) env: Env,
    pub(crate) timers: Timers,
    pub(crate) spare_tasks: Vec<Task>,
    /// Connections marked for flushing during this turn.
    pub(crate) dirty: Vec<u32>,
    /// Connections still to flush from earlier turns (this turn's beyond [`FLUSH_BUDGET`]), oldest first.
    backlog: VecDeque<u32>,
    /// Connections that got only fan-out frames during this turn.
    pub(crate) fanout: Vec<u32>,
    /// Fan-out receivers waiting, while the loop lags, until the loop-clock ms given (oldest first).
    deferred: VecDeque<(u32, u32)>,
    /// Connections with work left over for the next turn.
    pub(crate) ready: Vec<u32>,
    start: Instant,
    /// Loop clock: milliseconds since `start`, wrapping.
    pub(crate) now: u32,
    next_tick: u32,
    pub(crate) stopping: bool,
    pub(crate) grace_deadline: u32,
    /// Accepting failed for lack of resources (EMFILE...); retry on the next tick.
    pub(crate) accept_paused: bool,
    /// The listener may have more connections waiting than the last turn accepted.
    accept_more: bool,
    /// The last accept error was logged (not repeated every tick).
    accept_warned: bool,
    /// The connection cap was reached and logged (logged again once it was left).
    cap_warned: bool,
}

impl EventLoop {
    pub(crate) fn new(
        index: u16,
        poll: Poll,
        listener: Option<TcpListener>,
        env: Env,
    ) -> io::Result<EventLoop> {
        let mut listener = listener;
        if let Some(l) = &mut listener {
            poll.registry().register(l, LISTENER, Interest::READABLE)?;
        }
        let tick = env.tick_ms();
        Ok(EventLoop {
            index,
            poll,
            events: Events::with_capacity(1024),
            listener,
            conns: Slab::new(),
            tags: TagIndex::default(),
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            env,
            timers: Timers::default(),
            spare_tasks: Vec::new(),
            dirty: Vec::new(),
            backlog: VecDeque::new(),
            fanout: Vec::new(),
            deferred: VecDeque::new(),
            ready: Vec::new(),
            start: Instant::now(),
            now: 0,
            next_tick: tick,
            stopping: false,
            grace_deadline: 0,
            accept_paused: false,
            accept_more: false,
            accept_warned: false,
            cap_warned: false,
        })
    }

    fn update_clock(&mut self) {
        self.now = self.start.elapsed().as_millis() as u32;
    }

    /// `a` is at or after `b` on the wrapping clock.
    fn reached(now: u32, deadline: u32) -> bool {
        now.wrapping_sub(deadline) < (1 << 31)
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(mut self) {
        self.env.handle.inbox_for(self.index).enter();
        let mut ready_events: Vec<(Token, u8)> = Vec::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut self.events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                log::error!(
                    "plezi: event loop {} cannot poll: {e}; stopping it",
                    self.index
                );
                break;
            }
            self.update_clock();
            ready_events.clear();
            for event in self.events.iter() {
                let mut bits = 0;
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    bits |= READ_READY;
                }
                if event.is_read_closed() || event.is_error() {
                    bits |= HUP;
                }
                if event.is_writable() {
                    bits |= EV_WRITABLE;
                }
                ready_events.push((event.token(), bits));
            }
            for &(token, bits) in &ready_events {
                match token {
                    WAKER => {}
                    LISTENER => self.accept(),
                    Token(slot) => self.on_socket_event(slot as u32, bits),
                }
            }
            if std::mem::take(&mut self.accept_more) {
                self.accept();
            }
            self.run_tasks();
            self.timers.run_due(Instant::now());
            if Self::reached(self.now, self.next_tick) {
                self.next_tick = self.now.wrapping_add(self.env.tick_ms());
                self.tick();
            }
            self.run_ready();
            self.flush_dirty();
            if self.stopping
                && (self.conns.len() == 0 || Self::reached(self.now, self.grace_deadline))
            {
                break;
            }
        }
        self.finish();
    }

    fn poll_timeout(&mut self) -> Option<Duration> {
        if !self.ready.is_empty()
            || !self.dirty.is_empty()
            || !self.fanout.is_empty()
            || !self.backlog.is_empty()
            || self.accept_more
            || !self.env.handle.inbox_for(self.index).is_empty()
        {
            return Some(Duration::ZERO);
        }
        self.update_clock();
        let mut wait = self.next_tick.wrapping_sub(self.now).min(1 << 30);
        if self.stopping {
            wait = wait.min(self.grace_deadline.wrapping_sub(self.now).min(1 << 30));
        }
        let mut timeout = Duration::from_millis(u64::from(wait));
        if let Some(deadline) = self.timers.next_deadline() {
            timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
        }
        if let Some(&(_, due)) = self.deferred.front() {
            let wait = if Self::reached(self.now, due) {
                0
            } else {
                due.wrapping_sub(self.now)
            };
            timeout = timeout.min(Duration::from_millis(u64::from(wait)));
        }
        Some(timeout)
    }

    fn on_socket_event(&mut self, slot: u32, bits: u8) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if bits & EV_WRITABLE != 0 && conn.flags & WRITE_BLOCKED != 0 {
            conn.flags &= !WRITE_BLOCKED;
            self.mark_dirty(slot);
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.flags |= bits & (READ_READY | HUP);
        if bits & READ_READY != 0 {
            self.pump(slot);
        }
    }

    /// Accepts pending connections (up to [`ACCEPT_BUDGET`], the rest next turn), spreading them
    /// round-robin over the loops.
    pub(crate) fn accept(&mut self) {
        for _ in 0..ACCEPT_BUDGET {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((sock, peer)) => {
                    self.accept_warned = false;
                    let open = &self.env.handle.shared.connections;
                    if open.load(Ordering::Relaxed) >= self.env.max_connections {
                        if !self.cap_warned {
                            log::warn!(
                                "plezi: {} connections open, the limit (ServerConfig::max_connections); new ones get 503 until some close",
                                self.env.max_connections
                            );
                            self.cap_warned = true;
                        }
                        refuse_at_capacity(sock);
                        continue;
                    }
                    self.cap_warned = false;
                    open.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = sock.set_nodelay(true) {
                        log::debug!("plezi: cannot set TCP_NODELAY for {peer}: {e}");
                    }
                    let target = self.env.handle.pick_loop();
                    if target == self.index {
                        self.adopt(sock, peer);
                    } else {
                        self.env
                            .handle
                            .inbox_for(target)
                            .push(Task::Adopt(sock, peer));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_resource_error(&e) => {
                    if !self.accept_warned {
                        self.accept_warned = true;
                        log::error!(
                            "plezi: cannot accept connections: {e}; raise the open-files limit (ulimit -n). Retrying every tick."
                        );
                    }
                    self.accept_paused = true;
                    return;
                }
                // The peer went away before we accepted (ECONNABORTED, ...): next one.
                Err(e) => log::debug!("plezi: accept failed: {e}"),
            }
        }
        self.accept_more = true;
    }

    /// Registers an accepted socket with this loop.
    pub(crate) fn adopt(&mut self, mut sock: TcpStream, peer: SocketAddr) {
        if self.stopping {
            self.env.handle.connection_closed();
            return;
        }
        let (slot, _) = self.conns.next_key();
        if slot as usize >= LISTENER.0 {
            log::error!(
                "plezi: event loop {} has no free connection slot",
                self.index
            );
            self.env.handle.connection_closed();
            return;
        }
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(slot as usize), interest)
        {
            log::error!("plezi: cannot register a connection from {peer}: {e}");
            self.env.handle.connection_closed();
            return;
        }
        self.conns.insert(Conn::new(sock, peer, self.now));
    }

    /// Continues work deferred from earlier turns: buffered input, read budgets, streams.
    fn run_ready(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        for &slot in &ready {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            conn.flags &= !READY;
            self.process_leftover(slot);
            self.pump(slot);
            self.mark_dirty(slot);
        }
        if self.ready.is_empty() {
            self.ready = ready;
            self.ready.clear();
        }
    }

    /// Flushes up to [`FLUSH_BUDGET`] of this turn's connections first (the answer to a request read
    /// this turn does not wait behind an earlier broadcast), then up to as many from earlier turns;
    /// the rest waits for the next turn, which polls without blocking.
    ///
    /// Connections that got only fan-out frames this turn are written now when they fit in one
    /// turn's budget and nothing waits from earlier turns. Otherwise the loop lags: they wait up to
    /// `ServerConfig::broadcast_coalesce`, and the frames of the fan-outs that reach them meanwhile
    /// leave with theirs, in one write.
    fn flush_dirty(&mut self) {
        let mut fanout = std::mem::take(&mut self.fanout);
        let lagging = !self.backlog.is_empty()
            || !self.deferred.is_empty()
            || self.dirty.len() + fanout.len() > FLUSH_BUDGET;
        if self.env.coalesce == 0 || !lagging {
            self.dirty.append(&mut fanout);
        } else {
            let due = self.now.wrapping_add(self.env.coalesce);
            for &slot in &fanout {
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.flags |= DEFERRED;
                    self.deferred.push_back((slot, due));
                }
            }
            fanout.clear();
        }
        if self.fanout.is_empty() {
            self.fanout = fanout;
        }
        let mut flushed = 0;
        // Flushing can run hooks that dirty more connections: take the list until it stays empty.
        while !self.dirty.is_empty() && flushed < FLUSH_BUDGET {
            let mut dirty = std::mem::take(&mut self.dirty);
            let mut drained = 0;
            for &slot in &dirty {
                if flushed == FLUSH_BUDGET {
                    break;
                }
                drained += 1;
                flushed += usize::from(self.flush_if_dirty(slot));
            }
            self.backlog.extend(&dirty[drained..]);
            if self.dirty.is_empty() {
                dirty.clear();
                self.dirty = dirty;
            }
        }
        self.backlog.extend(self.dirty.drain(..));
        let mut flushed = 0;
        while flushed < FLUSH_BUDGET
            && let Some(slot) = self.backlog.pop_front()
        {
            flushed += usize::from(self.flush_if_dirty(slot));
        }
        while flushed < FLUSH_BUDGET
            && let Some(&(slot, due)) = self.deferred.front()
            && Self::reached(self.now, due)
        {
            self.deferred.pop_front();
            flushed += usize::from(self.flush_if_dirty(slot));
        }
    }

    /// Flushes a connection that is still marked dirty; false when it was not (already flushed,
    /// closed, or its slot reused by a connection that was not marked).
    fn flush_if_dirty(&mut self, slot: u32) -> bool {
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        if conn.flags & DIRTY == 0 {
            return false;
        }
        conn.flags &= !(DIRTY | DEFERRED);
        self.flush(slot);
        true
    }
}

/// The canned answer to a connection past the cap.
const AT_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 53\r\nRetry-After: 1\r\nConnection: close\r\n\r\nthe server has too many connections; try again later\n";

/// Answers a connection past the cap with a `503` (best effort, non-blocking) and closes it.
/// Input already received is read first so that closing does not reset the connection.
fn refuse_at_capacity(mut sock: TcpStream) {
    use std::io::{Read, Write};
    let mut sink = [0u8; 1024];
    let _ = sock.read(&mut sink);
    let _ = sock.write(AT_CAPACITY);
    let _ = sock.shutdown(std::net::Shutdown::Write);
}

/// Accept errors that mean "out of resources" rather than "this one connection failed".
fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}
