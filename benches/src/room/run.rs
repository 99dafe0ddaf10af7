//! The load loop of `plezi-load chat`/`socketio`: connect, say hello, keep every sender's messages in
//! flight, count deliveries (listeners in sweeps), sample latency, and report. The loop, pacing and
//! report are [`crate::fanout_run`]'s; this module holds the hello and the chat protocol's frames.

use std::time::Instant;

use mio::{Events, Poll};

use super::{Frame, Protocol, sent_ns};
use crate::args::{BroadcastConfig, Common};
use crate::fanout_run::{self, Clients, Names, Outcome, Phase, Role, STALL, Scenario, Tally};
use crate::pool::{self, Conn};
use crate::report::Report;
use crate::ws;

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
    clients: Clients,
    in_flight: Vec<usize>,
    ready: Vec<bool>,
    protocol: std::marker::PhantomData<P>,
}

/// Runs the chat scenario with protocol `P` and returns its report.
pub fn run<P: Protocol>(common: &Common, cfg: &BroadcastConfig) -> Result<Report, String> {
    let fanout_run::Setup {
        meter,
        mut poll,
        clients,
        connect_started,
    } = fanout_run::connect(common, cfg)?;
    let mut run: Run<'_, P> = Run {
        cfg,
        clients,
        in_flight: vec![0; cfg.senders],
        ready: vec![!P::NEEDS_READY; cfg.clients],
        protocol: std::marker::PhantomData,
    };
    let mut events = Events::with_capacity(4096);
    run.say_hello(
        &mut poll,
        &mut events,
        connect_started + common.connect_timeout,
    )?;
    let connect_time = connect_started.elapsed();
    run.clients.unregister_listeners(&poll)?;
    for s in 0..cfg.senders {
        for _ in 0..cfg.in_flight {
            run.send_chat(s)?;
        }
    }

    run.clients.last_answer = Instant::now();
    let window = fanout_run::drive(&mut run, cfg, &mut poll, &mut events, &meter)?;
    let names = Names {
        scenario: P::NAME,
        messages: "chat messages",
        answers: "answers",
    };
    let outcome = Outcome {
        in_flight_left: run.in_flight(),
        connect_time,
        listen_count: None,
        clients: run.clients,
    };
    Ok(fanout_run::report(
        &names, common, cfg, &window, outcome, &meter,
    ))
}

impl<P: Protocol> Scenario for Run<'_, P> {
    fn clients(&mut self) -> &mut Clients {
        &mut self.clients
    }

    fn on_readable(&mut self, i: usize) -> Result<(), String> {
        let keep = self.keeps_data(i);
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
        let now_ns = if role != Role::Listener {
            clock.elapsed().as_nanos() as u64
        } else {
            0
        };
        tally.reads += 1;
        let mut wants = Wants::default();
        let mut scan_error = None;
        let read = pool::read_available(stream, buf, |bytes| {
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
                self.clients.lose(i, &e.to_string());
                return Ok(());
            }
        }
        self.after_frames(i, wants)
    }

    fn in_flight(&self) -> usize {
        self.in_flight.iter().sum()
    }

    fn stalled(answers: u64) -> String {
        format!(
            "no sender was answered for {STALL:?} ({answers} answers so far); the server stopped answering"
        )
    }
}

impl<P: Protocol> Run<'_, P> {
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
        for i in 0..self.clients.conns.len() {
            let early = std::mem::take(&mut self.clients.conns[i].early);
            self.on_bytes(i, &early)?;
            if !hello.is_empty() {
                self.clients.conns[i]
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
                    self.clients.conns.len(),
                    P::NAME
                ));
            }
            if self.clients.closed > 0 {
                return Err("the server closed connections before the run".into());
            }
            poll.poll(events, Some(deadline - now))
                .map_err(|e| format!("poll: {e}"))?;
            for event in events.iter() {
                let i = event.token().0;
                if self.clients.conns[i].open && (event.is_readable() || event.is_read_closed()) {
                    self.on_readable(i)?;
                }
                if event.is_writable() {
                    self.clients.conns[i]
                        .flush()
                        .map_err(|e| format!("connection {i}: {e}"))?;
                }
            }
        }
    }

    fn send_chat(&mut self, sender: usize) -> Result<(), String> {
        let now = self.clients.now_ns();
        let c = &mut self.clients;
        c.frame.clear();
        P::encode_chat(now, self.cfg.payload, &mut c.text, &mut c.frame);
        match c.conns[sender].send(&c.frame) {
            Ok(()) => {
                self.in_flight[sender] += 1;
                Ok(())
            }
            Err(e) => Err(format!("sender {sender}: {e}")),
        }
    }

    fn keeps_data(&self, i: usize) -> bool {
        self.clients.roles[i] != Role::Listener || P::LISTENERS_READ_DATA || !self.ready[i]
    }

    fn on_bytes(&mut self, i: usize, bytes: &[u8]) -> Result<(), String> {
        let role = self.clients.roles[i];
        let keep = self.keeps_data(i);
        let now_ns = self.clients.now_ns();
        let mut wants = Wants::default();
        let Clients { conns, tally, .. } = &mut self.clients;
        conns[i]
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
            && let Err(e) = self.clients.conns[i].send(&reply)
        {
            self.clients.lose(i, &e.to_string());
            return Ok(());
        }
        if wants.closed {
            self.clients.lose(i, "closed by the server");
            return Ok(());
        }
        if wants.ready {
            self.ready[i] = true;
        }
        if wants.done > 0 && i < self.in_flight.len() {
            self.clients.last_answer = Instant::now();
            let expected = (self.cfg.clients as u64 - 1) * u64::from(wants.done);
            self.clients.tally.expected += expected;
            self.in_flight[i] = self.in_flight[i].saturating_sub(wants.done as usize);
            if self.clients.phase != Phase::Drain {
                for _ in 0..wants.done {
                    self.send_chat(i)?;
                }
            }
        }
        Ok(())
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
                    tally.sample(now_ns, sent_ns(payload));
                }
                Frame::Done if role == Role::Sender => {
                    wants.done += 1;
                    tally.answers += 1;
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
