//! Server-to-client frames. Server frames are never masked (RFC 6455 §5.1).

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::deflate;

/// Longest frame header: 2 bytes + 8 bytes of length (server frames carry no mask).
const MAX_HEADER: usize = 10;
/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// Appends one complete unmasked frame (header and payload) to `out`.
///
/// `encode_frame` writes what it is given; it is the caller's job not to send a control frame
/// with more than 125 bytes or without `fin` (the helpers below take care of that).
pub fn encode_frame(opcode: OpCode, fin: bool, payload: &[u8], out: &mut Vec<u8>) {
    encode_with_first_byte(u8::from(opcode) | if fin { 0x80 } else { 0 }, payload, out);
}

/// RSV1: the message is compressed (RFC 7692 §6).
const RSV1: u8 = 0x40;

/// Appends one complete unfragmented data frame with `opcode` carrying `payload` compressed with
/// permessage-deflate (an LZ77 window of `window_bits`, RSV1 set). Returns `false` and appends
/// nothing if the compressor fails: send it uncompressed then.
pub(crate) fn encode_compressed(
    opcode: OpCode,
    window_bits: u8,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    scratch.clear();
    let compressed = deflate::compress(window_bits, payload, &mut scratch);
    if compressed {
        encode_with_first_byte(0x80 | RSV1 | u8::from(opcode), &scratch, out);
    }
    if scratch.capacity() <= 64 * 1024 {
        SCRATCH.with(|s| *s.borrow_mut() = scratch);
    }
    compressed
}

