//! The load loop of `plezi-load chat`/`socketio`: connect, say hello, keep every sender's messages in
//! flight, count deliveries (listeners in sweeps), sample latency, and report.

use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::{Frame, Protocol, sent_ns};
use crate::args::{BroadcastConfig, Common};
use crate::pace::Pacer;
use crate::pool::{self, Conn};
use crate::report::{Latencies, Report, Value};
use crate::usage::Meter;
use crate::ws;
use crate::{net, summary};

/// How long the run may go without any answer to a sender before it gives up.
const STALL: Duration = Duration::from_secs(10);

/// Listeners read per loop turn during a sweep (the senders' answers are polled in between).
const LISTENER_CHUNK: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Sends chat messages; reads everything it gets.
    Sender,
    /// Reads the payload of what it gets, for latency.
    Sampler,
    /// Counts deliveries (by frame headers when the protocol allows).
    Listener,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Drain,
}

/// Counters touched by the frame callbacks.
#[derive(Default)]
struct Tally {
    delivered: u64,
    done: u64,
    expected: u64,
    latencies: Latencies,
    window_start_ns: u64,
    measuring: bool,
    unreadable_samples: u64,
    reads: u64,
}

/// What the frames of one read asked for.
#[derive(Default)]
struct Wants {
    done: u32,
    ready: bool,
    pong: Option<Vec<u8>>,
    answers: Vec<&'static [u8]>,
    closed: bool,
}

struct Run<'a, P: Protocol> {
    cfg: &'a BroadcastConfig,
    conns: Vec<Conn>,
    roles: Vec<Role>,
    in_flight: Vec<usize>,
    ready: Vec<bool>,
    tally: Tally,
    clock: Instant,
    phase: Phase,
    last_done: Instant,
    buf: Vec<u8>,
    text: Vec<u8>,
    frame: Vec<u8>,
    closed: usize,
    /// Listeners not registered with the poll, swept every `listener_read`.
    swept: Vec<usize>,
    sweep_at: Option<usize>,
    next_sweep: Instant,
    protocol: std::marker::PhantomData<P>,
}

