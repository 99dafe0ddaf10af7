//! Shared test harness: an in-process server with a test service, an event log written by the
//! WebSocket handlers, temp folders, polling helpers, external-tool checks and the interop scenarios
//! run by the third-party client tests.
//!
//! Each test file includes this module; not every file uses every helper.
#![allow(dead_code, unused_imports)]

pub use plezi_test_support::raw as client;
pub mod interop;
pub mod tools;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plezi_server::{
    Body, CloseInfo, ConnId, Message, Reply, Request, Response, RunningServer, Server,
    ServerConfig, ServerHandle, Service, Upgrade, WebSocket, WebSocketHandler,
};

pub use client::{Client, Frame, HttpResponse, STEP, op};

/// Body text of `GET /`.
pub const ROOT_TEXT: &str = "hello from the plezi test service";

/// Length of the body of `GET /big` (odd on purpose: not a multiple of any buffer size).
pub const BIG_LEN: usize = 3 * 1024 * 1024 + 17;

/// The deterministic content of `GET /big`.
pub fn big_body() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i % 251) as u8).collect()
}

/// What the WebSocket handlers saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// on_open(id, request path).
    Open(ConnId, String),
    /// on_message(id, payload length).
    Message(ConnId, usize),
    /// on_shutdown(id).
    Shutdown(ConnId),
    /// on_drained(id).
    Drained(ConnId),
    /// on_close(id, code, initiated_by_server).
    Close(ConnId, Option<u16>, bool),
    /// A hook ran after on_close for the same id (must never happen).
    AfterClose(ConnId, &'static str),
}

/// The event log shared by all handlers of one server.
#[derive(Default)]
pub struct EventLog {
    events: Mutex<Vec<Event>>,
}

impl EventLog {
    /// Appends an event.
    pub fn push(&self, e: Event) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    /// A copy of the events so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until `pred` holds for the log (polling), or panics with `what` and the log.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&[Event]) -> bool) {
        let ok = wait_until(timeout, || pred(&self.snapshot()));
        assert!(
            ok,
            "timed out after {timeout:?} waiting for {what}; {}",
            self.describe()
        );
    }

    /// The event log for a failure message: the non-`Drained` events (at most 60) and counts.
    pub fn describe(&self) -> String {
        let all = self.snapshot();
        let drained = all
            .iter()
            .filter(|e| matches!(e, Event::Drained(_)))
            .count();
        let shown: Vec<&Event> = all
            .iter()
            .filter(|e| !matches!(e, Event::Drained(_)))
            .take(60)
            .collect();
        format!(
            "{} events ({drained} on_drained omitted): {shown:?}",
            all.len()
        )
    }

    /// Waits for the on_close of `id` and returns (code, initiated_by_server).
    pub fn wait_close(&self, id: ConnId, timeout: Duration) -> (Option<u16>, bool) {
        self.wait_for(&format!("on_close of {id}"), timeout, |ev| {
            ev.iter()
                .any(|e| matches!(e, Event::Close(i, _, _) if *i == id))
        });
        self.snapshot()
            .into_iter()
            .find_map(|e| match e {
                Event::Close(i, code, by_server) if i == id => Some((code, by_server)),
                _ => None,
            })
            .unwrap_or((None, false))
    }

    /// Every on_close so far, in order: (code, initiated_by_server).
    pub fn closes(&self) -> Vec<(Option<u16>, bool)> {
        self.snapshot()
            .into_iter()
            .filter_map(|e| match e {
                Event::Close(_, code, by_server) => Some((code, by_server)),
                _ => None,
            })
            .collect()
    }

    /// How many events match.
    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.snapshot().iter().filter(|e| pred(e)).count()
    }
}

pub use plezi_test_support::wait_until;

/// Parses "L.S.G" (ConnId's Display) back into a ConnId.
pub fn parse_conn_id(s: &str) -> ConnId {
    let parts: Vec<&str> = s.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "ConnId display should be L.S.G, got {s:?}");
    let n = |i: usize| -> u64 {
        parts[i]
            .parse()
            .unwrap_or_else(|_| panic!("ConnId display should be numeric L.S.G, got {s:?}"))
    };
    ConnId::new(n(0) as u16, n(1) as u32, n(2) as u32)
}

/// The WebSocket handler of the test service: echoes text and binary; records every hook.
pub struct EchoHandler {
    log: Arc<EventLog>,
    path: String,
    /// Sends "id:L.S.G" on open.
    announce_id: bool,
    /// Closes with this code right after open.
    close_on_open: Option<u16>,
    /// Set after on_close to detect hooks that run too late.
    closed: bool,
    /// Messages received (readable through `ServerHandle::run` + downcast).
    pub received: usize,
    /// Frames of a "flood:N" request still to write (paced by `pending()` and `on_drained`).
    flood_left: usize,
    id: Option<ConnId>,
}

/// Size of each frame of a "flood:N" request.
pub const FLOOD_FRAME: usize = 64 * 1024;
/// The flood stops writing while this much is queued and resumes in on_drained.
pub const FLOOD_HIGH_WATER: usize = 256 * 1024;

