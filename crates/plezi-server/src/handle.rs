//! [`ServerHandle`]: the `Send + Sync` way into a running server from any thread.
//!
//! Every operation becomes a [`Task`] pushed onto the owning loop's [`Inbox`] (a mutex-guarded
//! `Vec` swapped out whole by the loop); the loop's `mio::Waker` is only woken when the inbox went
//! from empty to non-empty, and never from the loop's own thread (it drains its inbox before each
//! poll anyway).

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio::Waker;
use parking_lot::Mutex;

use crate::blocking::BlockingPool;
use crate::conn_id::ConnId;
use crate::handler::{Filter, WebSocket, WebSocketHandler};
use crate::http::Response;
use crate::stats::{LoopStats, ServerStats};
use crate::timers::{TimerFn, TimerId};
use crate::ws::SharedFrame;

/// A closure run against one connection's handler.
pub(crate) type ConnFn = Box<dyn FnOnce(&mut dyn WebSocketHandler, &mut WebSocket<'_>) + Send>;
/// A closure run against many WebSocket connections' handlers (see [`ServerHandle::for_each`]).
pub type EachFn = Arc<dyn Fn(&mut dyn WebSocketHandler, &mut WebSocket<'_>) + Send + Sync>;

/// Work sent to a loop.
pub(crate) enum Task {
    /// A freshly accepted socket to adopt.
    Adopt(mio::net::TcpStream, SocketAddr),
    /// Queue a frame on one connection.
    Write(ConnId, SharedFrame),
    /// Start the close handshake on one connection.
    Close(ConnId, u16, String),
    /// Run a closure on one connection.
    Run(ConnId, ConnFn),
    /// Queue a frame on every matching WebSocket connection of the loop.
    Broadcast(SharedFrame, Filter),
    /// Run a closure on every matching WebSocket connection of the loop.
    ForEach(Filter, EachFn),
    /// Queue a frame on each listed connection of the loop.
    BroadcastListed(Vec<ConnId>, SharedFrame),
    /// Run a closure on each listed connection of the loop.
    ForEachListed(Vec<ConnId>, EachFn),
    /// Run a closure on the loop thread.
    Call(Box<dyn FnOnce() + Send>),
    /// Schedule a timer.
    AddTimer(TimerId, Instant, TimerFn),
    /// Cancel a timer.
    CancelTimer(TimerId),
    /// The answer to a deferred HTTP request (`Reply::later`), with its ticket.
    Respond(ConnId, u64, Box<Response>),
    /// Begin the graceful shutdown.
    Shutdown,
    /// Begin the graceful shutdown, spreading the WebSocket closes over the drain window.
    Drain,
    /// End the grace period now (a second signal).
    ForceStop,
}

struct InboxState {
    tasks: Vec<Task>,
    open: bool,
}

/// One loop's queue of incoming tasks.
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    waker: Waker,
}

thread_local! {
    /// Address of the inbox of the loop running on this thread (0 when none).
    static CURRENT_INBOX: Cell<usize> = const { Cell::new(0) };
}

impl Inbox {
    pub(crate) fn new(waker: Waker) -> Inbox {
        Inbox {
            state: Mutex::new(InboxState {
                tasks: Vec::new(),
                open: true,
            }),
            waker,
        }
    }

    /// Queues a task; wakes the loop if it may be sleeping. Dropped if the loop has stopped.
    pub(crate) fn push(&self, task: Task) {
        let mut state = self.state.lock();
        if !state.open {
            drop(state);
            drop(task);
            return;
        }
        let was_empty = state.tasks.is_empty();
        state.tasks.push(task);
        drop(state);
        if was_empty
            && !self.is_current()
            && let Err(e) = self.waker.wake()
        {
            log::error!("plezi: cannot wake an event loop: {e}");
        }
    }

    /// Swaps the queued tasks into `into` (which must be empty).
    pub(crate) fn take(&self, into: &mut Vec<Task>) {
        std::mem::swap(&mut self.state.lock().tasks, into);
    }

    /// True when no task is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.state.lock().tasks.is_empty()
    }

    /// Refuses further tasks and returns those still queued.
    pub(crate) fn close(&self) -> Vec<Task> {
        let mut state = self.state.lock();
        state.open = false;
        std::mem::take(&mut state.tasks)
    }

    /// Marks the calling thread as this inbox's loop thread.
    pub(crate) fn enter(&self) {
        CURRENT_INBOX.with(|c| c.set(self as *const Inbox as usize));
    }

    fn is_current(&self) -> bool {
        CURRENT_INBOX.with(|c| c.get()) == self as *const Inbox as usize
    }
}

