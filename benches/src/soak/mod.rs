//! `plezi-load soak`: the chat example under legitimate traffic and abuse at once, for a long time.
//!
//! Legitimate side: `--connections` WebSocket clients on `/chat` that close and reconnect all the
//! time (churn), chatting; `--users` of them are logged in (`POST /login` → session cookie → WebSocket
//! with the cookie) and go offline between connections; `--notifiers` logged-in senders notify random
//! users with numbered messages, so every accepted notification can be checked to arrive exactly once
//! (while the user is online, or at the next connection after it was offline).
//!
//! Abusive side, all the time: cross-origin WebSocket upgrades, oversized JSON bodies, bodies trickled
//! one byte every few seconds, notification floods with large messages to made-up identities, and
//! floods of idle connections. Every answer they get is counted.
//!
//! Measured: the server's RSS every few seconds (after warm-up vs the end), `GET /` latency probed
//! ten times a second (p50 / p99 / max, and the worst minute), notifications sent / delivered /
//! duplicated / lost. The run is bounded (`--minutes`), talks only to the given loopback server,
//! and ends by itself. One thread per client: simple and blocking, which is fine for a soak (the
//! figures that matter are the server's). See `benches/run-soak.sh` and `docs/benchmarks.md`.

mod abuse;
mod args;
mod clients;
mod report;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::net;

pub use args::SoakConfig;

/// The run's phase.
pub const RUN: u8 = 0;
/// Notifications stopped; offline users come back to collect their mail.
pub const DRAIN: u8 = 1;
/// Everything closes.
pub const STOP: u8 = 2;

/// Counters and samples shared by every thread of the run.
pub struct Shared {
    /// The options.
    pub cfg: SoakConfig,
    /// When the run started.
    pub start: Instant,
    /// [`RUN`], [`DRAIN`] or [`STOP`].
    pub phase: AtomicU8,
    sources: Vec<Ipv4Addr>,
    next_source: AtomicUsize,
    /// The next notification number.
    pub next_note: AtomicU64,
    /// Notifications the server accepted (no `err`), with the user each was for.
    pub accepted: Mutex<HashMap<u64, String>>,
    /// Legitimate notifications the server refused, by `err` status.
    pub refused: Mutex<BTreeMap<String, u64>>,
    /// How often each notification number arrived.
    pub delivered: Mutex<HashMap<u64, u32>>,
    /// Chat messages sent.
    pub chat_sent: AtomicU64,
    /// Chat messages received.
    pub chat_received: AtomicU64,
    /// Legitimate WebSocket connections opened.
    pub ws_opened: AtomicU64,
    /// Legitimate connection failures, by reason.
    pub ws_failed: Mutex<BTreeMap<String, u64>>,
    /// Logged-in user connections open now.
    pub users_online: AtomicUsize,
    /// Abusive requests: (kind, answer) → count.
    pub abuse: Mutex<BTreeMap<(String, String), u64>>,
    /// `GET /` probes: (seconds since start, latency, answered 200, of which connecting).
    pub probes: Mutex<Vec<(f64, Duration, bool, Duration)>>,
    /// RSS samples: (seconds since start, bytes).
    pub rss: Mutex<Vec<(f64, u64)>>,
}

impl Shared {
    /// The current phase.
    pub fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    /// Seconds since the start.
    pub fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Counts an abusive request's answer.
    pub fn abused(&self, kind: &str, answer: impl Into<String>) {
        *self
            .abuse
            .lock()
            .entry((kind.to_owned(), answer.into()))
            .or_default() += 1;
    }

    /// Counts a legitimate connection failure.
    pub fn failed(&self, why: impl Into<String>) {
        *self.ws_failed.lock().entry(why.into()).or_default() += 1;
    }

    /// A blocking TCP connection to the server from the next source address, with read and write
    /// timeouts of `timeout`.
    pub fn tcp(&self, timeout: Duration) -> io::Result<TcpStream> {
        let src =
            self.sources[self.next_source.fetch_add(1, Ordering::Relaxed) % self.sources.len()];
        let stream = net::connect_from(src, self.cfg.target.addr)?;
        // SAFETY: the descriptor comes from a stream we own and give up here.
        let std_stream = unsafe { TcpStream::from_raw_fd(stream.into_raw_fd()) };
        let mut pfd = libc::pollfd {
            fd: std_stream.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
        if rc == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
        }
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(e) = std_stream.take_error()? {
            return Err(e);
        }
        std_stream.set_nonblocking(false)?;
        std_stream.set_read_timeout(Some(timeout))?;
        std_stream.set_write_timeout(Some(timeout))?;
        Ok(std_stream)
    }

