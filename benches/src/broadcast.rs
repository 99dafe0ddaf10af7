//! `plezi-load broadcast`: N clients, S of them senders with K broadcasts in flight each (the next one
//! goes out when a `broadcastResult` comes back). Counts deliveries by frame headers on every client and
//! samples latency on every `sample_every`-th client (and the senders), from the send time carried in the
//! payload.

use std::time::{Duration, Instant};

use mio::{Events, Poll};

use crate::args::{BroadcastConfig, Common};
use crate::pace::Pacer;
use crate::pool::{self, Conn};
use crate::report::{Latencies, Report, Value};
use crate::shootout;
use crate::usage::Meter;
use crate::ws;
use crate::{net, summary};

/// How long the run may go without any `broadcastResult` before it gives up.
const STALL: Duration = Duration::from_secs(10);

/// Listeners read per loop turn during a sweep (the sender's answers are polled in between).
const LISTENER_CHUNK: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Sends broadcasts; reads everything it gets.
    Sender,
    /// Reads the payload of what it gets, for latency.
    Sampler,
    /// Only counts frames.
    Listener,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Drain,
}

#[derive(Default)]
struct SenderState {
    in_flight: usize,
}

/// Counters touched by the frame callbacks.
#[derive(Default)]
struct Tally {
    delivered: u64,
    results: u64,
    expected: u64,
    last_listen: u64,
    latencies: Latencies,
    window_start_ns: u64,
    measuring: bool,
    unreadable_samples: u64,
    reads: u64,
}

struct Run<'a> {
    cfg: &'a BroadcastConfig,
    conns: Vec<Conn>,
    roles: Vec<Role>,
    senders: Vec<SenderState>,
    tally: Tally,
    clock: Instant,
    phase: Phase,
    last_result: Instant,
    buf: Vec<u8>,
    text: Vec<u8>,
    frame: Vec<u8>,
    closed: usize,
    /// Listeners not registered with the poll, swept every `listener_read` (see `BroadcastConfig`).
    swept: Vec<usize>,
    /// Position of the sweep in progress.
    sweep_at: Option<usize>,
    next_sweep: Instant,
}

