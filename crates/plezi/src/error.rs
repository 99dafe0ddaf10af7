//! The facade's error: everything that can stop an application from starting.

use std::fmt;

use plezi_dispatch::{RegisterError, TypeScriptError};
use plezi_messaging::BusError;
use plezi_server::ServerError;

/// Why an [`App`](crate::App) could not be built or run.
///
/// `Debug` prints the same message as `Display`, so `fn main() -> Result<(), plezi::Error>`
/// shows what to do rather than a struct dump.
///
/// ```
/// use plezi::prelude::*;
/// # #[derive(Default)] struct Chat;
/// # impl Controller for Chat {}
/// match App::new().route("/chat/*/more", Chat::default) {
///     Ok(_) => {}
///     Err(plezi::Error::Register(e)) => eprintln!("bad route: {e}"), // says what to write instead
///     Err(e) => eprintln!("{e}"),
/// }
/// ```
#[non_exhaustive]
pub enum Error {
    /// A route or event table is invalid.
    Register(RegisterError),
    /// The server could not bind or run.
    Server(ServerError),
    /// The bus could not start (a bad Redis URL, for instance).
    Bus(BusError),
    /// Sessions cannot be set up safely (in production: no `PL_SESSION_KEY`, or one shorter
    /// than 32 bytes); the message says what to set.
    Session(String),
    /// The TypeScript module of the application's events could not be written, or is stale
    /// ([`App::run_or_codegen`](crate::App::run_or_codegen) with `--typescript PATH [--check]`).
    TypeScript(TypeScriptError),
    /// An environment variable does not parse.
    Config {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Register(e) => write!(f, "{e}"),
            Error::Server(e) => write!(f, "{e}"),
            Error::Bus(e) => write!(f, "{e}"),
            Error::TypeScript(e) => write!(f, "{e}"),
            Error::Session(msg) => f.write_str(msg),
            Error::Config {
                variable,
                value,
                expected,
            } => write!(
                f,
                "{variable}={value:?} does not parse: set it to {expected}, or unset it"
            ),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Register(e) => Some(e),
            Error::Server(e) => Some(e),
            Error::Bus(e) => Some(e),
            Error::TypeScript(e) => Some(e),
            Error::Config { .. } | Error::Session(_) => None,
        }
    }
}

impl From<RegisterError> for Error {
    fn from(e: RegisterError) -> Error {
        Error::Register(e)
    }
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Error {
        Error::Server(e)
    }
}

impl From<BusError> for Error {
    fn from(e: BusError) -> Error {
        Error::Bus(e)
    }
}

impl From<TypeScriptError> for Error {
    fn from(e: TypeScriptError) -> Error {
        Error::TypeScript(e)
    }
}
