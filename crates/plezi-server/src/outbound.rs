//! The outbound queue of one connection: already-encoded chunks waiting for the socket.
//!
//! Chunks are either owned bytes (small frames and response heads are coalesced into the tail
//! chunk) or shared, reference-counted bytes (a broadcast frame encoded once for every receiver,
//! a static response body). [`OutQueue::write_to`] flushes with vectored writes over up to
//! [`MAX_IOVECS`] chunks per system call. An empty queue owns no heap memory, and one chunk queued
//! on an empty queue (a broadcast frame to an idle connection) needs none either.
//!
//! Public as a low-level building block (benchmarks use it); applications write through
//! `WebSocket` and `ServerHandle` instead.
//!
//! ```
//! use plezi_server::{SharedFrame, outbound::{Flush, OutQueue}};
//! let frame = SharedFrame::text("hi");
//! let mut queues: Vec<OutQueue> = (0..3).map(|_| OutQueue::default()).collect();
//! for q in &mut queues {
//!     q.push_frame(frame.clone()); // shares the bytes, no copy
//! }
//! let mut sink = Vec::new();
//! assert_eq!(queues[0].write_to(&mut sink).unwrap(), Flush::Drained);
//! assert_eq!(sink, frame.as_bytes());
//! ```

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

use crate::ws::SharedFrame;

/// Most chunks handed to one `writev` call.
pub const MAX_IOVECS: usize = 64;

/// Owned tail chunks grow by coalescing small writes until they reach this size.
const COALESCE_LIMIT: usize = 16 * 1024;

/// One queued piece of output.
enum Chunk {
    /// Bytes owned by this connection alone.
    Owned(Vec<u8>),
    /// An encoded WebSocket frame shared with other connections.
    Frame(SharedFrame),
    /// Shared bytes of an HTTP response body.
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Frame(f) => f.as_bytes(),
            Chunk::Shared(b) => b,
        }
    }
}

/// The queued chunks, oldest first. The first one lives inline, so a connection that gets one
/// frame at a time (an idle receiver of broadcasts) never allocates to queue it; only a second
/// chunk waiting behind the first uses the deque, itself boxed so that an idle connection carries
/// one pointer for it rather than a whole `VecDeque`.
#[derive(Default)]
struct Chunks {
    /// The oldest chunk; `None` only when `rest` is empty too.
    first: Option<Chunk>,
    #[expect(
        clippy::box_collection,
        reason = "an idle connection holds one pointer here instead of a 32-byte VecDeque"
    )]
    rest: Option<Box<VecDeque<Chunk>>>,
}

impl Chunks {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_ref().map_or(0, |r| r.len())
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn push_back(&mut self, chunk: Chunk) {
        if self.first.is_none() {
            self.first = Some(chunk);
        } else {
            self.rest.get_or_insert_default().push_back(chunk);
        }
    }

    fn front(&self) -> Option<&Chunk> {
        self.first.as_ref()
    }

    fn pop_front(&mut self) -> Option<Chunk> {
        let first = self.first.take();
        self.first = self.rest.as_mut().and_then(|r| r.pop_front());
        first
    }

    fn back(&self) -> Option<&Chunk> {
        self.rest
            .as_ref()
            .and_then(|r| r.back())
            .or(self.first.as_ref())
    }

    fn back_mut(&mut self) -> Option<&mut Chunk> {
        match self.rest.as_mut().and_then(|r| r.back_mut()) {
            Some(c) => Some(c),
            None => self.first.as_mut(),
        }
    }

    fn pop_back(&mut self) -> Option<Chunk> {
        self.rest
            .as_mut()
            .and_then(|r| r.pop_back())
            .or_else(|| self.first.take())
    }

    fn iter(&self) -> impl Iterator<Item = &Chunk> {
        self.first
            .iter()
            .chain(self.rest.iter().flat_map(|r| r.iter()))
    }

    /// Heap memory held for chunks waiting behind the first (0 when none ever waited or the queue
    /// was drained).
    #[cfg(test)]
    fn rest_capacity(&self) -> usize {
        self.rest.as_ref().map_or(0, |r| r.capacity())
    }
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Everything queued was written (or nothing was queued).
    Drained,
    /// The kernel buffer is full; wait for a writable event.
    Blocked,
}

