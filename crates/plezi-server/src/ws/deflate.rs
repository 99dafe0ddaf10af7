//! The permessage-deflate codec (RFC 7692 §7.2): raw DEFLATE through `flate2` (zlib-rs backend),
//! with no state kept between messages and none kept per connection.
//!
//! Every message is compressed on its own (the compressor is reset before each one) and clients
//! are told not to keep a context either (`client_no_context_takeover`), so one message's bytes
//! never depend on an earlier one's. That is what lets a broadcast be compressed once for every
//! receiver, and lets the compressor and the inflater live per thread (per event loop) instead of
//! per connection: an idle connection holds no DEFLATE state at all.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::decode::ProtocolError;

/// Smallest LZ77 window the compressor can use: zlib (and zlib-rs) refuse 8 bits for raw DEFLATE.
/// A 9-bit compressor never emits a distance over `512 - 262 = 250` bytes (its `MAX_DIST`), so
/// its output also inflates with a 256-byte window: a client asking `server_max_window_bits=8`
/// gets it (zlib itself maps 8 to 9 for the same reason).
pub(crate) const MIN_COMPRESS_WINDOW_BITS: u8 = 9;
/// Largest LZ77 window (32 KiB).
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// The 4 bytes a sync flush ends with; RFC 7692 §7.2.1 removes them from the wire and §7.2.2 has
/// the receiver append them again.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib level 6: small chat messages are dominated by per-message set-up, not by the search, and a
/// broadcast is compressed once for all its receivers, so the better ratio is worth it.
const LEVEL: u32 = 6;

/// Inflated output is produced in steps of this many bytes, so a message is never inflated much
/// past the size limit.
const INFLATE_STEP: usize = 64 * 1024;

/// Largest inflate buffer a loop keeps between messages; a bigger one (after a large message) is
/// freed.
const KEEP_INFLATE_BUFFER: usize = 256 * 1024;

/// Messages compressed since the process started (tests use it to check that a broadcast is
/// compressed once).
static DEFLATED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// One compressor per window size this thread needed, created on first use.
    static COMPRESSORS: RefCell<[Option<Compress>; 7]> = const { RefCell::new([const { None }; 7]) };
    /// The thread's inflater (32 KiB window: it accepts every client window size) and its output
    /// buffer.
    static INFLATER: RefCell<Option<(Decompress, Vec<u8>)>> = const { RefCell::new(None) };
}

/// How many messages were compressed so far in this process.
#[cfg(any(test, feature = "internals"))]
pub fn deflated_messages() -> u64 {
    DEFLATED.load(Ordering::Relaxed)
}

/// Compresses `payload` as one permessage-deflate message with an LZ77 window of `window_bits`
/// (9..=15) and appends the result (without the 4-byte tail) to `out`. Incompressible data grows
/// by a few bytes (stored blocks) and is still sent compressed: a peer then sees every message
/// over the threshold compressed, which some test harnesses expect. Returns `false`, leaving `out`
/// as it was, only if the compressor fails (it does not on valid input): the message then goes
/// out uncompressed (RFC 7692 §6 lets each message choose).
pub(crate) fn compress(window_bits: u8, payload: &[u8], out: &mut Vec<u8>) -> bool {
    let bits = window_bits.clamp(MIN_COMPRESS_WINDOW_BITS, MAX_WINDOW_BITS);
    let start = out.len();
    let ok = COMPRESSORS.with(|cell| {
        let mut compressors = cell.borrow_mut();
        let slot = &mut compressors[usize::from(bits - MIN_COMPRESS_WINDOW_BITS)];
        let c = slot.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(LEVEL), false, bits)
        });
        c.reset();
        run_compress(c, payload, out)
    });
    DEFLATED.fetch_add(1, Ordering::Relaxed);
    if ok && out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
        true
    } else {
        out.truncate(start);
        false
    }
}

/// Feeds the whole payload with a sync flush. The flush is complete once a call returns with room
/// left in the output (zlib's rule).
fn run_compress(c: &mut Compress, payload: &[u8], out: &mut Vec<u8>) -> bool {
    let start_in = c.total_in();
    loop {
        out.reserve(payload.len() / 2 + 64);
        let consumed = (c.total_in() - start_in) as usize;
        if c.compress_vec(&payload[consumed..], out, FlushCompress::Sync)
            .is_err()
        {
            return false;
        }
        if (c.total_in() - start_in) as usize == payload.len() && out.len() < out.capacity() {
            return true;
        }
    }
}

/// Inflates one permessage-deflate message (`compressed` as received, without the tail) and calls
/// `f` with the result. The inflated size counts against `limit`: more is refused with 1009
/// without inflating further than one step past it. Bad DEFLATE data is 1007.
pub(crate) fn inflate<R>(
    compressed: &[u8],
    limit: usize,
    f: impl FnOnce(&[u8]) -> Result<R, ProtocolError>,
) -> Result<R, ProtocolError> {
    // Taken out of the thread-local for the call, so `f` (a handler) may itself use the codec.
    let (mut d, mut buf) = INFLATER
        .with(|cell| cell.borrow_mut().take())
        .unwrap_or_else(|| {
            (
                Decompress::new_with_window_bits(false, MAX_WINDOW_BITS),
                Vec::new(),
            )
        });
    d.reset(false);
    buf.clear();
    let result = match run_inflate(&mut d, compressed, limit, &mut buf) {
        Ok(()) => f(&buf),
        Err(e) => Err(e),
    };
    if buf.capacity() > KEEP_INFLATE_BUFFER {
        buf = Vec::new();
    }
    buf.clear();
    INFLATER.with(|cell| *cell.borrow_mut() = Some((d, buf)));
    result
}