/// Runs the scenario and returns its report.
pub fn run(common: &Common, cfg: &BroadcastConfig) -> Result<Report, String> {
    let meter = Meter::new(common.server_pid)?;
    net::raise_open_files(cfg.clients as u64 + 64)?;
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let sources = net::source_addresses(&common.target, common.sources);
    let connect_started = Instant::now();
    let conns = pool::connect_all(
        &mut poll,
        &common.target,
        cfg.clients,
        &sources,
        common.connect_timeout,
    )?;
    let connect_time = connect_started.elapsed();
    let roles = (0..cfg.clients)
        .map(|i| {
            if i < cfg.senders {
                Role::Sender
            } else if (i - cfg.senders).is_multiple_of(cfg.sample_every) {
                Role::Sampler
            } else {
                Role::Listener
            }
        })
        .collect();
    let mut run = Run {
        cfg,
        conns,
        roles,
        senders: (0..cfg.senders).map(|_| SenderState::default()).collect(),
        tally: Tally::default(),
        clock: Instant::now(),
        phase: Phase::Warmup,
        last_result: Instant::now(),
        buf: vec![0u8; 256 * 1024],
        text: Vec::new(),
        frame: Vec::new(),
        closed: 0,
        swept: Vec::new(),
        sweep_at: None,
        next_sweep: Instant::now(),
    };
    if !cfg.listener_read.is_zero() {
        for i in 0..run.conns.len() {
            if run.roles[i] == Role::Listener {
                poll.registry()
                    .deregister(&mut run.conns[i].stream)
                    .map_err(|e| format!("deregister: {e}"))?;
                run.swept.push(i);
            }
        }
    }
    for i in 0..run.conns.len() {
        let early = std::mem::take(&mut run.conns[i].early);
        run.on_bytes(i, &early)?;
    }
    for s in 0..cfg.senders {
        for _ in 0..cfg.in_flight {
            run.send_broadcast(s)?;
        }
    }

    let mut events = Events::with_capacity(4096);
    let mut pacer = Pacer::new(cfg.batch);
    let started = Instant::now();
    let measure_at = started + cfg.warmup;
    let drain_at = measure_at + cfg.duration;
    let give_up_at = drain_at + cfg.drain;
    let (mut before, mut after) = (None, None);
    let (mut delivered0, mut delivered1, mut results0, mut results1) = (0, 0, 0, 0);
    let (mut reads0, mut reads1) = (0, 0);
    loop {
        let now = Instant::now();
        if run.phase == Phase::Warmup && now >= measure_at {
            run.sweep_listeners(usize::MAX)?;
            before = Some(meter.snapshot());
            delivered0 = run.tally.delivered;
            reads0 = run.tally.reads;
            results0 = run.tally.results;
            run.tally.window_start_ns = run.now_ns();
            run.tally.measuring = true;
            run.phase = Phase::Measure;
        }
        if run.phase == Phase::Measure && now >= drain_at {
            run.sweep_listeners(usize::MAX)?;
            after = Some(meter.snapshot());
            delivered1 = run.tally.delivered;
            reads1 = run.tally.reads;
            results1 = run.tally.results;
            run.tally.measuring = false;
            run.phase = Phase::Drain;
        }
        if run.phase == Phase::Drain {
            run.sweep_listeners(usize::MAX)?;
            let settled = run.senders.iter().all(|s| s.in_flight == 0)
                && run.tally.delivered >= run.tally.expected;
            if settled || now >= give_up_at {
                break;
            }
        } else if now - run.last_result > STALL {
            return Err(format!(
                "no broadcastResult for {STALL:?} ({} results so far); the server stopped answering",
                run.tally.results
            ));
        }
        if run.closed == run.conns.len() {
            return Err("the server closed every connection".into());
        }
        let next = match run.phase {
            Phase::Warmup => measure_at,
            Phase::Measure => drain_at,
            Phase::Drain => give_up_at,
        };
        let next = if run.swept.is_empty() {
            next
        } else if run.sweep_at.is_some() {
            now
        } else {
            next.min(run.next_sweep)
        };
        let wait = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        pacer
            .poll(&mut poll, &mut events, wait)
            .map_err(|e| format!("poll: {e}"))?;
        for event in events.iter() {
            let i = event.token().0;
            if !run.conns[i].open {
                continue;
            }
            if event.is_writable()
                && let Err(e) = run.conns[i].flush()
            {
                run.lose(i, &e.to_string());
                continue;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                run.on_readable(i)?;
            }
        }
        if !run.swept.is_empty() && (run.sweep_at.is_some() || Instant::now() >= run.next_sweep) {
            run.sweep_listeners(LISTENER_CHUNK)?;
        }
    }

    let (Some(before), Some(after)) = (before, after) else {
        return Err("the run ended before its measurement window".into());
    };
    let usage = meter.between(&before, &after);
    let deliveries = delivered1 - delivered0;
    let broadcasts = results1 - results0;
    let secs = usage.wall.as_secs_f64();
    let lost = run.tally.expected.saturating_sub(run.tally.delivered);
    let in_flight_left: usize = run.senders.iter().map(|s| s.in_flight).sum();

    let mut report = Report::new(format!(
        "broadcast [{}] clients={} senders={} in_flight={} payload={}",
        common.label, cfg.clients, cfg.senders, cfg.in_flight, cfg.payload
    ));
    report
        .field("scenario", Value::Str("broadcast".into()))
        .field("label", Value::Str(common.label.clone()))
        .field("clients", Value::Int(cfg.clients as u64))
        .field("senders", Value::Int(cfg.senders as u64))
        .field("in_flight", Value::Int(cfg.in_flight as u64))
        .field("payload", Value::Int(cfg.payload as u64))
        .field("batch_us", Value::Int(cfg.batch.as_micros() as u64))
        .field(
            "listener_read_ms",
            Value::Num(cfg.listener_read.as_secs_f64() * 1e3, 1),
        )
        .field("connect_s", Value::Num(connect_time.as_secs_f64(), 2))
        .field("window_s", Value::Num(secs, 3))
        .field("deliveries", Value::Int(deliveries))
        .field("deliveries_per_s", Value::Num(deliveries as f64 / secs, 0))
        .field("broadcasts_per_s", Value::Num(broadcasts as f64 / secs, 1))
        .field(
            "deliveries_per_read",
            Value::Num(deliveries as f64 / (reads1 - reads0).max(1) as f64, 2),
        )
        .field("listen_count", Value::Int(run.tally.last_listen))
        .field("lost", Value::Int(lost))
        .field(
            "unreadable_samples",
            Value::Int(run.tally.unreadable_samples),
        );
    report.say(format!(
        "{:.0} deliveries/s ({:.1} broadcasts/s)",
        deliveries as f64 / secs,
        broadcasts as f64 / secs
    ));
    summary::latency(&mut report, run.tally.latencies.summary());
    summary::cpu(&mut report, &usage, deliveries, "delivery");
    report.say(format!("lost {lost}"));
    if run.tally.last_listen != cfg.clients as u64 {
        report.warn(format!(
            "listenCount {} != {} clients",
            run.tally.last_listen, cfg.clients
        ));
    }
    if lost > 0 || in_flight_left > 0 {
        report.warn(format!(
            "{lost} deliveries and {in_flight_left} broadcastResults missing {:?} after the window",
            cfg.drain
        ));
    }
    if run.tally.unreadable_samples > 0 {
        report.warn(format!(
            "{} sampled messages had no readable send time",
            run.tally.unreadable_samples
        ));
    }
    if run.closed > 0 {
        report.warn(format!("{} connections closed during the run", run.closed));
    }
    summary::environment(&mut report, &meter);
    Ok(report)
}

