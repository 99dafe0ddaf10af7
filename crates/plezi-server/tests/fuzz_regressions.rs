//! The fuzz bodies of `crates/plezi-server/fuzz` on stable Rust, on every `cargo test`: each body
//! runs over its seed corpus, every saved crash reproducer (`fuzz/regressions/<target>/`), and a
//! few thousand inputs mutated from the seeds by a fixed-seed generator. libFuzzer explores far
//! more (see `fuzz/README.md`); this keeps what it found from coming back.

// The handshake check is crate-private; the fuzz bodies compile its source as `crate::handshake`.
#[path = "../src/ws/handshake.rs"]
#[allow(dead_code, unused_imports)]
mod handshake;
// With the permessage-deflate negotiation it answers with.
#[path = "../src/ws/extension.rs"]
#[allow(dead_code)]
mod extension;

// Likewise the IMF-fixdate parser behind `If-Modified-Since`.
#[path = "../src/http/date.rs"]
#[allow(dead_code)]
mod date;

// And the static-file helpers that read peer input.
#[path = "../src/static_files/negotiate.rs"]
#[allow(dead_code)]
mod negotiate;
#[path = "../src/static_files/resolve.rs"]
#[allow(dead_code)]
mod resolve;

#[path = "../fuzz/src/bodies.rs"]
mod bodies;

use plezi_test_support::fuzz::Replay;

/// Every target of this crate: its fuzz folder, the dictionary below, and the mutated inputs per
/// target (plus the seeds and reproducers).
const REPLAY: Replay = Replay {
    fuzz_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"),
    dictionary: DICTIONARY,
    random_inputs: RANDOM_INPUTS,
};

const RANDOM_INPUTS: usize = 20_000;

/// Tokens the mutator splices in: HTTP and WebSocket framing that random bytes rarely hit.
const DICTIONARY: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b": ",
    b" ",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"Host: h\r\n",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: upgrade\r\n",
    b"Upgrade: websocket\r\n",
    b"Sec-WebSocket-Extensions:permessage-deflate",
    b"server_max_window_bits=",
    b"client_max_window_bits",
    b"_no_context_takeover",
    &[
        0xC1, 0x87, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00,
    ],
    b"0\r\n\r\n",
    b"FFFFFFFFFFFFFFFF",
    b";",
    b",",
    &[0x81, 0x80, 0, 0, 0, 0],
    &[0x01, 0xFE, 0x01, 0x00],
    &[0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8],
    &[0xF0, 0x9D, 0x84],
    &[0xED, 0xA0, 0x80],
    b"Origin",
    b"http://",
    b"https://",
    b"null",
    b"[::1]",
    b":443",
    b"\n",
    b"@",
    b"cross-site",
];

#[test]
fn http_head_never_panics() {
    REPLAY.run("http_head", bodies::http_head);
}

#[test]
fn http_body_never_panics_and_ignores_read_boundaries() {
    REPLAY.run("http_body", bodies::http_body);
}

#[test]
fn ws_decode_never_panics_and_ignores_read_boundaries() {
    REPLAY.run("ws_decode", bodies::ws_decode);
}

#[test]
fn ws_handshake_never_panics() {
    REPLAY.run("ws_handshake", bodies::ws_handshake);
}

#[test]
fn http_date_never_panics_and_round_trips() {
    REPLAY.run("http_date", bodies::http_date);
}

#[test]
fn static_files_helpers_never_panic_and_stay_inside_the_root() {
    REPLAY.run("static_files", bodies::static_files);
}

#[test]
fn origins_policy_and_cors_never_panic_and_hold_their_invariants() {
    REPLAY.run("origins", bodies::origins);
}
