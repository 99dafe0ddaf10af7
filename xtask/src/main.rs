//! Repository tasks, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask codegen` regenerates every generated file from its source (see [`codegen`]).
//! - `cargo xtask codegen --check` regenerates in memory and exits 1, listing the stale files, when the
//!   committed output differs (CI runs this).

mod codegen;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask codegen [--check]

  codegen          regenerate the protocol constants (Rust and JavaScript), the client bundle and its .d.ts
  codegen --check  exit 1 and list the stale files instead of writing them (CI)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["codegen"] => run_codegen(false),
        ["codegen", "--check"] => run_codegen(true),
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

fn run_codegen(check: bool) -> ExitCode {
    let root = repo_root();
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
