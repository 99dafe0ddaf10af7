//! Fuzz bodies for plezi-server, shared by the libFuzzer targets (`fuzz_targets/`) and the stable
//! regression test `crates/plezi-server/tests/fuzz_regressions.rs`.

// The handshake check is crate-private in plezi-server; compile its (self-contained) source here.
#[path = "../../src/ws/handshake.rs"]
#[allow(dead_code, unused_imports)]
mod handshake;

// Likewise the IMF-fixdate parser behind `If-Modified-Since` (static files).
#[path = "../../src/http/date.rs"]
#[allow(dead_code)]
mod date;

pub mod bodies;
