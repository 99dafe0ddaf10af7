//! [`Server`], its [`ServerBuilder`], and [`RunningServer`] (a server on background threads).
//!
//! Accepting: one listener, registered with loop 0, which accepts every pending connection and
//! spreads them round-robin over all loops (its own share is registered directly, the others are
//! handed over through the loops' inboxes). One listener (rather than `SO_REUSEPORT` per loop)
//! keeps "address in use" a real error and the spread even.

use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::{io, thread};

use mio::{Poll, Waker};

use crate::config::ServerConfig;
use crate::env::Env;
use crate::error::ServerError;
use crate::event_loop::{EventLoop, WAKER};
use crate::handle::{Inbox, ServerHandle};
use crate::handler::{NotFound, Service};
use crate::health::Health;
use crate::panic_guard::guard;
use crate::security::{Cors, Guards, OriginPolicy};
use crate::static_files::StaticFiles;

/// Pending connections the kernel may queue before we accept them.
const BACKLOG: libc::c_int = 1024;
/// The most event loops a server may have.
const MAX_LOOPS: usize = 1024;

/// Builds a [`Server`].
///
/// ```no_run
/// use plezi_server::{Reply, Request, Response, Server};
/// let server = Server::builder()
///     .bind("127.0.0.1:3000")
///     .service(|_req: &mut Request| Reply::Response(Response::text(200, "hello\n")))
///     .build()?;
/// println!("listening on http://{}", server.local_addr());
/// server.run()?; // until SIGINT/SIGTERM
/// # Ok::<(), plezi_server::ServerError>(())
/// ```
pub struct ServerBuilder {
    addr: Result<Vec<SocketAddr>, String>,
    threads: Option<usize>,
    config: ServerConfig,
    public_folder: Option<PathBuf>,
    service: Arc<dyn Service>,
    handle_signals: Option<bool>,
    guards: Guards,
    dotfiles: bool,
    health: Option<Health>,
}

impl ServerBuilder {
    /// The address to listen on (default `127.0.0.1:3000`; port 0 picks a free port).
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> Self {
        self.addr = match addr.to_socket_addrs() {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => Err(e.to_string()),
        };
        self
    }

    /// Number of event-loop threads (default: the available cores).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Limits and timeouts.
    pub fn config(mut self, c: ServerConfig) -> Self {
        self.config = c;
        self
    }

    /// Serve GET/HEAD requests from files below `dir` before calling the service.
    pub fn public_folder(mut self, dir: impl Into<PathBuf>) -> Self {
        self.public_folder = Some(dir.into());
        self
    }