    /// `Host:` value for requests.
    pub fn host(&self) -> String {
        format!("{}", self.cfg.target.addr)
    }
}

/// A small xorshift generator (the soak needs spread, not quality).
pub struct Rng(u64);

impl Rng {
    /// Seeded from `seed` and the clock.
    pub fn new(seed: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ t) | 1)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..hi` (`lo` when empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next() % (hi - lo)
        }
    }

    /// A duration between `lo` and `hi`.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        Duration::from_millis(self.range(lo.as_millis() as u64, hi.as_millis() as u64 + 1))
    }
}

/// Puts the calling thread in `SCHED_IDLE` (nice 19 if that is refused): the clients run on whatever
/// CPU the server and the measuring threads leave, so the `GET /` probes measure the server, not the
/// scheduling delays of the tool's thousands of threads on the same cores.
pub fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscalls on the calling thread (pid 0 = this thread on Linux).
    unsafe {
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
}

/// Puts the calling thread in `SCHED_FIFO` 10 when allowed (the measuring threads: a probe that waits
/// for the CPU behind thousands of clients would measure the tool). Silently stays as it is otherwise.
pub fn raise_priority() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: a plain syscall on the calling thread.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
    }
}

/// Sleeps up to `d`, in short steps, returning early when the phase moves past `until`.
pub fn nap(shared: &Shared, d: Duration, until: u8) {
    let end = Instant::now() + d;
    while shared.phase() <= until {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(200)));
    }
}

/// One HTTP/1.1 request on a fresh connection; the status code (reads the head only, then the
/// `Content-Length` body) and the `Set-Cookie` value, if any.
pub fn http(
    shared: &Shared,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<(u16, Option<String>)> {
    let mut s = shared.tcp(timeout)?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        shared.host(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes)?;
    read_answer(&mut s)
}

/// Reads one answer's head (and its body, when it has a `Content-Length`).
pub fn read_answer(s: &mut TcpStream) -> io::Result<(u16, Option<String>)> {
    let mut raw = Vec::with_capacity(2048);
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before an answer",
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let mut cookie = None;
    let mut length = 0usize;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("set-cookie") && cookie.is_none() {
                cookie = v.split(';').next().map(|c| c.trim().to_owned());
            } else if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut have = raw.len() - end - 4;
    while have < length {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Ok((status, cookie))
}

/// `plezi-load soak ...`: `None` when the arguments are not this scenario's.
pub fn main(argv: &[String]) -> Option<ExitCode> {
    let (first, rest) = argv.split_first()?;
    if first != "soak" {
        return None;
    }
    let cfg = match args::parse(rest) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            println!("{}", args::USAGE);
            return Some(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("plezi-load soak: {e}\n\n{}", args::USAGE);
            return Some(ExitCode::from(2));
        }
    };
    Some(match run(cfg) {
        Ok(ok) => {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("plezi-load soak: {e}");
            ExitCode::from(2)
        }
    })
}

/// Runs the soak; whether every check held.
fn run(cfg: SoakConfig) -> Result<bool, String> {
    let needed = (cfg.connections + cfg.notifiers + cfg.flood + cfg.trickle + 200) as u64;
    net::raise_open_files(needed)?;
    let sources = net::source_addresses(
        &crate::net::Target {
            addr: cfg.target.addr,
            host: cfg.target.host.clone(),
            path: "/".into(),
            deflate: false,
        },
        cfg.sources,
    );
    let shared = Arc::new(Shared {
        start: Instant::now(),
        phase: AtomicU8::new(RUN),
        sources,
        next_source: AtomicUsize::new(0),
        next_note: AtomicU64::new(1),
        accepted: Mutex::new(HashMap::new()),
        refused: Mutex::new(BTreeMap::new()),
        delivered: Mutex::new(HashMap::new()),
        chat_sent: AtomicU64::new(0),
        chat_received: AtomicU64::new(0),
        ws_opened: AtomicU64::new(0),
        ws_failed: Mutex::new(BTreeMap::new()),
        users_online: AtomicUsize::new(0),
        abuse: Mutex::new(BTreeMap::new()),
        probes: Mutex::new(Vec::new()),
        rss: Mutex::new(Vec::new()),
        cfg,
    });
    // The server must answer before anything starts.
    let (status, _) = http(&shared, "GET", "/", &[], b"", Duration::from_secs(5))
        .map_err(|e| format!("GET / on {}: {e}", shared.cfg.target.addr))?;
    if status != 200 {
        return Err(format!("GET / answered {status}, expected 200"));
    }
    eprintln!(
        "soak: {} min against {} ({} connections, {} users, {} notifiers; abuse: {})",
        shared.cfg.minutes,
        shared.cfg.target.addr,
        shared.cfg.connections,
        shared.cfg.users,
        shared.cfg.notifiers,
        if shared.cfg.abuse { "on" } else { "off" }
    );
    let mut threads = Vec::new();
    let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name)
            .stack_size(128 * 1024)
            .spawn(f)
            .map_err(|e| format!("cannot start a thread: {e} (fewer --connections?)"))
    };
    {
        let s = shared.clone();
        threads.push(spawn(
            "rss".into(),
            Box::new(move || {
                raise_priority();
                report::sample_rss(&s)
            }),
        )?);
        let s = shared.clone();
        threads.push(spawn(
            "probe".into(),
            Box::new(move || {
                raise_priority();
                report::probe(&s)
            }),
        )?);
    }
    for i in 0..shared.cfg.connections {
        let s = shared.clone();
        threads.push(spawn(
            format!("conn-{i}"),
            Box::new(move || {
                lower_priority();
                clients::connection(&s, i)
            }),
        )?);
        // Spread the first connections over a few seconds instead of one burst.
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for k in 0..shared.cfg.notifiers {
        let s = shared.clone();
        threads.push(spawn(
            format!("notifier-{k}"),
            Box::new(move || {
                lower_priority();
                clients::notifier(&s, k)
            }),
        )?);
    }
    if shared.cfg.abuse {
        for (name, f) in abuse::all() {
            let s = shared.clone();
            threads.push(spawn(
                name.into(),
                Box::new(move || {
                    lower_priority();
                    f(&s)
                }),
            )?);
        }
    }
    let meter = crate::usage::Meter::new(shared.cfg.server_pid.as_slice())?;
    let before = meter.snapshot();
    // The run, with a progress line a minute.
    let run_for = Duration::from_secs_f64(shared.cfg.minutes * 60.0);
    let mut next_line = Duration::from_secs(60);
    while shared.start.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(250));
        if shared.start.elapsed() >= next_line {
            eprintln!("{}", report::progress(&shared));
            next_line += Duration::from_secs(60);
        }
    }
    let usage = meter.between(&before, &meter.snapshot());
    let load = crate::usage::load_average();
    // Drain: no new notifications; everyone comes online to collect mail.
    shared.phase.store(DRAIN, Ordering::Relaxed);
    let drain_end = Instant::now() + shared.cfg.drain;
    while Instant::now() < drain_end {
        let accepted = shared.accepted.lock().len();
        let delivered = {
            let accepted = shared.accepted.lock();
            shared
                .delivered
                .lock()
                .keys()
                .filter(|k| accepted.contains_key(k))
                .count()
        };
        if delivered >= accepted && shared.users_online.load(Ordering::Relaxed) >= shared.cfg.users
        {
            // Every user is online and has its mail: a little longer, to see duplicates.
            std::thread::sleep(Duration::from_secs(2));
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let drained_after = shared.secs() - run_for.as_secs_f64();
    eprintln!(
        "soak: drain ended after {drained_after:.1} s with {} of {} users online",
        shared.users_online.load(Ordering::Relaxed),
        shared.cfg.users
    );
    shared.phase.store(STOP, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    Ok(report::finish(
        &shared,
        run_for.as_secs_f64(),
        drained_after,
        &usage,
        &load,
    ))
}

/// The server: `--url http://127.0.0.1:PORT`.
#[derive(Clone, Debug)]
pub struct Server {
    /// Its address.
    pub addr: SocketAddrV4,
    /// The host as written.
    pub host: String,
}
