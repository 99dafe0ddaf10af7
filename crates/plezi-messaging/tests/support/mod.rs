//! Test support: a real `redis-server` on a free port, and a recording sink.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use plezi_messaging::{
    Bus, BusConfig, BusError, Claim, ConnectionUuid, LocalDelivery, MailboxBatch, Payload, Sink,
};

pub const WAIT: Duration = Duration::from_secs(10);

/// A `redis-server` child process, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl RedisServer {
    /// A throwaway server (no persistence).
    pub fn start() -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            child: None,
            dir: None,
        };
        s.spawn();
        s
    }

    /// A server that persists to an append-only file in a fresh directory (survives restarts).
    pub fn start_persistent() -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "plezi-msg-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut s = RedisServer {
            port: free_port(),
            child: None,
            dir: Some(dir),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""]);
        match &self.dir {
            Some(dir) => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                    .arg(dir);
            }
            None => {
                cmd.args(["--appendonly", "no"]);
            }
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}). These tests need a real Redis: install it with \
                 `apt-get install -y redis-server` (.ci/install.sh does)"
            )
        });
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self
                .command(&["PING"])
                .map(|r| r.starts_with("+PONG"))
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (and directory).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the server: a Redis that accepts bytes and never answers.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        let status = Command::new("kill")
            .arg(if paused { "-STOP" } else { "-CONT" })
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -STOP/-CONT {pid}");
    }

    /// An integer reply (`:n`).
    pub fn int(&self, args: &[&str]) -> i64 {
        let r = self.command(args).unwrap();
        r.trim()
            .trim_start_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("{args:?}: not an integer reply: {r:?}"))
    }

    /// Sends one command over a raw connection and returns the raw reply text.
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        self.command_bytes(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
    }

    pub fn command_bytes(&self, args: &[&[u8]]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend(b"\r\n");
        }
        s.write_all(&out)?;
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What the sink saw.
#[derive(Default)]
pub struct Seen {
    pub deliveries: Vec<LocalDelivery>,
    /// (identity, connections, payloads) per mailbox batch.
    pub mailbox: Vec<(String, Vec<ConnectionUuid>, Vec<Payload>)>,
    pub failed: Vec<(Option<ConnectionUuid>, ConnectionUuid, Payload)>,
    /// Claims kept instead of confirmed (see `Recorder::hold_claims`).
    pub held: Vec<Claim>,
    /// Refused notifications reported to the sink: (sender, identity, event, error).
    pub refused: Vec<(ConnectionUuid, String, Option<String>, BusError)>,
}

/// A sink that records everything; confirms mailbox claims unless told to hold them.
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Seen>,
    changed: Condvar,
    hold: Mutex<bool>,
}

impl Recorder {
    pub fn attach(bus: &Bus) -> Arc<Recorder> {
        let r = Arc::new(Recorder::default());
        bus.set_sink(r.clone());
        r
    }

    /// Keep mailbox claims (neither confirm nor drop them) until `take_held`.
    pub fn hold_claims(&self, hold: bool) {
        *self.hold.lock().unwrap() = hold;
    }

    pub fn take_held(&self) -> Vec<Claim> {
        std::mem::take(&mut self.seen.lock().unwrap().held)
    }

    /// Waits until `done` holds for what was seen; panics with `what` after the deadline.
    pub fn wait<T>(&self, what: &str, mut done: impl FnMut(&Seen) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        let mut seen = self.seen.lock().unwrap();
        loop {
            if let Some(v) = done(&seen) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("timed out waiting for {what}");
            }
            seen = self.changed.wait_timeout(seen, left).unwrap().0;
        }
    }

    /// Waits until at least `n` mailbox messages were delivered.
    pub fn wait_mailbox(&self, n: usize) {
        self.wait(&format!("{n} mailbox messages"), |s| {
            (s.mailbox.iter().map(|(_, _, p)| p.len()).sum::<usize>() >= n).then_some(())
        })
    }

    /// Events (name, data) delivered so far, in order.
    pub fn events(&self) -> Vec<(String, serde_json::Value)> {
        self.seen
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .filter_map(|d| event_of(&d.payload))
            .collect()
    }

    /// Mailbox payloads delivered so far, in order, flattened.
    pub fn mailbox_events(&self) -> Vec<(String, serde_json::Value)> {
        self.seen
            .lock()
            .unwrap()
            .mailbox
            .iter()
            .flat_map(|(_, _, p)| p.iter().filter_map(event_of))
            .collect()
    }

    pub fn clear(&self) {
        let mut s = self.seen.lock().unwrap();
        s.deliveries.clear();
        s.mailbox.clear();
        s.failed.clear();
    }
}

pub fn event_of(p: &Payload) -> Option<(String, serde_json::Value)> {
    match p {
        Payload::Event { event, data } => Some((event.clone(), data.clone())),
        Payload::Raw(_) => None,
    }
}

impl Sink for Recorder {
    fn deliver(&self, delivery: LocalDelivery) {
        self.seen.lock().unwrap().deliveries.push(delivery);
        self.changed.notify_all();
    }

    fn deliver_mailbox(&self, batch: MailboxBatch) {
        let hold = *self.hold.lock().unwrap();
        let mut seen = self.seen.lock().unwrap();
        if hold {
            seen.held.push(batch.claim);
        } else {
            seen.mailbox
                .push((batch.identity, batch.connections, batch.messages));
            batch.claim.delivered();
        }
        drop(seen);
        self.changed.notify_all();
    }

    fn failed_unicast(
        &self,
        from: Option<ConnectionUuid>,
        target: ConnectionUuid,
        payload: &Payload,
    ) {
        self.seen
            .lock()
            .unwrap()
            .failed
            .push((from, target, payload.clone()));
        self.changed.notify_all();
    }

    fn notify_refused(
        &self,
        from: ConnectionUuid,
        identity: &str,
        event: Option<&str>,
        error: &BusError,
    ) {
        self.seen.lock().unwrap().refused.push((
            from,
            identity.to_owned(),
            event.map(str::to_owned),
            error.clone(),
        ));
        self.changed.notify_all();
    }
}

/// A test config: unique app name, quick health checks and reconnects.
pub fn config(app: &str) -> BusConfig {
    BusConfig {
        app_name: app.to_owned(),
        health_interval: Duration::from_millis(1000),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        io_timeout: Duration::from_secs(2),
        ..BusConfig::default()
    }
}

pub fn redis_bus(redis: &RedisServer, app: &str) -> (Bus, Arc<Recorder>) {
    let bus = Bus::redis(config(app), &redis.url()).expect("bus");
    let rec = Recorder::attach(&bus);
    bus.flush(WAIT).expect("bus connects");
    (bus, rec)
}

pub fn init_log() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("[{}] {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Info));
}
