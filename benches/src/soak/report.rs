//! The measuring threads (RSS samples, `GET /` probes) and the report.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{RUN, STOP, Shared, nap};

/// Samples the server's RSS every 2 s until the stop.
pub fn sample_rss(shared: &Shared) {
    let Some(pid) = shared.cfg.server_pid else {
        return;
    };
    while shared.phase() != STOP {
        if let Some(rss) = rss_of(pid) {
            shared.rss.lock().push((shared.secs(), rss));
        }
        nap(shared, Duration::from_secs(2), super::DRAIN);
    }
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// `GET /` ten times a second on a fresh connection; latency from connect to the whole answer.
pub fn probe(shared: &Shared) {
    // Nothing between connect and the answer allocates: this thread runs at real-time priority
    // while thousands of the tool's client threads run in SCHED_IDLE, and a malloc arena lock
    // held by one of them (preempted by the server) would stall the probe for up to seconds
    // without the server being slow.
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        shared.host()
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut next = Instant::now();
    while shared.phase() == RUN {
        let started = Instant::now();
        let timeout = Duration::from_secs(5);
        let mut connected = None;
        let r = shared.tcp(timeout).and_then(|mut s| {
            connected = Some(started.elapsed());
            s.write_all(request.as_bytes())?;
            read_status_to_end(&mut s, &mut buf)
        });
        let took = started.elapsed();
        let ok = matches!(r, Ok(200));
        let connect = connected.unwrap_or(took);
        shared
            .probes
            .lock()
            .push((shared.secs(), took, ok, connect));
        next += Duration::from_millis(100);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// Reads a `Connection: close` answer to its end into `buf` (without allocating) and returns its
/// status code.
fn read_status_to_end(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<u16> {
    let mut len = 0;
    loop {
        if len == buf.len() {
            len = 16; // keep the status line, drop the body's bytes
        }
        let n = s.read(&mut buf[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    // "HTTP/1.1 200 ..."
    let status = buf[..len.min(16)]
        .get(9..12)
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    Ok(status)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// The one-line progress report.
pub fn progress(shared: &Shared) -> String {
    let probes = shared.probes.lock();
    let since = shared.secs() - 60.0;
    let mut last: Vec<Duration> = probes
        .iter()
        .filter(|p| p.0 >= since)
        .map(|p| p.1)
        .collect();
    drop(probes);
    last.sort();
    let rss = shared.rss.lock().last().map_or(0, |r| r.1);
    format!(
        "soak {:>5.1} min: RSS {:.1} MiB, GET / p99 {:.1} ms (last minute), users online {}, \
         notifications accepted {} delivered {}, ws opened {}",
        shared.secs() / 60.0,
        mib(rss),
        ms(percentile(&last, 0.99)),
        shared.users_online.load(Ordering::Relaxed),
        shared.accepted.lock().len(),
        shared.delivered.lock().len(),
        shared.ws_opened.load(Ordering::Relaxed),
    )
}

/// Prints the report; whether every check held.
pub fn finish(
    shared: &Shared,
    run_secs: f64,
    drained_after: f64,
    usage: &crate::usage::Usage,
    load: &str,
) -> bool {
    let cfg = &shared.cfg;
    let mut ok = true;
    let mut json = Vec::new();
    println!("== plezi soak report ==");
    println!(
        "run: {:.1} min against {}, {} connections ({} logged-in users), {} notifiers at {}/s, chat {}/s, \
         abuse {}; drain {:.1} s",
        run_secs / 60.0,
        cfg.target.addr,
        cfg.connections,
        cfg.users,
        cfg.notifiers,
        cfg.notify_rate,
        cfg.chat_rate,
        if cfg.abuse { "on" } else { "off" },
        drained_after
    );

    // CPU: the machine is shared with the tool, so say who used it.
    println!(
        "CPU during the run: server {}, plezi-load {:.0}% of a core; load average at the end {load}",
        usage
            .server_share()
            .map_or("not measured".to_owned(), |s| format!(
                "{:.0}% of a core",
                s * 100.0
            )),
        usage.own_share() * 100.0
    );
    json.push(format!(
        "\"server_cpu_pct\":{:.1},\"tool_cpu_pct\":{:.1}",
        usage.server_share().unwrap_or(0.0) * 100.0,
        usage.own_share() * 100.0
    ));

    // RSS.
    let warmup = (run_secs / 5.0).min(120.0);
    let rss = shared.rss.lock().clone();
    let during: Vec<(f64, u64)> = rss.iter().copied().filter(|r| r.0 <= run_secs).collect();
    let after_warmup = during.iter().find(|r| r.0 >= warmup).copied();
    let end = during.last().copied();
    let peak = during
        .iter()
        .filter(|r| r.0 >= warmup)
        .map(|r| r.1)
        .max()
        .unwrap_or(0);
    match (after_warmup, end) {
        (Some(w), Some(e)) => {
            let growth = e.1 as f64 - w.1 as f64;
            // Flat: the end within 10 % + 16 MiB of the reading after warm-up.
            let flat = growth <= w.1 as f64 * 0.10 + 16.0 * 1024.0 * 1024.0;
            ok &= flat;
            println!(
                "RSS: {:.1} MiB after warm-up ({:.0} s), {:.1} MiB at the end, peak {:.1} MiB, first {:.1} MiB: {}",
                mib(w.1),
                w.0,
                mib(e.1),
                mib(peak),
                mib(rss.first().map_or(0, |r| r.1)),
                if flat { "flat" } else { "GROWING" }
            );
            json.push(format!(
                "\"rss_warm_mib\":{:.1},\"rss_end_mib\":{:.1},\"rss_peak_mib\":{:.1},\"rss_flat\":{flat}",
                mib(w.1),
                mib(e.1),
                mib(peak)
            ));
        }
        _ => println!("RSS: not measured (pass --server-pid)"),
    }

    // Notifications.
    let accepted = shared.accepted.lock().clone();
    let delivered = shared.delivered.lock().clone();
    let refused = shared.refused.lock().clone();
    let got = accepted
        .keys()
        .filter(|n| delivered.contains_key(n))
        .count();
    let lost = accepted.len() - got;
    let duplicated: u64 = delivered
        .values()
        .filter(|&&c| c > 1)
        .map(|&c| u64::from(c - 1))
        .sum();
    let unconfirmed = delivered
        .keys()
        .filter(|n| !accepted.contains_key(n))
        .count();
    let mut missing: Vec<(u64, &String)> = accepted
        .iter()
        .filter(|(n, _)| !delivered.contains_key(n))
        .map(|(n, u)| (*n, u))
        .collect();
    missing.sort();
    let refused_total: u64 = refused.values().sum();
    ok &= lost == 0 && duplicated == 0;
    println!(
        "notifications: {} accepted, {} delivered, {} duplicated, {} lost; {} refused {:?}; {} delivered \
         whose answer the sender missed",
        accepted.len(),
        got,
        duplicated,
        lost,
        refused_total,
        refused,
        unconfirmed
    );
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .take(10)
            .map(|(n, u)| format!("#{n} for {u}"))
            .collect();
        println!("lost notifications (first 10): {}", list.join(", "));
    }
    json.push(format!(
        "\"notify_accepted\":{},\"notify_delivered\":{got},\"notify_duplicated\":{duplicated},\
         \"notify_lost\":{lost},\"notify_refused\":{refused_total}",
        accepted.len()
    ));

    // Chat and connections.
    let failed = shared.ws_failed.lock().clone();
    println!(
        "chat: {} sent, {} delivered; WebSocket connections opened {}, failures {:?}",
        shared.chat_sent.load(Ordering::Relaxed),
        shared.chat_received.load(Ordering::Relaxed),
        shared.ws_opened.load(Ordering::Relaxed),
        failed
    );
    json.push(format!(
        "\"chat_sent\":{},\"chat_delivered\":{},\"ws_opened\":{}",
        shared.chat_sent.load(Ordering::Relaxed),
        shared.chat_received.load(Ordering::Relaxed),
        shared.ws_opened.load(Ordering::Relaxed)
    ));

    // GET / latency, overall and per minute.
    let probes = shared.probes.lock().clone();
    let mut all: Vec<Duration> = probes.iter().map(|p| p.1).collect();
    all.sort();
    let failures = probes.iter().filter(|p| !p.2).count();
    let minutes = (run_secs / 60.0).ceil().max(1.0) as usize;
    let mut worst_minute = Duration::ZERO;
    for m in 0..minutes {
        let mut v: Vec<Duration> = probes
            .iter()
            .filter(|p| p.0 >= m as f64 * 60.0 && p.0 < (m + 1) as f64 * 60.0)
            .map(|p| p.1)
            .collect();
        v.sort();
        worst_minute = worst_minute.max(percentile(&v, 0.99));
    }
    let p99 = percentile(&all, 0.99);
    let within = worst_minute <= cfg.max_p99 && failures == 0;
    ok &= within;
    println!(
        "GET /: {} probes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, worst minute p99 {:.1} ms, {} failed: {}",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(p99),
        ms(all.last().copied().unwrap_or_default()),
        ms(worst_minute),
        failures,
        if within {
            format!("within {:.0} ms", ms(cfg.max_p99))
        } else {
            format!("OVER {:.0} ms (or failed)", ms(cfg.max_p99))
        }
    );
    let mut slowest: Vec<&(f64, Duration, bool, Duration)> = probes.iter().collect();
    slowest.sort_by_key(|p| std::cmp::Reverse(p.1));
    let slowest: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|p| {
            format!(
                "{:.1} ms (connect {:.1} ms) at {:.0} s",
                ms(p.1),
                ms(p.3),
                p.0
            )
        })
        .collect();
    println!("GET / slowest probes: {}", slowest.join(", "));
    json.push(format!(
        "\"get_p50_ms\":{:.2},\"get_p99_ms\":{:.2},\"get_max_ms\":{:.2},\"get_worst_minute_p99_ms\":{:.2},\
         \"get_failed\":{failures}",
        ms(percentile(&all, 0.5)),
        ms(p99),
        ms(all.last().copied().unwrap_or_default()),
        ms(worst_minute)
    ));

    // Abuse.
    let abuse = shared.abuse.lock().clone();
    if !abuse.is_empty() {
        println!("abusive requests and the answers they got:");
        let mut kind = "";
        for ((k, answer), n) in &abuse {
            if k != kind {
                println!("  {k}:");
                kind = k;
            }
            println!("    {answer}: {n}");
        }
    }
    println!(
        "verdict: {}",
        if ok { "every check held" } else { "FAILED" }
    );
    println!("{{\"scenario\":\"soak\",{},\"ok\":{ok}}}", json.join(","));
    ok
}
