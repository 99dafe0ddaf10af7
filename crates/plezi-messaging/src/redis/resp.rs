//! A small RESP2 codec for the subscriber and publisher connections.
//!
//! The decoder is incremental (bytes arrive in any split; a read timeout never loses state) and bounded:
//! a bulk string longer than the limit is skipped as it streams in and shows up as [`Value::TooLarge`], so
//! a huge message on the bus costs no memory.

use std::fmt;

/// A decoded RESP2 value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// A bulk string over the limit, skipped; the length it had.
    TooLarge(usize),
    Nil,
    Array(Vec<Value>),
}

impl Value {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Simple(b) | Value::Bulk(b) => Some(b),
            _ => None,
        }
    }
}

/// The peer broke the protocol; the connection must be dropped.
#[derive(Debug)]
pub(crate) struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RESP protocol error: {}", self.0)
    }
}

const MAX_LINE: usize = 64 * 1024;
const MAX_ARRAY: i64 = 1 << 20;
const MAX_DEPTH: usize = 8;

pub(crate) struct Decoder {
    buf: Vec<u8>,
    start: usize,
    max_bulk: usize,
    /// Bytes of an oversized bulk string (with its CRLF) still to discard, and its announced length.
    skipping: Option<(usize, usize)>,
    stack: Vec<(usize, Vec<Value>)>,
}

impl Decoder {
    pub fn new(max_bulk: usize) -> Decoder {
        Decoder {
            buf: Vec::with_capacity(16 * 1024),
            start: 0,
            max_bulk,
            skipping: None,
            stack: Vec::new(),
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, mut data: &[u8]) {
        if let Some((left, len)) = self.skipping {
            let n = left.min(data.len());
            data = &data[n..];
            self.skipping = Some((left - n, len));
        }
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete top-level value, if the buffered bytes hold one.
    pub fn next(&mut self) -> Result<Option<Value>, ProtocolError> {
        loop {
            let value = if let Some((left, len)) = self.skipping {
                if left > 0 {
                    return Ok(None);
                }
                self.skipping = None;
                Value::TooLarge(len)
            } else {
                match self.token()? {
                    Token::Incomplete => return Ok(None),
                    Token::ArrayStart(n) => {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(ProtocolError("arrays nested too deep".into()));
                        }
                        self.stack.push((n, Vec::with_capacity(n.min(64))));
                        continue;
                    }
                    Token::SkipStarted => continue,
                    Token::Value(v) => v,
                }
            };
            // Attach the finished value to the innermost open array, closing arrays as they fill.
            let mut value = value;
            loop {
                let Some((remaining, items)) = self.stack.last_mut() else {
                    return Ok(Some(value));
                };
                items.push(value);
                *remaining -= 1;
                if *remaining > 0 {
                    break;
                }
                let (_, items) = self.stack.pop().unwrap_or_default();
                value = Value::Array(items);
            }
        }
    }

    fn token(&mut self) -> Result<Token, ProtocolError> {
        let avail = &self.buf[self.start..];
        let Some(eol) = avail.windows(2).position(|w| w == b"\r\n") else {
            if avail.len() > MAX_LINE {
                return Err(ProtocolError("line too long".into()));
            }
            return Ok(Token::Incomplete);
        };
        let line = &avail[1..eol];
        let after_line = self.start + eol + 2;
        let kind = avail.first().copied().unwrap_or(0);
        let token = match kind {
            b'+' => Token::Value(Value::Simple(line.to_vec())),
            b'-' => Token::Value(Value::Error(line.to_vec())),
            b':' => Token::Value(Value::Int(parse_int(line)?)),
            b'$' => {
                let len = parse_int(line)?;
                if len < 0 {
                    Token::Value(Value::Nil)
                } else if len as u64 > self.max_bulk as u64 {
                    let len = len as usize;
                    let here = self.buf.len() - after_line;
                    let total = len + 2;
                    let n = here.min(total);
                    self.start = after_line + n;
                    self.skipping = Some((total - n, len));
                    return Ok(Token::SkipStarted);
                } else {
                    let len = len as usize;
                    if self.buf.len() < after_line + len + 2 {
                        return Ok(Token::Incomplete);
                    }
                    let data = self.buf[after_line..after_line + len].to_vec();
                    if &self.buf[after_line + len..after_line + len + 2] != b"\r\n" {
                        return Err(ProtocolError("bulk string without CRLF".into()));
                    }
                    self.start = after_line + len + 2;
                    return Ok(Token::Value(Value::Bulk(data)));
                }
            }
            b'*' => {
                let n = parse_int(line)?;
                if n > MAX_ARRAY {
                    return Err(ProtocolError("array too long".into()));
                }
                self.start = after_line;
                return Ok(match n {
                    n if n < 0 => Token::Value(Value::Nil),
                    0 => Token::Value(Value::Array(Vec::new())),
                    n => Token::ArrayStart(n as usize),
                });
            }
            other => return Err(ProtocolError(format!("unexpected type byte {other:#x}"))),
        };
        self.start = after_line;
        Ok(token)
    }
}

enum Token {
    Incomplete,
    ArrayStart(usize),
    SkipStarted,
    Value(Value),
}

fn parse_int(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProtocolError(format!("bad integer {:?}", String::from_utf8_lossy(line))))
}

