//! The load loop shared by the fan-out scenarios (`plezi-load broadcast`, `chat`, `socketio`): connect
//! and assign roles, warm-up / measure / drain phases, pacing, listener sweeps, the delivery and latency
//! tally, and the report. What a scenario sends and how it reads its frames stay in its own module
//! (a [`Scenario`]), so runs of different protocols compare like for like.

use std::time::{Duration, Instant};

use mio::{Events, Poll};

use crate::args::{BroadcastConfig, Common};
use crate::pace::Pacer;
use crate::pool::{self, Conn};
use crate::report::{Latencies, Report, Value};
use crate::usage::{Meter, Usage};
use crate::{net, summary};

/// How long the run may go without any answer to a sender before it gives up.
pub const STALL: Duration = Duration::from_secs(10);

/// Listeners read per loop turn during a sweep (the senders' answers are polled in between).
const LISTENER_CHUNK: usize = 256;

/// What a client does in the run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends messages; reads everything it gets.
    Sender,
    /// Reads the payload of what it gets, for latency.
    Sampler,
    /// Counts deliveries (by frame headers when the protocol allows).
    Listener,
}

impl Role {
    /// The first `senders` clients send; of the others, taken `servers` at a time (client `i` is on
    /// server `i mod servers`), every `sample_every`-th group samples latency, so every server has
    /// samplers.
    fn of(i: usize, cfg: &BroadcastConfig, servers: usize) -> Role {
        if i < cfg.senders {
            Role::Sender
        } else if ((i - cfg.senders) / servers.max(1)).is_multiple_of(cfg.sample_every) {
            Role::Sampler
        } else {
            Role::Listener
        }
    }
}

/// Where the run is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    Measure,
    Drain,
}

/// Counters touched by the frame callbacks.
#[derive(Default)]
pub struct Tally {
    /// Messages received by any client.
    pub delivered: u64,
    /// Answers to senders: a message was broadcast.
    pub answers: u64,
    /// Deliveries the answers so far promise.
    pub expected: u64,
    pub latencies: Latencies,
    pub window_start_ns: u64,
    pub measuring: bool,
    pub unreadable_samples: u64,
    pub reads: u64,
    /// Bytes read from the sockets (frames, headers included), where the scenario counts them.
    pub wire_bytes: u64,
}

impl Tally {
    /// Samples the latency of a delivered message sent at `sent` (`None`: no readable send time),
    /// if it was sent inside the measurement window.
    pub fn sample(&mut self, now_ns: u64, sent: Option<u64>) {
        match sent {
            Some(sent) if self.measuring && sent >= self.window_start_ns => {
                self.latencies.push(now_ns.saturating_sub(sent));
            }
            Some(_) => {}
            None => self.unreadable_samples += 1,
        }
    }
}

/// The connected clients and the state of the run that every scenario shares.
pub struct Clients {
    pub conns: Vec<Conn>,
    pub roles: Vec<Role>,
    pub tally: Tally,
    pub clock: Instant,
    pub phase: Phase,
    /// When a sender was last answered (for [`STALL`]).
    pub last_answer: Instant,
    /// Read buffer.
    pub buf: Vec<u8>,
    /// Scratch space for a message's text.
    pub text: Vec<u8>,
    /// Scratch space for a message's frames.
    pub frame: Vec<u8>,
    /// Connections lost so far.
    pub closed: usize,
    listener_read: Duration,
    /// Listeners not registered with the poll, swept every `listener_read` (see `BroadcastConfig`).
    swept: Vec<usize>,
    /// Position of the sweep in progress.
    sweep_at: Option<usize>,
    next_sweep: Instant,
}

/// What [`connect`] sets up.
pub struct Setup {
    pub meter: Meter,
    pub poll: Poll,
    pub clients: Clients,
    /// When connecting began.
    pub connect_started: Instant,
}

/// Meters the server, connects `cfg.clients` clients and gives them their roles.
pub fn connect(common: &Common, cfg: &BroadcastConfig) -> Result<Setup, String> {
    let meter = Meter::new(&common.server_pids)?;
    net::raise_open_files(cfg.clients as u64 + 64)?;
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let sources = net::source_addresses(&common.targets[0], common.sources);
    let connect_started = Instant::now();
    let conns = pool::connect_all(
        &mut poll,
        &common.targets,
        cfg.clients,
        &sources,
        common.connect_timeout,
    )?;
    let clients = Clients {
        conns,
        roles: (0..cfg.clients)
            .map(|i| Role::of(i, cfg, common.targets.len()))
            .collect(),
        tally: Tally::default(),
        clock: Instant::now(),
        phase: Phase::Warmup,
        last_answer: Instant::now(),
        buf: vec![0u8; 256 * 1024],
        text: Vec::new(),
        frame: Vec::new(),
        closed: 0,
        listener_read: cfg.listener_read,
        swept: Vec::new(),
        sweep_at: None,
        next_sweep: Instant::now(),
    };
    Ok(Setup {
        meter,
        poll,
        clients,
        connect_started,
    })
}