/// Runs the chat scenario with protocol `P` and returns its report.
pub fn run<P: Protocol>(common: &Common, cfg: &BroadcastConfig) -> Result<Report, String> {
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
    let mut run: Run<'_, P> = Run {
        cfg,
        conns,
        roles,
        in_flight: vec![0; cfg.senders],
        ready: vec![!P::NEEDS_READY; cfg.clients],
        tally: Tally::default(),
        clock: Instant::now(),
        phase: Phase::Warmup,
        last_done: Instant::now(),
        buf: vec![0u8; 256 * 1024],
        text: Vec::new(),
        frame: Vec::new(),
        closed: 0,
        swept: Vec::new(),
        sweep_at: None,
        next_sweep: Instant::now(),
        protocol: std::marker::PhantomData,
    };
    let mut events = Events::with_capacity(4096);
    run.say_hello(
        &mut poll,
        &mut events,
        connect_started + common.connect_timeout,
    )?;
    let connect_time = connect_started.elapsed();
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
    for s in 0..cfg.senders {
        for _ in 0..cfg.in_flight {
            run.send_chat(s)?;
        }
    }

    let mut pacer = Pacer::new(cfg.batch);
    let started = Instant::now();
    run.last_done = started;
    let measure_at = started + cfg.warmup;
    let drain_at = measure_at + cfg.duration;
    let give_up_at = drain_at + cfg.drain;
    let (mut before, mut after) = (None, None);
    let (mut delivered0, mut delivered1, mut done0, mut done1) = (0, 0, 0, 0);
    let (mut reads0, mut reads1) = (0, 0);
    loop {
        let now = Instant::now();
        if run.phase == Phase::Warmup && now >= measure_at {
            run.sweep_listeners(usize::MAX)?;
            before = Some(meter.snapshot());
            delivered0 = run.tally.delivered;
            reads0 = run.tally.reads;
            done0 = run.tally.done;
            run.tally.window_start_ns = run.now_ns();
            run.tally.measuring = true;
            run.phase = Phase::Measure;
        }
        if run.phase == Phase::Measure && now >= drain_at {
            run.sweep_listeners(usize::MAX)?;
            after = Some(meter.snapshot());
            delivered1 = run.tally.delivered;
            reads1 = run.tally.reads;
            done1 = run.tally.done;
            run.tally.measuring = false;
            run.phase = Phase::Drain;
        }
        if run.phase == Phase::Drain {
            run.sweep_listeners(usize::MAX)?;
            let settled =
                run.in_flight.iter().all(|&n| n == 0) && run.tally.delivered >= run.tally.expected;
            if settled || now >= give_up_at {
                break;
            }
        } else if now - run.last_done > STALL {
            return Err(format!(
                "no sender was answered for {STALL:?} ({} answers so far); the server stopped answering",
                run.tally.done
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
    let messages = done1 - done0;
    let secs = usage.wall.as_secs_f64();
    let lost = run.tally.expected.saturating_sub(run.tally.delivered);
    let in_flight_left: usize = run.in_flight.iter().sum();

    let mut report = Report::new(format!(
        "{} [{}] clients={} senders={} in_flight={} payload={}",
        P::NAME,
        common.label,
        cfg.clients,
        cfg.senders,
        cfg.in_flight,
        cfg.payload
    ));
    report
        .field("scenario", Value::Str(P::NAME.into()))
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
        .field("broadcasts_per_s", Value::Num(messages as f64 / secs, 1))
        .field(
            "deliveries_per_read",
            Value::Num(deliveries as f64 / (reads1 - reads0).max(1) as f64, 2),
        )
        .field("lost", Value::Int(lost))
        .field(
            "unreadable_samples",
            Value::Int(run.tally.unreadable_samples),
        );
    report.say(format!(
        "{:.0} deliveries/s ({:.1} chat messages/s)",
        deliveries as f64 / secs,
        messages as f64 / secs
    ));
    summary::latency(&mut report, run.tally.latencies.summary());
    summary::cpu(&mut report, &usage, deliveries, "delivery");
    report.say(format!("lost {lost}"));
    if lost > 0 || in_flight_left > 0 {
        report.warn(format!(
            "{lost} deliveries and {in_flight_left} answers missing {:?} after the window",
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

impl<P: Protocol> Run<'_, P> {
    fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// Feeds what came with the upgrade, sends every client's hello and, if the protocol needs it,
    /// waits until every client is ready.
    fn say_hello(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        deadline: Instant,
    ) -> Result<(), String> {
        let mut hello = Vec::new();
        P::hello(&mut hello);
        for i in 0..self.conns.len() {
            let early = std::mem::take(&mut self.conns[i].early);
            self.on_bytes(i, &early)?;
            if !hello.is_empty() {
                self.conns[i]
                    .send(&hello)
                    .map_err(|e| format!("connection {i}: hello: {e}"))?;
            }
        }
        loop {
            let waiting = self.ready.iter().filter(|r| !**r).count();
            if waiting == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "{waiting} of {} clients were not ready (no {} connect answer) in time",
                    self.conns.len(),
                    P::NAME
                ));
            }
            if self.closed > 0 {
                return Err("the server closed connections before the run".into());
            }
            poll.poll(events, Some(deadline - now))
                .map_err(|e| format!("poll: {e}"))?;
            for event in events.iter() {
                let i = event.token().0;
                if self.conns[i].open && (event.is_readable() || event.is_read_closed()) {
                    self.on_readable(i)?;
                }
                if event.is_writable() {
                    self.conns[i]
                        .flush()
                        .map_err(|e| format!("connection {i}: {e}"))?;
                }
            }
        }
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

    fn send_chat(&mut self, sender: usize) -> Result<(), String> {
        let now = self.now_ns();
        self.frame.clear();
        P::encode_chat(now, self.cfg.payload, &mut self.text, &mut self.frame);
        match self.conns[sender].send(&self.frame) {
            Ok(()) => {
                self.in_flight[sender] += 1;
                Ok(())
            }
            Err(e) => Err(format!("sender {sender}: {e}")),
        }
    }

    fn keeps_data(&self, i: usize) -> bool {
        self.roles[i] != Role::Listener || P::LISTENERS_READ_DATA || !self.ready[i]
    }

    fn on_readable(&mut self, i: usize) -> Result<(), String> {
        let keep = self.keeps_data(i);
        let Conn {
            stream, scanner, ..
        } = &mut self.conns[i];
        let role = self.roles[i];
        let now_ns = if role != Role::Listener {
            self.clock.elapsed().as_nanos() as u64
        } else {
            0
        };
        let tally = &mut self.tally;
        tally.reads += 1;
        let mut wants = Wants::default();
        let mut scan_error = None;
        let read = pool::read_available(stream, &mut self.buf, |bytes| {
            if scan_error.is_some() {
                return;
            }
            let mut on_frame = |first: u8, payload: &[u8]| {
                on_frame::<P>(tally, role, keep, now_ns, first, payload, &mut wants);
            };
            if let Err(e) = scanner.feed(bytes, keep, &mut on_frame) {
                scan_error = Some(e);
            }
        });
        if let Some(e) = scan_error {
            return Err(format!("connection {i}: {e}"));
        }
        match read {
            Ok(alive) => wants.closed |= !alive,
            Err(e) => {
                self.lose(i, &e.to_string());
                return Ok(());
            }
        }
        self.after_frames(i, wants)
    }

    fn on_bytes(&mut self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let role = self.roles[i];
        let keep = self.keeps_data(i);
        let now_ns = self.now_ns();
        let mut wants = Wants::default();
        let tally = &mut self.tally;
        self.conns[i]
            .scanner
            .feed(bytes, keep, &mut |first, payload| {
                on_frame::<P>(tally, role, keep, now_ns, first, payload, &mut wants);
            })
            .map_err(|e| format!("connection {i}: {e}"))?;
        self.after_frames(i, wants)
    }

    fn after_frames(&mut self, i: usize, wants: Wants) -> Result<(), String> {
        let mut reply = Vec::new();
        if let Some(ping) = wants.pong {
            ws::encode_masked(ws::OP_PONG, &ping, &mut reply);
        }
        for answer in wants.answers {
            ws::encode_masked(ws::OP_TEXT, answer, &mut reply);
        }
        if !reply.is_empty()
            && let Err(e) = self.conns[i].send(&reply)
        {
            self.lose(i, &e.to_string());
            return Ok(());
        }
        if wants.closed {
            self.lose(i, "closed by the server");
            return Ok(());
        }
        if wants.ready {
            self.ready[i] = true;
        }
        if wants.done > 0 && i < self.in_flight.len() {
            self.last_done = Instant::now();
            let expected = (self.cfg.clients as u64 - 1) * u64::from(wants.done);
            self.tally.expected += expected;
            self.in_flight[i] = self.in_flight[i].saturating_sub(wants.done as usize);
            if self.phase != Phase::Drain {
                for _ in 0..wants.done {
                    self.send_chat(i)?;
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

/// Handles one complete frame for a client of role `role` (`kept`: the payload was read).
#[inline]
fn on_frame<P: Protocol>(
    tally: &mut Tally,
    role: Role,
    kept: bool,
    now_ns: u64,
    first: u8,
    payload: &[u8],
    wants: &mut Wants,
) {
    match first & 0x0f {
        0..=2 if first & 0x80 != 0 => {
            let kind = if kept {
                P::classify(payload)
            } else {
                Frame::Delivery
            };
            match kind {
                Frame::Delivery => {
                    tally.delivered += 1;
                    if role == Role::Listener {
                        return;
                    }
                    match sent_ns(payload) {
                        Some(sent) if tally.measuring && sent >= tally.window_start_ns => {
                            tally.latencies.push(now_ns.saturating_sub(sent));
                        }
                        Some(_) => {}
                        None => tally.unreadable_samples += 1,
                    }
                }
                Frame::Done if role == Role::Sender => {
                    wants.done += 1;
                    tally.done += 1;
                }
                Frame::Ready => wants.ready = true,
                Frame::Answer(text) => wants.answers.push(text),
                Frame::Done | Frame::Other => {}
            }
        }
        ws::OP_PING => wants.pong = Some(payload.to_vec()),
        ws::OP_CLOSE => wants.closed = true,
        _ => {}
    }
}