/// Appends one command (an array of bulk strings) to `out`.
pub(crate) fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_decimal(out, args.len() as u64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        bulk(out, arg);
    }
}

/// Appends one bulk string.
pub(crate) fn bulk(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    push_decimal(out, arg.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal without allocating.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut Decoder) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = d.next().unwrap() {
            out.push(v);
        }
        out
    }

    #[test]
    fn decodes_pubsub_frames_split_anywhere() {
        let wire = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n:42\r\n+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n";
        let expected = vec![
            Value::Array(vec![
                Value::Bulk(b"message".to_vec()),
                Value::Bulk(b"ch".to_vec()),
                Value::Bulk(b"hello".to_vec()),
            ]),
            Value::Int(42),
            Value::Simple(b"OK".to_vec()),
            Value::Array(vec![
                Value::Bulk(b"subscribe".to_vec()),
                Value::Bulk(b"a".to_vec()),
                Value::Int(1),
            ]),
        ];
        for split in 0..wire.len() {
            let mut d = Decoder::new(1024);
            d.feed(&wire[..split]);
            let mut got = all(&mut d);
            d.feed(&wire[split..]);
            got.extend(all(&mut d));
            assert_eq!(got, expected, "split at {split}");
        }
        // Byte by byte.
        let mut d = Decoder::new(1024);
        let mut got = Vec::new();
        for b in wire {
            d.feed(&[*b]);
            got.extend(all(&mut d));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn skips_oversized_bulks_without_buffering_them() {
        let mut wire = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$100\r\n".to_vec();
        wire.extend(std::iter::repeat_n(b'x', 100));
        wire.extend(b"\r\n:7\r\n");
        for chunk in [1usize, 3, 50, 1000] {
            let mut d = Decoder::new(10);
            let mut got = Vec::new();
            for part in wire.chunks(chunk) {
                d.feed(part);
                got.extend(all(&mut d));
                assert!(d.buf.len() < 64 + chunk, "buffered {}", d.buf.len());
            }
            assert_eq!(
                got,
                vec![
                    Value::Array(vec![
                        Value::Bulk(b"message".to_vec()),
                        Value::Bulk(b"ch".to_vec()),
                        Value::TooLarge(100)
                    ]),
                    Value::Int(7)
                ]
            );
        }
    }

    #[test]
    fn rejects_protocol_violations() {
        for bad in [&b"?x\r\n"[..], b":abc\r\n", b"$3\r\nabcde\r\n"] {
            let mut d = Decoder::new(1024);
            d.feed(bad);
            assert!(d.next().is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        command(&mut out, &[b"PUBLISH", b"ch", b"hi"]);
        assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\nhi\r\n");
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut v = Vec::new();
            push_decimal(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
        }
    }
}
