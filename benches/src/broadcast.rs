//! `plezi-load broadcast`: N clients, S of them senders with K broadcasts in flight each (the next one
//! goes out when a `broadcastResult` comes back). Counts deliveries by frame headers on every client and
//! samples latency on every `sample_every`-th client (and the senders), from the send time carried in the
//! payload. The loop, pacing and report are [`crate::fanout_run`]'s.

use std::time::Instant;

use mio::Events;

use crate::args::{BroadcastConfig, Common};
use crate::fanout_run::{self, Clients, Names, Outcome, Phase, Role, STALL, Scenario, Tally};
use crate::pool::{self, Conn};
use crate::report::Report;
use crate::shootout;
use crate::ws;

#[derive(Default)]
struct SenderState {
    in_flight: usize,
}

struct Run<'a> {
    cfg: &'a BroadcastConfig,
    clients: Clients,
    senders: Vec<SenderState>,
    /// The last `listenCount` a `broadcastResult` carried.
    last_listen: u64,
}

/// Runs the scenario and returns its report.
pub fn run(common: &Common, cfg: &BroadcastConfig) -> Result<Report, String> {
    let fanout_run::Setup {
        meter,
        mut poll,
        clients,
        connect_started,
    } = fanout_run::connect(common, cfg)?;
    let connect_time = connect_started.elapsed();
    let mut run = Run {
        cfg,
        clients,
        senders: (0..cfg.senders).map(|_| SenderState::default()).collect(),
        last_listen: 0,
    };
    run.clients.unregister_listeners(&poll)?;
    for i in 0..run.clients.conns.len() {
        let early = std::mem::take(&mut run.clients.conns[i].early);
        run.on_bytes(i, &early)?;
    }
    for s in 0..cfg.senders {
        for _ in 0..cfg.in_flight {
            run.send_broadcast(s)?;
        }
    }

    let mut events = Events::with_capacity(4096);
    let window = fanout_run::drive(&mut run, cfg, &mut poll, &mut events, &meter)?;
    let names = Names {
        scenario: "broadcast",
        messages: "broadcasts",
        answers: "broadcastResults",
    };
    let outcome = Outcome {
        in_flight_left: run.in_flight(),
        connect_time,
        listen_count: Some(run.last_listen),
        clients: run.clients,
    };
    Ok(fanout_run::report(
        &names, common, cfg, &window, outcome, &meter,
    ))
}

