//! A real `redis-server` child process on a free port (killed on drop), raw commands, and a pattern
//! subscriber that records what is published.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{DEADLINE, free_port};

/// A `redis-server` child process, killed on drop.
pub struct RedisServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    child: Option<Child>,
    /// The append-only file's folder, for a persistent server (and a cluster node's folder).
    dir: Option<PathBuf>,
    /// More `redis-server` arguments (a cluster node's).
    extra: Vec<String>,
    /// TLS mode: the TLS port and the `--tls-*` arguments.
    tls: Option<(u16, Vec<String>)>,
}

/// How many times a server is started on fresh ports when its process exits before it answers: a
/// port [`free_port`] found free can be taken (by a parallel test, or as some connection's local
/// port) before `redis-server` binds it.
const START_ATTEMPTS: usize = 5;

/// Why a `redis-server` process did not come up.
enum StartFailure {
    /// It exited (most often: a port was taken meanwhile).
    Exited(std::process::ExitStatus),
    /// It runs but did not answer `PING` within [`DEADLINE`].
    Silent,
}

impl RedisServer {
    /// A throwaway server (no persistence); waits until it answers `PING`. Fails with an install
    /// hint when `redis-server` is missing.
    pub fn start() -> RedisServer {
        RedisServer::launch(|| RedisServer::unstarted(free_port(), None, Vec::new(), None))
    }

    /// A throwaway server that also listens for TLS on [`RedisServer::tls_url`], with the server
    /// certificate of `pki`, trusting `pki`'s CA for client certificates; with `client_certs`,
    /// clients must present one (`--tls-auth-clients yes`). The plain port stays open on 127.0.0.1
    /// for the test's own inspection commands ([`RedisServer::command`] and the like).
    pub fn start_tls(pki: &crate::tls::TestPki, client_certs: bool) -> RedisServer {
        let mut args = pki.redis_server_args();
        args.extend([
            "--tls-auth-clients".into(),
            if client_certs { "yes" } else { "no" }.into(),
        ]);
        RedisServer::launch(|| {
            let tls = Some((free_port(), args.clone()));
            RedisServer::unstarted(free_port(), None, Vec::new(), tls)
        })
    }

