//! Fuzz bodies on stable Rust, on every `cargo test`: a body runs over its seed corpus, every saved
//! crash reproducer and a few thousand inputs mutated from the seeds by a fixed-seed generator.
//! libFuzzer explores far more (see `crates/plezi-server/fuzz/README.md`); this keeps what it found
//! from coming back.
//!
//! A fuzz folder holds `corpus/<target>/seed-*` and `regressions/<target>/*`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// How one crate replays its fuzz targets; a `const`, so each test is one line:
///
/// ```
/// use plezi_test_support::fuzz::Replay;
///
/// const REPLAY: Replay = Replay {
///     fuzz_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"),
///     dictionary: &[b"\r\n"],
///     random_inputs: 1_000,
/// };
/// // #[test] fn http_head_never_panics() { REPLAY.run("http_head", bodies::http_head); }
/// ```
pub struct Replay<'a> {
    /// The fuzz folder (`corpus/` and `regressions/` below it).
    pub fuzz_dir: &'a str,
    /// Tokens the mutator splices in: syntax that random bytes rarely hit.
    pub dictionary: &'a [&'a [u8]],
    /// Mutated inputs per target (plus the seeds and reproducers).
    pub random_inputs: usize,
}

impl Replay<'_> {
    /// Runs `body` over the seeds, the reproducers and mutated inputs of `target`; fails naming
    /// the first input that panicked (as hex, ready to save under `regressions/<target>/`).
    pub fn run(&self, target: &str, body: fn(&[u8])) {
        let fuzz_dir = Path::new(self.fuzz_dir);
        let seeds = files_in(&fuzz_dir.join("corpus").join(target), "seed-");
        assert!(
            !seeds.is_empty(),
            "no seeds for {target} in {}",
            self.fuzz_dir
        );
        let mut inputs = seeds.clone();
        inputs.extend(files_in(&fuzz_dir.join("regressions").join(target), ""));
        let mut rng = Rng(0x5EED_0000 ^ target.len() as u64);
        for i in 0..self.random_inputs {
            let (_, seed) = &seeds[rng.below(seeds.len())];
            inputs.push((
                format!("mutated input #{i}"),
                mutate(&mut rng, seed, self.dictionary),
            ));
        }
        for (name, data) in &inputs {
            if catch_unwind(AssertUnwindSafe(|| body(data))).is_err() {
                let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                panic!("{target} panicked on {name} ({} bytes): {hex}", data.len());
            }
        }
    }
}

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

fn mutate(rng: &mut Rng, seed: &[u8], dictionary: &[&[u8]]) -> Vec<u8> {
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
            5 if !dictionary.is_empty() => {
                let token = dictionary[rng.below(dictionary.len())];
                v.splice(at..at, token.iter().copied());
            }
            _ => v.truncate(at),
        }
    }
    v
}

/// The files of `dir` whose name starts with `prefix`, sorted: (path, contents).
fn files_in(dir: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| {
            let data = std::fs::read(e.path())
                .unwrap_or_else(|err| panic!("read {}: {err}", e.path().display()));
            (e.path().display().to_string(), data)
        })
        .collect();
    files.sort();
    files
}