/// The message, then the tail, through the inflater into `out` (at most `limit` bytes).
fn run_inflate(
    d: &mut Decompress,
    compressed: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    for input in [compressed, &TAIL[..]] {
        let start_in = d.total_in();
        loop {
            let consumed = (d.total_in() - start_in) as usize;
            let len = out.len();
            if len > limit {
                return Err(ProtocolError::TOO_BIG);
            }
            // One byte past the limit is enough to know the message is too big.
            let room = INFLATE_STEP.min(limit + 1 - len);
            out.resize(len + room, 0);
            let before_out = d.total_out();
            let status = d
                .decompress(&input[consumed..], &mut out[len..], FlushDecompress::Sync)
                .map_err(|_| ProtocolError::BAD_DEFLATE)?;
            let produced = (d.total_out() - before_out) as usize;
            out.truncate(len + produced);
            if status == Status::StreamEnd {
                // A final block: anything after it (the tail) is ignored.
                return if out.len() > limit {
                    Err(ProtocolError::TOO_BIG)
                } else {
                    Ok(())
                };
            }
            let done_in = (d.total_in() - start_in) as usize == input.len();
            if done_in && produced < room {
                break;
            }
            if produced == 0 && (d.total_in() - start_in) as usize == consumed && !done_in {
                // No progress with room to spare: the data is broken.
                return Err(ProtocolError::BAD_DEFLATE);
            }
        }
    }
    if out.len() > limit {
        return Err(ProtocolError::TOO_BIG);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(bits: u8, data: &[u8]) -> Vec<u8> {
        let mut c = Vec::new();
        assert!(compress(bits, data, &mut c), "compressible");
        inflate(&c, usize::MAX - 1, |plain| Ok(plain.to_vec())).unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let text = b"{\"event\":\"chat\",\"message\":\"hello\"} ";
                text[i % text.len()] ^ (i / 4096) as u8
            })
            .collect()
    }

    #[test]
    fn roundtrip_every_window_size() {
        let data = sample(200_000);
        for bits in 8..=15 {
            assert_eq!(roundtrip(bits, &data), data, "bits {bits}");
        }
    }

    #[test]
    fn small_windows_inflate_with_the_window_they_promise() {
        // Distances of 300 bytes fit a 9-bit window but not an 8-bit one: the 8-bit (really
        // 9-bit) compressor must still produce data a 256-byte window inflates.
        let block: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        let data = block.repeat(50);
        for (asked, inflate_bits) in [(8u8, 8u8), (9, 9), (12, 12)] {
            let mut c = Vec::new();
            assert!(compress(asked, &data, &mut c));
            c.extend_from_slice(&TAIL);
            // zlib-rs inflates raw DEFLATE with at least a 9-bit window; 8 is checked through
            // MAX_DIST (250 < 256), see MIN_COMPRESS_WINDOW_BITS.
            let mut d = Decompress::new_with_window_bits(false, inflate_bits.max(9));
            let mut out = vec![0; data.len() + 16];
            d.decompress(&c, &mut out, FlushDecompress::Sync).unwrap();
            assert_eq!(&out[..d.total_out() as usize], &data[..], "asked {asked}");
        }
    }

    #[test]
    fn incompressible_data_grows_by_a_few_bytes() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let mut out = b"head".to_vec();
        assert!(compress(15, &noise, &mut out));
        assert!(out.len() - 4 <= noise.len() + 8, "{}", out.len());
        assert_eq!(&out[..4], b"head");
        let plain = inflate(&out[4..], 1000, |p| Ok(p.to_vec())).unwrap();
        assert_eq!(plain, noise);
    }

    #[test]
    fn the_inflated_size_is_limited() {
        let zeros = vec![0u8; 10 << 20];
        let mut c = Vec::new();
        assert!(compress(15, &zeros, &mut c));
        assert!(c.len() < 20_000);
        let err = inflate(&c, 1 << 20, |_| Ok(())).unwrap_err();
        assert_eq!(err.close_code, 1009);
        // Exactly at the limit is fine; one byte less is not.
        assert_eq!(inflate(&c, 10 << 20, |p| Ok(p.len())), Ok(10 << 20));
        assert_eq!(
            inflate(&c, (10 << 20) - 1, |_| Ok(()))
                .unwrap_err()
                .close_code,
            1009
        );
    }

    #[test]
    fn broken_data_is_1007() {
        let err = inflate(&[0xff, 0xff, 0xff, 0xff, 0x00], 1000, |_| Ok(())).unwrap_err();
        assert_eq!(err.close_code, 1007);
        // The inflater is usable again after an error.
        assert_eq!(roundtrip(15, &sample(1000)), sample(1000));
    }

    #[test]
    fn a_final_block_and_the_empty_message_inflate() {
        // BFINAL=1 empty fixed block: 0x03 0x00 (RFC 7692 §7.2.3.4 allows BFINAL).
        assert_eq!(inflate(&[0x03, 0x00], 10, |p| Ok(p.len())), Ok(0));
        // An empty message (RFC 7692 §7.2.3.6: a single 0x00).
        assert_eq!(inflate(&[0x00], 10, |p| Ok(p.len())), Ok(0));
        // RFC 7692 §7.2.3.1's "Hello".
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(
            inflate(&hello, 10, |p| Ok(p.to_vec())),
            Ok(b"Hello".to_vec())
        );
    }
}
