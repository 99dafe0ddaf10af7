//! One event loop: a thread with its own `mio::Poll`, its own connections (a slab addressed by
//! `ConnId`), a task inbox fed by other threads, timers, and a coarse tick for connection
//! timeouts.
//!
//! One turn: poll (timeout = the next timer, tick or grace deadline) → socket events (read and
//! process input) → inbox tasks → due timers → the timeout tick → deferred work → flush every
//! connection that got output this turn. Deferring the flushes to the end of the turn gives one
//! vectored write per connection for everything queued during the turn (a burst of broadcasts, a
//! batch of pipelined requests).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::config::ServerConfig;
use crate::conn_id::ConnId;
use crate::connection::{Conn, DIRTY, HUP, Mode, READ_READY, READY, WRITE_BLOCKED};
use crate::handle::{ServerHandle, Task};
use crate::handler::{Filter, Service, WebSocket, WebSocketHandler};
use crate::http::HttpLimits;
use crate::http_conn::{HttpCx, HttpState};
use crate::panic_guard::guard;
use crate::slab::Slab;
use crate::static_files::StaticFiles;
use crate::timers::Timers;
use crate::ws::{SharedFrame, close_frame, ping_frame};
use crate::ws_conn::{Phase, WsCx, WsIo, WsLimits};

/// Token of the inbox waker.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Token of the listener (loop 0 only).
const LISTENER: Token = Token(usize::MAX - 1);
/// Event bit (never stored in `Conn::flags`): the socket became writable.
const EV_WRITABLE: u8 = 0x80;
/// Size of the per-loop read buffer.
const SCRATCH: usize = 64 * 1024;
/// How long to wait for the peer's close frame after ours, and for its FIN after our shutdown.
const CLOSE_WAIT_MS: u32 = 5_000;
/// How long a finished connection waits for the peer's FIN.
const LINGER_MS: u32 = 2_000;

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
    ) -> Env {
        Env {
            handle,
            service,
            statics,
            limits: HttpLimits {
                max_header_bytes: config.max_header_bytes,
                max_headers: config.max_headers,
                max_body_bytes: config.max_body_bytes,
            },
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
        }
    }

    pub(crate) fn http_cx(&self, peer: SocketAddr, now: u32, stopping: bool) -> HttpCx<'_> {
        HttpCx {
            service: self.service.as_ref(),
            statics: self.statics.as_deref(),
            limits: &self.limits,
            ws_limits: &self.ws_limits,
            access_log: self.access_log,
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
    fn tick_ms(&self) -> u32 {
        let t = &self.timeouts;
        (t.header.min(t.keep_alive).min(t.ws_idle) / 4).clamp(10, 1000)
    }
}

