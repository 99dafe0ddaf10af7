//! interest_run: four bus processes on one Redis, a controller type living on one of them only.
//!
//! ```text
//! cargo run --release -p plezi-benches --bin interest_run -- [--messages N]
//! ```
//! Starts its own `redis-server` on a free port and four processes (`Bus::redis`, one app): process 0
//! has a member of controller type `chat` (`Bus::join_controller`), processes 1–3 have none. Then:
//! 1. **broadcast phase**: processes 1 and 2 each publish N broadcasts to `chat`; it ends when process
//!    0 received all 2·N;
//! 2. **multicast phase**: the same processes each publish N multicasts, which every process hears.
//!
//! Process 3 only listens. For each phase and process it prints what that process received from Redis
//! (`BusState::received`, by kind) and the CPU time it used (user + system, `getrusage`), and the
//! subscribers Redis counts (`PUBSUB NUMSUB`). With interest-based routing the broadcast phase leaves
//! the input of processes 1–3 flat: no envelope, and no CPU for process 3; the multicast phase is the
//! peer figure, what every process pays when every envelope reaches it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plezi_messaging::{Bus, BusConfig, LocalDelivery, Payload, Sink, Target};

const APP: &str = "interest";
const CONTROLLER: &str = "chat";
const NODES: usize = 4;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("node") => node(&args[1..]),
        _ => orchestrate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interest_run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// CPU time this process used so far (user + system), in ms.
fn cpu_ms() -> f64 {
    // SAFETY: an all-zero `rusage` is valid; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Drops every delivery: the bus's counters are what is measured.
struct Discard;

impl Sink for Discard {
    fn deliver(&self, _: LocalDelivery) {}
}

/// One bus process, driven by lines on stdin: `broadcast N`, `multicast N`, `report`, `quit`.
fn node(args: &[String]) -> Result<(), String> {
    let url = opt(args, "--url").ok_or("--url is required")?;
    let member = opt(args, "--role") == Some("member");
    let config = BusConfig {
        app_name: APP.into(),
        ..BusConfig::default()
    };
    let bus = Bus::redis(config, url).map_err(|e| e.to_string())?;
    bus.set_sink(Arc::new(Discard));
    if member {
        bus.join_controller(CONTROLLER);
    }
    bus.flush(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}").and_then(|()| out.flush())
    };
    say(&mut out, "ready".into()).map_err(|e| e.to_string())?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let n: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let target = match command {
            "broadcast" => Some(Target::Broadcast {
                controller: CONTROLLER.into(),
            }),
            "multicast" => Some(Target::Multicast),
            "report" => {
                let s = bus.state();
                let k = s.received_kinds;
                let reply = format!(
                    "received={} broadcast={} multicast={} cpu_ms={:.1}",
                    s.received,
                    k.broadcast,
                    k.multicast,
                    cpu_ms()
                );
                say(&mut out, reply).map_err(|e| e.to_string())?;
                None
            }
            _ => break,
        };
        if let Some(target) = target {
            let body: String = "x".repeat(64);
            for _ in 0..n {
                let payload = Payload::Raw(Arc::from(body.as_bytes()));
                while let Err(e) = bus.publish(plezi_messaging::Message::new(
                    target.clone(),
                    payload.clone(),
                )) {
                    // The queue is full: let the publisher catch up.
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            bus.flush(Duration::from_secs(60))
                .map_err(|e| e.to_string())?;
            say(&mut out, "ok".into()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

struct Redis {
    port: u16,
    child: Child,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Result<Redis, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("cannot start redis-server ({e}); install it: apt-get install -y redis-server")
        })?;
    let redis = Redis { port, child };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"PING\r\n");
            let mut buf = [0u8; 7];
            if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                return Ok(redis);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err("redis-server did not start".into())
}

/// Redis's CPU time so far (user + system, from `/proc/{pid}/stat`), in ms.
fn redis_cpu_ms(redis: &Redis) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", redis.child.id())).unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) * 1e3 / hz
}

/// Bytes Redis has written to all its clients (`INFO stats`, `total_net_output_bytes`).
fn redis_output_bytes(port: u16) -> Result<f64, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.write_all(b"INFO stats\r\n").map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(s);
    let mut header = String::new();
    reader.read_line(&mut header).map_err(|e| e.to_string())?;
    let len: usize = header
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|e| format!("INFO reply: {e}"))?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no total_net_output_bytes in INFO".into())
}

/// Redis's CPU and output around `f`.
fn with_redis_cost<T>(
    redis: &Redis,
    f: impl FnOnce() -> Result<T, String>,
) -> Result<(T, f64, f64), String> {
    let (cpu, out) = (redis_cpu_ms(redis), redis_output_bytes(redis.port)?);
    let value = f()?;
    Ok((
        value,
        redis_cpu_ms(redis) - cpu,
        redis_output_bytes(redis.port)? - out,
    ))
}

/// `PUBSUB NUMSUB channel` through a fresh connection (inline command).
fn numsub(port: u16, channel: &str) -> Result<i64, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    write!(s, "PUBSUB NUMSUB {channel}\r\n").map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(s);
    let mut last = String::new();
    for _ in 0..4 {
        last.clear();
        reader.read_line(&mut last).map_err(|e| e.to_string())?;
    }
    last.trim()
        .trim_start_matches(':')
        .parse()
        .map_err(|e| format!("NUMSUB reply: {e}"))
}

