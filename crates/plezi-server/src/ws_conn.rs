//! The WebSocket side of a connection: the write path behind [`WebSocket`] (framing, the outbound
//! cap and the slow-consumer policy, starting the close handshake) and the read path (decoded
//! events to handler hooks, ping → pong, the peer's close, protocol errors).

use std::net::SocketAddr;

use crate::config::SlowConsumerPolicy;
use crate::conn_id::ConnId;
use crate::error::WriteError;
use crate::handle::ServerHandle;
use crate::handler::{Upgrade, WebSocket, WebSocketHandler};
use crate::outbound::OutQueue;
use crate::panic_guard::guard;
use crate::ws::{
    CloseInfo, Data, Decoder, OpCode, WsEvent, close_frame, empty_close_frame, encode_frame,
    is_valid_close_code, pong_frame,
};

/// Limits that apply to every WebSocket connection of a server.
pub(crate) struct WsLimits {
    /// Outbound cap, in bytes.
    pub(crate) max_pending: usize,
    /// What to do when a write would pass the cap.
    pub(crate) policy: SlowConsumerPolicy,
    /// Largest incoming message.
    pub(crate) max_message: usize,
}

/// Where a WebSocket connection is in its life. Times are the loop clock, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
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
pub(crate) struct WsState {
    pub(crate) phase: Phase,
    /// Why the connection is closing, once that is known.
    pub(crate) info: Option<Box<CloseInfo>>,
    /// When we pinged an idle peer (cleared by any incoming byte).
    pub(crate) ping_sent: Option<u32>,
}

/// The write side of one WebSocket connection, as seen through [`WebSocket`].
pub(crate) struct WsIo<'a> {
    pub(crate) out: &'a mut OutQueue,
    pub(crate) state: &'a mut WsState,
    pub(crate) limits: &'a WsLimits,
    pub(crate) now: u32,
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
            log::warn!(
                "plezi: closing slow WebSocket consumer {id} ({peer}) with {code}: {pending} bytes queued, cap {}",
                self.limits.max_pending
            );
            self.out.drop_unstarted();
            self.start_close(code, "slow consumer");
        }
        Err(WriteError::SlowConsumer)
    }

    pub(crate) fn write_text(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        text: &str,
    ) -> Result<(), WriteError> {
        self.admit(id, peer, text.len() + 10)?;
        self.out
            .append_with(|v| encode_frame(OpCode::Data(Data::Text), true, text.as_bytes(), v));
        Ok(())
    }

    pub(crate) fn write_binary(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        data: &[u8],
    ) -> Result<(), WriteError> {
        self.admit(id, peer, data.len() + 10)?;
        self.out
            .append_with(|v| encode_frame(OpCode::Data(Data::Binary), true, data, v));
        Ok(())
    }

    pub(crate) fn write_frame(
        &mut self,
        id: ConnId,
        peer: SocketAddr,
        frame: &crate::ws::SharedFrame,
    ) -> Result<(), WriteError> {
        self.admit(id, peer, frame.as_bytes().len())?;
        self.out.push_frame(frame.clone());
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
    pub(crate) handler: Box<dyn WebSocketHandler>,
    pub(crate) decoder: Decoder,
    pub(crate) state: WsState,
    pub(crate) tag: Option<u64>,
}

/// What a hook or loop operation needs besides the connection itself.
pub(crate) struct WsCx<'a> {
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
    pub(crate) server: &'a ServerHandle,
    pub(crate) limits: &'a WsLimits,
    pub(crate) now: u32,
}

impl WsConn {
    pub(crate) fn new(upgrade: Upgrade, limits: &WsLimits) -> WsConn {
        WsConn {
            handler: upgrade.handler,
            decoder: Decoder::new(limits.max_message),
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
        let WsConn { handler, state, .. } = self;
        call_hook(handler.as_mut(), out, state, cx, what, hook);
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
        let result = decoder.decode(input, &mut |event| match event {
            WsEvent::Message(msg) => {
                if state.phase == Phase::Open {
                    call_hook(handler.as_mut(), out, state, cx, "on_message", |h, ws| {
                        h.on_message(ws, msg)
                    });
                }
            }
            WsEvent::Ping(payload) => {
                // Pongs count against the cap too: a peer that pings without reading is a slow
                // consumer like any other.
                let mut io = WsIo {
                    out: &mut *out,
                    state: &mut *state,
                    limits: cx.limits,
                    now: cx.now,
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
                    now: cx.now,
                };
                io.fail(e.close_code, e.reason);
                input.len()
            }
        }
    }

    /// The reason to hand to `on_close`.
    pub(crate) fn close_info(&mut self) -> CloseInfo {
        match self.state.info.take() {
            Some(info) => *info,
            None => CloseInfo {
                code: None,
                reason: String::new(),
                initiated_by_server: false,
            },
        }
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
            now: cx.now,
        },
        peer: cx.peer,
        server: cx.server,
    };
    if guard(what, || hook(handler, &mut ws)).is_none() {
        ws.io.fail(1011, "internal server error");
    }
}