impl Clients {
    /// Nanoseconds on the run's clock (the send times carried in payloads).
    pub fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// With a `listener_read` interval, takes the listeners off the poll: they are read in sweeps.
    pub fn unregister_listeners(&mut self, poll: &Poll) -> Result<(), String> {
        if self.listener_read.is_zero() {
            return Ok(());
        }
        for i in 0..self.conns.len() {
            if self.roles[i] == Role::Listener {
                poll.registry()
                    .deregister(&mut self.conns[i].stream)
                    .map_err(|e| format!("deregister: {e}"))?;
                self.swept.push(i);
            }
        }
        Ok(())
    }

    /// Marks connection `i` lost (the first loss is printed).
    pub fn lose(&mut self, i: usize, why: &str) {
        if self.conns[i].open {
            self.conns[i].open = false;
            self.closed += 1;
            if self.closed == 1 {
                eprintln!("plezi-load: connection {i} lost: {why}");
            }
        }
    }
}

/// What a fan-out scenario adds to the shared loop.
pub trait Scenario {
    /// The shared state.
    fn clients(&mut self) -> &mut Clients;
    /// Reads what connection `i` has and acts on its frames.
    fn on_readable(&mut self, i: usize) -> Result<(), String>;
    /// Messages sent and not answered yet.
    fn in_flight(&self) -> usize;
    /// The error when no sender was answered for [`STALL`] (`answers`: answers so far).
    fn stalled(answers: u64) -> String;
}

/// The measurement window's figures.
pub struct Window {
    pub usage: Usage,
    pub deliveries: u64,
    /// Answered messages (broadcasts).
    pub answers: u64,
    /// Reads of a connection.
    pub reads: u64,
    /// Bytes read from the sockets in the window.
    pub wire_bytes: u64,
}

/// Runs the warm-up, the measurement window and the drain (the senders' first messages are out),
/// pacing the polls by `batch`.
pub fn drive<S: Scenario>(
    run: &mut S,
    cfg: &BroadcastConfig,
    poll: &mut Poll,
    events: &mut Events,
    meter: &Meter,
) -> Result<Window, String> {
    let mut pacer = Pacer::new(cfg.batch);
    let started = Instant::now();
    let measure_at = started + cfg.warmup;
    let drain_at = measure_at + cfg.duration;
    let give_up_at = drain_at + cfg.drain;
    let (mut before, mut after) = (None, None);
    let (mut delivered0, mut delivered1, mut answers0, mut answers1) = (0, 0, 0, 0);
    let (mut reads0, mut reads1) = (0, 0);
    let (mut bytes0, mut bytes1) = (0, 0);
    loop {
        let now = Instant::now();
        if run.clients().phase == Phase::Warmup && now >= measure_at {
            sweep_listeners(run, usize::MAX)?;
            before = Some(meter.snapshot());
            let c = run.clients();
            delivered0 = c.tally.delivered;
            reads0 = c.tally.reads;
            bytes0 = c.tally.wire_bytes;
            answers0 = c.tally.answers;
            c.tally.window_start_ns = c.now_ns();
            c.tally.measuring = true;
            c.phase = Phase::Measure;
        }
        if run.clients().phase == Phase::Measure && now >= drain_at {
            sweep_listeners(run, usize::MAX)?;
            after = Some(meter.snapshot());
            let c = run.clients();
            delivered1 = c.tally.delivered;
            reads1 = c.tally.reads;
            bytes1 = c.tally.wire_bytes;
            answers1 = c.tally.answers;
            c.tally.measuring = false;
            c.phase = Phase::Drain;
        }
        if run.clients().phase == Phase::Drain {
            sweep_listeners(run, usize::MAX)?;
            let in_flight = run.in_flight();
            let tally = &run.clients().tally;
            let settled = in_flight == 0 && tally.delivered >= tally.expected;
            if settled || now >= give_up_at {
                break;
            }
        } else if now - run.clients().last_answer > STALL {
            return Err(S::stalled(run.clients().tally.answers));
        }
        let c = run.clients();
        if c.closed == c.conns.len() {
            return Err("the server closed every connection".into());
        }
        let next = match c.phase {
            Phase::Warmup => measure_at,
            Phase::Measure => drain_at,
            Phase::Drain => give_up_at,
        };
        let next = if c.swept.is_empty() {
            next
        } else if c.sweep_at.is_some() {
            now
        } else {
            next.min(c.next_sweep)
        };
        let wait = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(100));
        pacer
            .poll(poll, events, wait)
            .map_err(|e| format!("poll: {e}"))?;
        for event in events.iter() {
            let i = event.token().0;
            let c = run.clients();
            if !c.conns[i].open {
                continue;
            }
            if event.is_writable()
                && let Err(e) = c.conns[i].flush()
            {
                c.lose(i, &e.to_string());
                continue;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                run.on_readable(i)?;
            }
        }
        let c = run.clients();
        if !c.swept.is_empty() && (c.sweep_at.is_some() || Instant::now() >= c.next_sweep) {
            sweep_listeners(run, LISTENER_CHUNK)?;
        }
    }

    let (Some(before), Some(after)) = (before, after) else {
        return Err("the run ended before its measurement window".into());
    };
    Ok(Window {
        usage: meter.between(&before, &after),
        deliveries: delivered1 - delivered0,
        answers: answers1 - answers0,
        reads: reads1 - reads0,
        wire_bytes: bytes1 - bytes0,
    })
}