struct Node {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Node {
    fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.input, "{line}").map_err(|e| e.to_string())
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.output.read_line(&mut line) {
            Ok(0) => Err("a node exited".into()),
            Ok(_) => Ok(line.trim().to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn report(&mut self) -> Result<Report, String> {
        self.send("report")?;
        let line = self.line()?;
        let field = |key: &str| -> f64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        Ok(Report {
            received: field("received"),
            broadcast: field("broadcast"),
            multicast: field("multicast"),
            cpu_ms: field("cpu_ms"),
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "quit");
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
struct Report {
    received: f64,
    broadcast: f64,
    multicast: f64,
    cpu_ms: f64,
}

fn spawn_node(url: &str, member: bool) -> Result<Node, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let role = if member { "member" } else { "bystander" };
    let mut child = Command::new(exe)
        .args(["node", "--url", url, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let input = child.stdin.take().ok_or("no stdin")?;
    let output = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut node = Node {
        child,
        input,
        output,
    };
    match node.line()?.as_str() {
        "ready" => Ok(node),
        other => Err(format!("node said {other:?}")),
    }
}

/// The processes that publish.
const PUBLISHERS: std::ops::RangeInclusive<usize> = 1..=2;

/// Runs one phase: processes 1 and 2 publish `n` messages each with `command`, until every process got
/// what it should; returns the reports before and after.
fn phase(
    nodes: &mut [Node],
    command: &str,
    n: u64,
    expected: impl Fn(usize) -> f64,
    count: impl Fn(&Report) -> f64,
) -> Result<(Vec<Report>, Vec<Report>), String> {
    let before = nodes
        .iter_mut()
        .map(Node::report)
        .collect::<Result<Vec<_>, _>>()?;
    for node in nodes[PUBLISHERS].iter_mut() {
        node.send(&format!("{command} {n}"))?;
    }
    for node in nodes[PUBLISHERS].iter_mut() {
        let ok = node.line()?;
        if ok != "ok" {
            return Err(format!("a publisher said {ok:?}"));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = nodes
            .iter_mut()
            .map(Node::report)
            .collect::<Result<Vec<_>, _>>()?;
        let done = (0..nodes.len()).all(|i| count(&now[i]) - count(&before[i]) >= expected(i));
        if done {
            return Ok((before, now));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{command} phase: not every process got its messages"
            ));
        }
        std::thread::sleep(Duration::from_millis(50)); // polling the children's counters
    }
}

fn print_phase(name: &str, (before, after): &(Vec<Report>, Vec<Report>), cpu: f64, out: f64) {
    println!("\n{name}");
    println!(
        "| process | members of `chat` | received | of which broadcasts | of which multicasts | CPU ms |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        println!(
            "| {i} | {} | {} | {} | {} | {:.0} |",
            if i == 0 { 1 } else { 0 },
            a.received - b.received,
            a.broadcast - b.broadcast,
            a.multicast - b.multicast,
            a.cpu_ms - b.cpu_ms
        );
    }
    println!(
        "| Redis | | | | | {cpu:.0} (and {:.1} MB written to its clients) |",
        out / 1e6
    );
}

fn orchestrate(args: &[String]) -> Result<(), String> {
    let n: u64 = opt(args, "--messages")
        .map(|v| v.parse().map_err(|_| "--messages needs a number"))
        .transpose()?
        .unwrap_or(20_000);
    let redis = start_redis()?;
    let url = format!("redis://127.0.0.1:{}/0", redis.port);
    let mut nodes = (0..NODES)
        .map(|i| spawn_node(&url, i == 0))
        .collect::<Result<Vec<_>, _>>()?;
    let ctl = format!("{APP}:ctl:{CONTROLLER}");
    let all = format!("{APP}:all");
    println!(
        "{NODES} processes, {n} messages per publishing process (64-byte raw payloads); \
         PUBSUB NUMSUB {ctl} = {}, {all} = {}",
        numsub(redis.port, &ctl)?,
        numsub(redis.port, &all)?
    );
    let publishers = PUBLISHERS.count() as f64;
    let (reports, cpu, out) = with_redis_cost(&redis, || {
        phase(
            &mut nodes,
            "broadcast",
            n,
            |i| if i == 0 { publishers * n as f64 } else { 0.0 },
            |r| r.broadcast,
        )
    })?;
    print_phase(
        "broadcast phase: processes 1 and 2 each broadcast to `chat`",
        &reports,
        cpu,
        out,
    );
    let (reports, cpu, out) = with_redis_cost(&redis, || {
        phase(
            &mut nodes,
            "multicast",
            n,
            |i| {
                let own = if PUBLISHERS.contains(&i) { 1.0 } else { 0.0 };
                (publishers - own) * n as f64
            },
            |r| r.multicast,
        )
    })?;
    print_phase(
        "multicast phase (the peer figure): processes 1 and 2 each multicast",
        &reports,
        cpu,
        out,
    );
    drop(nodes);
    drop(redis);
    Ok(())
}
