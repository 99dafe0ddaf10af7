//! Heap allocations per request head, counted by a global allocator that wraps the system one.
//!
//! The allocator is installed for this crate's unit-test binary only; it counts per thread, so
//! tests running in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;

use super::{HeadParse, HttpLimits, Request, parse_head};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the slot may already be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a thread-local `Cell` whose access does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` came from this allocator, which is `System` underneath.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System` underneath.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

/// What `wrk` sends.
const WRK_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n";

/// A browser navigation with 10 header fields (the same head as the `http` criterion bench).
const BROWSER_GET: &[u8] = b"GET /articles/2024/hello-world?ref=home HTTP/1.1\r\n\
Host: localhost:3000\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Cookie: session=3f1c2a9e8b7d6c5f4e3d2c1b0a998877; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\r\n";

/// Allocations of `parse_head` followed by `Request::from_head`, and the request's header count.
fn head_allocations(raw: &[u8]) -> (usize, usize) {
    let limits = HttpLimits::default();
    let peer = SocketAddr::from(([127, 0, 0, 1], 9));
    let (n, req) = allocations(|| match parse_head(raw, &limits) {
        Ok(HeadParse::Complete { head, .. }) => Request::from_head(head, Vec::new(), peer),
        other => panic!("test head did not parse: {other:?}"),
    });
    (n, req.headers().count())
}

#[test]
fn a_request_head_is_one_allocation() {
    // Before the head was kept in one buffer: 5 for `wrk`'s head (method, target, the field
    // vector, a name and a value) and 23 for the browser's (3 + 2 per field); 85 for 41 fields.
    assert_eq!(head_allocations(WRK_GET), (1, 1));
    assert_eq!(head_allocations(BROWSER_GET), (1, 10));
}

#[test]
fn many_fields_spill_once() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..40 {
        raw.extend_from_slice(format!("X-Field-{i}: {i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    // The text, and the offsets of the fields past the inline ones.
    assert_eq!(head_allocations(&raw), (2, 41));
}
