//! The coarse timeout sweep (header, keep-alive, idle WebSocket ping, close and linger waits) and
//! the graceful shutdown.

use crate::conn_id::ConnId;
use crate::connection::Mode;
use crate::event_loop::{CLOSE_WAIT_MS, EventLoop, LINGER_MS};
use crate::http::HttpError;
use crate::http_conn::HttpState;
use crate::socket_sink::SocketSink;
use crate::ws::{CloseInfo, close_frame, ping_frame};
use crate::ws_conn::Phase;

impl EventLoop {
    /// The coarse timeout scan.
    pub(crate) fn tick(&mut self) {
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
                    // Not while input is paused for backpressure: then we are not reading.
                    (HttpState::Body(body), _)
                        if conn.out.pending() < env.ws_limits.max_pending
                            && body.too_slow(now, env.min_body_rate, env.min_body_grace) =>
                    {
                        http.fail(
                            &env.http_cx(conn.peer, now, stopping),
                            &mut conn.out,
                            &HttpError::BodyTooSlow,
                        );
                        Action::Flush
                    }
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
                            ws.state.info = Some(Box::new(CloseInfo {
                                code: Some(1006),
                                reason: "the peer did not answer a ping".to_owned(),
                                initiated_by_server: true,
                            }));
                            conn.out.drop_unstarted();
                            conn.out.push_owned(close_frame(1001, "idle"));
                            let _ = conn.out.write_to(&mut SocketSink(&conn.sock));
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
    pub(crate) fn begin_shutdown(&mut self) {
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
                    if matches!(http.state, HttpState::Head)
                        && conn.out.is_empty()
                        && conn.inbuf.is_empty() =>
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
    pub(crate) fn finish(&mut self) {
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