/// One event loop and everything it owns.
pub(crate) struct EventLoop {
    pub(crate) index: u16,
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    pub(crate) conns: Slab<Conn>,
    pub(crate) scratch: Box<[u8]>,
    pub(crate) env: Env,
    timers: Timers,
    spare_tasks: Vec<Task>,
    /// Connections to flush at the end of this turn.
    pub(crate) dirty: Vec<u32>,
    /// Connections with work left over for the next turn.
    pub(crate) ready: Vec<u32>,
    start: Instant,
    /// Loop clock: milliseconds since `start`, wrapping.
    pub(crate) now: u32,
    next_tick: u32,
    pub(crate) stopping: bool,
    grace_deadline: u32,
    /// Accepting failed for lack of resources (EMFILE...); retry on the next tick.
    accept_paused: bool,
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
            ready: Vec::new(),
            start: Instant::now(),
            now: 0,
            next_tick: tick,
            stopping: false,
            grace_deadline: 0,
            accept_paused: false,
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
        if !self.ready.is_empty() || !self.env.handle.inbox_for(self.index).is_empty() {
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

    /// Accepts every pending connection, spreading them round-robin over the loops.
    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((sock, peer)) => {
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
                    if !self.accept_paused {
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
    }

    /// Registers an accepted socket with this loop.
    fn adopt(&mut self, mut sock: TcpStream, peer: SocketAddr) {
        if self.stopping {
            return;
        }
        let (slot, _) = self.conns.next_key();
        if slot as usize >= LISTENER.0 {
            log::error!(
                "plezi: event loop {} has no free connection slot",
                self.index
            );
            return;
        }
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(slot as usize), interest)
        {
            log::error!("plezi: cannot register a connection from {peer}: {e}");
            return;
        }
        self.conns.insert(Conn::new(sock, peer, self.now));
    }

    fn run_tasks(&mut self) {
        let mut tasks = std::mem::take(&mut self.spare_tasks);
        self.env.handle.inbox_for(self.index).take(&mut tasks);
        for task in tasks.drain(..) {
            self.run_task(task);
        }
        self.spare_tasks = tasks;
    }

    fn run_task(&mut self, task: Task) {
        match task {
            Task::Adopt(sock, peer) => self.adopt(sock, peer),
            Task::Write(id, frame) => self.with_ws(id, "write", |_, ws| {
                let _ = ws.write_frame(&frame);
            }),
            Task::Close(id, code, reason) => {
                self.with_ws(id, "close", |_, ws| ws.close(code, &reason))
            }
            Task::Run(id, f) => self.with_ws(id, "a ServerHandle::run closure", f),
            Task::Broadcast(frame, filter) => self.broadcast(&frame, filter),
            Task::ForEach(filter, f) => self.for_each(filter, &mut |h, ws| f(h, ws)),
            Task::Call(f) => {
                guard("a run_on_loop closure", f);
            }
            Task::AddTimer(id, at, f) => self.timers.add(id, at, f),
            Task::CancelTimer(id) => self.timers.cancel(id),
            Task::Shutdown => self.begin_shutdown(),
            Task::ForceStop => {
                self.begin_shutdown();
                self.grace_deadline = self.now;
            }
        }
    }

    /// Runs `f` on an open WebSocket connection `id` (ignored if it is gone, stale or closing).
    fn with_ws(
        &mut self,
        id: ConnId,
        what: &str,
        f: impl FnOnce(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) {
        if id.loop_index() != self.index {
            return;
        }
        let now = self.now;
        let EventLoop { conns, env, .. } = self;
        let Some(conn) = conns.get_checked(id.slot(), id.generation()) else {
            return;
        };
        let Mode::Ws(ws) = &mut conn.mode else { return };
        if ws.state.phase != Phase::Open {
            return;
        }
        let cx = env.ws_cx(id, conn.peer, now);
        ws.with_socket(&mut conn.out, &cx, what, f);
        self.mark_dirty(id.slot());
    }

    /// Queues `frame` on every open WebSocket connection of this loop that `filter` selects.
    fn broadcast(&mut self, frame: &SharedFrame, filter: Filter) {
        let now = self.now;
        let EventLoop {
            conns,
            env,
            dirty,
            index,
            ..
        } = self;
        for slot in 0..conns.capacity_slots() {
            let Some((generation, conn)) = conns.get_with_generation(slot) else {
                continue;
            };
            let Mode::Ws(ws) = &mut conn.mode else {
                continue;
            };
            let id = ConnId::new(*index, slot, generation);
            if ws.state.phase != Phase::Open || !filter.matches(id, ws.tag) {
                continue;
            }
            let mut io = WsIo {
                out: &mut conn.out,
                state: &mut ws.state,
                limits: &env.ws_limits,
                now,
            };
            let _ = io.write_frame(id, conn.peer, frame);
            if conn.flags & DIRTY == 0 {
                conn.flags |= DIRTY;
                dirty.push(slot);
            }
        }
    }

    /// Runs `f` on every open WebSocket connection of this loop that `filter` selects.
    fn for_each(
        &mut self,
        filter: Filter,
        f: &mut dyn FnMut(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) {
        let now = self.now;
        let EventLoop {
            conns,
            env,
            dirty,
            index,
            ..
        } = self;
        for slot in 0..conns.capacity_slots() {
            let Some((generation, conn)) = conns.get_with_generation(slot) else {
                continue;
            };
            let Mode::Ws(ws) = &mut conn.mode else {
                continue;
            };
            let id = ConnId::new(*index, slot, generation);
            if ws.state.phase != Phase::Open || !filter.matches(id, ws.tag) {
                continue;
            }
            let cx = env.ws_cx(id, conn.peer, now);
            ws.with_socket(&mut conn.out, &cx, "a for_each closure", &mut *f);
            if conn.flags & DIRTY == 0 {
                conn.flags |= DIRTY;
                dirty.push(slot);
            }
        }
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

    fn flush_dirty(&mut self) {
        // Flushing can run hooks that dirty more connections: loop until the list stays empty.
        for _ in 0..4 {
            if self.dirty.is_empty() {
                return;
            }
            let dirty = std::mem::take(&mut self.dirty);
            for &slot in &dirty {
                let Some(conn) = self.conns.get_mut(slot) else {
                    continue;
                };
                if conn.flags & DIRTY == 0 {
                    continue;
                }
                conn.flags &= !DIRTY;
                self.flush(slot);
            }
            if self.dirty.is_empty() {
                self.dirty = dirty;
                self.dirty.clear();
            }
        }
    }

    /// The coarse timeout scan.
    fn tick(&mut self) {
        if self.accept_paused {
            self.accept_paused = false;
            self.accept();
        }
        let now = self.now;
        let t = &self.env.timeouts;
        let (header, keep_alive, ws_idle) = (t.header, t.keep_alive, t.ws_idle);
        let elapsed = |since: u32, limit: u32| now.wrapping_sub(since) >= limit;
        for slot in 0..self.conns.capacity_slots() {
            let stopping = self.stopping;
            let EventLoop { conns, env, .. } = self;
            let Some(conn) = conns.get_mut(slot) else {
                continue;
            };
            let idle = elapsed(conn.last_active, keep_alive);
            let action = match &mut conn.mode {
                Mode::Http(http) => match (&http.state, http.head_started) {
                    (HttpState::Head, Some(started)) if elapsed(started, header) => {
                        http.time_out(&env.http_cx(conn.peer, now, stopping), &mut conn.out);
                        Action::Flush
                    }
                    (HttpState::Head, None) if idle && conn.out.is_empty() => Action::Remove,
                    (HttpState::Body(_), _) if idle => {
                        http.time_out(&env.http_cx(conn.peer, now, stopping), &mut conn.out);
                        Action::Flush
                    }
                    (HttpState::Streaming(_) | HttpState::Closing, _) if idle => Action::Remove,
                    (HttpState::Head, _) if idle && !conn.out.is_empty() => Action::Remove,
                    _ => Action::None,
                },
                Mode::Ws(ws) => match ws.state.phase {
                    Phase::Open => match ws.state.ping_sent {
                        Some(sent) if elapsed(sent, ws_idle) => {
                            ws.state.info = Some(Box::new(crate::ws::CloseInfo {
                                code: Some(1006),
                                reason: "the peer did not answer a ping".to_owned(),
                                initiated_by_server: true,
                            }));
                            conn.out.drop_unstarted();
                            conn.out.push_owned(close_frame(1001, "idle"));
                            let _ = conn.out.write_to(&mut conn.sock);
                            Action::Remove
                        }
                        None if elapsed(conn.last_active, ws_idle) => {
                            conn.out.push_owned(ping_frame(b""));
                            ws.state.ping_sent = Some(now);
                            Action::Flush
                        }
                        _ => Action::None,
                    },
                    Phase::CloseSent { since } | Phase::Closed { since }
                        if elapsed(since, CLOSE_WAIT_MS) =>
                    {
                        Action::Remove
                    }
                    _ => Action::None,
                },
                Mode::Linger { since } if elapsed(*since, LINGER_MS) => Action::Remove,
                Mode::Linger { .. } => Action::None,
            };
            match action {
                Action::None => {}
                Action::Flush => self.mark_dirty(slot),
                Action::Remove => self.remove(slot, true),
            }
        }
    }

    /// Graceful shutdown, first step: stop accepting, close idle HTTP connections, close every
    /// WebSocket with 1001 (after `on_shutdown`).
    fn begin_shutdown(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.grace_deadline = self.now.wrapping_add(self.env.timeouts.grace);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for slot in 0..self.conns.capacity_slots() {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            match &conn.mode {
                Mode::Http(http)
                    if http.is_idle() && conn.out.is_empty() && conn.inbuf.is_empty() =>
                {
                    self.remove(slot, true);
                }
                Mode::Ws(_) => {
                    let Some(generation) = self.conns.generation(slot) else {
                        continue;
                    };
                    let id = ConnId::new(self.index, slot, generation);
                    self.with_ws(id, "on_shutdown", |h, ws| {
                        h.on_shutdown(ws);
                        ws.close(1001, "server shutting down");
                    });
                }
                _ => {}
            }
        }
    }

    /// Drops every remaining connection and stops taking tasks.
    fn finish(&mut self) {
        for slot in 0..self.conns.capacity_slots() {
            if self.conns.get_mut(slot).is_some() {
                self.remove(slot, true);
            }
        }
        drop(self.env.handle.inbox_for(self.index).close());
    }
}

/// What the timeout scan decided for one connection.
enum Action {
    None,
    Flush,
    Remove,
}

/// Accept errors that mean "out of resources" rather than "this one connection failed".
fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}
