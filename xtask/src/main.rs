//! Repository tasks, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask codegen` regenerates every generated file from its source (see [`codegen`]), and the
//!   chat example's TypeScript events module from its handlers ([`EXAMPLE_TYPES`]).
//! - `cargo xtask codegen --check` regenerates in memory and exits 1, listing the stale files, when the
//!   committed output differs (CI runs this).
//! - `cargo xtask setup` installs what the tests drive and is missing (see [`setup`]).
//! - `cargo xtask test` runs `setup`, then every test (`cargo test --workspace`), then the Autobahn
//!   conformance cases (`.ci/autobahn.sh`). CI runs this.

mod codegen;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask codegen [--check] | setup | test

  codegen          regenerate the protocol constants (Rust and JavaScript), the client bundle and its .d.ts,
                   and the chat example's TypeScript events module (examples/public/chat-events.d.ts)
  codegen --check  exit 1 and list the stale files instead of writing them (CI)
  setup            install what the tests drive and is missing (apt-get, pip, npm ci), saying why
  test             setup, then cargo test --workspace, then the Autobahn conformance cases";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["codegen"] => run_codegen(false),
        ["codegen", "--check"] => run_codegen(true),
        ["setup"] => run_setup(),
        ["test"] => run_tests(),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The repository root: xtask lives in `<root>/xtask`.
fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn run_setup() -> ExitCode {
    match setup::run(&repo_root()) {
        Ok(()) => {
            println!("setup: everything the tests need is installed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cargo xtask setup: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_tests() -> ExitCode {
    let root = repo_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let steps = || -> Result<(), String> {
        setup::run(&root)?;
        setup::run_checked(
            Command::new(&cargo)
                .args(["test", "--workspace"])
                .current_dir(&root),
            "cargo test --workspace",
        )?;
        setup::run_checked(
            Command::new("bash")
                .arg(root.join(".ci/autobahn.sh"))
                .current_dir(&root),
            "the Autobahn conformance run (.ci/autobahn.sh)",
        )
    };
    match steps() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo xtask test: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The chat example's TypeScript events module, generated from its handlers by the example itself
/// (`chat --typescript PATH [--check]`, `App::run_or_codegen`), the way an application's own
/// xtask does it.
const EXAMPLE_TYPES: (&str, &str) = ("chat", "examples/public/chat-events.d.ts");

/// `cargo run --example chat -- --typescript PATH [--check]`.
fn example_types(root: &Path, check: bool) -> Result<(), String> {
    let (example, path) = EXAMPLE_TYPES;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["run", "--quiet", "-p", "plezi", "--example", example, "--"])
        .args(["--typescript", path])
        .current_dir(root);
    if check {
        cmd.arg("--check");
    }
    setup::run_checked(&mut cmd, &format!("`{example} --typescript {path}`"))
}

fn run_codegen(check: bool) -> ExitCode {
    let root = repo_root();
    if let Err(err) = example_types(&root, check) {
        eprintln!("cargo xtask codegen: {err}");
        return ExitCode::FAILURE;
    }
    let files = match codegen::generate(&root) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("cargo xtask codegen: {err}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        let stale = codegen::stale_files(&root, &files);
        if stale.is_empty() {
            println!("generated files are up to date ({} checked)", files.len());
            return ExitCode::SUCCESS;
        }
        eprintln!("stale generated files (run `cargo xtask codegen` and commit the result):");
        for path in stale {
            eprintln!("  {}", path.display());
        }
        return ExitCode::FAILURE;
    }
    match codegen::write_files(&root, &files) {
        Ok(updated) => {
            for file in &files {
                let state = if updated.contains(&file.path) {
                    "updated"
                } else {
                    "up to date"
                };
                println!("{state:>10}  {}", file.path.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("cargo xtask codegen: {err}");
            ExitCode::FAILURE
        }
    }
}