    /// Which browser origins may open WebSockets and send non-safe requests (default:
    /// same-origin only; see [`OriginPolicy`] and `docs/security.md`).
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.guards.origins = policy;
        self
    }

    /// Turns CORS on with these rules (default: off, no CORS headers; see [`Cors`]).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.guards.cors = Some(cors);
        self
    }

    /// Serve files and folders whose name starts with `.` from the public folder (default: false;
    /// `/.well-known/` is always served).
    pub fn serve_dotfiles(mut self, yes: bool) -> Self {
        self.dotfiles = yes;
        self
    }

    /// Answer health checks on these paths (default: none): `live` answers `200` while the
    /// process serves; `ready` answers `200`, then `503` from the moment the server drains
    /// ([`ServerHandle::drain`], SIGTERM) or stops. `GET`/`HEAD`, before static files and the
    /// service. Typical: `.health("/healthz", "/readyz")`.
    pub fn health(mut self, live: &str, ready: &str) -> Self {
        self.health = Some(Health::new(live, ready));
        self
    }

    /// The application (default: 404 for everything).
    pub fn service(mut self, s: impl Service) -> Self {
        self.service = Arc::new(s);
        self
    }

    /// Install signal handlers: SIGTERM drains ([`ServerHandle::drain`]: what orchestrators and
    /// rolling restarts send), SIGINT (Ctrl-C) shuts down at once ([`ServerHandle::shutdown`]); a
    /// further signal moves on to the next step (shutdown, then the end of the grace period).
    /// Default: true for [`Server::run`], false for [`Server::spawn`].
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = Some(yes);
        self
    }

    /// Checks the options, binds the listener and creates the loops' pollers.
    pub fn build(self) -> Result<Server, ServerError> {
        self.config.validate().map_err(ServerError::Config)?;
        let threads = match self.threads {
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if threads == 0 || threads > MAX_LOOPS {
            return Err(ServerError::Config(format!(
                "threads({threads}): use between 1 and {MAX_LOOPS} event loops"
            )));
        }
        let addrs = self
            .addr
            .map_err(|e| ServerError::Config(format!("bind address cannot be resolved: {e}")))?;
        if addrs.is_empty() {
            return Err(ServerError::Config(
                "bind address resolves to nothing".to_owned(),
            ));
        }
        if let Some(cors) = &self.guards.cors {
            cors.validate()
                .map_err(|e| ServerError::Config(e.to_string()))?;
        }
        let dotfiles = self.dotfiles;
        let statics = match self.public_folder {
            Some(dir) => Some(Arc::new(
                StaticFiles::new(dir.clone())
                    .map_err(|e| {
                        ServerError::Config(format!(
                            "public folder {}: {e}; create it or fix the path",
                            dir.display()
                        ))
                    })?
                    .with_dotfiles(dotfiles),
            )),
            None => None,
        };
        let open_files = raise_open_files_limit();
        let max_connections = self
            .config
            .max_connections
            .unwrap_or_else(|| default_max_connections(open_files));
        let listener = StdListener::bind(&addrs[..]).map_err(ServerError::Bind)?;
        listener.set_nonblocking(true).map_err(ServerError::Io)?;
        raise_backlog(&listener);
        let local_addr = listener.local_addr().map_err(ServerError::Io)?;
        let mut polls = Vec::with_capacity(threads);
        let mut inboxes = Vec::with_capacity(threads);
        for _ in 0..threads {
            let poll = Poll::new().map_err(ServerError::Io)?;
            let waker = Waker::new(poll.registry(), WAKER).map_err(ServerError::Io)?;
            inboxes.push(Inbox::new(waker));
            polls.push(poll);
        }
        Ok(Server {
            listener: mio::net::TcpListener::from_std(listener),
            polls,
            handle: ServerHandle::new(inboxes, local_addr, self.config.drain_notice),
            config: self.config,
            service: self.service,
            statics,
            handle_signals: self.handle_signals,
            guards: Arc::new(self.guards),
            health: self.health.map(Arc::new),
            max_connections,
        })
    }
}

/// The default connection cap: the open-files limit less a reserve (an eighth of it, at least 64
/// and at most 4096 descriptors) for the listener, the pollers, files being served, Redis and logs.
fn default_max_connections(open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => {
            let reserve = (limit / 8).clamp(64, 4096);
            limit.saturating_sub(reserve).max(1).min(usize::MAX as u64) as usize
        }
        None => usize::MAX,
    }
}

/// Raises the soft open-files limit to the hard limit (as Go's runtime does): every connection
/// is a file descriptor, and the common soft default of 1024 is far below what a server holds.
/// Returns the soft limit in effect afterwards (`None`: unknown or unlimited).
fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; setrlimit only reads it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let old = limit.rlim_cur;
            let mut raised = limit;
            raised.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                log::debug!(
                    "plezi: open-files limit raised from {old} to {}",
                    limit.rlim_max
                );
                limit = raised;
            }
        }
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// `listen(2)` again with a larger backlog (std uses 128), for connection bursts.
fn raise_backlog(listener: &StdListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: `listen` on a valid, already listening socket descriptor only changes its backlog.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
    if rc != 0 {
        log::debug!(
            "plezi: cannot raise the listen backlog: {}",
            io::Error::last_os_error()
        );
    }
}

/// A bound server, ready to run. See [`ServerBuilder`].
pub struct Server {
    listener: mio::net::TcpListener,
    polls: Vec<Poll>,
    handle: ServerHandle,
    config: ServerConfig,
    service: Arc<dyn Service>,
    statics: Option<Arc<StaticFiles>>,
    handle_signals: Option<bool>,
    guards: Arc<Guards>,
    health: Option<Arc<Health>>,
    max_connections: usize,
}

