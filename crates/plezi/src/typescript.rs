//! The TypeScript module of an application's events (`docs/client.md#typed-events`): event names,
//! payload and reply types, and a typed `PleziClient`, generated from the controllers' event
//! tables so a renamed field breaks the page's type check instead of production.
//!
//! Two ways to wire it into an application's `cargo xtask codegen`:
//! - the controllers live in the binary: end `main` with [`App::run_or_codegen`] and let the
//!   xtask run `cargo run -- --typescript public/events.d.ts` (add `--check` in CI);
//! - they live in a library the xtask depends on: call [`write()`] (or [`check()`]) from the xtask.
//!
//! ```no_run
//! // xtask/src/main.rs of an application whose `my_app::app()` builds its `App`:
//! # mod my_app { pub fn app() -> Result<plezi::App, plezi::Error> { Ok(plezi::App::new()) } }
//! fn main() -> Result<(), plezi::Error> {
//!     let check = std::env::args().any(|a| a == "--check");
//!     let app = my_app::app()?;
//!     match check {
//!         true => plezi::typescript::check(&app, "public/events.d.ts")?,
//!         false => drop(plezi::typescript::write(&app, "public/events.d.ts")?),
//!     }
//!     Ok(())
//! }
//! ```

use std::path::{Path, PathBuf};

use crate::{App, Error};

pub use plezi_dispatch::{TypeScript, TypeScriptError};

/// The command-line flag [`App::run_or_codegen`] answers: `--typescript PATH [--check]`.
pub const FLAG: &str = "--typescript";

/// Writes `app`'s module to `path` unless it already holds it; returns whether it wrote.
///
/// ```no_run
/// let app = plezi::App::new();
/// let changed = plezi::typescript::write(&app, "public/events.d.ts")?;
/// # Ok::<(), plezi::Error>(())
/// ```
pub fn write(app: &App, path: impl AsRef<Path>) -> Result<bool, Error> {
    Ok(app.typescript().write(path)?)
}

/// `Ok` when `path` holds `app`'s module, [`TypeScriptError::Stale`] otherwise (for CI).
///
/// ```no_run
/// let app = plezi::App::new();
/// plezi::typescript::check(&app, "public/events.d.ts")?;
/// # Ok::<(), plezi::Error>(())
/// ```
pub fn check(app: &App, path: impl AsRef<Path>) -> Result<(), Error> {
    Ok(app.typescript().check(path)?)
}

/// A codegen request on the command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    path: PathBuf,
    check: bool,
}

/// `--typescript PATH [--check]` among `args`, if present.
pub(crate) fn request(args: impl Iterator<Item = String>) -> Option<Request> {
    let args: Vec<String> = args.collect();
    let at = args.iter().position(|a| a == FLAG)?;
    let path = args.get(at + 1).map(PathBuf::from)?;
    let check = args.iter().any(|a| a == "--check");
    Some(Request { path, check })
}

impl Request {
    /// Writes or checks the module, saying which on stdout.
    pub(crate) fn perform(&self, app: &App) -> Result<(), Error> {
        let path = self.path.display();
        if self.check {
            check(app, &self.path)?;
            println!("{path} is up to date");
        } else if write(app, &self.path)? {
            println!("{path} written");
        } else {
            println!("{path} is up to date");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> {
        s.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn the_flag_takes_a_path_and_an_optional_check() {
        assert_eq!(request(args("")), None);
        assert_eq!(request(args("--typescript")), None);
        assert_eq!(
            request(args("--typescript a.d.ts")),
            Some(Request {
                path: "a.d.ts".into(),
                check: false
            })
        );
        assert_eq!(
            request(args("--check --typescript a.d.ts")),
            Some(Request {
                path: "a.d.ts".into(),
                check: true
            })
        );
    }
}
