//! Client-to-server frames: an incremental, zero-copy decoder that enforces RFC 6455.
//!
//! The caller owns the read buffer. [`Decoder::decode`] walks the complete frames at its front,
//! unmasks them in place and reports each message or control frame as a borrowed [`WsEvent`];
//! the caller drops the consumed bytes and appends the next read to the rest. Only a fragmented
//! message is copied (into the decoder's reassembly buffer, allocated for that message alone).

use std::fmt;

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::deflate;
use super::mask::apply_mask;
use super::message::{Message, is_valid_close_code};
use super::utf8::Utf8Stream;

/// One decoded event, borrowed from the input buffer (or the decoder's reassembly buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A complete data message (all fragments joined).
    Message(Message<'a>),
    /// A ping; answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer started (or answered) the close handshake. The decoder ignores anything after it.
    Close {
        /// The status code, if the frame had one (always a valid code).
        code: Option<u16>,
        /// The close reason (empty if none).
        reason: &'a str,
    },
}

/// The peer broke the protocol: send a close frame with `close_code`, then stop reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// 1002 (protocol error), 1007 (invalid UTF-8) or 1009 (message too big).
    pub close_code: u16,
    /// What was wrong, short enough for a close frame's reason.
    pub reason: &'static str,
}

impl ProtocolError {
    const fn protocol(reason: &'static str) -> ProtocolError {
        ProtocolError {
            close_code: 1002,
            reason,
        }
    }

    const INVALID_UTF8: ProtocolError = ProtocolError {
        close_code: 1007,
        reason: "text is not valid UTF-8",
    };
    /// A compressed message whose DEFLATE data does not inflate.
    pub(crate) const BAD_DEFLATE: ProtocolError = ProtocolError {
        close_code: 1007,
        reason: "invalid compressed data",
    };
    /// The message (compressed, or once inflated) is over the limit.
    pub(crate) const TOO_BIG: ProtocolError = ProtocolError {
        close_code: 1009,
        reason: "message too big",
    };
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebSocket protocol violation by the peer: {} (close code {})",
            self.reason, self.close_code
        )
    }
}

impl std::error::Error for ProtocolError {}

/// Largest payload of a control frame.
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// Where the decoder is between frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No fragmented message open.
    Idle,
    /// A fragmented text message is open.
    Text,
    /// A fragmented binary message is open.
    Binary,
    /// A close frame arrived: everything after it is ignored.
    Closed,
}

/// Per-connection WebSocket frame decoder. 48 bytes and no heap memory while no fragmented
/// message is in progress; the reassembly buffer is freed as soon as its message is delivered.
///
/// With permessage-deflate negotiated ([`Decoder::with_deflate`]), a frame with RSV1 starts a
/// compressed message: its frames are gathered like any fragmented message (the size limit then
/// counts compressed bytes) and inflated once complete, by the thread's inflater, the inflated size
/// counting against the same limit (RFC 7692 §6.2). No inflate state outlives the message.
#[derive(Debug)]
pub struct Decoder {
    max_message_bytes: usize,
    /// Reassembly buffer of the open fragmented message (empty, unallocated otherwise).
    fragments: Vec<u8>,
    /// Payload bytes of the incomplete text frame at the front of the caller's buffer that were
    /// already unmasked and validated by an earlier call (for fail-fast UTF-8 checks).
    scanned: usize,
    /// UTF-8 state of the text message in progress.
    utf8: Utf8Stream,
    state: State,
    /// The window the client allowed the server (8..=15 bits) when permessage-deflate was
    /// negotiated (RSV1 then marks a compressed message); 0 when it was not. Kept here, in the
    /// decoder's padding, so that a connection does not grow.
    deflate_bits: u8,
    /// The open fragmented message is compressed.
    compressed: bool,
}

/// A parsed frame header and where its payload starts.
struct Head {
    header: FrameHeader,
    payload_len: u64,
    header_len: usize,
}