impl Server {
    /// A builder with the defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            addr: Ok(vec![SocketAddr::from(([127, 0, 0, 1], 3000))]),
            threads: None,
            config: ServerConfig::default(),
            public_folder: None,
            service: Arc::new(NotFound),
            handle_signals: None,
            guards: Guards::default(),
            dotfiles: false,
            health: None,
        }
    }

    /// A handle to the server (usable before and while it runs).
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Runs the loops on background threads and blocks until the server has stopped (after
    /// [`ServerHandle::shutdown`] or, unless disabled, SIGINT/SIGTERM). Returns `Ok` after a clean
    /// stop.
    pub fn run(self) -> Result<(), ServerError> {
        let signals = self.handle_signals.unwrap_or(true);
        self.start(signals)?.join()
    }

    /// Runs the server on background threads (for tests and embedding). Signals are not handled
    /// unless [`ServerBuilder::handle_signals`] asked for it.
    pub fn spawn(self) -> Result<RunningServer, ServerError> {
        let signals = self.handle_signals.unwrap_or(false);
        self.start(signals)
    }

    fn start(self, signals: bool) -> Result<RunningServer, ServerError> {
        let Server {
            listener,
            polls,
            handle,
            config,
            service,
            statics,
            guards,
            health,
            max_connections,
            ..
        } = self;
        let signal_watch = if signals {
            Some(SignalWatch::install(&handle)?)
        } else {
            None
        };
        let mut listener = Some(listener);
        let mut threads = Vec::with_capacity(polls.len());
        for (i, poll) in polls.into_iter().enumerate() {
            let index = i as u16;
            let env = Env::new(
                handle.clone(),
                index,
                &config,
                service.clone(),
                statics.clone(),
                guards.clone(),
                health.clone(),
                max_connections,
            );
            let event_loop =
                EventLoop::new(index, poll, listener.take(), env).map_err(ServerError::Io)?;
            let on_panic = handle.clone();
            let spawned = thread::Builder::new()
                .name(format!("plezi-loop-{i}"))
                .spawn(move || {
                    if guard("an event loop", || event_loop.run()).is_none() {
                        on_panic.shutdown();
                    }
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    handle.shutdown();
                    handle.shutdown();
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(ServerError::Io(e));
                }
            }
        }
        Ok(RunningServer {
            handle,
            threads,
            signals: signal_watch,
        })
    }
}

/// A server running on background threads. Dropping it stops the server at once (no grace
/// period) and waits for its threads.
pub struct RunningServer {
    handle: ServerHandle,
    threads: Vec<JoinHandle<()>>,
    signals: Option<SignalWatch>,
}

impl RunningServer {
    /// A handle to the running server.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Waits until the server has stopped (call [`ServerHandle::shutdown`] first, or let a
    /// signal do it).
    pub fn join(mut self) -> Result<(), ServerError> {
        self.wait()
    }

    /// Graceful shutdown, then [`RunningServer::join`].
    pub fn stop(self) -> Result<(), ServerError> {
        self.handle.shutdown();
        self.join()
    }

    fn wait(&mut self) -> Result<(), ServerError> {
        let mut result = Ok(());
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                result = Err(ServerError::Io(io::Error::other(
                    "an event loop thread panicked",
                )));
            }
        }
        if let Some(signals) = self.signals.take() {
            signals.stop();
        }
        self.handle.shared.blocking.close();
        result
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.handle.shutdown();
            self.handle.shutdown();
            let _ = self.wait();
        }
    }
}

/// A thread turning SIGINT/SIGTERM into [`ServerHandle::shutdown`].
struct SignalWatch {
    control: signal_hook::iterator::Handle,
    thread: JoinHandle<()>,
}

impl SignalWatch {
    fn install(handle: &ServerHandle) -> Result<SignalWatch, ServerError> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(ServerError::Io)?;
        let control = signals.handle();
        let handle = handle.clone();
        let thread = thread::Builder::new()
            .name("plezi-signals".to_owned())
            .spawn(move || {
                for signal in signals.forever() {
                    if handle.is_stopping() {
                        log::info!("plezi: signal {signal} again: stopping now");
                        handle.shutdown();
                    } else if signal == SIGTERM && !handle.is_draining() {
                        log::info!(
                            "plezi: signal {signal}: draining (not ready, then closing connections gradually)"
                        );
                        handle.drain();
                    } else {
                        log::info!("plezi: signal {signal}: shutting down gracefully");
                        handle.shutdown();
                    }
                }
            })
            .map_err(ServerError::Io)?;
        Ok(SignalWatch { control, thread })
    }

    fn stop(self) {
        self.control.close();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::default_max_connections;

    #[test]
    fn connection_cap_leaves_a_reserve() {
        assert_eq!(default_max_connections(Some(1024)), 1024 - 128);
        assert_eq!(default_max_connections(Some(2048)), 2048 - 256);
        assert_eq!(default_max_connections(Some(256)), 256 - 64);
        assert_eq!(default_max_connections(Some(1 << 20)), (1 << 20) - 4096);
        assert_eq!(default_max_connections(Some(10)), 1);
        assert_eq!(default_max_connections(None), usize::MAX);
    }
}