/// Continues (or starts) the sweep over the unregistered listeners, reading up to `max` of them.
fn sweep_listeners<S: Scenario>(run: &mut S, max: usize) -> Result<(), String> {
    let c = run.clients();
    let from = c.sweep_at.unwrap_or(0);
    let to = from.saturating_add(max).min(c.swept.len());
    for k in from..to {
        let c = run.clients();
        let i = c.swept[k];
        if c.conns[i].open {
            run.on_readable(i)?;
        }
    }
    let c = run.clients();
    if to == c.swept.len() {
        c.sweep_at = None;
        c.next_sweep = Instant::now() + c.listener_read;
    } else {
        c.sweep_at = Some(to);
    }
    Ok(())
}

/// How a scenario names things in its report.
pub struct Names {
    /// The scenario (`broadcast`, `chat`, `socketio`).
    pub scenario: &'static str,
    /// What the senders send, plural ("broadcasts").
    pub messages: &'static str,
    /// The answers a sender waits for, plural ("broadcastResults").
    pub answers: &'static str,
}

/// What the end of a run has to report besides the window.
pub struct Outcome {
    pub clients: Clients,
    pub connect_time: Duration,
    /// Messages still unanswered after the drain.
    pub in_flight_left: usize,
    /// The last `listenCount` the server gave, where the protocol has one.
    pub listen_count: Option<u64>,
}

/// The run's report: options, rates, latency, CPU, losses and warnings.
pub fn report(
    names: &Names,
    common: &Common,
    cfg: &BroadcastConfig,
    window: &Window,
    outcome: Outcome,
    meter: &Meter,
) -> Report {
    let tally = outcome.clients.tally;
    let deliveries = window.deliveries;
    let secs = window.usage.wall.as_secs_f64();
    let lost = tally.expected.saturating_sub(tally.delivered);

    let mut report = Report::new(format!(
        "{} [{}] clients={} senders={} in_flight={} payload={}",
        names.scenario, common.label, cfg.clients, cfg.senders, cfg.in_flight, cfg.payload
    ));
    report
        .field("scenario", Value::Str(names.scenario.into()))
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
        .field(
            "connect_s",
            Value::Num(outcome.connect_time.as_secs_f64(), 2),
        )
        .field("window_s", Value::Num(secs, 3))
        .field("deliveries", Value::Int(deliveries))
        .field("deliveries_per_s", Value::Num(deliveries as f64 / secs, 0))
        .field(
            "broadcasts_per_s",
            Value::Num(window.answers as f64 / secs, 1),
        )
        .field(
            "deliveries_per_read",
            Value::Num(deliveries as f64 / window.reads.max(1) as f64, 2),
        );
    if let Some(listen_count) = outcome.listen_count {
        report.field("listen_count", Value::Int(listen_count));
    }
    if window.wire_bytes > 0 {
        let per = window.wire_bytes as f64 / deliveries.max(1) as f64;
        report.field("wire_bytes_per_delivery", Value::Num(per, 1));
        report.say(format!("{per:.1} bytes on the wire per delivery"));
    }
    report
        .field("lost", Value::Int(lost))
        .field("unreadable_samples", Value::Int(tally.unreadable_samples));
    report.say(format!(
        "{:.0} deliveries/s ({:.1} {}/s)",
        deliveries as f64 / secs,
        window.answers as f64 / secs,
        names.messages
    ));
    summary::latency(&mut report, tally.latencies.summary());
    summary::cpu(&mut report, &window.usage, deliveries, "delivery");
    report.say(format!("lost {lost}"));
    if let Some(listen_count) = outcome.listen_count
        && listen_count != cfg.clients as u64
    {
        report.warn(format!(
            "listenCount {listen_count} != {} clients",
            cfg.clients
        ));
    }
    let in_flight_left = outcome.in_flight_left;
    if lost > 0 || in_flight_left > 0 {
        report.warn(format!(
            "{lost} deliveries and {in_flight_left} {} missing {:?} after the window",
            names.answers, cfg.drain
        ));
    }
    if tally.unreadable_samples > 0 {
        report.warn(format!(
            "{} sampled messages had no readable send time",
            tally.unreadable_samples
        ));
    }
    let closed = outcome.clients.closed;
    if closed > 0 {
        report.warn(format!("{closed} connections closed during the run"));
    }
    summary::environment(&mut report, meter);
    report
}
