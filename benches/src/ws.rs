//! The WebSocket bits a load client needs: the upgrade request, the response check, masked client
//! frames, and [`FrameScanner`], which walks server frames by their headers alone.
//!
//! Counting deliveries must cost next to nothing, so the scanner never looks at payload bytes unless the
//! caller asks for them (sampled clients) or the frame is a control frame (ping/close).

/// The fixed `Sec-WebSocket-Key` every client sends (the RFC 6455 example nonce).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The `Sec-WebSocket-Accept` a server must answer to [`KEY`].
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The fixed masking key of client frames (RFC 6455 requires the mask bit; any key is valid).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// Largest payload the scanner copies for a caller (a kept frame split across reads).
const MAX_KEPT_PAYLOAD: u64 = 16 * 1024 * 1024;

/// The HTTP/1.1 upgrade request for `path` on `host:port`, offering permessage-deflate (as
/// browsers do) when `deflate` is set.
pub fn upgrade_request(host: &str, port: u16, path: &str, deflate: bool) -> Vec<u8> {
    let offer = if deflate {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .into_bytes()
}

/// RSV1 of a frame's first header byte: a compressed message (permessage-deflate).
pub const RSV1: u8 = 0x40;

/// The payload of a data frame as sent by the application: inflated when RSV1 says it is
/// compressed (`None` when that fails), borrowed as is otherwise.
pub fn message_payload(first: u8, payload: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    if first & RSV1 == 0 {
        return Some(std::borrow::Cow::Borrowed(payload));
    }
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut d = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(payload.len() * 4 + 256);
    loop {
        let consumed = d.total_in() as usize;
        d.decompress_vec(&input[consumed..], &mut out, flate2::FlushDecompress::Sync)
            .ok()?;
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return Some(std::borrow::Cow::Owned(out));
        }
        out.reserve(out.capacity().max(1024));
    }
}

/// What became of an upgrade response read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// The head is not complete yet: read more.
    Incomplete,
    /// `101` with the right accept key; frames start at this offset of the buffer.
    Done(usize),
    /// Anything else: the status line (or a short description) for the error message.
    Refused(String),
}

/// Checks the upgrade response accumulated in `buf`.
pub fn check_upgrade(buf: &[u8]) -> Upgrade {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > 16 * 1024 {
            Upgrade::Refused("response head over 16 KiB".into())
        } else {
            Upgrade::Incomplete
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let status = head.lines().next().unwrap_or("").to_string();
    if !status.starts_with("HTTP/1.1 101") {
        return Upgrade::Refused(status);
    }
    let accepted = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == ACCEPT
        })
    });
    if !accepted {
        return Upgrade::Refused(format!("{status} (missing or wrong Sec-WebSocket-Accept)"));
    }
    Upgrade::Done(end + 4)
}

/// Appends one masked, final client frame with `opcode` and `payload` to `out`.
pub fn encode_masked(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i & 3]));
}

/// A protocol violation by the server, seen while scanning frames.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanError {
    /// Server frames must not be masked (RFC 6455 5.1).
    MaskedServerFrame,
    /// A frame the caller wanted to keep was larger than the scanner copies.
    TooLarge(u64),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::MaskedServerFrame => {
                write!(f, "the server sent a masked frame (RFC 6455 forbids it)")
            }
            ScanError::TooLarge(n) => write!(
                f,
                "a {n}-byte frame exceeds the load tool's 16 MiB copy limit"
            ),
        }
    }
}

/// Walks a stream of server frames incrementally, by headers only.
///
/// For every complete frame it calls `on_frame(first_header_byte, payload)`. `payload` holds the frame's
/// bytes only for control frames and, when `keep_data` is set, for data frames; otherwise it is empty
/// and the payload bytes are skipped without being read.
#[derive(Default)]
pub struct FrameScanner {
    head: [u8; 10],
    head_len: usize,
    in_frame: bool,
    first: u8,
    keep: bool,
    remaining: u64,
    body: Vec<u8>,
}

impl FrameScanner {
    /// Feeds the next bytes of the stream.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        keep_data: bool,
        on_frame: &mut impl FnMut(u8, &[u8]),
    ) -> Result<(), ScanError> {
        loop {
            if self.in_frame {
                let take = self.remaining.min(data.len() as u64) as usize;
                if self.keep {
                    self.body.extend_from_slice(&data[..take]);
                }
                data = &data[take..];
                self.remaining -= take as u64;
                if self.remaining > 0 {
                    return Ok(());
                }
                self.in_frame = false;
                on_frame(self.first, &self.body);
                self.body.clear();
                continue;
            }
            if data.is_empty() {
                return Ok(());
            }
            // Fast path: the whole header is in `data`.
            if self.head_len == 0 && data.len() >= 2 {
                let need = header_len(data[1]);
                if data.len() >= need {
                    let (first, len) = parse_header(&data[..need])?;
                    data = &data[need..];
                    let keep = keep_data || first & 0x08 != 0;
                    if (data.len() as u64) >= len {
                        let len = len as usize;
                        on_frame(first, if keep { &data[..len] } else { &[] });
                        data = &data[len..];
                    } else {
                        self.start_frame(first, len, keep)?;
                    }
                    continue;
                }
            }
            // Slow path: collect header bytes one at a time.
            self.head[self.head_len] = data[0];
            self.head_len += 1;
            data = &data[1..];
            if self.head_len >= 2 && self.head_len == header_len(self.head[1]) {
                let (first, len) = parse_header(&self.head[..self.head_len])?;
                self.head_len = 0;
                let keep = keep_data || first & 0x08 != 0;
                self.start_frame(first, len, keep)?;
            }
        }
    }

    fn start_frame(&mut self, first: u8, len: u64, keep: bool) -> Result<(), ScanError> {
        if keep && len > MAX_KEPT_PAYLOAD {
            return Err(ScanError::TooLarge(len));
        }
        self.in_frame = true;
        self.first = first;
        self.keep = keep;
        self.remaining = len;
        Ok(())
    }
}

