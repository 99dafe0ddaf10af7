//! The server's typed errors: [`ServerError`] (starting and running) and [`WriteError`] (writes).

use std::{error::Error, fmt, io};

/// Why the server could not start or stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The listening address could not be bound (in use, no permission, bad address).
    Bind(io::Error),
    /// An operating-system call the server needs failed (creating the poller, a thread, ...).
    Io(io::Error),
    /// The configuration or builder options are unusable; the text names the option.
    Config(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind(e) if e.kind() == io::ErrorKind::AddrInUse => write!(
                f,
                "cannot bind the listening address: {e}; another process uses this port — stop it or choose another port (port 0 picks a free one)"
            ),
            ServerError::Bind(e) => write!(
                f,
                "cannot bind the listening address: {e}; check the host and port (ports below 1024 need privileges)"
            ),
            ServerError::Io(e) => write!(
                f,
                "server I/O error: {e}; check the process limits (open files: ulimit -n, threads)"
            ),
            ServerError::Config(msg) => write!(f, "invalid server configuration: {msg}"),
        }
    }
}

impl Error for ServerError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ServerError::Bind(e) | ServerError::Io(e) => Some(e),
            ServerError::Config(_) => None,
        }
    }
}

/// Why a write to a WebSocket connection was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// The connection is closing or closed; nothing more can be sent on it.
    Closed,
    /// The connection's outbound queue is over `ServerConfig::max_pending_bytes`: the peer reads
    /// too slowly. The configured `SlowConsumerPolicy` has been applied.
    SlowConsumer,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Closed => f.write_str("the WebSocket connection is closing or closed"),
            WriteError::SlowConsumer => f.write_str(
                "the peer reads too slowly: its outbound queue passed ServerConfig::max_pending_bytes",
            ),
        }
    }
}

impl Error for WriteError {}
