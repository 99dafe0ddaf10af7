//! The fuzz bodies of `crates/plezi-server/fuzz` on stable Rust, on every `cargo test`: each body
//! runs over its seed corpus, every saved crash reproducer (`fuzz/regressions/<target>/`), and a
//! few thousand inputs mutated from the seeds by a fixed-seed generator. libFuzzer explores far
//! more (see `fuzz/README.md`); this keeps what it found from coming back.

// The handshake check is crate-private; the fuzz bodies compile its source as `crate::handshake`.
#[path = "../src/ws/handshake.rs"]
#[allow(dead_code, unused_imports)]
mod handshake;

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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Mutated inputs per target (plus the seeds and reproducers).
const RANDOM_INPUTS: usize = 20_000;

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
fn http_head_never_panics() {
    replay("http_head", bodies::http_head);
}

#[test]
fn http_body_never_panics_and_ignores_read_boundaries() {
    replay("http_body", bodies::http_body);
}

#[test]
fn ws_decode_never_panics_and_ignores_read_boundaries() {
    replay("ws_decode", bodies::ws_decode);
}

#[test]
fn ws_handshake_never_panics() {
    replay("ws_handshake", bodies::ws_handshake);
}

#[test]
fn http_date_never_panics_and_round_trips() {
    replay("http_date", bodies::http_date);
}

#[test]
fn static_files_helpers_never_panic_and_stay_inside_the_root() {
    replay("static_files", bodies::static_files);
}

#[test]
fn origins_policy_and_cors_never_panic_and_hold_their_invariants() {
    replay("origins", bodies::origins);
}
