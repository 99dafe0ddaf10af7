//! `plezi-load idle`: the server's resident memory per idle WebSocket connection. Reads the server's
//! VmRSS, opens N connections (spread over 127.0.0.x source addresses), lets them sit, reads VmRSS
//! again: per connection = delta / N. Answers pings while waiting, and reports connections the server
//! dropped.

use std::time::{Duration, Instant};

use mio::{Events, Poll};

use crate::args::{Common, IdleConfig};
use crate::pool::{self, Conn};
use crate::report::{Report, Value};
use crate::usage::Meter;
use crate::{net, summary, ws};

/// Runs the scenario and returns its report.
pub fn run(common: &Common, cfg: &IdleConfig) -> Result<Report, String> {
    let Some(&pid) = common.server_pids.first() else {
        return Err("idle needs --server-pid PID (the server whose memory is measured)".into());
    };
    let meter = Meter::new(&[pid])?;
    net::raise_open_files(cfg.connections as u64 + 64)?;
    let rss_before = meter
        .server_rss()
        .ok_or_else(|| format!("cannot read /proc/{pid}/status"))?;
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let sources = net::source_addresses(&common.targets[0], common.sources);
    let started = Instant::now();
    let mut conns = pool::connect_all(
        &mut poll,
        &common.targets,
        cfg.connections,
        &sources,
        common.connect_timeout,
    )?;
    let connect_time = started.elapsed();
    let mut lost = conns.iter().filter(|c| !c.open).count();
    lost += wait(&mut poll, &mut conns, cfg.settle)?;
    let rss_after = meter
        .server_rss()
        .ok_or_else(|| format!("cannot read /proc/{pid}/status: did the server exit?"))?;
    lost += wait(&mut poll, &mut conns, cfg.hold)?;

    let delta = rss_after as i64 - rss_before as i64;
    let per_conn = delta as f64 / cfg.connections as f64;
    let mut report = Report::new(format!(
        "idle [{}] connections={}",
        common.label, cfg.connections
    ));
    report
        .field("scenario", Value::Str("idle".into()))
        .field("label", Value::Str(common.label.clone()))
        .field("connections", Value::Int(cfg.connections as u64))
        .field("sources", Value::Int(sources.len() as u64))
        .field("connect_s", Value::Num(connect_time.as_secs_f64(), 2))
        .field("rss_before_kib", Value::Int(rss_before / 1024))
        .field("rss_after_kib", Value::Int(rss_after / 1024))
        .field("rss_per_conn_bytes", Value::Num(per_conn, 0))
        .field("rss_per_conn_kib", Value::Num(per_conn / 1024.0, 2))
        .field("lost", Value::Int(lost as u64));
    report.say(format!(
        "server RSS {:.1} MiB -> {:.1} MiB, {:.2} KiB per connection; opened in {:.1} s; lost {lost}",
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0,
        per_conn / 1024.0,
        connect_time.as_secs_f64()
    ));
    if lost > 0 {
        report.warn(format!("the server closed {lost} idle connections"));
    }
    summary::environment(&mut report, &meter);
    Ok(report)
}

/// Keeps the connections for `how_long`, answering pings; returns how many the server closed.
fn wait(poll: &mut Poll, conns: &mut [Conn], how_long: Duration) -> Result<usize, String> {
    let until = Instant::now() + how_long;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16 * 1024];
    let mut lost = 0;
    loop {
        let now = Instant::now();
        if now >= until {
            return Ok(lost);
        }
        poll.poll(&mut events, Some(until - now))
            .map_err(|e| format!("poll: {e}"))?;
        for event in events.iter() {
            let i = event.token().0;
            let conn = &mut conns[i];
            if !conn.open {
                continue;
            }
            let mut gone = event.is_writable() && conn.flush().is_err();
            let mut pongs = Vec::new();
            if !gone && (event.is_readable() || event.is_read_closed() || event.is_error()) {
                let Conn {
                    stream, scanner, ..
                } = &mut *conn;
                let mut bad = false;
                let read = pool::read_available(stream, &mut buf, |bytes| {
                    let r = scanner.feed(bytes, false, &mut |first, payload| match first & 0x0f {
                        ws::OP_PING => pongs.push(payload.to_vec()),
                        ws::OP_CLOSE => gone = true,
                        _ => {}
                    });
                    bad |= r.is_err();
                });
                gone |= bad || !matches!(read, Ok(true));
            }
            for ping in pongs {
                let mut frame = Vec::new();
                ws::encode_masked(ws::OP_PONG, &ping, &mut frame);
                gone |= conn.send(&frame).is_err();
            }
            if gone {
                conn.open = false;
                lost += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, parse};

    #[test]
    fn holds_connections_and_reads_the_server_memory() {
        let url = crate::testserver::start();
        let argv: Vec<String> = format!(
            "idle --url {url} --connections 50 --settle 0.2 --server-pid {}",
            std::process::id()
        )
        .split_whitespace()
        .map(String::from)
        .collect();
        let Ok(Command::Idle(common, cfg)) = parse(&argv) else {
            panic!("args")
        };
        let report = run(&common, &cfg).expect("run");
        assert_eq!(report.get("lost"), Some(&Value::Int(0)));
        assert!(matches!(report.get("rss_after_kib"), Some(Value::Int(n)) if *n > 0));
        assert!(parse(&["idle".to_string()]).is_ok_and(|c| matches!(c, Command::Idle(..))));
    }
}