/// A connection's queue of outbound bytes.
#[derive(Default)]
pub struct OutQueue {
    chunks: Chunks,
    /// Bytes of the first chunk already written.
    offset: usize,
    /// Bytes queued and not yet written.
    pending: usize,
}

impl OutQueue {
    /// Bytes queued and not yet written to the socket.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// True when nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Queues an owned buffer.
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.pending += bytes.len();
        if let Some(Chunk::Owned(tail)) = self.chunks.back_mut()
            && tail.len() + bytes.len() <= COALESCE_LIMIT
        {
            tail.extend_from_slice(&bytes);
            return;
        }
        self.chunks.push_back(Chunk::Owned(bytes));
    }

    /// Queues a frame shared with other connections (no copy).
    pub fn push_frame(&mut self, frame: SharedFrame) {
        let len = frame.as_bytes().len();
        if len == 0 {
            return;
        }
        self.pending += len;
        self.chunks.push_back(Chunk::Frame(frame));
    }

    /// Queues shared body bytes (no copy).
    pub fn push_shared(&mut self, bytes: Arc<[u8]>) {
        if bytes.is_empty() {
            return;
        }
        self.pending += bytes.len();
        self.chunks.push_back(Chunk::Shared(bytes));
    }

    /// Lets `encode` append bytes straight into the owned tail chunk (creating one if the tail is
    /// shared or already large), so small frames need no buffer of their own.
    pub fn append_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let reuse = matches!(self.chunks.back(), Some(Chunk::Owned(t)) if t.len() < COALESCE_LIMIT);
        if !reuse {
            self.chunks.push_back(Chunk::Owned(Vec::new()));
        }
        let Some(Chunk::Owned(tail)) = self.chunks.back_mut() else {
            unreachable!("an owned tail chunk was just ensured");
        };
        let before = tail.len();
        encode(tail);
        let added = tail.len() - before;
        self.pending += added;
        if tail.is_empty() {
            self.chunks.pop_back();
        }
    }

    /// Drops every chunk that has not started to go out. A partly written chunk stays, so the
    /// byte stream is never cut inside a frame. Returns the bytes dropped.
    pub fn drop_unstarted(&mut self) -> usize {
        let keep = usize::from(self.offset > 0);
        let mut dropped = 0;
        while self.chunks.len() > keep {
            if let Some(c) = self.chunks.pop_back() {
                dropped += c.bytes().len();
            }
        }
        self.pending -= dropped;
        if self.chunks.is_empty() {
            self.release();
        }
        dropped
    }

    /// Writes as much as the writer accepts, with vectored writes.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> io::Result<Flush> {
        while self.pending > 0 {
            if self.chunks.len() == 1 {
                // The common case (one frame or one coalesced buffer): a plain write.
                let Some(only) = self.chunks.front() else {
                    break;
                };
                let bytes = &only.bytes()[self.offset..];
                match w.write(bytes) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            let mut slices: [IoSlice<'_>; MAX_IOVECS] = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
                let bytes = chunk.bytes();
                slices[i] = IoSlice::new(if i == 0 { &bytes[self.offset..] } else { bytes });
                count += 1;
            }
            match w.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Flush::Drained)
    }

    fn advance(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            let Some(first) = self.chunks.front() else {
                break;
            };
            let rest = first.bytes().len() - self.offset;
            if n >= rest {
                n -= rest;
                self.offset = 0;
                self.chunks.pop_front();
            } else {
                self.offset += n;
                n = 0;
            }
        }
        if self.chunks.is_empty() {
            self.release();
        }
    }

    /// Frees the deque's buffer: an idle connection keeps no outbound memory.
    fn release(&mut self) {
        self.chunks = Chunks::default();
        self.offset = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `limit` bytes per call, and `budget` bytes in total before
    /// it reports WouldBlock.
    struct Throttled {
        out: Vec<u8>,
        limit: usize,
        budget: usize,
        calls: usize,
    }

    impl Write for Throttled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n).min(self.budget - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
            }
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn writer(limit: usize, budget: usize) -> Throttled {
        Throttled {
            out: Vec::new(),
            limit,
            budget,
            calls: 0,
        }
    }

    #[test]
    fn mixed_chunks_flush_in_order_across_partial_writes() {
        let mut q = OutQueue::default();
        q.push_owned(b"head|".to_vec());
        q.push_frame(SharedFrame::text("shared"));
        q.push_shared(Arc::from(&b"|body"[..]));
        q.append_with(|v| v.extend_from_slice(b"|tail"));
        let total = q.pending();
        let mut w = writer(3, usize::MAX);
        assert_eq!(q.write_to(&mut w).unwrap(), Flush::Drained);
        assert!(q.is_empty());
        assert_eq!(w.out.len(), total);
        assert!(w.out.starts_with(b"head|"));
        assert!(w.out.ends_with(b"|body|tail"));
    }

    #[test]
    fn blocked_writer_keeps_the_rest_and_resumes() {
        let mut q = OutQueue::default();
        q.push_owned(vec![1; 10]);
        q.push_shared(Arc::from(vec![2u8; 10]));
        let mut w = writer(100, 15);
        assert_eq!(q.write_to(&mut w).unwrap(), Flush::Blocked);
        assert_eq!(q.pending(), 5);
        w.budget = 100;
        assert_eq!(q.write_to(&mut w).unwrap(), Flush::Drained);
        let expect: Vec<u8> = [vec![1; 10], vec![2; 10]].concat();
        assert_eq!(w.out, expect);
    }

    #[test]
    fn small_owned_writes_coalesce_into_one_chunk() {
        let mut q = OutQueue::default();
        for _ in 0..100 {
            q.push_owned(vec![7; 10]);
            q.append_with(|v| v.push(8));
        }
        assert_eq!(q.chunks.len(), 1);
        assert_eq!(q.pending(), 1100);
    }

    #[test]
    fn one_writev_covers_many_shared_frames() {
        let mut q = OutQueue::default();
        let f = SharedFrame::text("x");
        for _ in 0..(MAX_IOVECS * 2) {
            q.push_frame(f.clone());
        }
        let mut w = writer(usize::MAX, usize::MAX);
        q.write_to(&mut w).unwrap();
        assert_eq!(w.calls, 2);
    }

    #[test]
    fn drop_unstarted_keeps_a_partly_written_chunk() {
        let mut q = OutQueue::default();
        q.push_shared(Arc::from(vec![1u8; 10]));
        q.push_shared(Arc::from(vec![2u8; 10]));
        let mut w = writer(100, 4);
        q.write_to(&mut w).unwrap();
        assert_eq!(q.drop_unstarted(), 10);
        assert_eq!(q.pending(), 6);
        w.budget = 100;
        q.write_to(&mut w).unwrap();
        assert_eq!(w.out, vec![1u8; 10]);
    }

    #[test]
    fn one_chunk_on_an_empty_queue_uses_no_deque() {
        let mut q = OutQueue::default();
        let f = SharedFrame::text("x");
        for _ in 0..3 {
            q.push_frame(f.clone());
            assert_eq!(q.chunks.rest_capacity(), 0);
            let mut w = writer(100, 100);
            assert_eq!(q.write_to(&mut w).unwrap(), Flush::Drained);
            assert_eq!(w.out, f.as_bytes());
        }
        q.push_frame(SharedFrame::text("a"));
        q.push_owned(b"b".to_vec());
        q.push_frame(SharedFrame::text("c"));
        assert_eq!(q.chunks.len(), 3);
        let mut w = writer(2, 100);
        q.write_to(&mut w).unwrap();
        assert_eq!(w.out, [0x81, 1, b'a', b'b', 0x81, 1, b'c']);
        assert!(q.chunks.is_empty() && q.chunks.rest_capacity() == 0);
    }

    #[test]
    fn drained_queue_frees_its_buffer() {
        let mut q = OutQueue::default();
        q.push_owned(vec![1; 10]);
        q.write_to(&mut writer(100, 100)).unwrap();
        assert_eq!(q.chunks.rest_capacity(), 0);
    }
}