impl Run<'_> {
    fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// Continues (or starts) the sweep over the unregistered listeners, reading up to `max` of them.
    fn sweep_listeners(&mut self, max: usize) -> Result<(), String> {
        let from = self.sweep_at.unwrap_or(0);
        let to = from.saturating_add(max).min(self.swept.len());
        for k in from..to {
            let i = self.swept[k];
            if self.conns[i].open {
                self.on_readable(i)?;
            }
        }
        if to == self.swept.len() {
            self.sweep_at = None;
            self.next_sweep = Instant::now() + self.cfg.listener_read;
        } else {
            self.sweep_at = Some(to);
        }
        Ok(())
    }

    fn send_broadcast(&mut self, sender: usize) -> Result<(), String> {
        let now = self.now_ns();
        self.frame.clear();
        shootout::encode_message(
            "broadcast",
            now,
            self.cfg.payload,
            &mut self.text,
            &mut self.frame,
        );
        match self.conns[sender].send(&self.frame) {
            Ok(()) => {
                self.senders[sender].in_flight += 1;
                Ok(())
            }
            Err(e) => Err(format!("sender {sender}: {e}")),
        }
    }

    fn on_readable(&mut self, i: usize) -> Result<(), String> {
        let Conn {
            stream, scanner, ..
        } = &mut self.conns[i];
        let role = self.roles[i];
        let keep = role != Role::Listener;
        let now_ns = if keep {
            self.clock.elapsed().as_nanos() as u64
        } else {
            0
        };
        let tally = &mut self.tally;
        tally.reads += 1;
        let mut results: u32 = 0;
        let mut pong: Option<Vec<u8>> = None;
        let mut closed = false;
        let mut scan_error = None;
        let read = pool::read_available(stream, &mut self.buf, |bytes| {
            if scan_error.is_some() {
                return;
            }
            let mut on_frame = |first: u8, payload: &[u8]| {
                on_frame(
                    tally,
                    role,
                    now_ns,
                    first,
                    payload,
                    &mut results,
                    &mut pong,
                    &mut closed,
                );
            };
            if let Err(e) = scanner.feed(bytes, keep, &mut on_frame) {
                scan_error = Some(e);
            }
        });
        if let Some(e) = scan_error {
            return Err(format!("connection {i}: {e}"));
        }
        let alive = match read {
            Ok(alive) => alive,
            Err(e) => {
                self.lose(i, &e.to_string());
                return Ok(());
            }
        };
        self.after_frames(i, results, pong, closed || !alive)
    }

    fn on_bytes(&mut self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let role = self.roles[i];
        let now_ns = self.now_ns();
        let (mut results, mut pong, mut closed) = (0, None, false);
        let tally = &mut self.tally;
        self.conns[i]
            .scanner
            .feed(bytes, role != Role::Listener, &mut |first, payload| {
                on_frame(
                    tally,
                    role,
                    now_ns,
                    first,
                    payload,
                    &mut results,
                    &mut pong,
                    &mut closed,
                );
            })
            .map_err(|e| format!("connection {i}: {e}"))?;
        self.after_frames(i, results, pong, closed)
    }

    fn after_frames(
        &mut self,
        i: usize,
        results: u32,
        pong: Option<Vec<u8>>,
        closed: bool,
    ) -> Result<(), String> {
        if let Some(ping) = pong {
            let mut frame = Vec::new();
            ws::encode_masked(ws::OP_PONG, &ping, &mut frame);
            if let Err(e) = self.conns[i].send(&frame) {
                self.lose(i, &e.to_string());
                return Ok(());
            }
        }
        if closed {
            self.lose(i, "closed by the server");
            return Ok(());
        }
        if results > 0 {
            self.last_result = Instant::now();
            let sender = &mut self.senders[i];
            sender.in_flight = sender.in_flight.saturating_sub(results as usize);
            if self.phase != Phase::Drain {
                for _ in 0..results {
                    self.send_broadcast(i)?;
                }
            }
        }
        Ok(())
    }

    fn lose(&mut self, i: usize, why: &str) {
        if self.conns[i].open {
            self.conns[i].open = false;
            self.closed += 1;
            if self.closed == 1 {
                eprintln!("plezi-load: connection {i} lost: {why}");
            }
        }
    }
}