impl Decoder {
    /// A decoder that refuses (close 1009) messages whose payload exceeds `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Decoder {
        Decoder {
            max_message_bytes,
            fragments: Vec::new(),
            scanned: 0,
            utf8: Utf8Stream::default(),
            state: State::Idle,
            deflate_bits: 0,
            compressed: false,
        }
    }

    /// The same decoder for a connection that negotiated permessage-deflate, the server
    /// compressing with a window of `window_bits` (8..=15): RSV1 on the first frame of a data
    /// message marks it compressed (anywhere else it is still close 1002).
    pub fn with_deflate(mut self, window_bits: u8) -> Decoder {
        self.deflate_bits = window_bits.clamp(8, 15);
        self
    }

    /// The window given to [`Decoder::with_deflate`], if permessage-deflate was negotiated.
    pub(crate) fn deflate_bits(&self) -> Option<u8> {
        (self.deflate_bits != 0).then_some(self.deflate_bits)
    }

    /// Decodes every complete frame at the front of `input` (unmasking it in place), calling
    /// `on_event` for each completed message or control frame, and returns how many bytes were
    /// consumed. The caller keeps the rest, unchanged, at the front of the next call's input (the
    /// decoder may already have unmasked and checked part of an incomplete text frame there).
    ///
    /// Errors are checked as early as possible: header errors as soon as the header is in,
    /// invalid UTF-8 as soon as the offending bytes are, an oversized message as soon as a frame
    /// header announces it. After an error the connection must be closed with its code; after a
    /// [`WsEvent::Close`] the rest of the input (now and later) is consumed and ignored.
    pub fn decode(
        &mut self,
        input: &mut [u8],
        on_event: &mut dyn FnMut(WsEvent<'_>),
    ) -> Result<usize, ProtocolError> {
        let mut pos = 0;
        while self.state != State::Closed {
            let rest = &mut input[pos..];
            let Some(head) = parse_head(rest, self.deflate_bits != 0)? else {
                break;
            };
            let opcode = head.header.opcode;
            let text = self.check_sequence(opcode, head.payload_len)?;
            let compressed = match opcode {
                OpCode::Data(Data::Continue) => self.compressed,
                _ => head.header.rsv1,
            };
            // Bounded by max_message_bytes (a usize) or by 125 for control frames.
            let payload_len = head.payload_len as usize;
            let mask = head.header.mask.unwrap_or_default();
            let frame_len = head.header_len.saturating_add(payload_len);
            let Some(frame) = rest.get_mut(..frame_len) else {
                if text && !compressed {
                    self.scan_partial_text(&mut rest[head.header_len..], mask)?;
                }
                break;
            };
            let payload = &mut frame[head.header_len..];
            let scanned = std::mem::take(&mut self.scanned).min(payload.len());
            apply_mask(&mut payload[scanned..], mask, scanned);
            match opcode {
                OpCode::Data(_) if compressed => {
                    self.on_compressed(text, head.header.is_final, payload, on_event)?
                }
                OpCode::Data(_) => {
                    self.on_data(text, head.header.is_final, payload, scanned, on_event)?
                }
                OpCode::Control(Control::Ping) => on_event(WsEvent::Ping(payload)),
                OpCode::Control(Control::Pong) => on_event(WsEvent::Pong(payload)),
                OpCode::Control(_) => {
                    let (code, reason) = parse_close(payload)?;
                    self.state = State::Closed;
                    self.fragments = Vec::new();
                    on_event(WsEvent::Close { code, reason });
                }
            }
            pos += frame_len;
        }
        if self.state == State::Closed {
            return Ok(input.len());
        }
        Ok(pos)
    }

    /// Size of the frame at the front of `rest` (header and payload) once its header is complete:
    /// how many bytes the read buffer must hold before [`Decoder::decode`] can consume it.
    /// `None` while the header itself is incomplete (at most 14 bytes) or invalid.
    #[cfg(feature = "internals")]
    pub fn next_frame_len(&self, rest: &[u8]) -> Option<usize> {
        let head = parse_head(rest, self.deflate_bits != 0).ok()??;
        usize::try_from(head.payload_len)
            .ok()?
            .checked_add(head.header_len)
    }

    /// Bytes held in the reassembly buffer of an unfinished fragmented message.
    #[cfg(feature = "internals")]
    pub fn buffered_bytes(&self) -> usize {
        self.fragments.len()
    }

    /// Checks that a frame with this opcode may come now and that its message stays within the
    /// size limit. Returns whether its payload is text.
    fn check_sequence(&self, opcode: OpCode, payload_len: u64) -> Result<bool, ProtocolError> {
        let text = match (opcode, self.state) {
            (OpCode::Control(_), _) => return Ok(false),
            (OpCode::Data(Data::Continue), State::Text) => true,
            (OpCode::Data(Data::Continue), State::Binary) => false,
            (OpCode::Data(Data::Continue), _) => {
                return Err(ProtocolError::protocol(
                    "continuation frame without a message to continue",
                ));
            }
            (OpCode::Data(_), State::Text | State::Binary) => {
                return Err(ProtocolError::protocol(
                    "new message before the fragmented one was finished",
                ));
            }
            (OpCode::Data(data), _) => data == Data::Text,
        };
        let total = (self.fragments.len() as u64).saturating_add(payload_len);
        if total > self.max_message_bytes as u64 {
            return Err(ProtocolError::TOO_BIG);
        }
        Ok(text)
    }

    /// A complete, unmasked frame of a compressed message: gathered, then inflated and delivered
    /// with its last frame.
    fn on_compressed(
        &mut self,
        text: bool,
        fin: bool,
        payload: &[u8],
        on_event: &mut dyn FnMut(WsEvent<'_>),
    ) -> Result<(), ProtocolError> {
        let limit = self.max_message_bytes;
        let deliver = |data: &[u8], on_event: &mut dyn FnMut(WsEvent<'_>)| {
            deflate::inflate(data, limit, |plain| {
                let message = if text {
                    Message::Text(
                        std::str::from_utf8(plain).map_err(|_| ProtocolError::INVALID_UTF8)?,
                    )
                } else {
                    Message::Binary(plain)
                };
                on_event(WsEvent::Message(message));
                Ok(())
            })
        };
        if self.state == State::Idle && fin {
            return deliver(payload, on_event);
        }
        if self.state == State::Idle {
            self.state = if text { State::Text } else { State::Binary };
            self.compressed = true;
        }
        self.fragments.extend_from_slice(payload);
        if !fin {
            return Ok(());
        }
        self.state = State::Idle;
        self.compressed = false;
        let whole = std::mem::take(&mut self.fragments);
        deliver(&whole, on_event)
    }

    /// Unmasks and validates the newly arrived part of an incomplete text frame.
    fn scan_partial_text(
        &mut self,
        payload_so_far: &mut [u8],
        mask: [u8; 4],
    ) -> Result<(), ProtocolError> {
        if let Some(new) = payload_so_far.get_mut(self.scanned..) {
            apply_mask(new, mask, self.scanned);
            self.utf8
                .feed(new)
                .map_err(|_| ProtocolError::INVALID_UTF8)?;
            self.scanned = payload_so_far.len();
        }
        Ok(())
    }

    /// A complete, unmasked data frame; `payload[..scanned]` was already validated.
    fn on_data(
        &mut self,
        text: bool,
        fin: bool,
        payload: &[u8],
        scanned: usize,
        on_event: &mut dyn FnMut(WsEvent<'_>),
    ) -> Result<(), ProtocolError> {
        if self.state == State::Idle && fin {
            // Unfragmented: deliver straight from the input.
            let message = if text {
                if scanned > 0 {
                    self.validate_text_end(&payload[scanned..])?;
                }
                Message::Text(
                    std::str::from_utf8(payload).map_err(|_| ProtocolError::INVALID_UTF8)?,
                )
            } else {
                Message::Binary(payload)
            };
            on_event(WsEvent::Message(message));
            return Ok(());
        }
        if text {
            self.utf8
                .feed(&payload[scanned..])
                .map_err(|_| ProtocolError::INVALID_UTF8)?;
        }
        if self.state == State::Idle {
            self.state = if text { State::Text } else { State::Binary };
        }
        self.fragments.extend_from_slice(payload);
        if !fin {
            return Ok(());
        }
        // The last fragment: deliver, then free the reassembly buffer.
        self.state = State::Idle;
        let whole = std::mem::take(&mut self.fragments);
        let message = if text {
            self.validate_text_end(&[])?;
            Message::Text(std::str::from_utf8(&whole).map_err(|_| ProtocolError::INVALID_UTF8)?)
        } else {
            Message::Binary(&whole)
        };
        on_event(WsEvent::Message(message));
        Ok(())
    }

    /// Feeds the last bytes of a text message and requires it to end on a character boundary.
    fn validate_text_end(&mut self, last: &[u8]) -> Result<(), ProtocolError> {
        let mut stream = std::mem::take(&mut self.utf8);
        stream.feed(last).map_err(|_| ProtocolError::INVALID_UTF8)?;
        if !stream.is_complete() {
            return Err(ProtocolError::INVALID_UTF8);
        }
        Ok(())
    }
}

/// Parses the frame header at the front of `buf`. `Ok(None)` while incomplete; errors as soon as
/// the bytes received prove the frame invalid. With `deflate` (permessage-deflate negotiated),
/// RSV1 may be set on the first frame of a data message (RFC 7692 §6.1), nowhere else.
fn parse_head(buf: &[u8], deflate: bool) -> Result<Option<Head>, ProtocolError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b0 & 0x30 != 0 {
        return Err(ProtocolError::protocol(
            "reserved bits set without a negotiated extension",
        ));
    }
    let opcode = OpCode::from(b0 & 0x0F);
    let control = match opcode {
        OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
            return Err(ProtocolError::protocol("reserved opcode"));
        }
        OpCode::Control(_) => true,
        OpCode::Data(_) => false,
    };
    let rsv1 = b0 & 0x40 != 0;
    if rsv1 && !deflate {
        return Err(ProtocolError::protocol(
            "reserved bits set without a negotiated extension",
        ));
    }
    if rsv1 && control {
        return Err(ProtocolError::protocol("RSV1 set on a control frame"));
    }
    if rsv1 && opcode == OpCode::Data(Data::Continue) {
        return Err(ProtocolError::protocol("RSV1 set on a continuation frame"));
    }
    if b1 & 0x80 == 0 {
        return Err(ProtocolError::protocol("client frames must be masked"));
    }
    let is_final = b0 & 0x80 != 0;
    let len7 = u64::from(b1 & 0x7F);
    if control && !is_final {
        return Err(ProtocolError::protocol("fragmented control frame"));
    }
    if control && len7 > MAX_CONTROL_PAYLOAD {
        return Err(ProtocolError::protocol(
            "control frame payload over 125 bytes",
        ));
    }
    let (payload_len, mask_at) = match len7 {
        126 => match buf.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(bytes) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(ProtocolError::protocol(
                        "64-bit payload length with the top bit set",
                    ));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        short => (short, 2),
    };
    let Some(&[m0, m1, m2, m3]) = buf.get(mask_at..mask_at + 4) else {
        return Ok(None);
    };
    let header = FrameHeader {
        is_final,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some([m0, m1, m2, m3]),
    };
    Ok(Some(Head {
        header,
        payload_len,
        header_len: mask_at + 4,
    }))
}

/// The code and reason of a close frame's (unmasked) payload.
fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &str), ProtocolError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(ProtocolError::protocol("close frame with a 1-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(ProtocolError::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::INVALID_UTF8)?;
            Ok((Some(code), reason))
        }
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
