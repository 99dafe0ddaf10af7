//! `plezi-load forced`: the forced-disconnect benchmark. `--clients` clients sit in a room; a sender
//! broadcasts numbered messages at `--rate` per second and a notifier sends numbered identity
//! notifications at `--notify-rate` per second, round robin over the clients' identities. Every
//! `--cut-every` seconds a random `--cut-fraction` of the connected clients is cut with a TCP reset
//! (`SO_LINGER` 0, then close) and reconnects after a backoff with jitter, presenting its last
//! position. Each client counts every broadcast and every one of its notifications: received once,
//! lost, duplicated, out of order; and the time from its reconnect attempt to the end of its recovery.
//!
//! `plezi-load forced-server` runs the plezi side (`server.rs`); Socket.IO's is
//! `benches/peers/socketio/server.js` with `SIO_RECOVERY=1`. `benches/run-forced.sh` runs both.

mod client;
mod server;
mod tally;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use client::{Flags, Outcome, Proto, Read, Shared};
use tally::Totals;

const USAGE: &str = "\
plezi-load forced: the forced-disconnect benchmark (recovery of missed messages).

usage:
  plezi-load forced [--proto plezi|socketio] [--url URL] [--clients 200] [--rate 50]
                    [--notify-rate 50] [--duration 30] [--cut-every 3] [--cut-fraction 0.1]
                    [--backoff-ms 100] [--backoff-max-ms 5000] [--settle 15] [--connect-timeout 60]
                    [--label NAME]
  plezi-load forced-server [--bind 127.0.0.1:3000] [--threads 1]

  --proto          plezi (default URL ws://127.0.0.1:3000/room, the server of `forced-server`) or
                   socketio (ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket,
                   benches/peers/socketio/server.js with SIO_RECOVERY=1)
  --rate           broadcasts per second (one sender, never cut)
  --notify-rate    identity notifications per second (one notifier, never cut), round robin
  --cut-every      seconds between cuts; each cuts --cut-fraction of the clients that are connected
  --backoff-ms     first reconnect delay (doubles per failed attempt up to --backoff-max-ms), ×[0.5,1.5)
  --settle         after the traffic stops, seconds to wait for every client to have everything

Prints a human summary and one JSON line. Exits 1 when anything was lost, duplicated or reordered.";

/// The run's settings.
#[derive(Clone, Debug)]
pub struct Config {
    proto: Proto,
    url: String,
    clients: usize,
    rate: f64,
    notify_rate: f64,
    duration: f64,
    cut_every: f64,
    cut_fraction: f64,
    backoff_ms: u64,
    backoff_max_ms: u64,
    settle: f64,
    connect_timeout: f64,
    label: String,
}

fn parse(argv: &[String]) -> Result<Config, String> {
    let mut cfg = Config {
        proto: Proto::Plezi,
        url: String::new(),
        clients: 200,
        rate: 50.0,
        notify_rate: 50.0,
        duration: 30.0,
        cut_every: 3.0,
        cut_fraction: 0.1,
        backoff_ms: 100,
        backoff_max_ms: 5000,
        settle: 15.0,
        connect_timeout: 60.0,
        label: String::new(),
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        let num = |v: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{flag}: `{v}` is not a non-negative number"))
        };
        match flag.as_str() {
            "--proto" => {
                cfg.proto = match value {
                    "plezi" => Proto::Plezi,
                    "socketio" => Proto::SocketIo,
                    _ => return Err(format!("--proto: `{value}` (plezi or socketio)")),
                }
            }
            "--url" => cfg.url = value.to_owned(),
            "--clients" => cfg.clients = num(value)? as usize,
            "--rate" => cfg.rate = num(value)?,
            "--notify-rate" => cfg.notify_rate = num(value)?,
            "--duration" => cfg.duration = num(value)?,
            "--cut-every" => cfg.cut_every = num(value)?,
            "--cut-fraction" => cfg.cut_fraction = num(value)?.min(1.0),
            "--backoff-ms" => cfg.backoff_ms = num(value)? as u64,
            "--backoff-max-ms" => cfg.backoff_max_ms = num(value)? as u64,
            "--settle" => cfg.settle = num(value)?,
            "--connect-timeout" => cfg.connect_timeout = num(value)?,
            "--label" => cfg.label = value.to_owned(),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if cfg.url.is_empty() {
        cfg.url = match cfg.proto {
            Proto::Plezi => "ws://127.0.0.1:3000/room".into(),
            Proto::SocketIo => "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket".into(),
        };
    }
    if cfg.label.is_empty() {
        cfg.label = match cfg.proto {
            Proto::Plezi => "plezi".into(),
            Proto::SocketIo => "socketio".into(),
        };
    }
    if cfg.clients == 0 || cfg.rate <= 0.0 || cfg.cut_every <= 0.0 {
        return Err("--clients, --rate and --cut-every must be above 0".into());
    }
    Ok(cfg)
}

/// `plezi-load forced …` and `plezi-load forced-server …`; `None` for other commands.
pub fn main(argv: &[String]) -> Option<ExitCode> {
    let (name, rest) = argv.split_first()?;
    if !matches!(name.as_str(), "forced" | "forced-server") {
        return None;
    }
    if rest.iter().any(|a| matches!(a.as_str(), "-h" | "--help")) {
        println!("{USAGE}");
        return Some(ExitCode::SUCCESS);
    }
    if name == "forced-server" {
        return Some(serve(rest));
    }
    let cfg = match parse(rest) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("plezi-load forced: {e}\n\n{USAGE}");
            return Some(ExitCode::from(2));
        }
    };
    Some(match run(&cfg) {
        Ok(report) => {
            println!("{}", report.human());
            println!("{}", report.json);
            if report.clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("plezi-load forced: {e}");
            ExitCode::FAILURE
        }
    })
}