/// State shared by the handle and the loops.
pub(crate) struct Shared {
    pub(crate) inboxes: Box<[Inbox]>,
    pub(crate) websockets: AtomicUsize,
    /// Open connections of all loops (accepted and not yet closed).
    pub(crate) connections: AtomicUsize,
    pub(crate) local_addr: SocketAddr,
    pub(crate) stopping: AtomicBool,
    /// The server drains (or stops): readiness answers 503.
    draining: AtomicBool,
    /// How long a drain keeps serving before it stops accepting.
    drain_notice: Duration,
    pub(crate) blocking: Arc<BlockingPool>,
    /// Each loop's counters, by loop index.
    pub(crate) stats: Box<[LoopStats]>,
    next_timer: AtomicU64,
    next_loop: AtomicUsize,
}

/// `Send + Sync + Clone` handle to a running server, usable from any thread (and from hooks via
/// [`WebSocket::server`]). Operations on a connection that is gone (or an id whose generation is
/// stale) are silently ignored; after shutdown every operation is a no-op.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<Shared>,
}

impl ServerHandle {
    pub(crate) fn new(
        inboxes: Vec<Inbox>,
        local_addr: SocketAddr,
        drain_notice: Duration,
    ) -> ServerHandle {
        let stats = inboxes.iter().map(|_| LoopStats::default()).collect();
        ServerHandle {
            shared: Arc::new(Shared {
                inboxes: inboxes.into_boxed_slice(),
                websockets: AtomicUsize::new(0),
                connections: AtomicUsize::new(0),
                local_addr,
                stopping: AtomicBool::new(false),
                draining: AtomicBool::new(false),
                drain_notice,
                blocking: Arc::new(BlockingPool::new(blocking_threads())),
                stats,
                next_timer: AtomicU64::new(1),
                next_loop: AtomicUsize::new(0),
            }),
        }
    }

    fn inbox(&self, loop_index: u16) -> Option<&Inbox> {
        self.shared.inboxes.get(usize::from(loop_index))
    }

    pub(crate) fn send(&self, loop_index: u16, task: Task) {
        if let Some(inbox) = self.inbox(loop_index) {
            inbox.push(task);
        }
    }

    /// Queues a pre-encoded frame on connection `id`.
    pub fn write(&self, id: ConnId, frame: SharedFrame) {
        self.send(id.loop_index(), Task::Write(id, frame));
    }

    /// Starts the close handshake on connection `id`.
    pub fn close(&self, id: ConnId, code: u16, reason: &str) {
        self.send(id.loop_index(), Task::Close(id, code, reason.to_owned()));
    }