/// The header (first byte as given, then the length) and the payload.
fn encode_with_first_byte(first: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(MAX_HEADER + payload.len());
    let len = payload.len();
    if len < 126 {
        out.extend_from_slice(&[first, len as u8]);
    } else if let Ok(len16) = u16::try_from(len) {
        let l = len16.to_be_bytes();
        out.extend_from_slice(&[first, 126, l[0], l[1]]);
    } else {
        out.extend_from_slice(&[first, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// One encoded frame in a vector of exactly the right size.
fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HEADER + payload.len());
    encode_frame(opcode, true, payload, &mut out);
    out
}

/// An unfragmented text frame.
#[cfg(any(test, feature = "internals"))]
pub fn text_frame(s: &str) -> Vec<u8> {
    frame(OpCode::Data(Data::Text), s.as_bytes())
}

/// An unfragmented binary frame.
#[cfg(any(test, feature = "internals"))]
pub fn binary_frame(b: &[u8]) -> Vec<u8> {
    frame(OpCode::Data(Data::Binary), b)
}

/// A close frame with `code` and `reason`; the reason is cut to 123 bytes at a character boundary
/// so the payload fits a control frame. The code is written as given: check it with
/// `is_valid_close_code` first.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let reason = truncate_at_char_boundary(reason, MAX_CONTROL_PAYLOAD - 2);
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    frame(
        OpCode::Control(Control::Close),
        &payload[..2 + reason.len()],
    )
}

/// A close frame without a status code (the answer to a peer's close that carried none).
pub fn empty_close_frame() -> Vec<u8> {
    frame(OpCode::Control(Control::Close), &[])
}

/// A pong answering a ping with `payload` (cut to 125 bytes; a valid ping never has more).
pub fn pong_frame(payload: &[u8]) -> Vec<u8> {
    frame(
        OpCode::Control(Control::Pong),
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    )
}

/// A ping carrying `payload` (cut to 125 bytes).
pub fn ping_frame(payload: &[u8]) -> Vec<u8> {
    frame(
        OpCode::Control(Control::Ping),
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    )
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A complete, already-encoded server-to-client WebSocket frame (unmasked), cheap to clone.
/// Encode once, write to many connections on any loop.
///
/// A text or binary message frame also compresses itself for receivers that negotiated
/// permessage-deflate, once per window size (in practice once: clients rarely limit the server's
/// window), the first time such a receiver gets it; every such receiver shares that copy.
///
/// ```
/// use plezi_server::SharedFrame;
/// let frame = SharedFrame::text("hi");
/// assert_eq!(frame.as_bytes(), &[0x81, 2, b'h', b'i']);
/// let copy = frame.clone(); // shares the bytes
/// assert_eq!(copy.as_bytes().as_ptr(), frame.as_bytes().as_ptr());
/// ```
#[derive(Clone)]
pub struct SharedFrame {
    inner: Arc<SharedInner>,
}

/// Compressed copies, one per compressor window size (9..=15 bits); `Some(None)` if the compressor
/// failed (the message then goes out uncompressed).
type Deflated = [OnceLock<Option<Arc<[u8]>>>; 7];

struct SharedInner {
    /// The uncompressed frame(s).
    bytes: Box<[u8]>,
    /// The message's opcode (text or binary) and where its payload starts.
    opcode: OpCode,
    payload_at: usize,
    deflated: Deflated,
}

impl SharedFrame {
    /// A text message frame.
    pub fn text(s: &str) -> SharedFrame {
        SharedFrame::message(Data::Text, s.as_bytes())
    }

    /// A binary message frame.
    pub fn binary(b: &[u8]) -> SharedFrame {
        SharedFrame::message(Data::Binary, b)
    }

    fn message(data: Data, payload: &[u8]) -> SharedFrame {
        let bytes = frame(OpCode::Data(data), payload);
        SharedFrame {
            inner: Arc::new(SharedInner {
                payload_at: bytes.len() - payload.len(),
                bytes: bytes.into_boxed_slice(),
                opcode: OpCode::Data(data),
                deflated: Default::default(),
            }),
        }
    }

    /// The encoded frame, header included, as written to the socket.
    pub fn as_bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// The compressed frame for a receiver that negotiated permessage-deflate with this window,
    /// compressed on the first call and shared afterwards. `None` when the frame is sent
    /// uncompressed: a payload under `threshold` bytes.
    pub(crate) fn deflated(&self, window_bits: u8, threshold: usize) -> Option<&Arc<[u8]>> {
        let SharedInner {
            bytes,
            opcode,
            payload_at,
            deflated,
        } = &*self.inner;
        let payload = &bytes[*payload_at..];
        if payload.len() < threshold {
            return None;
        }
        let bits = window_bits.clamp(deflate::MIN_COMPRESS_WINDOW_BITS, deflate::MAX_WINDOW_BITS);
        let slot = &deflated[usize::from(bits - deflate::MIN_COMPRESS_WINDOW_BITS)];
        slot.get_or_init(|| {
            let mut out = Vec::new();
            encode_compressed(*opcode, bits, payload, &mut out).then(|| Arc::from(out))
        })
        .as_ref()
    }
}

impl PartialEq for SharedFrame {
    fn eq(&self, other: &SharedFrame) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SharedFrame {}

/// A binary message frame carrying the vector as payload (the vector is not a pre-encoded frame).
impl From<Vec<u8>> for SharedFrame {
    fn from(payload: Vec<u8>) -> SharedFrame {
        SharedFrame::binary(&payload)
    }
}

/// A text message frame.
impl From<&str> for SharedFrame {
    fn from(text: &str) -> SharedFrame {
        SharedFrame::text(text)
    }
}

/// A text message frame.
impl From<String> for SharedFrame {
    fn from(text: String) -> SharedFrame {
        SharedFrame::text(&text)
    }
}

impl fmt::Debug for SharedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFrame")
            .field("len", &self.inner.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_text_frame_bytes() {
        assert_eq!(
            text_frame("Hello"),
            [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
        );
    }

    #[test]
    fn length_encodings_at_the_boundaries() {
        for (len, header) in [
            (0usize, vec![0x82, 0]),
            (125, vec![0x82, 125]),
            (126, vec![0x82, 126, 0, 126]),
            (65535, vec![0x82, 126, 0xFF, 0xFF]),
            (65536, vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let f = binary_frame(&vec![7u8; len]);
            assert_eq!(&f[..header.len()], &header[..], "len {len}");
            assert_eq!(f.len(), header.len() + len);
            assert!(f[header.len()..].iter().all(|&b| b == 7));
        }
    }

    #[test]
    fn non_final_fragment_and_continuation() {
        let mut out = Vec::new();
        encode_frame(OpCode::Data(Data::Text), false, b"ab", &mut out);
        encode_frame(OpCode::Data(Data::Continue), true, b"c", &mut out);
        assert_eq!(out, [0x01, 2, b'a', b'b', 0x80, 1, b'c']);
    }

    #[test]
    fn close_frame_truncates_reason_at_char_boundary() {
        assert_eq!(close_frame(1000, ""), [0x88, 2, 0x03, 0xE8]);
        assert_eq!(
            close_frame(1001, "bye"),
            [0x88, 5, 0x03, 0xE9, b'b', b'y', b'e']
        );
        // 62 two-byte characters = 124 bytes: cut to 61 characters (122 bytes), not 123.
        let long = "é".repeat(62);
        let f = close_frame(1000, &long);
        assert_eq!(f[1], 2 + 122);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
        let ascii = "x".repeat(200);
        assert_eq!(close_frame(1000, &ascii)[1], 125);
        assert_eq!(empty_close_frame(), [0x88, 0]);
    }

    #[test]
    fn control_payloads_are_capped() {
        assert_eq!(ping_frame(b"p"), [0x89, 1, b'p']);
        assert_eq!(pong_frame(b"p"), [0x8A, 1, b'p']);
        assert_eq!(ping_frame(&[0; 300])[1], 125);
        assert_eq!(pong_frame(&[0; 300]).len(), 127);
    }

    #[test]
    fn shared_frame_conversions() {
        assert_eq!(SharedFrame::binary(b"x").as_bytes(), [0x82, 1, b'x']);
        assert_eq!(SharedFrame::from(vec![1u8, 2]).as_bytes(), [0x82, 2, 1, 2]);
        assert_eq!(SharedFrame::from("t").as_bytes(), [0x81, 1, b't']);
        assert_eq!(SharedFrame::from(String::from("t")), SharedFrame::text("t"));
        assert_eq!(
            format!("{:?}", SharedFrame::text("abc")),
            "SharedFrame { len: 5 }"
        );
    }
}