    /// `rediss://127.0.0.1:TLS_PORT/0` (a server from [`RedisServer::start_tls`]).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.tls_port())
    }

    /// The TLS port (a server from [`RedisServer::start_tls`]).
    pub fn tls_port(&self) -> u16 {
        self.tls
            .as_ref()
            .expect("a server started with start_tls")
            .0
    }

    /// A server that persists every write to an append-only file in a fresh folder: it keeps its
    /// data across [`RedisServer::restart`].
    pub fn start_persistent() -> RedisServer {
        RedisServer::launch(|| {
            let port = free_port();
            let dir = std::env::temp_dir()
                .join(format!("plezi-test-redis-{}-{port}", std::process::id()));
            RedisServer::unstarted(port, Some(dir), Vec::new(), None)
        })
    }

    /// A replica of `master` (`--replicaof`, no persistence) on a free port; waits until its link
    /// to the master is up.
    pub fn start_replica_of(master: &RedisServer) -> RedisServer {
        let (replica, ()) = RedisServer::start_fresh(|| {
            let port = free_port();
            let dir = std::env::temp_dir()
                .join(format!("plezi-test-replica-{}-{port}", std::process::id()));
            let extra = vec![
                "--replicaof".into(),
                "127.0.0.1".into(),
                master.port.to_string(),
            ];
            (port, dir, extra, ())
        });
        let port = replica.port;
        let up = crate::wait_until(DEADLINE, || {
            matches!(replica.query(&["INFO", "replication"]),
                Ok(Resp::Bulk(info)) if info.contains("master_link_status:up"))
        });
        assert!(up, "the replica on {port} did not sync with the master");
        replica
    }

    /// A server with its files in a folder (created here, removed on drop), started with more
    /// arguments and no persistence: a cluster node. `make` picks the port, the folder and the
    /// arguments (and anything else the caller keeps, `T`); it is asked again for fresh ports if the
    /// process exits before answering.
    pub(crate) fn start_fresh<T>(
        mut make: impl FnMut() -> (u16, PathBuf, Vec<String>, T),
    ) -> (RedisServer, T) {
        let mut kept = None;
        let server = RedisServer::launch(|| {
            let (port, dir, extra, t) = make();
            kept = Some(t);
            RedisServer::unstarted(port, Some(dir), extra, None)
        });
        (server, kept.expect("make ran"))
    }

    fn unstarted(
        port: u16,
        dir: Option<PathBuf>,
        extra: Vec<String>,
        tls: Option<(u16, Vec<String>)>,
    ) -> RedisServer {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        RedisServer {
            port,
            child: None,
            dir,
            extra,
            tls,
        }
    }

    /// Starts the servers `fresh` describes until one comes up (see [`START_ATTEMPTS`]).
    fn launch(mut fresh: impl FnMut() -> RedisServer) -> RedisServer {
        for attempt in 1.. {
            let mut s = fresh();
            match s.try_spawn() {
                Ok(()) => return s,
                Err(StartFailure::Exited(_)) if attempt < START_ATTEMPTS => {} // fresh ports
                Err(e) => s.start_failed(e),
            }
        }
        unreachable!("the attempts are counted")
    }

    fn spawn(&mut self) {
        if let Err(e) = self.try_spawn() {
            self.start_failed(e)
        }
    }

    fn start_failed(&self, failure: StartFailure) -> ! {
        match failure {
            StartFailure::Exited(status) => panic!(
                "redis-server on port {} exited before answering PING ({status}); were its ports \
                 taken?",
                self.port
            ),
            StartFailure::Silent => panic!(
                "redis-server on port {} did not answer PING within {DEADLINE:?}",
                self.port
            ),
        }
    }

    fn try_spawn(&mut self) -> Result<(), StartFailure> {
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""]);
        cmd.args(&self.extra);
        if let Some((tls_port, args)) = &self.tls {
            cmd.args(["--tls-port", &tls_port.to_string()]).args(args);
        }
        match &self.dir {
            Some(dir) if !self.extra.is_empty() => {
                cmd.args(["--appendonly", "no", "--dir"]).arg(dir);
            }
            Some(dir) => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                    .arg(dir);
            }
            None => {
                cmd.args(["--appendonly", "no"]);
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): these tests need a real Redis; install it \
                     with `apt-get install -y redis-server` (or run: cargo xtask setup)"
                )
            });
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if self
                .command(&["PING"])
                .is_ok_and(|r| r.starts_with("+PONG"))
            {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(StartFailure::Exited(status));
            }
            std::thread::sleep(Duration::from_millis(10)); // polling with a deadline
        }
        Err(StartFailure::Silent)
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The server's process id (for CPU figures from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server runs").id()
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (a persistent server reloads its data).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the server: a Redis that accepts bytes and never
    /// answers.
    pub fn pause(&self, paused: bool) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        let status = Command::new("kill")
            .arg(if paused { "-STOP" } else { "-CONT" })
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -STOP/-CONT {pid}");
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(DEADLINE))?;
        Ok(s)
    }

    /// One command over a fresh connection; the raw reply text as received in one read
    /// (`+OK\r\n`, `:3\r\n`...).
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        self.command_bytes(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
    }

    /// Like [`RedisServer::command`] with binary arguments.
    pub fn command_bytes(&self, args: &[&[u8]]) -> std::io::Result<String> {
        let mut s = self.connect()?;
        s.write_all(&encode(args))?;
        let mut buf = vec![0u8; 64 * 1024];
        let n = s.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// One command over a fresh connection; the parsed reply.
    pub fn query(&self, args: &[&str]) -> std::io::Result<Resp> {
        let mut s = self.connect()?;
        s.write_all(&encode(
            &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
        ))?;
        read_resp(&mut BufReader::new(s))
    }

    /// An integer reply (`:n`); fails the test on any other reply.
    pub fn int(&self, args: &[&str]) -> i64 {
        match self.query(args) {
            Ok(Resp::Int(n)) => n,
            other => panic!("{args:?}: not an integer reply: {other:?}"),
        }
    }

    /// How many connections subscribe to `channel` (`PUBSUB NUMSUB`).
    pub fn numsub(&self, channel: &str) -> i64 {
        match self.query(&["PUBSUB", "NUMSUB", channel]) {
            Ok(Resp::Array(items)) => match items.get(1) {
                Some(Resp::Int(n)) => *n,
                other => panic!("PUBSUB NUMSUB {channel}: unexpected item {other:?}"),
            },
            other => panic!("PUBSUB NUMSUB {channel}: {other:?}"),
        }
    }

    /// Waits until exactly `n` connections subscribe to `channel`.
    pub fn wait_numsub(&self, channel: &str, n: i64) {
        let mut now = -1;
        let reached = crate::wait_until(DEADLINE, || {
            now = self.numsub(channel);
            now == n
        });
        assert!(
            reached,
            "{channel} has {now} subscribers after {DEADLINE:?}, expected {n}"
        );
    }

    /// A connection subscribed to every channel matching `pattern` (`PSUBSCRIBE`).
    pub fn watch(&self, pattern: &str) -> RedisWatch {
        let mut s = self.connect().expect("connect to redis-server");
        s.write_all(&encode(&[b"PSUBSCRIBE", pattern.as_bytes()]))
            .expect("PSUBSCRIBE");
        let mut reader = BufReader::new(s);
        match read_resp(&mut reader) {
            Ok(Resp::Array(items)) if items.first() == Some(&Resp::Bulk("psubscribe".into())) => {}
            other => panic!("PSUBSCRIBE {pattern}: {other:?}"),
        }
        RedisWatch { reader }
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

/// A pattern subscription: every message published on a matching channel.
pub struct RedisWatch {
    reader: BufReader<TcpStream>,
}

impl RedisWatch {
    /// The next published message: (channel, payload). Fails after the deadline.
    #[allow(clippy::should_implement_trait)] // blocks, and fails the test at the deadline
    pub fn next(&mut self) -> (String, String) {
        loop {
            match read_resp(&mut self.reader) {
                Ok(Resp::Array(items)) => {
                    if let [
                        Resp::Bulk(kind),
                        _,
                        Resp::Bulk(channel),
                        Resp::Bulk(payload),
                    ] = &items[..]
                        && kind == "pmessage"
                    {
                        return (channel.clone(), payload.clone());
                    }
                }
                Ok(other) => panic!("unexpected reply on a subscribed connection: {other:?}"),
                Err(e) => panic!("no message published within {DEADLINE:?} ({e})"),
            }
        }
    }

    /// Reads published messages until one satisfies `done`; returns every message read.
    pub fn until(&mut self, mut done: impl FnMut(&str, &str) -> bool) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        loop {
            let (channel, payload) = self.next();
            let stop = done(&channel, &payload);
            seen.push((channel, payload));
            if stop {
                return seen;
            }
        }
    }
}

/// A Redis reply (RESP2).
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    /// `+text`.
    Simple(String),
    /// `-error`.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$len` and the bytes (lossy UTF-8).
    Bulk(String),
    /// `$-1` or `*-1`.
    Nil,
    /// `*n` and its items.
    Array(Vec<Resp>),
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend(b"\r\n");
    }
    out
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn read_resp(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(bad("redis closed the connection".into()));
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(line.len().min(1));
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| bad(format!("bad RESP line {line:?}")))
    };
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(int(rest)?),
        "$" => match int(rest)? {
            n if n < 0 => Resp::Nil,
            n => {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Resp::Bulk(String::from_utf8_lossy(&buf).into_owned())
            }
        },
        "*" => match int(rest)? {
            n if n < 0 => Resp::Nil,
            n => Resp::Array((0..n).map(|_| read_resp(r)).collect::<Result<_, _>>()?),
        },
        _ => return Err(bad(format!("bad RESP line {line:?}"))),
    })
}
