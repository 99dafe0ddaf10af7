//! `plezi-load echo`: N clients, each with one echo in flight: the next `{"type":"echo",...}` goes out
//! as soon as the previous answer arrives. Counts round trips and measures each one's latency; every
//! `sample_every`-th client also checks that the answer is exactly what it sent.

use std::time::{Duration, Instant};

use mio::{Events, Poll};

use crate::args::{Common, EchoConfig};
use crate::pace::Pacer;
use crate::pool::{self, Conn};
use crate::report::{Latencies, Report, Value};
use crate::usage::Meter;
use crate::{net, shootout, summary, ws};

/// How long the run may go without any answer before it gives up.
const STALL: Duration = Duration::from_secs(10);

struct Client {
    sent_ns: u64,
    waiting: bool,
    checks: bool,
    sent_text: Vec<u8>,
}

/// Runs the scenario and returns its report.
pub fn run(common: &Common, cfg: &EchoConfig) -> Result<Report, String> {
    let meter = Meter::new(&common.server_pids)?;
    net::raise_open_files(cfg.clients as u64 + 64)?;
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let sources = net::source_addresses(&common.targets[0], common.sources);
    let mut conns = pool::connect_all(
        &mut poll,
        &common.targets,
        cfg.clients,
        &sources,
        common.connect_timeout,
    )?;
    let mut clients: Vec<Client> = (0..cfg.clients)
        .map(|i| Client {
            sent_ns: 0,
            waiting: false,
            checks: i.is_multiple_of(cfg.sample_every),
            sent_text: Vec::new(),
        })
        .collect();
    let clock = Instant::now();
    let now_ns = || clock.elapsed().as_nanos() as u64;
    let (mut text, mut frame) = (Vec::new(), Vec::new());
    let send = |conn: &mut Conn, client: &mut Client, text: &mut Vec<u8>, frame: &mut Vec<u8>| {
        client.sent_ns = now_ns();
        frame.clear();
        shootout::encode_message("echo", client.sent_ns, cfg.payload, text, frame);
        if client.checks {
            client.sent_text.clone_from(text);
        }
        client.waiting = true;
        conn.send(frame)
    };
    for (i, (conn, client)) in conns.iter_mut().zip(clients.iter_mut()).enumerate() {
        if !conn.early.is_empty() {
            return Err(format!(
                "connection {i}: the server sent frames before any request"
            ));
        }
        send(conn, client, &mut text, &mut frame).map_err(|e| format!("connection {i}: {e}"))?;
    }

    let mut events = Events::with_capacity(4096);
    let mut pacer = Pacer::new(cfg.batch);
    let mut buf = vec![0u8; 256 * 1024];
    let started = Instant::now();
    let measure_at = started + cfg.warmup;
    let drain_at = measure_at + cfg.duration;
    let give_up_at = drain_at + cfg.drain;
    let (mut before, mut after) = (None, None);
    let (mut done, mut done0, mut done1) = (0u64, 0u64, 0u64);
    let mut measuring = false;
    let mut sending = true;
    let mut latencies = Latencies::default();
    let mut mismatches = 0u64;
    let mut closed = 0usize;
    let mut last_answer = Instant::now();
    loop {
        let now = Instant::now();
        if before.is_none() && now >= measure_at {
            before = Some(meter.snapshot());
            done0 = done;
            measuring = true;
        }
        if measuring && now >= drain_at {
            after = Some(meter.snapshot());
            done1 = done;
            measuring = false;
            sending = false;
        }
        if !sending && (clients.iter().all(|c| !c.waiting) || now >= give_up_at) {
            break;
        }
        if sending && now - last_answer > STALL {
            return Err(format!(
                "no echo answer for {STALL:?}; the server stopped answering"
            ));
        }
        if closed == conns.len() {
            return Err("the server closed every connection".into());
        }
        let next = if before.is_none() {
            measure_at
        } else if sending {
            drain_at
        } else {
            give_up_at
        };
        pacer
            .poll(
                &mut poll,
                &mut events,
                next.saturating_duration_since(now)
                    .min(Duration::from_millis(100)),
            )
            .map_err(|e| format!("poll: {e}"))?;
        for event in events.iter() {
            let i = event.token().0;
            let (conn, client) = (&mut conns[i], &mut clients[i]);
            if !conn.open {
                continue;
            }
            let mut lost = event.is_writable() && conn.flush().is_err();
            let mut answers = 0u32;
            let mut pong = None;
            if !lost && (event.is_readable() || event.is_read_closed() || event.is_error()) {
                let Conn {
                    stream, scanner, ..
                } = conn;
                let checks = client.checks;
                let sent_text = &client.sent_text;
                let mut scan_error = None;
                let read = pool::read_available(stream, &mut buf, |bytes| {
                    let result =
                        scanner.feed(bytes, checks, &mut |first, payload| match first & 0x0f {
                            0..=2 if first & 0x80 != 0 => {
                                answers += 1;
                                if checks && payload != sent_text.as_slice() {
                                    mismatches += 1;
                                }
                            }
                            ws::OP_PING => pong = Some(payload.to_vec()),
                            ws::OP_CLOSE => lost = true,
                            _ => {}
                        });
                    if let Err(e) = result {
                        scan_error.get_or_insert(e);
                    }
                });
                if let Some(e) = scan_error {
                    return Err(format!("connection {i}: {e}"));
                }
                lost |= !matches!(read, Ok(true));
            }
            if let Some(ping) = pong {
                let mut f = Vec::new();
                ws::encode_masked(ws::OP_PONG, &ping, &mut f);
                lost |= conn.send(&f).is_err();
            }
            if answers > 0 && client.waiting {
                let now_ns = clock.elapsed().as_nanos() as u64;
                done += 1;
                last_answer = Instant::now();
                if measuring {
                    latencies.push(now_ns.saturating_sub(client.sent_ns));
                }
                client.waiting = false;
                if answers > 1 {
                    return Err(format!("connection {i}: {answers} answers to one echo"));
                }
                if sending && !lost {
                    lost |= send(conn, client, &mut text, &mut frame).is_err();
                }
            }
            if lost {
                conn.open = false;
                client.waiting = false;
                closed += 1;
                if closed == 1 {
                    eprintln!("plezi-load: connection {i} lost");
                }
            }
        }
    }

    let (Some(before), Some(after)) = (before, after) else {
        return Err("the run ended before its measurement window".into());
    };
    let usage = meter.between(&before, &after);
    let round_trips = done1 - done0;
    let secs = usage.wall.as_secs_f64();
    let mut report = Report::new(format!(
        "echo [{}] clients={} payload={}",
        common.label, cfg.clients, cfg.payload
    ));
    report
        .field("scenario", Value::Str("echo".into()))
        .field("label", Value::Str(common.label.clone()))
        .field("clients", Value::Int(cfg.clients as u64))
        .field("payload", Value::Int(cfg.payload as u64))
        .field("batch_us", Value::Int(cfg.batch.as_micros() as u64))
        .field("window_s", Value::Num(secs, 3))
        .field("round_trips", Value::Int(round_trips))
        .field(
            "round_trips_per_s",
            Value::Num(round_trips as f64 / secs, 0),
        )
        .field("mismatches", Value::Int(mismatches));
    report.say(format!("{:.0} round trips/s", round_trips as f64 / secs));
    summary::latency(&mut report, latencies.summary());
    summary::cpu(&mut report, &usage, round_trips, "round trip");
    if mismatches > 0 {
        report.warn(format!(
            "{mismatches} echo answers differed from what was sent"
        ));
    }
    if closed > 0 {
        report.warn(format!("{closed} connections closed during the run"));
    }
    summary::environment(&mut report, &meter);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, parse};

    #[test]
    fn counts_round_trips_and_checks_answers() {
        let url = crate::testserver::start();
        let argv: Vec<String> =
            format!("echo --url {url} --clients 20 --duration 0.5 --warmup 0.2 --sample-every 2")
                .split_whitespace()
                .map(String::from)
                .collect();
        let Ok(Command::Echo(common, cfg)) = parse(&argv) else {
            panic!("args")
        };
        let report = run(&common, &cfg).expect("run");
        assert!(
            matches!(report.get("round_trips"), Some(Value::Int(n)) if *n > 20),
            "{}",
            report.human_line()
        );
        assert_eq!(report.get("mismatches"), Some(&Value::Int(0)));
        assert!(matches!(report.get("latency_samples"), Some(Value::Int(n)) if *n > 0));
    }
}
