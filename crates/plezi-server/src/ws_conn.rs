//! The WebSocket side of a connection: the write path behind [`WebSocket`] (framing, the outbound
//! cap and the slow-consumer policy, starting the close handshake) and the read path (decoded
//! events to handler hooks, ping → pong, the peer's close, protocol errors).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::SlowConsumerPolicy;
use crate::conn_id::ConnId;
use crate::error::WriteError;
use crate::handle::ServerHandle;
use crate::handler::{Filter, Upgrade, WebSocket, WebSocketHandler};
use crate::outbound::OutQueue;
use crate::panic_guard::guard;
use crate::stats::LoopStats;
use crate::ws::extension::Deflate;
use crate::ws::{
    CloseInfo, Data, Decoder, OpCode, SharedFrame, WsEvent, close_frame, empty_close_frame,
    encode_compressed, encode_frame, is_valid_close_code, ping_frame, pong_frame,
};

/// How long to wait for the peer's close frame after ours (and for the end of a failed
/// connection's output) before dropping it.
pub(crate) const CLOSE_WAIT_MS: u32 = 5_000;

/// Limits that apply to every WebSocket connection of a server.
pub(crate) struct WsLimits {
    /// Outbound cap, in bytes.
    pub(crate) max_pending: usize,
    /// What to do when a write would pass the cap.
    pub(crate) policy: SlowConsumerPolicy,
    /// Largest incoming message.
    pub(crate) max_message: usize,
    /// Negotiate permessage-deflate and compress messages of at least this many bytes; `None`:
    /// never negotiate it.
    pub(crate) deflate_threshold: Option<usize>,
}

/// What the clock decided for a WebSocket connection ([`WsConn::on_tick`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WsTimeout {
    /// Nothing to do yet.
    NotYet,
    /// A ping to the idle peer is queued.
    Ping,
    /// The peer did not answer our ping: our close frame is queued; send what the socket takes
    /// now and drop the connection.
    GiveUp,
    /// The close handshake took too long: drop the connection.
    Drop,
}

/// Where a WebSocket connection is in its life. Times are the loop clock, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent {
        /// When our close was queued.
        since: u32,
    },
    /// The close handshake is over (or the connection failed): flush, then end.
    Closed {
        /// When the phase began.
        since: u32,
    },
}

/// Connection state besides the handler and the decoder.
struct WsState {
    phase: Phase,
    /// Why the connection is closing, once that is known.
    info: Option<Box<CloseInfo>>,
    /// When we pinged an idle peer (cleared by any incoming byte).
    ping_sent: Option<u32>,
}

/// The write side of one WebSocket connection, as seen through [`WebSocket`].
pub(crate) struct WsIo<'a> {
    out: &'a mut OutQueue,
    state: &'a mut WsState,
    limits: &'a WsLimits,
    stats: &'a LoopStats,
    now: u32,
    /// The compressor window when permessage-deflate was negotiated (kept by the decoder).
    deflate: Option<u8>,
}

impl WsIo<'_> {
    pub(crate) fn is_open(&self) -> bool {
        self.state.phase == Phase::Open
    }

    pub(crate) fn pending(&self) -> usize {
        self.out.pending()
    }

    /// Checks that a frame of `len` bytes may be queued, applying the slow-consumer policy if not.
    fn admit(&mut self, id: ConnId, peer: SocketAddr, len: usize) -> Result<(), WriteError> {
        if self.state.phase != Phase::Open {
            return Err(WriteError::Closed);
        }
        let pending = self.out.pending();
        // An empty queue takes any single frame: the cap bounds accumulation, not message size.
        if pending == 0 || pending + len <= self.limits.max_pending {
            return Ok(());
        }
        if let SlowConsumerPolicy::Close(code) = self.limits.policy {
            LoopStats::add(&self.stats.slow_consumers_closed, 1);
            log::warn!(
                "plezi: closing slow WebSocket consumer {id} ({peer}) with {code}: {pending} bytes queued, cap {}",
                self.limits.max_pending
            );
            self.out.drop_unstarted();
            self.start_close(code, "slow consumer");
        } else {
            LoopStats::add(&self.stats.slow_consumer_drops, 1);
        }
        Err(WriteError::SlowConsumer)
    }

    pub(crate) fn write_text(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        text: &str,
    ) -> Result<(), WriteError> {
        self.write_message(id, peer, Data::Text, text.as_bytes())
    }

    pub(crate) fn write_binary(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        data: &[u8],
    ) -> Result<(), WriteError> {
        self.write_message(id, peer, Data::Binary, data)
    }

    /// One message for this connection alone, compressed when permessage-deflate was negotiated
    /// and it is at least the threshold.
    fn write_message(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        data: Data,
        payload: &[u8],
    ) -> Result<(), WriteError> {
        self.admit(id, peer, payload.len() + 10)?;
        LoopStats::add(&self.stats.messages_out, 1);
        let opcode = OpCode::Data(data);
        let deflate = self.deflate_bits(payload.len());
        self.out.append_with(|v| {
            let compressed =
                deflate.is_some_and(|bits| encode_compressed(opcode, bits, payload, v));
            if !compressed {
                encode_frame(opcode, true, payload, v);
            }
        });
        Ok(())
    }

    /// The compressor window for a message of `len` bytes, if it is to be compressed.
    fn deflate_bits(&self, len: usize) -> Option<u8> {
        let threshold = self.limits.deflate_threshold?;
        self.deflate.filter(|_| len >= threshold)
    }

    pub(crate) fn write_frame(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        frame: &crate::ws::SharedFrame,
    ) -> Result<(), WriteError> {
        let deflated = match (self.deflate, self.limits.deflate_threshold) {
            (Some(bits), Some(threshold)) => frame.deflated(bits, threshold),
            _ => None,
        };
        match deflated {
            Some(bytes) => {
                self.admit(id, peer, bytes.len())?;
                self.out.push_shared(Arc::clone(bytes));
            }
            None => {
                self.admit(id, peer, frame.as_bytes().len())?;
                self.out.push_frame(frame.clone());
            }
        }
        LoopStats::add(&self.stats.messages_out, 1);
        Ok(())
    }

    /// The application (or the server) closes: queue our close frame, wait for the peer's.
    pub(crate) fn close(&mut self, id: ConnId, code: u16, reason: &str) {
        if self.state.phase != Phase::Open {
            return;
        }
        let code = if is_valid_close_code(code) {
            code
        } else {
            log::warn!("plezi: {id}: close code {code} may not be sent; using 1000 instead");
            1000
        };
        self.start_close(code, reason);
    }

    /// Queues our close frame (bypassing the cap) and records why.
    fn start_close(&mut self, code: u16, reason: &str) {
        self.out.push_owned(close_frame(code, reason));
        self.state.phase = Phase::CloseSent { since: self.now };
        self.state.info = Some(Box::new(CloseInfo {
            code: Some(code),
            reason: reason.to_owned(),
            initiated_by_server: true,
        }));
    }

    /// Fails the connection: our close frame, then no waiting for the peer's.
    pub(crate) fn fail(&mut self, code: u16, reason: &str) {
        if self.state.phase == Phase::Open {
            self.start_close(code, reason);
        }
        self.state.phase = Phase::Closed { since: self.now };
    }
}

