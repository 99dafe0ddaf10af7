//! Work that reaches a loop through its inbox: adopting accepted sockets, writes / closes / closures
//! addressed to one connection by `ConnId`, fan-outs over the matching WebSocket connections (the
//! members of a tag, from the loop's `TagIndex`, or a listed set of ids), closures and timers for
//! the loop itself, shutdown.

use crate::conn_id::ConnId;
use crate::connection::{Conn, ConnCx};
use crate::env::Env;
use crate::event_loop::EventLoop;
use crate::flags::Flags;
use crate::handle::Task;
use crate::handler::{Filter, WebSocket, WebSocketHandler};
use crate::http::Response;
use crate::panic_guard::guard;
use crate::stats::LoopStats;
use crate::ws::SharedFrame;

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
            Task::Respond(id, ticket, resp) => self.respond(id, ticket, *resp),
            Task::Shutdown => self.begin_shutdown(0),
            Task::Drain => self.begin_shutdown(self.env.timeouts.drain_window),
            Task::ForceStop => {
                self.begin_shutdown(0);
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
        if id.loop_index() != self.index
            || self.conns.get_checked(id.slot(), id.generation()).is_none()
        {
            return;
        }
        self.with_conn(id.slot(), |conn, cx, _| conn.with_ws(cx, what, f));
    }

    /// Sends the answer to deferred request `ticket` on connection `id` (ignored if it is gone,
    /// or no longer waits for that ticket).
    fn respond(&mut self, id: ConnId, ticket: u64, resp: Response) {
        if id.loop_index() != self.index
            || self.conns.get_checked(id.slot(), id.generation()).is_none()
        {
            return;
        }
        self.with_conn(id.slot(), |conn, cx, _| conn.on_reply(cx, ticket, resp));
    }

    /// Queues `frame` on every open WebSocket connection of this loop that `filter` selects.
    fn broadcast(&mut self, frame: &SharedFrame, filter: Filter) {
        self.each_open_ws(filter, |conn, cx| conn.write_shared(cx, frame));
    }

    /// Runs `f` on every open WebSocket connection of this loop that `filter` selects.
    fn for_each(
        &mut self,
        filter: Filter,
        f: &mut dyn FnMut(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) {
        self.each_open_ws(filter, |conn, cx| {
            conn.with_ws(cx, "a for_each closure", &mut *f);
        });
    }

    /// Queues `frame` on each listed open WebSocket connection of this loop.
    fn broadcast_listed(&mut self, ids: &[ConnId], frame: &SharedFrame) {
        self.each_listed_ws(ids, |conn, cx| conn.write_shared(cx, frame));
    }

    /// Runs `f` on each listed open WebSocket connection of this loop.
    fn for_each_listed(
        &mut self,
        ids: &[ConnId],
        f: &mut dyn FnMut(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) {
        self.each_listed_ws(ids, |conn, cx| {
            conn.with_ws(cx, "a for_each_listed closure", &mut *f);
        });
    }

    /// Calls `visit` on every open WebSocket connection of this loop that `filter` selects and
    /// lists each one as a fan-out receiver, flushed at the end of this turn (or, when the loop
    /// lags, within `ServerConfig::broadcast_coalesce`). Only the members of the filter's tag (or
    /// the WebSocket connections, without a tag) are visited, not every slot.
    fn each_open_ws(&mut self, filter: Filter, mut visit: impl FnMut(&mut Conn, &ConnCx<'_>)) {
        let EventLoop {
            conns,
            env,
            fanout,
            index,
            now,
            stopping,
            tags,
            ..
        } = self;
        let mut receivers = 0;
        for &slot in tags.members(filter.tag) {
            let Some((generation, conn)) = conns.get_with_generation(slot) else {
                continue;
            };
            let id = ConnId::new(*index, slot, generation);
            if conn.selected_by(&filter, id) {
                let cx = ConnCx {
                    env,
                    id,
                    now: *now,
                    stopping: *stopping,
                };
                visit_receiver(conn, &cx, fanout, &mut visit);
                receivers += 1;
            }
        }
        count_fanout(env, receivers);
    }

    /// Calls `visit` on each listed connection of this loop that is still an open WebSocket and
    /// lists each one as a fan-out receiver (see `each_open_ws`).
    fn each_listed_ws(&mut self, ids: &[ConnId], mut visit: impl FnMut(&mut Conn, &ConnCx<'_>)) {
        let EventLoop {
            conns,
            env,
            fanout,
            index,
            now,
            stopping,
            ..
        } = self;
        let mut receivers = 0;
        for &id in ids {
            if id.loop_index() != *index {
                continue;
            }
            let Some(conn) = conns.get_checked(id.slot(), id.generation()) else {
                continue;
            };
            if conn.selected_by(&Filter::all(), id) {
                let cx = ConnCx {
                    env,
                    id,
                    now: *now,
                    stopping: *stopping,
                };
                visit_receiver(conn, &cx, fanout, &mut visit);
                receivers += 1;
            }
        }
        count_fanout(env, receivers);
    }
}

/// Counts one fan-out task and its receivers, once for all of them.
fn count_fanout(env: &Env, receivers: u64) {
    let stats = env.stats();
    LoopStats::add(&stats.fanouts, 1);
    LoopStats::add(&stats.fanout_receivers, receivers);
}

/// Calls `visit` on one fan-out receiver and lists it for the end-of-turn flush (once).
fn visit_receiver(
    conn: &mut Conn,
    cx: &ConnCx<'_>,
    fanout: &mut Vec<u32>,
    visit: &mut impl FnMut(&mut Conn, &ConnCx<'_>),
) {
    visit(conn, cx);
    if conn.enlist(Flags::DIRTY) {
        fanout.push(cx.id.slot());
    }
}
