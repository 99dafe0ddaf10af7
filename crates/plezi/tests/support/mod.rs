//! Test support for the facade's integration tests: example programs as child processes, plus the
//! `redis-server`, WebSocket and HTTP clients of plezi-test-support. Every wait has a deadline;
//! nothing sleeps as synchronisation.
#![allow(dead_code, unused_imports)]

mod example;

pub use example::{ExampleProcess, example_path};
pub use plezi_test_support::http::{HttpReply, http};
pub use plezi_test_support::redis::{RedisServer, RedisWatch, Resp};
pub use plezi_test_support::ws::Ws;
pub use plezi_test_support::{DEADLINE, free_port};