impl EchoHandler {
    /// Writes flood frames while the queue is below the high-water mark; "flood done" at the end.
    fn pump(&mut self, ws: &mut WebSocket<'_>) {
        if self.flood_left == 0 {
            return;
        }
        let frame = vec![0x5a; FLOOD_FRAME];
        while self.flood_left > 0 && ws.pending() < FLOOD_HIGH_WATER {
            if ws.write_binary(&frame).is_err() {
                self.flood_left = 0;
                return;
            }
            self.flood_left -= 1;
        }
        if self.flood_left == 0 {
            let _ = ws.write_text("flood done");
        }
    }
}

impl WebSocketHandler for EchoHandler {
    fn on_open(&mut self, ws: &mut WebSocket<'_>) {
        self.id = Some(ws.id());
        self.log.push(Event::Open(ws.id(), self.path.clone()));
        if self.announce_id {
            let _ = ws.write_text(&format!("id:{}", ws.id()));
        }
        if let Some(code) = self.close_on_open {
            ws.close(code, "closing as asked");
        }
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        if self.closed {
            self.log.push(Event::AfterClose(ws.id(), "on_message"));
        }
        self.received += 1;
        match msg {
            Message::Text(t) => {
                self.log.push(Event::Message(ws.id(), t.len()));
                if let Some(code) = t.strip_prefix("close:").and_then(|c| c.parse().ok()) {
                    ws.close(code, "closing as asked");
                } else if let Some(n) = t.strip_prefix("flood:").and_then(|c| c.parse().ok()) {
                    self.flood_left = n;
                    self.pump(ws);
                } else if t == "count" {
                    let _ = ws.write_text(&format!("count:{}", ws.server().websocket_count()));
                } else {
                    let _ = ws.write_text(t);
                }
            }
            Message::Binary(b) => {
                self.log.push(Event::Message(ws.id(), b.len()));
                let _ = ws.write_binary(b);
            }
        }
    }

    fn on_drained(&mut self, ws: &mut WebSocket<'_>) {
        self.log.push(Event::Drained(ws.id()));
        self.pump(ws);
    }

    fn on_shutdown(&mut self, ws: &mut WebSocket<'_>) {
        if self.closed {
            self.log.push(Event::AfterClose(ws.id(), "on_shutdown"));
        }
        self.log.push(Event::Shutdown(ws.id()));
        let _ = ws.write_text("server shutting down");
    }

    fn on_close(&mut self, id: ConnId, info: &CloseInfo) {
        if self.closed {
            self.log.push(Event::AfterClose(id, "on_close twice"));
        }
        self.closed = true;
        self.log
            .push(Event::Close(id, info.code, info.initiated_by_server));
    }
}

/// The application used by every test server.
///
/// Routes: `GET /` text; `/echo` echoes the request body (any method); `GET /big` a large body;
/// `GET /info` method/path/query; WebSocket upgrades on `/ws` (echo), `/ws-id?tag=N` (echo,
/// announces its id, optional tag), `/ws-close?code=N` (closes with N on open), `/ws-proto`
/// (selects "superchat" over "chat" when offered, no protocol otherwise).
pub struct TestService {
    /// The event log the handlers write to.
    pub log: Arc<EventLog>,
    big: Arc<[u8]>,
}

fn query_params(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl TestService {
    /// A service whose handlers write to `log`.
    pub fn new(log: Arc<EventLog>) -> TestService {
        TestService {
            log,
            big: big_body().into(),
        }
    }

    fn handler(&self, path: &str) -> EchoHandler {
        EchoHandler {
            log: self.log.clone(),
            path: path.to_string(),
            announce_id: false,
            close_on_open: None,
            closed: false,
            received: 0,
            flood_left: 0,
            id: None,
        }
    }
}

impl Service for TestService {
    fn call(&self, req: &mut Request) -> Reply {
        let path = req.path().to_string();
        let params = query_params(req.query());
        if path.starts_with("/ws") {
            if !req.is_websocket_upgrade() {
                return Reply::Response(Response::text(
                    400,
                    "WebSocket endpoint: upgrade expected",
                ));
            }
            let mut h = self.handler(&path);
            let mut tag = None;
            match path.as_str() {
                "/ws" => {}
                "/ws-id" => {
                    h.announce_id = true;
                    tag = params.get("tag").and_then(|t| t.parse::<u64>().ok());
                }
                "/ws-close" => {
                    h.close_on_open = Some(
                        params
                            .get("code")
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(4000),
                    );
                }
                "/ws-proto" => {
                    let offered: Vec<String> =
                        req.websocket_protocols().map(str::to_string).collect();
                    let mut up = Upgrade::new(Box::new(h));
                    for choice in ["superchat", "chat"] {
                        if offered.iter().any(|p| p == choice) {
                            up = up.protocol(choice);
                            break;
                        }
                    }
                    return Reply::Upgrade(up);
                }
                _ => return Reply::Response(Response::text(404, "no such WebSocket endpoint")),
            }
            let mut up = Upgrade::new(Box::new(h));
            if let Some(t) = tag {
                up = up.tag(t);
            }
            return Reply::Upgrade(up);
        }
        let resp = match (req.method(), path.as_str()) {
            ("GET", "/") | ("HEAD", "/") => Response::text(200, ROOT_TEXT),
            (_, "/echo") => Response::new(200)
                .header("Content-Type", "application/octet-stream")
                .header("X-Method", req.method())
                .body(Body::Bytes(req.body().to_vec())),
            ("GET", "/big") | ("HEAD", "/big") => Response::new(200)
                .header("Content-Type", "application/octet-stream")
                .body(Body::Shared(self.big.clone())),
            ("GET", "/info") => Response::text(
                200,
                format!(
                    "method={} path={} query={}",
                    req.method(),
                    req.path(),
                    req.query().unwrap_or("")
                ),
            ),
            _ => Response::text(404, "not found"),
        };
        Reply::Response(resp)
    }
}

/// A temporary folder removed on drop.
pub struct TempDir {
    /// Its path.
    pub path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, empty folder under the system temp dir.
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "plezi-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    /// Writes a file (creating parent folders) and returns its path.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).ok();
        }
        std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A server running in this process on 127.0.0.1:<free port>. Shut down (and joined) on drop.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its handle.
    pub handle: ServerHandle,
    /// Event log of the WebSocket handlers.
    pub log: Arc<EventLog>,
    /// The public folder (an empty temp folder unless given).
    pub public: PathBuf,
    running: Option<RunningServer>,
    _own_public: Option<TempDir>,
}

