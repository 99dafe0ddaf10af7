//! Test-only builder of client-to-server frames (masked, any header bits), for the decoder's tests
//! and for tests of the connection state machine.

use super::mask::apply_mask;

/// FIN bit of the first header byte.
pub(crate) const FIN: u8 = 0x80;
/// Continuation opcode.
pub(crate) const CONT: u8 = 0x0;
/// Text opcode.
pub(crate) const TEXT: u8 = 0x1;
/// Binary opcode.
pub(crate) const BINARY: u8 = 0x2;
/// Close opcode.
pub(crate) const CLOSE: u8 = 0x8;
/// Ping opcode.
pub(crate) const PING: u8 = 0x9;
/// Pong opcode.
pub(crate) const PONG: u8 = 0xA;
/// The masking key every built frame uses.
pub(crate) const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// A masked client frame; `first` is the first header byte exactly as sent (FIN, RSV, opcode),
/// e.g. `frame(FIN | TEXT, b"hi")`.
pub(crate) fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header_only(first, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], MASK, 0);
    out
}

/// Only the header of a masked frame announcing `len` payload bytes.
pub(crate) fn header_only(first: u8, len: u64) -> Vec<u8> {
    let mut out = vec![first];
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out
}

/// A close frame's payload: the code, then the reason bytes.
pub(crate) fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// Turns an unmasked server frame (from the encoders) into the same frame as a client sends it.
pub(crate) fn mask_server_frame(server: &[u8]) -> Vec<u8> {
    let header_len = match server[1] & 0x7F {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    let mut out = server[..header_len].to_vec();
    out[1] |= 0x80;
    out.extend_from_slice(&MASK);
    let start = out.len();
    out.extend_from_slice(&server[header_len..]);
    apply_mask(&mut out[start..], MASK, 0);
    out
}