/// Header length (server frames carry no mask) from the second header byte.
fn header_len(second: u8) -> usize {
    match second & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    }
}

/// (first header byte, payload length) of a complete header.
fn parse_header(h: &[u8]) -> Result<(u8, u64), ScanError> {
    if h[1] & 0x80 != 0 {
        return Err(ScanError::MaskedServerFrame);
    }
    let len = match h[1] & 0x7f {
        126 => u16::from_be_bytes([h[2], h[3]]) as u64,
        127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
        n => n as u64,
    };
    Ok((h[0], len))
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 65535 => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    fn scan_in_pieces(stream: &[u8], piece: usize, keep: bool) -> Vec<(u8, Vec<u8>)> {
        let mut scanner = FrameScanner::default();
        let mut frames = Vec::new();
        for chunk in stream.chunks(piece) {
            scanner
                .feed(chunk, keep, &mut |first, payload| {
                    frames.push((first, payload.to_vec()))
                })
                .expect("valid stream");
        }
        frames
    }

    #[test]
    fn frames_are_found_whatever_the_read_boundaries() {
        let big = vec![b'a'; 70_000];
        let mid = vec![b'b'; 300];
        let mut stream = Vec::new();
        stream.extend(server_frame(OP_TEXT, b"hello"));
        stream.extend(server_frame(OP_TEXT, &mid));
        stream.extend(server_frame(OP_PING, b"p"));
        stream.extend(server_frame(OP_TEXT, &big));
        stream.extend(server_frame(OP_TEXT, b""));
        for piece in [1, 2, 3, 7, 64, 1000, stream.len()] {
            let kept = scan_in_pieces(&stream, piece, true);
            assert_eq!(kept.len(), 5, "piece {piece}");
            assert_eq!(kept[0], (0x81, b"hello".to_vec()));
            assert_eq!(kept[1].1, mid);
            assert_eq!(kept[2], (0x89, b"p".to_vec()));
            assert_eq!(kept[3].1, big);
            assert_eq!(kept[4], (0x81, Vec::new()));
            let skipped = scan_in_pieces(&stream, piece, false);
            assert_eq!(skipped.len(), 5);
            assert!(skipped[0].1.is_empty() && skipped[3].1.is_empty());
            assert_eq!(skipped[2].1, b"p", "control frames are always kept");
        }
    }

    #[test]
    fn masked_server_frames_are_rejected() {
        let mut scanner = FrameScanner::default();
        let err = scanner.feed(&[0x81, 0x81, 1, 2, 3, 4, 5], false, &mut |_, _| {});
        assert_eq!(err, Err(ScanError::MaskedServerFrame));
    }

    #[test]
    fn masked_client_frames_unmask_to_the_payload() {
        for len in [0usize, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_masked(OP_TEXT, &payload, &mut out);
            assert_eq!(out[0], 0x81);
            assert!(out[1] & 0x80 != 0, "mask bit set");
            let (hl, n) = match out[1] & 0x7f {
                126 => (4, u16::from_be_bytes([out[2], out[3]]) as usize),
                127 => (
                    10,
                    u64::from_be_bytes(out[2..10].try_into().expect("8 bytes")) as usize,
                ),
                n => (2, n as usize),
            };
            assert_eq!(n, len);
            let key = &out[hl..hl + 4];
            let unmasked: Vec<u8> = out[hl + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i & 3])
                .collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn upgrade_response_is_checked() {
        let mut ok =
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept: {ACCEPT}\r\n\r\n")
                .into_bytes();
        ok.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(check_upgrade(&ok), Upgrade::Done(ok.len() - 2));
        assert_eq!(
            check_upgrade(b"HTTP/1.1 101 Switching"),
            Upgrade::Incomplete
        );
        assert!(
            matches!(check_upgrade(b"HTTP/1.1 404 Not Found\r\n\r\n"), Upgrade::Refused(s) if s.contains("404"))
        );
        let wrong = "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(matches!(
            check_upgrade(wrong.as_bytes()),
            Upgrade::Refused(_)
        ));
    }

    #[test]
    fn compressed_payloads_are_inflated() {
        // RFC 7692 §7.2.3.1: "Hello" compressed.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(
            message_payload(0x81 | RSV1, &hello).as_deref(),
            Some(&b"Hello"[..])
        );
        assert_eq!(
            message_payload(0x81, b"plain").as_deref(),
            Some(&b"plain"[..])
        );
        assert_eq!(message_payload(0x81 | RSV1, &[0xff; 8]), None);
    }
}