/// Options for [`TestServer::start_with`].
pub struct Options {
    /// Loop threads.
    pub threads: usize,
    /// Limits and timeouts.
    pub config: ServerConfig,
    /// Public folder (None: a fresh empty temp folder).
    pub public: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: 2,
            config: ServerConfig::default(),
            public: None,
        }
    }
}

impl TestServer {
    /// Default config, 2 threads.
    pub fn start() -> TestServer {
        TestServer::start_with(Options::default())
    }

    /// Default options with the config changed by `f`.
    pub fn with_config(f: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut o = Options::default();
        f(&mut o.config);
        TestServer::start_with(o)
    }

    /// Starts a server with these options.
    pub fn start_with(o: Options) -> TestServer {
        TestServer::start_custom(o, |b| b)
    }

    /// Starts a server with these options and builder settings added by `f` (origin policy,
    /// CORS, dotfiles...).
    pub fn start_custom(
        o: Options,
        f: impl FnOnce(plezi_server::ServerBuilder) -> plezi_server::ServerBuilder,
    ) -> TestServer {
        let own_public = if o.public.is_none() {
            Some(TempDir::new("public"))
        } else {
            None
        };
        let public = o
            .public
            .clone()
            .or_else(|| own_public.as_ref().map(|t| t.path.clone()))
            .unwrap_or_default();
        let log = Arc::new(EventLog::default());
        let service = TestService::new(log.clone());
        let builder = Server::builder()
            .bind("127.0.0.1:0")
            .threads(o.threads)
            .config(o.config)
            .public_folder(&public)
            .service(service);
        let server = f(builder)
            .build()
            .unwrap_or_else(|e| panic!("server build failed: {e}"));
        let addr = server.local_addr();
        let running = server
            .spawn()
            .unwrap_or_else(|e| panic!("server spawn failed: {e}"));
        let handle = running.handle();
        TestServer {
            addr,
            handle,
            log,
            public,
            running: Some(running),
            _own_public: own_public,
        }
    }

    /// Connects a raw TCP client.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Connects and upgrades on `path`.
    pub fn ws(&self, path: &str) -> Client {
        Client::ws_connect(self.addr, path)
    }

    /// Connects on `/ws-id` (optionally tagged) and returns the client and its server-side id.
    pub fn ws_with_id(&self, tag: Option<u64>) -> (Client, ConnId) {
        let path = match tag {
            Some(t) => format!("/ws-id?tag={t}"),
            None => "/ws-id".to_string(),
        };
        let mut c = self.ws(&path);
        let hello = c.expect_text();
        let id = parse_conn_id(
            hello
                .strip_prefix("id:")
                .unwrap_or_else(|| panic!("expected 'id:L.S.G' first, got {hello:?}")),
        );
        (c, id)
    }

    /// Shuts down and joins, returning join's outcome formatted (Ok(()) => None).
    pub fn stop(&mut self) -> Option<String> {
        self.handle.shutdown();
        let running = self.running.take()?;
        match running.join() {
            Ok(_) => None,
            Err(e) => Some(format!("{e:?}")),
        }
    }

    /// Takes the running server out (for tests that join it themselves).
    pub fn take_running(&mut self) -> RunningServer {
        self.running.take().expect("server already taken")
    }

    /// Path of the public folder.
    pub fn public(&self) -> &Path {
        &self.public
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.handle.shutdown();
            // Never hang a test run on a broken shutdown: join in a thread and give up after a while.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = r.join();
                let _ = tx.send(());
            });
            let _ = rx.recv_timeout(Duration::from_secs(15));
        }
    }
}
