//! Test support shared by the tests of every plezi crate. Everything here waits with a deadline and
//! fails loudly (with what to install, or what was seen) instead of hanging or skipping.
//!
//! - [`wait`]: [`DEADLINE`], [`eventually`], [`wait_until`]: polling with a deadline where no event
//!   can be awaited;
//! - [`redis`]: a real `redis-server` child process on a free port, raw commands, a pattern
//!   subscriber;
//! - [`redis_cluster`]: a real Redis Cluster (three masters, one replica each) on free ports, and
//!   a master killed to make its replica take over;
//! - [`http`]: one HTTP/1.1 request over a fresh connection;
//! - [`ws`]: a blocking WebSocket client for JSON events (tungstenite);
//! - [`raw`]: a raw TCP client that reads HTTP responses and hand-made WebSocket frames, trusting
//!   nothing the server sends;
//! - [`fuzz`]: replays fuzz bodies over their seeds, saved reproducers and mutated inputs on
//!   stable Rust;
//! - [`tls`]: a CA, server and client certificates made by the test (for `redis-server
//!   --tls-port`);
//! - [`tools`]: external programs (Node, Python, Chromium): presence checks and a bounded runner.
//!
//! This crate is a dev-dependency only and depends on no plezi crate, so a crate's tests never
//! build a second copy of the crate under test.

pub mod fuzz;
pub mod http;
pub mod raw;
pub mod redis;
pub mod redis_cluster;
pub mod tls;
pub mod tools;
pub mod wait;
pub mod ws;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

pub use wait::{DEADLINE, eventually, wait_until};

/// A local port nobody listens on right now, and one this process never handed out before.
///
/// Never twice: the nodes of a Redis Cluster keep calling a node that a test killed, at its address,
/// for as long as they run. A node of another test's cluster started on that port would answer them,
/// and the two clusters would merge.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port on 127.0.0.1");
        if handed_out.insert(port) {
            return port;
        }
    }
    panic!("no port on 127.0.0.1 that this process has not handed out already")
}

/// Makes closing `stream` reset the connection (`SO_LINGER` 0: the kernel sends RST, not FIN, and
/// drops whatever was not read), as a client whose network failed looks to the server. Drop the
/// stream (or its owner) after this call.
pub fn reset_on_close(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is the open socket `stream` owns; the option value is a valid `linger`
    // of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt(SO_LINGER): {}",
        std::io::Error::last_os_error()
    );
}

/// Sends `log` records at `Info` and above to stderr (once per test binary; later calls do
/// nothing).
pub fn init_log() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("[{}] {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let _ = log::set_logger(&LOGGER).map(|()| log::set_max_level(log::LevelFilter::Info));
}
