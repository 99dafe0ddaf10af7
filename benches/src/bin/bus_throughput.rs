//! bus_throughput: plezi-messaging's Redis bus between two processes, next to `redis-benchmark`.
//!
//! ```text
//! cargo run --release -p plezi-benches --bin bus_throughput -- [--messages N] [--size BYTES] [--seconds S]
//! ```
//! Starts its own `redis-server` on a free port, then measures, through that one server:
//! 1. the ceiling: `redis-benchmark -P 16 PUBLISH` with a message as long as our envelope, to a channel one
//!    subscriber process reads (with 1 connection like our publisher, and with 50);
//! 2. peak: one process publishes N messages to a named channel as fast as `Bus::publish` takes them,
//!    another process (a second `Bus`) receives them; messages/s from first publish to last delivery;
//! 3. latency at half the peak rate: paced publishing for S seconds; p50/p99/max publish→delivery;
//! 4. peak with history: the same as 2 from a bus whose channel keeps a history in Redis (the
//!    default limits, 1,000 messages or 5 minutes), so each publish is the history script (`XADD` +
//!    trimming + `PUBLISH`), next to 2 in the same round.
//!
//! Latency uses CLOCK_MONOTONIC, shared by both processes on one machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use plezi_messaging::{
    Bus, BusConfig, BusError, Envelope, HistoryLimits, LocalDelivery, Message, Payload, ServerId,
    Sink, Target,
};
use plezi_test_support::redis::RedisServer;

const APP: &str = "bench";
const CHANNEL: &str = "bench";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("recv") => recv(&args[1..]),
        Some("raw-sub") => raw_sub(&args[1..]),
        _ => orchestrate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bus_throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

fn opt(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
    }
}

fn opt_str<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .ok_or_else(|| format!("{name} is required"))
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A payload of `size` bytes (at least 32): sequence number and send time in hex, then padding.
fn payload(seq: u64, size: usize) -> Payload {
    let mut text = format!("{seq:016x}{:016x}", now_ns());
    while text.len() < size {
        text.push('x');
    }
    Payload::Raw(Arc::from(text.into_bytes()))
}