    /// Runs `f` with connection `id`'s handler on its loop thread (not run if the connection is
    /// gone or closing). Downcast the handler with `let any: &mut dyn Any = h; any.downcast_mut()`.
    pub fn run<F>(&self, id: ConnId, f: F)
    where
        F: FnOnce(&mut dyn WebSocketHandler, &mut WebSocket<'_>) + Send + 'static,
    {
        self.send(id.loop_index(), Task::Run(id, Box::new(f)));
    }

    /// Queues `frame` on every open WebSocket connection that `filter` selects, on every loop:
    /// one task per loop carrying the shared bytes, no per-receiver copy.
    pub fn broadcast(&self, frame: SharedFrame, filter: Filter) {
        for inbox in self.shared.inboxes.iter() {
            inbox.push(Task::Broadcast(frame.clone(), filter));
        }
    }

    /// Runs `f` on every open WebSocket connection that `filter` selects, each on its loop thread.
    pub fn for_each(&self, filter: Filter, f: EachFn) {
        for inbox in self.shared.inboxes.iter() {
            inbox.push(Task::ForEach(filter, f.clone()));
        }
    }

    /// Queues `frame` on each listed connection that is an open WebSocket: one task per loop
    /// (not one per connection) carrying the shared bytes. Gone or stale ids are skipped.
    pub fn broadcast_listed(&self, ids: impl IntoIterator<Item = ConnId>, frame: SharedFrame) {
        for (loop_index, ids) in self.by_loop(ids) {
            self.send(loop_index, Task::BroadcastListed(ids, frame.clone()));
        }
    }

    /// Runs `f` on each listed connection that is an open WebSocket, each on its loop thread: one
    /// task per loop (not one per connection). Gone or stale ids are skipped.
    pub fn for_each_listed(&self, ids: impl IntoIterator<Item = ConnId>, f: EachFn) {
        for (loop_index, ids) in self.by_loop(ids) {
            self.send(loop_index, Task::ForEachListed(ids, f.clone()));
        }
    }

    /// `ids` grouped by their loop (ids of loops this server does not have are dropped).
    fn by_loop(
        &self,
        ids: impl IntoIterator<Item = ConnId>,
    ) -> impl Iterator<Item = (u16, Vec<ConnId>)> {
        let mut groups: Vec<Vec<ConnId>> =
            (0..self.shared.inboxes.len()).map(|_| Vec::new()).collect();
        for id in ids {
            if let Some(group) = groups.get_mut(usize::from(id.loop_index())) {
                group.push(id);
            }
        }
        groups
            .into_iter()
            .enumerate()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(i, ids)| (i as u16, ids))
    }

    /// Runs `f` on loop `loop_index`'s thread (ignored if there is no such loop).
    pub fn run_on_loop(&self, loop_index: u16, f: impl FnOnce() + Send + 'static) {
        self.send(loop_index, Task::Call(Box::new(f)));
    }

    /// Runs `f` once after `delay`, on a loop thread. Timers do not keep the server alive: they
    /// are dropped at shutdown.
    pub fn run_after(&self, delay: Duration, f: impl FnOnce() + Send + 'static) -> TimerId {
        self.add_timer(delay, TimerFn::Once(Box::new(f)))
    }

    /// Runs `f` every `every` (first run after one period), on a loop thread, until cancelled.
    pub fn run_every(&self, every: Duration, f: impl FnMut() + Send + 'static) -> TimerId {
        let every = every.max(Duration::from_millis(1));
        self.add_timer(every, TimerFn::Every(Box::new(f), every))
    }

    fn add_timer(&self, delay: Duration, f: TimerFn) -> TimerId {
        let loop_index = self.current_loop().unwrap_or_else(|| self.pick_loop());
        let seq = self.shared.next_timer.fetch_add(1, Ordering::Relaxed);
        let id = TimerId::new(loop_index, seq);
        let deadline = Instant::now() + delay;
        self.send(loop_index, Task::AddTimer(id, deadline, f));
        id
    }

    /// Runs `f` on the server's pool of threads for blocking work (disk, databases, DNS, heavy
    /// computation), never on an event loop. The pool grows on demand up to twice the cores (at
    /// least 4) and shrinks when idle. Send results back with [`ServerHandle::run`] or
    /// [`ServerHandle::write`]. Jobs queued after the server stopped are dropped.
    ///
    /// ```no_run
    /// # fn demo(handle: plezi_server::ServerHandle, id: plezi_server::ConnId) {
    /// let h = handle.clone();
    /// handle.run_blocking(move || {
    ///     let report = std::fs::read_to_string("/var/log/app.log").unwrap_or_default();
    ///     h.write(id, plezi_server::SharedFrame::text(&report));
    /// });
    /// # }
    /// ```
    pub fn run_blocking(&self, f: impl FnOnce() + Send + 'static) {
        self.shared.blocking.spawn(Box::new(f));
    }

    /// Cancels a timer (no effect if it already ran or was cancelled).
    pub fn cancel_timer(&self, id: TimerId) {
        self.send(id.loop_index(), Task::CancelTimer(id));
    }

    /// Open WebSocket connections across all loops.
    pub fn websocket_count(&self) -> usize {
        self.shared.websockets.load(Ordering::Relaxed)
    }