/// Handles one complete frame for a client of role `role`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn on_frame(
    tally: &mut Tally,
    role: Role,
    now_ns: u64,
    first: u8,
    payload: &[u8],
    results: &mut u32,
    pong: &mut Option<Vec<u8>>,
    closed: &mut bool,
) {
    match first & 0x0f {
        0..=2 if first & 0x80 != 0 => match role {
            Role::Listener => tally.delivered += 1,
            Role::Sender if shootout::is_broadcast_result(payload) => {
                *results += 1;
                tally.results += 1;
                if let Some(n) = shootout::listen_count(payload) {
                    tally.last_listen = n;
                    tally.expected += n;
                }
            }
            Role::Sender | Role::Sampler => {
                tally.delivered += 1;
                match shootout::sent_ns(payload) {
                    Some(sent) if tally.measuring && sent >= tally.window_start_ns => {
                        tally.latencies.push(now_ns.saturating_sub(sent));
                    }
                    Some(_) => {}
                    None => tally.unreadable_samples += 1,
                }
            }
        },
        ws::OP_PING => *pong = Some(payload.to_vec()),
        ws::OP_CLOSE => *closed = true,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, parse};

    fn int(report: &Report, name: &str) -> u64 {
        match report.get(name) {
            Some(Value::Int(n)) => *n,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn counts_every_delivery_and_samples_latency() {
        for listener_read in ["0", "10"] {
            let url = crate::testserver::start();
            let argv: Vec<String> = format!(
                "broadcast --url {url} --clients 40 --senders 2 --in-flight 2 --duration 0.6 --warmup 0.2 \
                 --sample-every 4 --listener-read-ms {listener_read} --server-pid {}",
                std::process::id()
            )
            .split_whitespace()
            .map(String::from)
            .collect();
            let Ok(Command::Broadcast(common, cfg)) = parse(&argv) else {
                panic!("args")
            };
            let report = run(&common, &cfg).expect("run");
            assert!(int(&report, "deliveries") > 40, "{}", report.human_line());
            assert_eq!(int(&report, "listen_count"), 40);
            assert_eq!(int(&report, "lost"), 0, "{}", report.human_line());
            assert_eq!(int(&report, "unreadable_samples"), 0);
            assert!(int(&report, "latency_samples") > 0);
            // The test server runs inside this process, so only the saturation warning may appear.
            let unexpected: Vec<_> = report
                .warnings()
                .iter()
                .filter(|w| !w.contains("load tool used"))
                .collect();
            assert!(unexpected.is_empty(), "{unexpected:?}");
        }
    }
}