/// A connection in WebSocket mode.
pub(crate) struct WsConn {
    handler: Box<dyn WebSocketHandler>,
    decoder: Decoder,
    state: WsState,
    /// The group tag of its upgrade ([`Filter::tag`] selects on it).
    pub(crate) tag: Option<u64>,
}

/// What a hook or loop operation needs besides the connection itself.
pub(crate) struct WsCx<'a> {
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
    pub(crate) server: &'a ServerHandle,
    pub(crate) limits: &'a WsLimits,
    /// The loop's counters.
    pub(crate) stats: &'a LoopStats,
    pub(crate) now: u32,
}

impl WsConn {
    /// A connection after its upgrade; `deflate` is the permessage-deflate offer accepted in the
    /// handshake, if any.
    pub(crate) fn new(upgrade: Upgrade, limits: &WsLimits, deflate: Option<Deflate>) -> WsConn {
        let decoder = Decoder::new(limits.max_message);
        WsConn {
            handler: upgrade.handler,
            decoder: match deflate {
                Some(d) => decoder.with_deflate(d.window_bits),
                None => decoder,
            },
            state: WsState {
                phase: Phase::Open,
                info: None,
                ping_sent: None,
            },
            tag: upgrade.tag,
        }
    }

    /// Runs `hook` with the handler and a [`WebSocket`] view of this connection. A panicking hook
    /// is logged and the connection is failed with 1011.
    pub(crate) fn with_socket(
        &mut self,
        out: &mut OutQueue,
        cx: &WsCx<'_>,
        what: &str,
        hook: impl FnOnce(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
    ) {
        let WsConn {
            handler,
            state,
            decoder,
            ..
        } = self;
        let deflate = decoder.deflate_bits();
        call_hook(handler.as_mut(), out, state, deflate, cx, what, hook);
    }

    /// Feeds received bytes to the decoder and the handler; returns how many were consumed.
    pub(crate) fn on_input(
        &mut self,
        out: &mut OutQueue,
        cx: &WsCx<'_>,
        input: &mut [u8],
    ) -> usize {
        let WsConn {
            handler,
            decoder,
            state,
            ..
        } = self;
        state.ping_sent = None;
        if matches!(state.phase, Phase::Closed { .. }) {
            return input.len();
        }
        let deflate = decoder.deflate_bits();
        let result = decoder.decode(input, &mut |event| match event {
            WsEvent::Message(msg) => {
                LoopStats::add(&cx.stats.messages_in, 1);
                if state.phase == Phase::Open {
                    call_hook(
                        handler.as_mut(),
                        out,
                        state,
                        deflate,
                        cx,
                        "on_message",
                        |h, ws| h.on_message(ws, msg),
                    );
                }
            }
            WsEvent::Ping(payload) => {
                // Pongs count against the cap too: a peer that pings without reading is a slow
                // consumer like any other.
                let mut io = WsIo {
                    out: &mut *out,
                    state: &mut *state,
                    limits: cx.limits,
                    stats: cx.stats,
                    now: cx.now,
                    deflate,
                };
                if io.admit(cx.id, cx.peer, payload.len() + 2).is_ok() {
                    out.push_owned(pong_frame(payload));
                }
            }
            WsEvent::Pong(_) => {}
            WsEvent::Close { code, reason } => on_peer_close(out, state, cx.now, code, reason),
        });
        match result {
            Ok(consumed) => consumed,
            Err(e) => {
                log::debug!("plezi: {} ({}): {e}", cx.id, cx.peer);
                let mut io = WsIo {
                    out,
                    state,
                    limits: cx.limits,
                    stats: cx.stats,
                    now: cx.now,
                    deflate,
                };
                io.fail(e.close_code, e.reason);
                input.len()
            }
        }
    }

    /// True until the close handshake starts (from either side).
    pub(crate) fn is_open(&self) -> bool {
        self.state.phase == Phase::Open
    }

    /// True once the close handshake is over (or the connection failed): flush, then end.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state.phase, Phase::Closed { .. })
    }

