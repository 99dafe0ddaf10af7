//! plezi-load: the WebSocket load tool for plezi's benchmarks.
//!
//! Drives a server that speaks the websocket-shootout protocol at `/ws` (plezi's `examples/shootout`
//! and the peers under `benches/peers/`) with many clients from one thread, and reports deliveries or
//! round trips per second, latency percentiles, the server's CPU time per unit of work, and the tool's
//! own CPU share (so a run where the tool, not the server, was the limit says so). See `USAGE` in
//! `args.rs` and `docs/benchmarks.md`.

mod args;
mod broadcast;
mod chat; // `chat` and `socketio` subcommands: room.rs
mod echo;
mod fanout_run;
mod forced;
mod idle;
mod net;
mod pace;
mod pool;
mod report;
mod room;
mod shootout;
mod soak;
mod socketio;
mod summary;
#[cfg(test)]
mod testserver;
mod usage;
mod ws;

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = room::main(&argv) {
        return code;
    }
    if let Some(code) = forced::main(&argv) {
        return code;
    }
    if let Some(code) = soak::main(&argv) {
        return code;
    }
    let command = match args::parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("plezi-load: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match &command {
        args::Command::Help => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        args::Command::Broadcast(common, cfg) => broadcast::run(common, cfg),
        args::Command::Echo(common, cfg) => echo::run(common, cfg),
        args::Command::Idle(common, cfg) => idle::run(common, cfg),
    };
    match result {
        Ok(report) => {
            // A closed stdout (e.g. `| head -1`) is not the run's failure.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", report.human_line());
            let _ = writeln!(out, "{}", report.json_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("plezi-load: {e}");
            ExitCode::FAILURE
        }
    }
}
