//! Fuzz bodies for plezi-server, shared by the libFuzzer targets (`fuzz_targets/`) and the stable
//! regression test `crates/plezi-server/tests/fuzz_regressions.rs`.

// The handshake check is crate-private in plezi-server; compile its (self-contained) source here.
#[path = "../../src/ws/handshake.rs"]
#[allow(dead_code, unused_imports)]
mod handshake;
// With the permessage-deflate negotiation it answers with (`Sec-WebSocket-Extensions` offers).
#[path = "../../src/ws/extension.rs"]
#[allow(dead_code)]
mod extension;

// Likewise the IMF-fixdate parser behind `If-Modified-Since` (static files).
#[path = "../../src/http/date.rs"]
#[allow(dead_code)]
mod date;

// And the static-file helpers that read peer input: path decoding and header negotiation.
#[path = "../../src/static_files/negotiate.rs"]
#[allow(dead_code)]
mod negotiate;
#[path = "../../src/static_files/resolve.rs"]
#[allow(dead_code)]
mod resolve;

pub mod bodies;
