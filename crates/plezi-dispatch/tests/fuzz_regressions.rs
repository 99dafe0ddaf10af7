//! The fuzz bodies of `crates/plezi-dispatch/fuzz` (router, params, cookies, and plezi-messaging's
//! UUIDs, envelopes and globs) on stable Rust, on every `cargo test`: each body runs over its seed
//! corpus, every saved crash reproducer (`fuzz/regressions/<target>/`), and a few thousand inputs
//! mutated from the seeds by a fixed-seed generator. libFuzzer explores far more (see
//! `crates/plezi-server/fuzz/README.md`); this keeps what it found from coming back.

#[path = "../fuzz/src/bodies.rs"]
mod bodies;

use std::path::Path;

use plezi_test_support::fuzz::Replay;

/// Every target of this crate: its fuzz folder, the dictionary below, and the mutated inputs per
/// target (plus the seeds and reproducers).
const REPLAY: Replay = Replay {
    fuzz_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"),
    dictionary: DICTIONARY,
    random_inputs: RANDOM_INPUTS,
};

const RANDOM_INPUTS: usize = 10_000;

/// Tokens the mutator splices in: URL, form, cookie, JSON and glob syntax.
const DICTIONARY: &[&[u8]] = &[
    b"/",
    b"//",
    b"%",
    b"%2F",
    b"%C3%A9",
    b"%FF",
    b"+",
    b"&",
    b"=",
    b"[",
    b"]",
    b"[]",
    b"(:",
    b")",
    b"{",
    b"}",
    b"\\",
    b"*",
    b"?",
    b":",
    b";",
    b"\"",
    b"\t",
    b"\n",
    b"\0",
    b"{\"v\":1,",
    b"\"origin\":\"0123456789abcdef\"",
    b"\"kind\":\"unicast\"",
    b"-0001-0000002a-00000003",
    b"[[[[[[[[[[[[",
    b"1e999",
    b".",
    b"-_",
    b"==",
];

#[test]
fn router_matches_never_panic() {
    REPLAY.run("router_match", bodies::router_match);
}

#[test]
fn router_add_returns_errors_not_panics() {
    REPLAY.run("router_add", bodies::router_add);
}

#[test]
fn params_never_panic_and_respect_limits() {
    REPLAY.run("params", bodies::params);
}

#[test]
fn cookies_never_panic_and_round_trip() {
    REPLAY.run("cookies", bodies::cookies);
}

#[test]
fn session_cookies_verify_only_when_signed() {
    // The valid seed must verify, so that mutations explore near-valid cookies.
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/session_cookie/seed-valid");
    let seed = std::fs::read_to_string(seed).expect("the valid session seed");
    let key = plezi_dispatch::SessionKey::new(bodies::FUZZ_SESSION_KEY).unwrap();
    assert!(
        key.verify(&seed).is_some(),
        "seed-valid does not verify: {seed}"
    );
    REPLAY.run("session_cookie", bodies::session_cookie);
}

#[test]
fn messaging_uuid_parse_never_panics() {
    REPLAY.run("uuid", bodies::uuid);
}

#[test]
fn messaging_envelope_decode_never_panics_and_round_trips() {
    REPLAY.run("envelope", bodies::envelope);
}

#[test]
fn messaging_glob_never_panics() {
    REPLAY.run("glob", bodies::glob);
}