    /// Whether a fan-out with `filter` reaches this connection (`id`): it is open and selected.
    pub(crate) fn selected_by(&self, filter: &Filter, id: ConnId) -> bool {
        self.is_open() && filter.matches(id, self.tag)
    }

    /// Queues a frame shared with other connections, under the outbound cap (a broadcast).
    pub(crate) fn write_shared(
        &mut self,
        out: &mut OutQueue,
        cx: &WsCx<'_>,
        frame: &SharedFrame,
    ) -> Result<(), WriteError> {
        let mut io = WsIo {
            out,
            state: &mut self.state,
            limits: cx.limits,
            stats: cx.stats,
            now: cx.now,
            deflate: self.decoder.deflate_bits(),
        };
        io.write_frame(cx.id, cx.peer, frame)
    }

    /// The clock's decision: ping a peer idle for `idle_ms` since `last_active`, give up on one
    /// that did not answer the ping within as long again (close 1001 queued, `on_close` sees
    /// 1006), drop one whose close handshake took longer than [`CLOSE_WAIT_MS`].
    pub(crate) fn on_tick(
        &mut self,
        out: &mut OutQueue,
        now: u32,
        last_active: u32,
        idle_ms: u32,
    ) -> WsTimeout {
        let elapsed = |since: u32, limit: u32| now.wrapping_sub(since) >= limit;
        match self.state.phase {
            Phase::Open => match self.state.ping_sent {
                Some(sent) if elapsed(sent, idle_ms) => {
                    self.state.info = Some(Box::new(CloseInfo {
                        code: Some(1006),
                        reason: "the peer did not answer a ping".to_owned(),
                        initiated_by_server: true,
                    }));
                    out.drop_unstarted();
                    out.push_owned(close_frame(1001, "idle"));
                    WsTimeout::GiveUp
                }
                None if elapsed(last_active, idle_ms) => {
                    out.push_owned(ping_frame(b""));
                    self.state.ping_sent = Some(now);
                    WsTimeout::Ping
                }
                _ => WsTimeout::NotYet,
            },
            Phase::CloseSent { since } | Phase::Closed { since }
                if elapsed(since, CLOSE_WAIT_MS) =>
            {
                WsTimeout::Drop
            }
            Phase::CloseSent { .. } | Phase::Closed { .. } => WsTimeout::NotYet,
        }
    }

    /// The connection ends: runs `on_close` (guarded) with why. `by_server` says who ended it
    /// when no close handshake did.
    pub(crate) fn on_close(&mut self, id: ConnId, by_server: bool) {
        let info = match self.state.info.take() {
            Some(info) => *info,
            None => CloseInfo {
                code: None,
                reason: String::new(),
                initiated_by_server: by_server,
            },
        };
        guard("on_close", || self.handler.on_close(id, &info));
    }
}

/// The peer's close frame: answer it (if we had not closed yet) and end the handshake.
fn on_peer_close(
    out: &mut OutQueue,
    state: &mut WsState,
    now: u32,
    code: Option<u16>,
    reason: &str,
) {
    if state.phase == Phase::Open {
        out.push_owned(match code {
            Some(code) => close_frame(code, ""),
            None => empty_close_frame(),
        });
        state.info = Some(Box::new(CloseInfo {
            code,
            reason: reason.to_owned(),
            initiated_by_server: false,
        }));
    }
    state.phase = Phase::Closed { since: now };
}

fn call_hook(
    handler: &mut dyn WebSocketHandler,
    out: &mut OutQueue,
    state: &mut WsState,
    deflate: Option<u8>,
    cx: &WsCx<'_>,
    what: &str,
    hook: impl FnOnce(&mut dyn WebSocketHandler, &mut WebSocket<'_>),
) {
    let mut ws = WebSocket {
        id: cx.id,
        io: WsIo {
            out,
            state,
            limits: cx.limits,
            stats: cx.stats,
            now: cx.now,
            deflate,
        },
        peer: cx.peer,
        server: cx.server,
    };
    if guard(what, || hook(handler, &mut ws)).is_none() {
        ws.io.fail(1011, "internal server error");
    }
}