    /// Open connections (HTTP and WebSocket) across all loops; compare with
    /// [`ServerConfig::max_connections`](crate::ServerConfig::max_connections).
    pub fn connection_count(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The server's counters now, summed over its loops (cheap: a few hundred relaxed loads per
    /// loop; nothing waits for a loop).
    ///
    /// ```no_run
    /// let server = plezi_server::Server::builder().bind("127.0.0.1:0").build()?;
    /// let stats = server.handle().stats();
    /// println!("{} WebSockets open, {} messages in", stats.websockets, stats.messages_in);
    /// # Ok::<(), plezi_server::ServerError>(())
    /// ```
    pub fn stats(&self) -> ServerStats {
        let mut stats = ServerStats {
            connections: self.connection_count(),
            websockets: self.websocket_count(),
            ..ServerStats::default()
        };
        for l in self.shared.stats.iter() {
            stats.add_loop(l);
        }
        stats
    }

    /// The counters of loop `index` (written only on that loop's thread).
    pub(crate) fn loop_stats(&self, index: u16) -> &LoopStats {
        &self.shared.stats[usize::from(index)]
    }

    /// One accepted connection is gone.
    pub(crate) fn connection_closed(&self) {
        let _ = self
            .shared
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Number of event loops (threads).
    pub fn loops(&self) -> u16 {
        self.shared.inboxes.len() as u16
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Acquire)
    }

    /// True once a drain or a shutdown has begun (the readiness path answers `503`).
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire) || self.is_stopping()
    }

    /// The rolling-restart shutdown (what SIGTERM does): the readiness path
    /// ([`ServerBuilder::health`](crate::ServerBuilder::health)) answers `503` at once while
    /// everything else is served as usual for `ServerConfig::drain_notice`, so load balancers
    /// stop sending new clients; then the server stops accepting, finishes in-flight HTTP
    /// requests, and closes its WebSocket connections with 1001 one after another, evenly over
    /// `ServerConfig::drain_window` in a random order (so their clients reconnect elsewhere at a
    /// bounded rate), and stops after the last one is gone or `shutdown_grace` after the window.
    /// Calling it again does nothing; [`ServerHandle::shutdown`] moves on to an immediate
    /// shutdown.
    pub fn drain(&self) {
        if self.shared.draining.swap(true, Ordering::AcqRel) || self.is_stopping() {
            return;
        }
        let notice = self.shared.drain_notice;
        let handle = self.clone();
        let close_gradually = move || {
            if !handle.shared.stopping.swap(true, Ordering::AcqRel) {
                for inbox in handle.shared.inboxes.iter() {
                    inbox.push(Task::Drain);
                }
            }
        };
        if notice.is_zero() {
            close_gradually();
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("plezi-drain".to_owned())
            .spawn(move || {
                std::thread::sleep(notice);
                close_gradually();
            });
        if let Err(e) = spawned {
            log::error!("plezi: cannot wait for the drain notice ({e}); draining now");
            self.shutdown();
        }
    }

    /// Graceful shutdown: stop accepting, close idle HTTP connections, finish in-flight responses,
    /// run `on_shutdown` and send close 1001 to every WebSocket, wait up to
    /// `ServerConfig::shutdown_grace` for peers, then stop the loops (`Server::run` returns).
    /// Calling it again ends the grace period at once.
    pub fn shutdown(&self) {
        let again = self.shared.stopping.swap(true, Ordering::AcqRel);
        for inbox in self.shared.inboxes.iter() {
            inbox.push(if again {
                Task::ForceStop
            } else {
                Task::Shutdown
            });
        }
    }

    /// The loop running on the calling thread, if any.
    fn current_loop(&self) -> Option<u16> {
        let current = CURRENT_INBOX.with(|c| c.get());
        self.shared
            .inboxes
            .iter()
            .position(|i| i as *const Inbox as usize == current)
            .map(|i| i as u16)
    }

    /// Round-robin choice of a loop.
    pub(crate) fn pick_loop(&self) -> u16 {
        let n = self.shared.inboxes.len().max(1);
        (self.shared.next_loop.fetch_add(1, Ordering::Relaxed) % n) as u16
    }

    pub(crate) fn inbox_for(&self, loop_index: u16) -> &Inbox {
        &self.shared.inboxes[usize::from(loop_index)]
    }
}

/// The blocking pool's cap: twice the cores, at least 4.
fn blocking_threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| (2 * n.get()).max(4))
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.shared.local_addr)
            .field("loops", &self.shared.inboxes.len())
            .field("websockets", &self.websocket_count())
            .finish()
    }
}
