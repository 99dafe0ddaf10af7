//! One event loop: a thread with its own `mio::Poll`, its own connections (a slab addressed by
//! `ConnId`), a task inbox fed by other threads, timers, and a coarse tick for connection
//! timeouts.
//!
//! One turn: poll (timeout = the next timer, tick or grace deadline) → socket events (read and
//! process input) → inbox tasks → due timers → the timeout tick → deferred work → flush every
//! connection that got output this turn. Deferring the flushes to the end of the turn gives one
//! vectored write per connection for everything queued during the turn (a burst of broadcasts, a
//! batch of pipelined requests).
//!
//! The loop routes readiness, tasks and ticks to its connections and carries out the [`Next`] each
//! one answers (flush, resume next turn, drop); what happens to a connection is decided in
//! `connection.rs`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::conn_id::ConnId;
use crate::connection::{Conn, ConnCx};
use crate::env::Env;
use crate::flags::{Flags, Readiness};
use crate::handle::Task;
use crate::next::Next;
use crate::slab::Slab;
use crate::stats::LoopStats;
use crate::tag_index::TagIndex;
use crate::timers::Timers;

/// Token of the inbox waker.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Token of the listener (loop 0 only).
const LISTENER: Token = Token(usize::MAX - 1);
/// Size of the per-loop read buffer.
const SCRATCH: usize = 64 * 1024;
/// Most connections one turn flushes from each of its two lists (this turn's and the backlog's): a
/// broadcast to many connections is written in slices, with polls for other connections' input
/// in between, and frames that reach a connection still in the backlog leave in the same write.
const FLUSH_BUDGET: usize = 256;
/// Most connections one turn accepts; a flood of connections is taken in slices, with the loop's
/// other work in between.
const ACCEPT_BUDGET: usize = 256;