fn serve(argv: &[String]) -> ExitCode {
    let (mut bind, mut threads) = ("127.0.0.1:3000".to_owned(), 1usize);
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--bind" => bind = value,
            "--threads" => threads = value.parse().unwrap_or(1).max(1),
            _ => {
                eprintln!("plezi-load forced-server: unknown option {flag}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let result = server::build(&bind, threads, true).and_then(|(url, server)| {
        println!("plezi forced-server listening on {url}");
        server.run().map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plezi-load forced-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The sender (`notify` false) or the notifier: writes numbered messages at `rate` per second until
/// `stop`; counts each written one in `shared`.
fn traffic(shared: &Shared, notify: bool, rate: f64, stop: &AtomicBool) -> Result<(), String> {
    let mut ws = client::connect(&shared.url)?;
    if shared.proto == Proto::SocketIo {
        client::send(&mut ws, "40".into())?;
        // Wait for the namespace's answer before emitting.
        loop {
            match client::read(&mut ws) {
                Read::Text(t) if t.starts_with("40") => break,
                Read::Closed(why) => return Err(why),
                _ => {}
            }
        }
    }
    let clients = shared.sent_notices.len();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let due = start + interval.mul_f64(i as f64);
        // Read (and answer pings) until the next message is due.
        while Instant::now() < due {
            match client::read(&mut ws) {
                Read::Text(t) if t == "2" => client::send(&mut ws, "3".into())?,
                Read::Closed(why) => return Err(why),
                _ => {}
            }
        }
        let (text, counter) = if notify {
            let to = i as usize % clients;
            let k = shared.sent_notices[to].load(Ordering::Relaxed);
            let data = json!({"user": format!("u{to}"), "k": k});
            shared.notice_times[to].lock().push(shared.now());
            (
                event(shared.proto, "notify", data),
                &shared.sent_notices[to],
            )
        } else {
            let n = shared.sent_says.load(Ordering::Relaxed);
            (
                event(shared.proto, "say", json!({"n": n})),
                &shared.sent_says,
            )
        };
        client::send(&mut ws, text)?;
        counter.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    // Let the last messages reach the server before closing.
    let _ = ws.close(None);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Read::Closed(_) = client::read(&mut ws) {
            break;
        }
    }
    Ok(())
}

fn event(proto: Proto, name: &str, mut data: Value) -> String {
    match proto {
        Proto::Plezi => {
            data["event"] = name.into();
            data.to_string()
        }
        Proto::SocketIo => format!("42{}", json!([name, data])),
    }
}

/// The run's result.
pub struct Report {
    says: Totals,
    notices: Totals,
    json: Value,
    lines: Vec<String>,
}

impl Report {
    fn clean(&self) -> bool {
        [self.says, self.notices]
            .iter()
            .all(|t| t.lost() == 0 && t.duplicates == 0 && t.reordered == 0 && t.unexpected == 0)
    }

    fn human(&self) -> String {
        self.lines.join("\n")
    }
}

fn percentile(sorted: &[u64], p: usize) -> Option<f64> {
    let i = (sorted.len() * p / 100).min(sorted.len().checked_sub(1)?);
    Some(sorted[i] as f64 / 1e6)
}

/// Runs the scenario against a running server.
pub fn run(cfg: &Config) -> Result<Report, String> {
    crate::net::raise_open_files(cfg.clients as u64 + 64)?;
    let shared = Arc::new(Shared {
        url: cfg.url.clone(),
        proto: cfg.proto,
        sent_says: AtomicU64::new(0),
        sent_notices: (0..cfg.clients).map(|_| AtomicU64::new(0)).collect(),
        settle: AtomicBool::new(false),
        give_up: AtomicBool::new(false),
        backoff_ms: cfg.backoff_ms,
        backoff_max_ms: cfg.backoff_max_ms,
        epoch: Instant::now(),
        notice_times: (0..cfg.clients).map(|_| Default::default()).collect(),
    });
    let flags: Vec<Arc<Flags>> = (0..cfg.clients).map(|_| Arc::default()).collect();
    let clients: Vec<thread::JoinHandle<Outcome>> = flags
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (shared, f) = (shared.clone(), f.clone());
            thread::Builder::new()
                .name(format!("client-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || client::run(i, shared, f))
                .map_err(|e| format!("cannot start a client thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    // Everyone registered before the traffic starts: each client expects every message.
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.connect_timeout);
    while !flags.iter().all(|f| f.ready.load(Ordering::Relaxed)) {
        if Instant::now() > deadline {
            shared.give_up.store(true, Ordering::Relaxed);
            let ready = flags
                .iter()
                .filter(|f| f.ready.load(Ordering::Relaxed))
                .count();
            for c in clients {
                let _ = c.join();
            }
            return Err(format!(
                "only {ready} of {} clients connected within {} s",
                cfg.clients, cfg.connect_timeout
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let spawn_traffic = |notify: bool, rate: f64| {
        let (shared, stop) = (shared.clone(), stop.clone());
        thread::spawn(move || {
            if rate > 0.0 {
                traffic(&shared, notify, rate, &stop)
            } else {
                Ok(())
            }
        })
    };
    let sender = spawn_traffic(false, cfg.rate);
    let notifier = spawn_traffic(true, cfg.notify_rate);
    // The cuts.
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(cfg.duration);
    let mut next_cut = start + Duration::from_secs_f64(cfg.cut_every);
    let mut cut_rounds = 0u64;
    while Instant::now() < end {
        if Instant::now() >= next_cut {
            cut_rounds += 1;
            for f in &flags {
                if f.up.load(Ordering::Relaxed) && rand::random::<f64>() < cfg.cut_fraction {
                    f.cut.store(true, Ordering::Relaxed);
                }
            }
            next_cut += Duration::from_secs_f64(cfg.cut_every);
        }
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let mut warnings = Vec::new();
    for (name, t) in [("sender", sender), ("notifier", notifier)] {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warnings.push(format!("the {name} stopped early: {e}")),
            Err(_) => warnings.push(format!("the {name} panicked")),
        }
    }
    let traffic_s = start.elapsed().as_secs_f64();
    shared.settle.store(true, Ordering::Relaxed);
    let settle_start = Instant::now();
    let settle_end = settle_start + Duration::from_secs_f64(cfg.settle);
    while clients.iter().any(|c| !c.is_finished()) && Instant::now() < settle_end {
        thread::sleep(Duration::from_millis(10));
    }
    let unsettled = clients.iter().filter(|c| !c.is_finished()).count();
    shared.give_up.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = clients
        .into_iter()
        .map(|c| c.join().unwrap_or_default())
        .collect();
    let sent_says = shared.sent_says.load(Ordering::Relaxed);
    Ok(summarize(
        cfg, &shared, outcomes, sent_says, traffic_s, cut_rounds, unsettled, warnings,
    ))
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    cfg: &Config,
    shared: &Shared,
    outcomes: Vec<Outcome>,
    sent_says: u64,
    traffic_s: f64,
    cut_rounds: u64,
    unsettled: usize,
    mut warnings: Vec<String>,
) -> Report {
    let (mut says, mut notices) = (Totals::default(), Totals::default());
    let mut latencies = Vec::new();
    let sum = |f: fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let mut examples = Vec::new();
    let mut lost_notices = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let sent_notices = shared.sent_notices[i].load(Ordering::Relaxed);
        says.add(&o.says, sent_says);
        notices.add(&o.notices, sent_notices);
        latencies.extend_from_slice(&o.latencies_ns);
        for k in o.notices.missing(sent_notices, 8) {
            if lost_notices.len() < 20 {
                let sent_at = shared.notice_times[i].lock().get(k as usize).copied();
                lost_notices.push(format!("u{i} #{k}: {}", when(sent_at, &o.outages)));
            }
        }
        if examples.len() < 5 && !(o.says.complete(sent_says) && o.notices.complete(sent_notices)) {
            examples.push(format!(
                "u{i}: missing broadcasts {:?}, notifications {:?} (cuts {}, recovered {}, failed {}, no position {})",
                o.says.missing(sent_says, 8),
                o.notices.missing(sent_notices, 8),
                o.cuts,
                o.recovered,
                o.recovery_failed,
                o.no_position
            ));
        }
        if o.errors > 0
            && warnings.len() < 8
            && let Some(e) = &o.first_error
        {
            warnings.push(format!("u{i}: {e}"));
        }
    }
    latencies.sort_unstable();
    let (p50, p99) = (percentile(&latencies, 50), percentile(&latencies, 99));
    let max = latencies.last().map(|&x| x as f64 / 1e6);
    let cuts = sum(|o| o.cuts);
    let sent_notifications: u64 = shared
        .sent_notices
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .sum();
    let totals_json = |t: &Totals| {
        json!({"expected": t.expected, "delivered": t.delivered, "lost": t.lost(),
               "duplicates": t.duplicates, "reordered": t.reordered, "unexpected": t.unexpected,
               "ratio": t.ratio()})
    };
    let json = json!({
        "label": cfg.label, "clients": cfg.clients, "rate": cfg.rate, "notify_rate": cfg.notify_rate,
        "duration_s": traffic_s, "cut_every_s": cfg.cut_every, "cut_fraction": cfg.cut_fraction,
        "backoff_ms": cfg.backoff_ms, "broadcasts_sent": sent_says,
        "notifications_sent": sent_notifications, "cut_rounds": cut_rounds, "cuts": cuts,
        "drops": sum(|o| o.drops), "connect_failures": sum(|o| o.connect_failures),
        "recovered": sum(|o| o.recovered), "recovery_failed": sum(|o| o.recovery_failed),
        "no_position": sum(|o| o.no_position), "errors": sum(|o| o.errors),
        "unreadable": sum(|o| o.unreadable), "redelivered_dropped": sum(|o| o.redelivered),
        "unsettled_clients": unsettled,
        "broadcasts": totals_json(&says), "notifications": totals_json(&notices),
        "recovery_p50_ms": p50, "recovery_p99_ms": p99, "recovery_max_ms": max,
        "recovery_samples": latencies.len(), "examples": examples, "lost_notifications": lost_notices, "warnings": warnings,
    });
    let ms = |x: Option<f64>| x.map_or("–".to_owned(), |v| format!("{v:.1}"));
    let mut lines = vec![
        format!(
            "{}: {} clients, {:.0} s, {} broadcasts and {} notifications sent, {} cuts in {} rounds",
            cfg.label, cfg.clients, traffic_s, sent_says, sent_notifications, cuts, cut_rounds
        ),
        format!(
            "  broadcasts:    {:.4}% delivered ({} of {}), lost {}, duplicates {}, reordered {}",
            says.ratio() * 100.0,
            says.delivered,
            says.expected,
            says.lost(),
            says.duplicates,
            says.reordered
        ),
        format!(
            "  notifications: {:.4}% delivered ({} of {}), lost {}, duplicates {}, reordered {} (redeliveries dropped by id: {})",
            notices.ratio() * 100.0,
            notices.delivered,
            notices.expected,
            notices.lost(),
            notices.duplicates,
            notices.reordered,
            sum(|o| o.redelivered)
        ),
        format!(
            "  recoveries: {} ok, {} failed, {} without a position; reconnect→recovered p50 {} ms, p99 {} ms, max {} ms",
            sum(|o| o.recovered),
            sum(|o| o.recovery_failed),
            sum(|o| o.no_position),
            ms(p50),
            ms(p99),
            ms(max)
        ),
    ];
    lines.extend(examples.iter().map(|e| format!("  {e}")));
    lines.extend(
        lost_notices
            .iter()
            .map(|e| format!("  lost notification {e}")),
    );
    lines.extend(
        json["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| format!("  warning: {w}")),
    );
    if unsettled > 0 {
        lines.push(format!(
            "  {unsettled} clients still lacked messages after --settle"
        ));
    }
    Report {
        says,
        notices,
        json,
        lines,
    }
}

/// When a lost notification was written, relative to its client's outages (cut → registered again).
fn when(sent_at: Option<u64>, outages: &[(u64, u64)]) -> String {
    let Some(t) = sent_at else {
        return "never written".into();
    };
    let ms = |ns: u64| ns as f64 / 1e6;
    if let Some((cut, back)) = outages.iter().find(|(cut, back)| t >= *cut && t < *back) {
        if *back == u64::MAX {
            return format!("written {:.1} ms after a cut, never back", ms(t - cut));
        }
        return format!(
            "written during an outage ({:.1} ms after the cut, {:.1} ms before the reconnect registered)",
            ms(t - cut),
            ms(back.saturating_sub(t))
        );
    }
    match outages.iter().find(|(cut, _)| *cut > t) {
        Some((cut, _)) => format!("written {:.1} ms before a cut", ms(cut - t)),
        None => "written while connected, no cut after it".into(),
    }
}

#[cfg(test)]
mod end_to_end;

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn a_lost_notification_is_placed_against_the_outages() {
        let outages = [(10_000_000, 30_000_000), (50_000_000, u64::MAX)];
        assert_eq!(
            when(Some(9_000_000), &outages),
            "written 1.0 ms before a cut"
        );
        assert!(when(Some(20_000_000), &outages).starts_with("written during an outage (10.0 ms"));
        assert!(when(Some(60_000_000), &outages).ends_with("never back"));
        assert_eq!(
            when(Some(40_000_000), &outages[..1]),
            "written while connected, no cut after it"
        );
        assert_eq!(when(None, &outages), "never written");
    }
}