fn config() -> BusConfig {
    BusConfig {
        app_name: APP.into(),
        publish_queue_capacity: 1 << 20,
        ..BusConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------------
// Orchestrator

fn spawn_self(args: &[&str]) -> Result<(Child, BufReader<std::process::ChildStdout>), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let out = BufReader::new(child.stdout.take().ok_or("no child stdout")?);
    Ok((child, out))
}

fn read_line(out: &mut BufReader<std::process::ChildStdout>) -> Result<String, String> {
    let mut line = String::new();
    out.read_line(&mut line).map_err(|e| e.to_string())?;
    if line.is_empty() {
        return Err("child process ended early".into());
    }
    Ok(line.trim().to_owned())
}

fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn orchestrate(args: &[String]) -> Result<(), String> {
    let n = opt(args, "--messages", 100_000)?;
    let size = opt(args, "--size", 64)?.max(32) as usize;
    let seconds = opt(args, "--seconds", 3)?;
    let rounds = opt(args, "--rounds", 5)?.max(1);
    let redis = RedisServer::start();
    let url = redis.url();

    // Our envelope for this payload, as it goes on the wire (with a seq), fixes the ceiling's message size.
    let sample = Envelope {
        origin: ServerId::from_u64(u64::MAX),
        seq: Some(n),
        body: plezi_messaging::EnvelopeBody::Message(Message::new(
            Target::Channel(CHANNEL.into()),
            payload(0, size),
        )),
    }
    .encode();
    let wire = sample.len();
    println!("machine: {} cores; load average {}", cores(), loadavg());
    println!(
        "payload {size} B -> envelope {wire} B on the wire; {n} messages; redis-server {}",
        redis_version()
    );

    let publisher = Bus::redis(config(), &url).map_err(|e| e.to_string())?;
    publisher
        .flush(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let historian = Bus::redis(config(), &url).map_err(|e| e.to_string())?;
    historian
        .keep_history(&Target::Channel(CHANNEL.into()), HistoryLimits::default())
        .map_err(|e| e.to_string())?;
    historian
        .flush(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let mut history_ratios = Vec::new();
    let filler = "x".repeat(wire);
    // Rounds interleave the ceiling and our runs, so both see the same machine; medians are reported.
    let mut ratios_c1 = Vec::new();
    let mut ratios_best = Vec::new();
    let mut p99s = Vec::new();
    let mut p50s = Vec::new();
    let mut peaks = Vec::new();
    for round in 1..=rounds {
        println!("round {round}:");
        // 1. Ceiling.
        let mut ceilings = Vec::new();
        for clients in [1u32, 50] {
            let rps = ceiling(&redis, clients, n, &filler)?;
            println!(
                "  ceiling  redis-benchmark -c {clients} -P 16 -n {n} PUBLISH <{wire} B>: {rps:>10.0} msg/s"
            );
            ceilings.push(rps);
        }
        // 2. Peak.
        let (peak, peak_line) = run_pass(&publisher, &url, n, size, None)?;
        println!("  peak     bus publish -> other process: {peak:>10.0} msg/s  ({peak_line})");
        // 3. Latency at half the peak rate.
        let rate = (peak / 2.0).max(1.0);
        let m = (rate * seconds as f64) as u64;
        let (achieved, line) = run_pass(&publisher, &url, m, size, Some(rate))?;
        println!(
            "  half     {rate:.0} msg/s offered for {seconds} s: {achieved:>10.0} msg/s  ({line})"
        );
        // 4. Peak with history.
        let (with_history, history_line) = run_pass(&historian, &url, n, size, None)?;
        println!(
            "  history  bus publish (history in Redis) -> other process: {with_history:>10.0} msg/s = {:.0}% of the peak without  ({history_line})",
            100.0 * with_history / peak
        );
        history_ratios.push(with_history / peak);
        let best = ceilings.iter().cloned().fold(0.0, f64::max);
        ratios_c1.push(peak / ceilings[0]);
        ratios_best.push(peak / best);
        peaks.push(peak);
        p50s.push(field(&line, "p50_us").unwrap_or(f64::NAN));
        p99s.push(field(&line, "p99_us").unwrap_or(f64::NAN));
    }
    println!(
        "median of {rounds} rounds: peak {:.0} msg/s; peak / ceiling(-c 1) = {:.0}%; peak / ceiling(best of -c 1, -c 50) = {:.0}%; at half the peak: p50 {:.0} us, p99 {:.0} us",
        median(&mut peaks),
        100.0 * median(&mut ratios_c1),
        100.0 * median(&mut ratios_best),
        median(&mut p50s),
        median(&mut p99s)
    );
    println!(
        "median of {rounds} rounds: peak with history / peak without = {:.0}%",
        100.0 * median(&mut history_ratios)
    );
    if let Ok(stats) = redis.command(&["INFO", "commandstats"]) {
        for line in stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_publish:") || l.starts_with("cmdstat_evalsha:"))
        {
            println!("redis {line}");
        }
    }
    let s = publisher.state();
    println!(
        "publisher state: published {} rejected {} queued {}",
        s.published, s.rejected, s.queued
    );
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `redis-benchmark -c clients -P 16 PUBLISH` with a message like ours, to a channel one raw subscriber
/// process reads; returns the publishes per second redis-benchmark reports.
fn ceiling(redis: &RedisServer, clients: u32, n: u64, filler: &str) -> Result<f64, String> {
    let channel = format!("{APP}:ceiling");
    let port = redis.port.to_string();
    let expect = n.to_string();
    let (mut sub, mut sub_out) = spawn_self(&[
        "raw-sub",
        "--port",
        &port,
        "--channel",
        &channel,
        "--expect",
        &expect,
    ])?;
    read_line(&mut sub_out)?; // ready
    let clients = clients.to_string();
    let out = Command::new("redis-benchmark")
        .args([
            "-p", &port, "-c", &clients, "-P", "16", "-n", &expect, "-q", "PUBLISH", &channel,
            filler,
        ])
        .output()
        .map_err(|e| format!("cannot run redis-benchmark ({e}); install redis-tools"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .split(['\r', '\n'])
        .filter_map(|l| l.split(": ").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
        .ok_or_else(|| format!("cannot read redis-benchmark's output: {text}"))?;
    let got = read_line(&mut sub_out)?;
    let _ = sub.wait();
    if field(&got, "received") != Some(n as f64) {
        eprintln!("warning: the ceiling's subscriber got {got}");
    }
    Ok(rps)
}

/// One publish run to a fresh receiver process; returns messages/s (first publish → last delivery) and
/// the receiver's summary line.
fn run_pass(
    publisher: &Bus,
    url: &str,
    n: u64,
    size: usize,
    rate: Option<f64>,
) -> Result<(f64, String), String> {
    let (mut child, mut out) = spawn_self(&["recv", "--url", url, "--expect", &n.to_string()])?;
    read_line(&mut out)?; // ready: subscribed
    let start = now_ns();
    let t0 = Instant::now();
    for i in 0..n {
        if let Some(r) = rate {
            // Paced in ticks: send what is due, then sleep (spinning would steal a core from Redis and
            // the receiver on a small machine).
            let due = t0 + Duration::from_secs_f64(i as f64 / r);
            let now = Instant::now();
            if due > now {
                std::thread::sleep((due - now).max(Duration::from_micros(100)));
            }
        }
        let mut message = Message::new(Target::Channel(CHANNEL.into()), payload(i, size));
        loop {
            match publisher.publish(message) {
                Ok(()) => break,
                Err(BusError::QueueFull { .. }) => {
                    message = Message::new(Target::Channel(CHANNEL.into()), payload(i, size));
                    std::thread::yield_now();
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    let published_ns = now_ns();
    publisher
        .flush(Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let acked_ns = now_ns();
    let mut line = read_line(&mut out)?;
    let _ = child.wait();
    if field(&line, "received") != Some(n as f64) {
        eprintln!(
            "warning: the receiver got {:?} of {n}: it fell more than Redis's pub/sub output limit \
             (client-output-buffer-limit pubsub, 32 MB) behind and Redis cut its connection; use fewer --messages",
            field(&line, "received")
        );
    }
    let last = field(&line, "last_ns").ok_or("no last_ns")?;
    let received = field(&line, "received").ok_or("no received")?;
    let secs = (last - start as f64) / 1e9;
    line.push_str(&format!(
        " publish_calls_done_ms={:.0} redis_acked_ms={:.0} last_delivery_ms={:.0}",
        (published_ns - start) as f64 / 1e6,
        (acked_ns - start) as f64 / 1e6,
        secs * 1e3
    ));
    Ok((received / secs, line))
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn redis_version() -> String {
    Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(2)
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------------
// Receiver process: a second Bus, one subscribed connection, a sink that timestamps deliveries.

struct Receiver {
    state: Mutex<(u64, Vec<u64>, u64)>, // (count, latencies ns, last delivery ns)
    done: Condvar,
    expect: u64,
}

impl Sink for Receiver {
    fn deliver(&self, d: LocalDelivery) {
        let now = now_ns();
        let sent = match &d.payload {
            Payload::Raw(b) => std::str::from_utf8(&b[16..32.min(b.len())])
                .ok()
                .and_then(|h| u64::from_str_radix(h, 16).ok()),
            Payload::Event { .. } => None,
        };
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 += 1;
        if let Some(sent) = sent {
            s.1.push(now.saturating_sub(sent));
        }
        s.2 = now;
        if s.0 >= self.expect {
            self.done.notify_all();
        }
    }
}

fn recv(args: &[String]) -> Result<(), String> {
    let url = opt_str(args, "--url")?;
    let expect = opt(args, "--expect", 0)?;
    let bus = Bus::redis(config(), url).map_err(|e| e.to_string())?;
    let sink = Arc::new(Receiver {
        state: Mutex::new((0, Vec::with_capacity(expect as usize), 0)),
        done: Condvar::new(),
        expect,
    });
    bus.set_sink(sink.clone());
    bus.subscribe(bus.connection_uuid(0, 1, 0), CHANNEL);
    bus.flush(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut s = sink.state.lock().unwrap_or_else(|e| e.into_inner());
    while s.0 < expect && Instant::now() < deadline {
        s = sink
            .done
            .wait_timeout(s, Duration::from_millis(100))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    let (count, last) = (s.0, s.2);
    let lat = &mut s.1;
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "received={count} last_ns={last} p50_us={:.0} p99_us={:.0} max_us={:.0} dropped={} duplicates={}",
        pct(0.50),
        pct(0.99),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0,
        bus.state().dropped,
        bus.state().duplicates
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Raw subscriber for the ceiling: reads and counts pub/sub messages, nothing else.

fn raw_sub(args: &[String]) -> Result<(), String> {
    let port = opt(args, "--port", 6379)? as u16;
    let channel = opt_str(args, "--channel")?;
    let expect = opt(args, "--expect", 0)?;
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let cmd = format!(
        "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
        channel.len()
    );
    s.write_all(cmd.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    // The confirmation is one small array; then count "*3\r\n$7\r\nmessage" headers as they stream by.
    let mut count = 0u64;
    let mut confirmed = false;
    let mut tail = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let needle = b"$7\r\nmessage\r\n";
    while count < expect {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tail.extend_from_slice(&buf[..n]);
        if !confirmed && tail.windows(9).any(|w| w == b"subscribe") {
            confirmed = true;
            println!("ready");
            std::io::stdout().flush().map_err(|e| e.to_string())?;
        }
        let mut i = 0;
        while let Some(p) = tail[i..].windows(needle.len()).position(|w| w == needle) {
            count += 1;
            i += p + needle.len();
        }
        let keep = tail.len().saturating_sub(needle.len() - 1).max(i);
        tail.drain(..keep);
    }
    println!("received={count}");
    Ok(())
}
