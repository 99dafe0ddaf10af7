//! The fuzz bodies of `crates/plezi-dispatch/fuzz` (router, params, cookies, and plezi-messaging's
//! UUIDs, envelopes and globs) on stable Rust, on every `cargo test`: each body runs over its seed
//! corpus, every saved crash reproducer (`fuzz/regressions/<target>/`), and a few thousand inputs
//! mutated from the seeds by a fixed-seed generator. libFuzzer explores far more (see
//! `crates/plezi-server/fuzz/README.md`); this keeps what it found from coming back.

#[path = "../fuzz/src/bodies.rs"]
mod bodies;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Mutated inputs per target (plus the seeds and reproducers).
const RANDOM_INPUTS: usize = 10_000;

/// SplitMix64 with a fixed seed: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

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

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    if rng.below(8) == 0 {
        return (0..rng.below(80)).map(|_| rng.next() as u8).collect();
    }
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(6) {
        let at = rng.below(v.len() + 1);
        let last = v.len().saturating_sub(1);
        match rng.below(7) {
            0 if !v.is_empty() => v[at.min(last)] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[at.min(last)] = rng.next() as u8,
            2 => v.insert(at, rng.next() as u8),
            3 => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(32)).min(v.len());
                let copy = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, copy);
            }
            5 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                v.splice(at..at, token.iter().copied());
            }
            _ => v.truncate(at),
        }
    }
    v
}

fn files_in(dir: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| {
            let data = std::fs::read(e.path()).expect("read a corpus file");
            (e.path().display().to_string(), data)
        })
        .collect();
    files.sort();
    files
}

/// Runs `body` over the seeds, the reproducers and mutated inputs; fails naming the first input
/// that panicked (as hex, ready to save under `fuzz/regressions/<target>/`).
fn replay(target: &str, body: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files_in(&fuzz.join("corpus").join(target), "seed-");
    assert!(
        !seeds.is_empty(),
        "no seeds for {target} in {}",
        fuzz.display()
    );
    let mut inputs = seeds.clone();
    inputs.extend(files_in(&fuzz.join("regressions").join(target), ""));
    let mut rng = Rng(0x5EED_0000 ^ target.len() as u64);
    for i in 0..RANDOM_INPUTS {
        let (_, seed) = &seeds[rng.below(seeds.len())];
        inputs.push((format!("mutated input #{i}"), mutate(&mut rng, seed)));
    }
    for (name, data) in &inputs {
        if catch_unwind(AssertUnwindSafe(|| body(data))).is_err() {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            panic!("{target} panicked on {name} ({} bytes): {hex}", data.len());
        }
    }
}

#[test]
fn router_matches_never_panic() {
    replay("router_match", bodies::router_match);
}

#[test]
fn router_add_returns_errors_not_panics() {
    replay("router_add", bodies::router_add);
}

#[test]
fn params_never_panic_and_respect_limits() {
    replay("params", bodies::params);
}

#[test]
fn cookies_never_panic_and_round_trip() {
    replay("cookies", bodies::cookies);
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
    replay("session_cookie", bodies::session_cookie);
}

#[test]
fn messaging_uuid_parse_never_panics() {
    replay("uuid", bodies::uuid);
}

#[test]
fn messaging_envelope_decode_never_panics_and_round_trips() {
    replay("envelope", bodies::envelope);
}

#[test]
fn messaging_glob_never_panics() {
    replay("glob", bodies::glob);
}
