//! Incremental request-body decoding for `Content-Length` and chunked framing.
//!
//! The decoder consumes every byte it is given (chunk-size lines, extensions and trailers are
//! decoded byte by byte into a small state machine), so the caller never has to keep a partial
//! line around and a peer cannot grow the read buffer with an endless chunk extension.

use super::{BodyKind, HttpError};

/// Longest chunk-size line (size, extensions) accepted, in bytes.
const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Exactly this many body bytes remain (`Content-Length`).
    Length(u64),
    /// Reading the hex digits of a chunk size.
    Size { size: u64, digits: u8 },
    /// Whitespace after the size, before `;` or CR.
    SizeSpace { size: u64 },
    /// Inside chunk extensions (ignored) until CR.
    Extension { size: u64 },
    /// Saw CR after the size line; expecting LF.
    SizeLf { size: u64 },
    /// Copying chunk data; this many bytes remain.
    Data(u64),
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line (skipped) until CR.
    TrailerLine,
    /// Saw CR inside a trailer line; expecting LF.
    TrailerLf,
    /// Saw CR at the start of a line: expecting the final LF.
    EndLf,
    /// The whole body has been read.
    Done,
}

/// Decodes a request body incrementally. Create one per request from [`super::RequestHead::body`].
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    max_body: u64,
    received: u64,
    line_bytes: usize,
    trailer_bytes: usize,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`, failing with 413 once more than `max_body` bytes
    /// of body arrive.
    pub fn new(kind: &BodyKind, max_body: usize) -> BodyDecoder {
        let state = match *kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Size { size: 0, digits: 0 },
        };
        BodyDecoder {
            state,
            max_body: max_body as u64,
            received: 0,
            line_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// Whether the whole body has been decoded; bytes after it belong to the next request.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes decoded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Decodes from `input`, appends body bytes to `out`, and returns how many bytes of `input`
    /// were consumed. Stops at the end of the body, so pipelined data after it is left in `input`.
    ///
    /// Errors (400 and close): a chunk size that is not hex, overflows, or is not ended by CRLF;
    /// chunk data not followed by CRLF; an over-long size line or trailer section. 413 when the body
    /// exceeds `max_body`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, HttpError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::Length(remaining) | State::Data(remaining) => {
                    let n = remaining.min((input.len() - pos) as u64) as usize;
                    self.take_body(&input[pos..pos + n], out)?;
                    pos += n;
                    let left = remaining - n as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::DataCr,
                        (_, _) => State::Data(left),
                    };
                }
                _ => {
                    self.step(input[pos])?;
                    pos += 1;
                }
            }
        }
        Ok(pos)
    }

    fn take_body(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), HttpError> {
        self.received += data.len() as u64;
        if self.received > self.max_body {
            return Err(HttpError::BodyTooLarge);
        }
        out.extend_from_slice(data);
        Ok(())
    }

    fn size_line_byte(&mut self) -> Result<(), HttpError> {
        self.line_bytes += 1;
        if self.line_bytes > MAX_CHUNK_LINE {
            return Err(HttpError::BadRequest("chunk size line too long"));
        }
        Ok(())
    }

    /// One byte of framing (everything except body data).
    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        const BAD_SIZE: HttpError = HttpError::BadRequest("invalid chunk size");
        self.state = match self.state {
            State::Size { size, digits } => {
                self.size_line_byte()?;
                if let Some(d) = (b as char).to_digit(16) {
                    if digits >= 16 {
                        return Err(BAD_SIZE);
                    }
                    State::Size {
                        size: size * 16 + u64::from(d),
                        digits: digits + 1,
                    }
                } else if digits == 0 {
                    return Err(BAD_SIZE);
                } else {
                    match b {
                        b'\r' => State::SizeLf { size },
                        b';' => State::Extension { size },
                        b' ' | b'\t' => State::SizeSpace { size },
                        _ => return Err(BAD_SIZE),
                    }
                }
            }
            State::SizeSpace { size } => {
                self.size_line_byte()?;
                match b {
                    b' ' | b'\t' => State::SizeSpace { size },
                    b';' => State::Extension { size },
                    b'\r' => State::SizeLf { size },
                    _ => return Err(BAD_SIZE),
                }
            }
            State::Extension { size } => {
                self.size_line_byte()?;
                match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' | 0 => return Err(HttpError::BadRequest("invalid chunk extension")),
                    _ => State::Extension { size },
                }
            }
            State::SizeLf { size } => {
                if b != b'\n' {
                    return Err(BAD_SIZE);
                }
                self.line_bytes = 0;
                if size == 0 {
                    State::TrailerStart
                } else if self.received.saturating_add(size) > self.max_body {
                    return Err(HttpError::BodyTooLarge);
                } else {
                    State::Data(size)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { size: 0, digits: 0 },
            State::DataCr | State::DataLf => {
                return Err(HttpError::BadRequest("chunk data not followed by CRLF"));
            }
            State::TrailerStart if b == b'\r' => State::EndLf,
            State::TrailerStart | State::TrailerLine => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err(HttpError::BadRequest("chunked trailer section too large"));
                }
                match b {
                    b'\r' => State::TrailerLf,
                    b'\n' | 0 => return Err(HttpError::BadRequest("invalid trailer line")),
                    _ => State::TrailerLine,
                }
            }
            State::TrailerLf if b == b'\n' => State::TrailerStart,
            State::EndLf if b == b'\n' => State::Done,
            State::TrailerLf | State::EndLf => {
                return Err(HttpError::BadRequest("trailer line not ended by CRLF"));
            }
            State::Length(_) | State::Data(_) | State::Done => self.state,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn decode_all(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let mut d = BodyDecoder::new(&kind, MAX);
        let mut out = Vec::new();
        let used = d.decode(input, &mut out)?;
        Ok((out, used, d.is_done()))
    }

    /// Feeds `input` split at every index (two calls), checking the result never depends on the split.
    fn decode_split(kind: BodyKind, input: &[u8]) -> Result<(Vec<u8>, usize), HttpError> {
        let whole = decode_all(kind, input);
        for cut in 0..=input.len() {
            let mut d = BodyDecoder::new(&kind, MAX);
            let mut out = Vec::new();
            let mut used = 0;
            let r = d
                .decode(&input[..cut], &mut out)
                .and_then(|a| {
                    used += a;
                    // The decoder consumes everything before the end of the body.
                    if !d.is_done() {
                        assert_eq!(a, cut);
                    }
                    d.decode(&input[used..], &mut out)
                })
                .map(|b| (out, used + b, d.is_done()));
            assert_eq!(r, whole, "split at {cut}");
        }
        whole.map(|(out, used, done)| {
            assert!(done);
            (out, used)
        })
    }

    #[test]
    fn length_body_stops_at_the_end() {
        let (out, used) = decode_split(BodyKind::Length(5), b"helloGET /").unwrap();
        assert_eq!(out, b"hello");
        assert_eq!(used, 5);
    }

    #[test]
    fn none_is_done_at_once() {
        let d = BodyDecoder::new(&BodyKind::None, MAX);
        assert!(d.is_done());
        let (out, used, done) = decode_all(BodyKind::None, b"GET").unwrap();
        assert!(out.is_empty() && used == 0 && done);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"4;name=value\r\nWiki\r\n5 ; a=\"q\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0;last\r\nExpires: never\r\nX-Trailer: 1\r\n\r\nNEXT";
        let (out, used) = decode_split(BodyKind::Chunked, input).unwrap();
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&input[used..], b"NEXT");
    }

    #[test]
    fn chunked_upper_case_hex_and_leading_zeros() {
        let (out, _) = decode_split(BodyKind::Chunked, b"000A\r\n0123456789\r\n0\r\n\r\n").unwrap();
        assert_eq!(out, b"0123456789");
    }

    #[test]
    fn invalid_chunk_sizes_are_400() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b";ext\r\n",
            b"-1\r\n",
            b"+5\r\n",
            b"0x5\r\n",
            b"5\n",
            b"5\rX",
            b"11111111111111111\r\n", // 17 hex digits: overflows u64
            b"4\r\nWikiXX",
            b"4\r\nWiki\n",
            b"0\r\nTrailer: x\n\r\n",
            b"0\r\n\rX",
            b"5 6\r\n",
        ] {
            let r = decode_all(BodyKind::Chunked, bad);
            assert!(
                matches!(r, Err(HttpError::BadRequest(_))),
                "{:?} -> {r:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn sixteen_hex_digits_fit_but_exceed_the_body_limit() {
        let r = decode_all(BodyKind::Chunked, b"FFFFFFFFFFFFFFFF\r\n");
        assert_eq!(r, Err(HttpError::BodyTooLarge));
    }

    #[test]
    fn endless_extension_is_refused() {
        let mut input = b"5;".to_vec();
        input.resize(MAX_CHUNK_LINE + 10, b'a');
        assert!(matches!(
            decode_all(BodyKind::Chunked, &input),
            Err(HttpError::BadRequest(_))
        ));
    }

    #[test]
    fn endless_trailers_are_refused() {
        let mut input = b"0\r\n".to_vec();
        for _ in 0..2000 {
            input.extend_from_slice(b"X-Long: 0123456789\r\n");
        }
        assert!(matches!(
            decode_all(BodyKind::Chunked, &input),
            Err(HttpError::BadRequest(_))
        ));
    }

    #[test]
    fn body_limits_are_413() {
        let mut d = BodyDecoder::new(&BodyKind::Chunked, 8);
        let mut out = Vec::new();
        assert_eq!(d.decode(b"9\r\n", &mut out), Err(HttpError::BodyTooLarge));

        // Many small chunks adding up past the limit.
        let mut d = BodyDecoder::new(&BodyKind::Chunked, 8);
        let r = d.decode(b"5\r\nhello\r\n5\r\n", &mut out);
        assert_eq!(r, Err(HttpError::BodyTooLarge));

        let mut d = BodyDecoder::new(&BodyKind::Length(9), 8);
        assert_eq!(
            d.decode(b"123456789", &mut out),
            Err(HttpError::BodyTooLarge)
        );

        let mut d = BodyDecoder::new(&BodyKind::Length(8), 8);
        let mut out = Vec::new();
        assert_eq!(d.decode(b"12345678", &mut out), Ok(8));
        assert!(d.is_done());
        assert_eq!(d.received(), 8);
    }

    #[test]
    fn byte_by_byte_chunked() {
        let input = b"3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n";
        let mut d = BodyDecoder::new(&BodyKind::Chunked, MAX);
        let mut out = Vec::new();
        for b in input {
            assert!(!d.is_done());
            assert_eq!(d.decode(std::slice::from_ref(b), &mut out), Ok(1));
        }
        assert!(d.is_done());
        assert_eq!(out, b"abcde");
        assert_eq!(d.decode(b"more", &mut out), Ok(0));
    }
}
