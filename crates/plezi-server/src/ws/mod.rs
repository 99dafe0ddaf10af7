//! The WebSocket protocol (RFC 6455) as pure code over buffers: no sockets, no event loop.
//!
//! - `handshake`: checks an upgrade request and writes the `101 Switching Protocols` answer.
//! - [`decode`](Decoder): client frames to [`WsEvent`]s, zero-copy for unfragmented frames,
//!   enforcing masking, opcodes, control-frame rules, fragmentation order, UTF-8 (fail fast,
//!   across fragments), close payloads and the message size limit.
//! - `encode`: server frames (never masked) and [`SharedFrame`], a frame encoded once and shared
//!   (and compressed at most once per window size, for every receiver that negotiated
//!   permessage-deflate).
//! - `extension`: negotiating permessage-deflate (RFC 7692) from the client's offers.
//! - `deflate`: the permessage-deflate codec, one compressor and one inflater per thread, no
//!   state kept between messages or per connection.
//!
//! Frame types (`FrameHeader`, `OpCode`, `CloseCode`) and the accept-key derivation come from
//! tungstenite; its `WebSocket`/`FrameSocket` stream machinery (a 128 KiB read buffer per socket)
//! is deliberately not used.
//!
//! The only extension is permessage-deflate: RSV1 is allowed on the first frame of a data message
//! of a connection that negotiated it; any other RSV bit is a protocol error (1002).
//!
//! Decisions worth knowing:
//! - A refused handshake is a `HandshakeError` enum with `status()`, `headers()` (a static slice)
//!   and `Display` (the body text).
//! - Close codes 1012 and 1013 (IANA: service restart, try again later) are accepted as valid,
//!   following tungstenite's `CloseCode::is_allowed`; 1014 is not.
//! - `From<Vec<u8>>` for [`SharedFrame`] encodes a *binary message* with that payload (plus
//!   `From<&str>`/`From<String>` for text).
//! - The decoder's `decode` may unmask and validate part of an incomplete text frame (so invalid
//!   UTF-8 is reported before the frame ends): the caller must hand the unconsumed bytes back
//!   unchanged at the front of the next input, which is what a read buffer does anyway.

#[cfg(test)]
pub(crate) mod client_frames;
mod decode;
mod deflate;
mod encode;
pub(crate) mod extension;
pub(crate) mod handshake;
mod mask;
mod message;
mod utf8;

pub use decode::{Decoder, WsEvent};
pub(crate) use encode::encode_compressed;
pub use encode::{
    SharedFrame, close_frame, empty_close_frame, encode_frame, ping_frame, pong_frame,
};
pub(crate) use message::is_valid_close_code;
pub use message::{CloseInfo, Message};
/// Opcodes for [`encode_frame`], re-exported from tungstenite.
pub use tungstenite::protocol::frame::coding::{Data, OpCode};

// Only the fuzzers, benchmarks and tests use these.
#[cfg(feature = "internals")]
pub use decode::ProtocolError;
#[cfg(feature = "internals")]
pub use deflate::deflated_messages;
#[cfg(feature = "internals")]
pub use encode::{binary_frame, text_frame};
/// Control opcodes, re-exported from tungstenite.
#[cfg(feature = "internals")]
pub use tungstenite::protocol::frame::coding::Control;
