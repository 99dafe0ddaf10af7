//! Work that reaches a loop through its inbox: adopting accepted sockets, writes / closes / closures
//! addressed to one connection by `ConnId`, fan-outs over the matching WebSocket connections (the
//! members of a tag, from the loop's `TagIndex`, or a listed set of ids),
//! closures and timers for the loop itself, shutdown.

use std::net::SocketAddr;

use crate::conn_id::ConnId;
use crate::connection::{DIRTY, Mode};
use crate::event_loop::{Env, EventLoop};
use crate::handle::Task;
use crate::handler::{Filter, WebSocket, WebSocketHandler};
use crate::outbound::OutQueue;
use crate::panic_guard::guard;
use crate::ws::SharedFrame;
use crate::ws_conn::{Phase, WsConn, WsIo};

impl EventLoop {
    /// Runs every task queued so far.
    pub(crate) fn run_tasks(&mut self) {
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
            Task::BroadcastListed(ids, frame) => self.broadcast_listed(&ids, &frame),
            Task::ForEachListed(ids, f) => self.for_each_listed(&ids, &mut |h, ws| f(h, ws)),
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
    pub(crate) fn with_ws(
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
        self.each_open_ws(filter, |env, id, peer, out, ws| {
            write_shared(env, now, id, peer, out, ws, frame)
        });
    }

    /// Queues `frame` on each listed open WebSocket connection of this loop.
    fn broadcast_listed(&mut self, ids: &[ConnId], frame: &SharedFrame) {
        let now = self.now;
        self.each_listed_ws(ids, |env, id, peer, out, ws| {
            write_shared(env, now, id, peer, out, ws, frame)
        });
    }

    /// Runs `f` on each listed open WebSocket connection of this loop.
    fn for_each_listed(
        &mut self,
        ids: &[ConnId],
        f: &mut dyn FnMut(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) {
        let now = self.now;
        self.each_listed_ws(ids, |env, id, peer, out, ws| {
            let cx = env.ws_cx(id, peer, now);
            ws.with_socket(out, &cx, "a for_each_listed closure", &mut *f);
        });
    }

    /// Runs `f` on every open WebSocket connection of this loop that `filter` selects.
    fn for_each(
        &mut self,
        filter: Filter,
        f: &mut dyn FnMut(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) {
        let now = self.now;
        self.each_open_ws(filter, |env, id, peer, out, ws| {
            let cx = env.ws_cx(id, peer, now);
            ws.with_socket(out, &cx, "a for_each closure", &mut *f);
        });
    }

    /// Calls `visit` on every open WebSocket connection of this loop that `filter` selects and
    /// lists each one as a fan-out receiver, flushed at the end of this turn (or, when the loop
    /// lags, within `ServerConfig::broadcast_coalesce`). Only the members of the filter's tag
    /// (or the WebSocket connections, without a tag) are visited, not every slot.
    fn each_open_ws(
        &mut self,
        filter: Filter,
        mut visit: impl FnMut(&Env, ConnId, SocketAddr, &mut OutQueue, &mut WsConn),
    ) {
        let EventLoop {
            conns,
            env,
            fanout,
            index,
            tags,
            ..
        } = self;
        for &slot in tags.members(filter.tag) {
            let Some((generation, conn)) = conns.get_with_generation(slot) else {
                continue;
            };
            let id = ConnId::new(*index, slot, generation);
            let Mode::Ws(ws) = &mut conn.mode else {
                continue;
            };
            if ws.state.phase != Phase::Open || !filter.matches(id, ws.tag) {
                continue;
            }
            visit(env, id, conn.peer, &mut conn.out, ws);
            if conn.flags & DIRTY == 0 {
                conn.flags |= DIRTY;
                fanout.push(slot);
            }
        }
    }

    /// Calls `visit` on each listed connection of this loop that is still an open WebSocket and
    /// lists each one as a fan-out receiver (see `each_open_ws`).
    fn each_listed_ws(
        &mut self,
        ids: &[ConnId],
        mut visit: impl FnMut(&Env, ConnId, SocketAddr, &mut OutQueue, &mut WsConn),
    ) {
        let EventLoop {
            conns,
            env,
            fanout,
            index,
            ..
        } = self;
        for &id in ids {
            if id.loop_index() != *index {
                continue;
            }
            let Some(conn) = conns.get_checked(id.slot(), id.generation()) else {
                continue;
            };
            let Mode::Ws(ws) = &mut conn.mode else {
                continue;
            };
            if ws.state.phase != Phase::Open {
                continue;
            }
            visit(env, id, conn.peer, &mut conn.out, ws);
            if conn.flags & DIRTY == 0 {
                conn.flags |= DIRTY;
                fanout.push(id.slot());
            }
        }
    }
}

/// Queues a shared frame on one connection (under its outbound cap and slow-consumer policy).
fn write_shared(
    env: &Env,
    now: u32,
    id: ConnId,
    peer: SocketAddr,
    out: &mut OutQueue,
    ws: &mut WsConn,
    frame: &SharedFrame,
) {
    let mut io = WsIo {
        out,
        state: &mut ws.state,
        limits: &env.ws_limits,
        now,
    };
    let _ = io.write_frame(id, peer, frame);
}