/// One event loop and everything it owns.
pub(crate) struct EventLoop {
    pub(crate) index: u16,
    pub(crate) poll: Poll,
    events: Events,
    pub(crate) listener: Option<TcpListener>,
    pub(crate) conns: Slab<Conn>,
    /// The read buffer every connection of the loop reads into.
    scratch: Box<[u8]>,
    pub(crate) env: Env,
    pub(crate) timers: Timers,
    pub(crate) spare_tasks: Vec<Task>,
    /// Connections marked for flushing during this turn.
    pub(crate) dirty: Vec<u32>,
    /// Connections still to flush from earlier turns (this turn's beyond [`FLUSH_BUDGET`]), oldest first.
    backlog: VecDeque<u32>,
    /// Connections that got only fan-out frames during this turn.
    pub(crate) fanout: Vec<u32>,
    /// WebSockets a drain closes later: (loop-clock ms, slot, generation), soonest first.
    pub(crate) closing_later: VecDeque<(u32, u32, u32)>,
    /// Fan-out receivers waiting, while the loop lags, until the loop-clock ms given (oldest first).
    deferred: VecDeque<(u32, u32)>,
    /// The open WebSocket connections by tag, for fan-outs.
    pub(crate) tags: TagIndex,
    /// Connections with work left over for the next turn.
    ready: Vec<u32>,
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
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            env,
            timers: Timers::default(),
            spare_tasks: Vec::new(),
            dirty: Vec::new(),
            backlog: VecDeque::new(),
            fanout: Vec::new(),
            deferred: VecDeque::new(),
            closing_later: VecDeque::new(),
            tags: TagIndex::default(),
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
    pub(crate) fn reached(now: u32, deadline: u32) -> bool {
        now.wrapping_sub(deadline) < (1 << 31)
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(mut self) {
        self.env.handle.inbox_for(self.index).enter();
        let mut ready_events: Vec<(Token, Readiness)> = Vec::with_capacity(1024);
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
                ready_events.push((event.token(), Readiness::of(event)));
            }
            for &(token, ready) in &ready_events {
                match token {
                    WAKER => {}
                    LISTENER => self.accept(),
                    Token(slot) => self.on_socket_event(slot as u32, ready),
                }
            }
            if std::mem::take(&mut self.accept_more) {
                self.accept();
            }
            self.run_tasks();
            self.close_due();
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
        if let Some(&(due, ..)) = self.closing_later.front() {
            let left = match Self::reached(self.now, due) {
                true => 0,
                false => due.wrapping_sub(self.now),
            };
            wait = wait.min(left);
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

    /// Routes the poller's readiness to the connection.
    fn on_socket_event(&mut self, slot: u32, ready: Readiness) {
        self.with_conn(slot, |conn, cx, scratch| conn.on_ready(ready, cx, scratch));
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
                        LoopStats::add(&self.env.stats().refused, 1);
                        refuse_at_capacity(sock);
                        continue;
                    }
                    self.cap_warned = false;
                    open.fetch_add(1, Ordering::Relaxed);
                    LoopStats::add(&self.env.stats().accepted, 1);
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
            self.with_conn(slot, |conn, cx, scratch| {
                conn.delist(Flags::READY);
                conn.resume(cx, scratch)
            });
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
                    conn.enlist(Flags::DEFERRED);
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
        if !conn.delist(Flags::DIRTY) {
            return false;
        }
        conn.delist(Flags::DEFERRED);
        self.with_conn(slot, |conn, cx, _| conn.flush(cx));
        true
    }

    /// Calls `f` with the connection in `slot` (if any), its context and the loop's scratch
    /// buffer, then does what it answers.
    pub(crate) fn with_conn(
        &mut self,
        slot: u32,
        f: impl FnOnce(&mut Conn, &ConnCx<'_>, &mut [u8]) -> Next,
    ) {
        let EventLoop {
            conns,
            env,
            scratch,
            index,
            now,
            stopping,
            tags,
            ..
        } = self;
        let Some((generation, conn)) = conns.get_with_generation(slot) else {
            return;
        };
        let cx = ConnCx {
            env,
            id: ConnId::new(*index, slot, generation),
            now: *now,
            stopping: *stopping,
        };
        let was_websocket = conn.websocket().is_some();
        let next = f(conn, &cx, &mut scratch[..]);
        // An upgrade happened: fan-outs find the connection by its tag from now on.
        if !was_websocket && let Some(ws) = conn.websocket() {
            tags.insert(slot, ws.tag);
        }
        self.apply(slot, next);
    }

    /// Does what a connection answered.
    fn apply(&mut self, slot: u32, next: Next) {
        match next {
            Next::Wait => {}
            Next::Flush => self.mark_dirty(slot),
            Next::Resume => self.mark_ready(slot),
            Next::FlushAndResume => {
                self.mark_ready(slot);
                self.mark_dirty(slot);
            }
            Next::Drop { by_server } => self.remove(slot, by_server),
        }
    }

    /// Lists a connection for a flush at the end of this turn (also one whose fan-out frames
    /// were waiting: its own output does not wait).
    pub(crate) fn mark_dirty(&mut self, slot: u32) {
        if let Some(conn) = self.conns.get_mut(slot)
            && (conn.enlist(Flags::DIRTY) || conn.delist(Flags::DEFERRED))
        {
            self.dirty.push(slot);
        }
    }

    /// Lists a connection to continue next turn (budget exhausted, input to resume).
    fn mark_ready(&mut self, slot: u32) {
        if let Some(conn) = self.conns.get_mut(slot)
            && conn.enlist(Flags::READY)
        {
            self.ready.push(slot);
        }
    }

    /// Drops the connection now; a WebSocket gets `on_close` with what is known of the close
    /// (`by_server`: we dropped it rather than the peer or the network).
    pub(crate) fn remove(&mut self, slot: u32, by_server: bool) {
        self.with_conn(slot, |conn, cx, _| {
            conn.finish(cx, by_server);
            Next::Wait
        });
        self.tags.remove(slot);
        // Dropping the socket closes it, which also removes it from the poller.
        if self.conns.remove(slot).is_some() {
            self.env.handle.connection_closed();
        }
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
