//! Test support for the facade's integration tests: a real `redis-server` on a free port,
//! example programs as child processes, a blocking WebSocket client and an HTTP client. Every
//! wait has a deadline; nothing sleeps as synchronisation.
#![allow(dead_code, unused_imports)]

mod example;
mod redis;
mod ws;

use std::net::TcpListener;
use std::time::Duration;

pub use example::{ExampleProcess, HttpReply, example_path, http};
pub use redis::{RedisServer, RedisWatch, Resp};
pub use ws::Ws;

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}