impl Scenario for Run<'_> {
    fn clients(&mut self) -> &mut Clients {
        &mut self.clients
    }

    fn on_readable(&mut self, i: usize) -> Result<(), String> {
        let Clients {
            conns,
            roles,
            tally,
            clock,
            buf,
            ..
        } = &mut self.clients;
        let Conn {
            stream, scanner, ..
        } = &mut conns[i];
        let role = roles[i];
        let keep = role != Role::Listener;
        let now_ns = if keep {
            clock.elapsed().as_nanos() as u64
        } else {
            0
        };
        tally.reads += 1;
        let last_listen = &mut self.last_listen;
        let mut results: u32 = 0;
        let mut pong: Option<Vec<u8>> = None;
        let mut closed = false;
        let mut scan_error = None;
        let read = pool::read_available(stream, buf, |bytes| {
            if scan_error.is_some() {
                return;
            }
            tally.wire_bytes += bytes.len() as u64;
            let mut on_frame = |first: u8, payload: &[u8]| {
                on_frame(
                    tally,
                    last_listen,
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
                self.clients.lose(i, &e.to_string());
                return Ok(());
            }
        };
        self.after_frames(i, results, pong, closed || !alive)
    }

    fn in_flight(&self) -> usize {
        self.senders.iter().map(|s| s.in_flight).sum()
    }

    fn stalled(answers: u64) -> String {
        format!(
            "no broadcastResult for {STALL:?} ({answers} results so far); the server stopped answering"
        )
    }
}

impl Run<'_> {
    fn send_broadcast(&mut self, sender: usize) -> Result<(), String> {
        let now = self.clients.now_ns();
        let c = &mut self.clients;
        c.frame.clear();
        shootout::encode_message(
            "broadcast",
            now,
            self.cfg.payload,
            &mut c.text,
            &mut c.frame,
        );
        match c.conns[sender].send(&c.frame) {
            Ok(()) => {
                self.senders[sender].in_flight += 1;
                Ok(())
            }
            Err(e) => Err(format!("sender {sender}: {e}")),
        }
    }

    fn on_bytes(&mut self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let role = self.clients.roles[i];
        let now_ns = self.clients.now_ns();
        let (mut results, mut pong, mut closed) = (0, None, false);
        let Clients { conns, tally, .. } = &mut self.clients;
        let last_listen = &mut self.last_listen;
        conns[i]
            .scanner
            .feed(bytes, role != Role::Listener, &mut |first, payload| {
                on_frame(
                    tally,
                    last_listen,
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
            if let Err(e) = self.clients.conns[i].send(&frame) {
                self.clients.lose(i, &e.to_string());
                return Ok(());
            }
        }
        if closed {
            self.clients.lose(i, "closed by the server");
            return Ok(());
        }
        if results > 0 {
            self.clients.last_answer = Instant::now();
            let sender = &mut self.senders[i];
            sender.in_flight = sender.in_flight.saturating_sub(results as usize);
            if self.clients.phase != Phase::Drain {
                for _ in 0..results {
                    self.send_broadcast(i)?;
                }
            }
        }
        Ok(())
    }
}

/// Handles one complete frame for a client of role `role`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn on_frame(
    tally: &mut Tally,
    last_listen: &mut u64,
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
            Role::Sender | Role::Sampler if first & ws::RSV1 != 0 => {
                // A compressed message: read it inflated (the frame was counted on the wire).
                match ws::message_payload(first, payload) {
                    Some(plain) => on_frame(
                        tally,
                        last_listen,
                        role,
                        now_ns,
                        first & !ws::RSV1,
                        &plain,
                        results,
                        pong,
                        closed,
                    ),
                    None => tally.unreadable_samples += 1,
                }
            }
            Role::Sender if shootout::is_broadcast_result(payload) => {
                *results += 1;
                tally.answers += 1;
                if let Some(n) = shootout::listen_count(payload) {
                    *last_listen = n;
                    tally.expected += n;
                }
            }
            Role::Sender | Role::Sampler => {
                tally.delivered += 1;
                tally.sample(now_ns, shootout::sent_ns(payload));
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
    use crate::report::Value;

    /// Runs `broadcast` with `args`, this process as the measured server.
    fn run_args(args: &str) -> Result<Report, String> {
        let argv: Vec<String> = format!("broadcast {args} --server-pid {}", std::process::id())
            .split_whitespace()
            .map(String::from)
            .collect();
        let Ok(Command::Broadcast(common, cfg)) = parse(&argv) else {
            panic!("args: {args}")
        };
        run(&common, &cfg)
    }

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
            let report = run_args(&format!(
                "--url {url} --clients 40 --senders 2 --in-flight 2 --duration 0.6 --warmup 0.2 \
                 --sample-every 4 --listener-read-ms {listener_read}"
            ))
            .expect("run");
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

    #[test]
    fn a_declined_deflate_offer_fails_the_run_and_plain_bytes_are_counted() {
        let url = crate::testserver::start();
        let run_with = |deflate: &str| {
            run_args(&format!(
                "--url {url} --clients 10 --duration 0.4 --warmup 0.1 --payload 600 --deflate {deflate}"
            ))
        };
        // This test server knows no extension: the comparison would be meaningless.
        let err = run_with("on").map(|r| r.human_line()).unwrap_err();
        assert!(err.contains("did not accept permessage-deflate"), "{err}");
        let report = run_with("off").expect("run");
        match report.get("wire_bytes_per_delivery") {
            Some(Value::Num(n, _)) => assert!(*n > 600.0, "{n}"),
            other => panic!("wire_bytes_per_delivery: {other:?}"),
        }
    }
}
