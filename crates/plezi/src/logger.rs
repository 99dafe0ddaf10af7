//! A minimal stderr logger, installed by [`App::run`](crate::App::run) when the program has none.
//! `PLEZI_LOG=error|warn|info|debug|trace` sets the level (default `warn`).

use std::io::Write;

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(std::io::stderr(), "[{}] {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger unless another logger is set; the level comes from `PLEZI_LOG`.
///
/// ```
/// // PLEZI_LOG=debug ./my-app
/// plezi::init_logging(); // does nothing if the program already set a logger
/// log::info!("ready");
/// ```
pub fn init_logging() {
    let level = match std::env::var("PLEZI_LOG").as_deref().map(str::trim) {
        Ok("error") => log::LevelFilter::Error,
        Ok("info") => log::LevelFilter::Info,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        Ok("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Warn,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
