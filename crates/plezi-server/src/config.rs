//! [`ServerConfig`]: every limit and timeout of the server, with its default in one place.

use std::time::Duration;

/// What happens to a WebSocket connection whose outbound queue would pass
/// [`ServerConfig::max_pending_bytes`] (a *slow consumer*: it reads slower than we write to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowConsumerPolicy {
    /// Drop everything still queued, send a close frame with this code (1008 or 1013 are the
    /// usual choices) and log one warning. The write that hit the cap returns
    /// [`WriteError::SlowConsumer`](crate::WriteError::SlowConsumer). The default, with 1008.
    Close(u16),
    /// Keep the connection; discard the frames that do not fit (the write returns
    /// [`WriteError::SlowConsumer`](crate::WriteError::SlowConsumer)). Messages are lost silently
    /// for the peer, so use this only when the application tolerates gaps (e.g. live tickers).
    DropNew,
}

impl Default for SlowConsumerPolicy {
    fn default() -> Self {
        SlowConsumerPolicy::Close(1008)
    }
}

/// The default [`ServerConfig::ws_deflate_threshold`]: below 256 bytes a message compressed on its
/// own (no context from earlier messages) saves a few dozen bytes at most, for the cost of a
/// compressor run per message (or per broadcast).
pub const DEFAULT_DEFLATE_THRESHOLD: usize = 256;

/// All limits and timeouts of the server, one struct, defaults in one place
/// (`docs/configuration.md` lists each).
///
/// ```
/// use plezi_server::ServerConfig;
/// use std::time::Duration;
/// let config = ServerConfig { ws_idle_ping: Duration::from_secs(20), ..ServerConfig::default() };
/// assert_eq!(config.max_pending_bytes, 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request head (request line and headers) accepted; larger → 431. Default 32 KiB.
    pub max_header_bytes: usize,
    /// Most header fields accepted in one request; more → 431. Default 128.
    pub max_headers: usize,
    /// Largest request body accepted (after chunked decoding); larger → 413. Default 50 MiB.
    pub max_body_bytes: usize,
    /// Largest body accepted when the application parses it in memory: `Content-Type`
    /// `application/json`, `application/*+json` or `application/x-www-form-urlencoded`; larger →
    /// 413, from the `Content-Length` before reading, or as soon as a chunked body passes it.
    /// Uploads (any other type) keep `max_body_bytes`. Default 1 MiB (Socket.IO's
    /// `maxHttpBufferSize`).
    pub max_form_body_bytes: usize,
    /// Minimum average rate, in bytes per second, at which a request body must arrive once
    /// `min_body_rate_grace` has passed since its head; slower → 408 and close. `0` turns the
    /// check off. Default 240 (Kestrel's `MinRequestBodyDataRate`).
    pub min_body_rate: u32,
    /// How long a request body may arrive at any rate before `min_body_rate` applies. Default 5 s
    /// (Kestrel's grace period).
    pub min_body_rate_grace: Duration,
    /// Most connections (HTTP and WebSocket) the process holds at once; past it a new connection
    /// gets a `503` and is closed, so the server keeps the file descriptors it needs to answer the
    /// others. `None` (the default): the open-files limit (after raising the soft limit to the
    /// hard one) less a reserve of an eighth of it, between 64 and 4096 descriptors.
    pub max_connections: Option<usize>,
    /// Time allowed to receive a request's head, counted from its first byte (or from the
    /// connection's accept for the first request); slower → 408 and close. Default 10 s.
    pub header_timeout: Duration,
    /// How long an HTTP connection may stay idle between requests (or make no progress reading a
    /// body or writing a response) before it is closed. Default 40 s.
    pub keep_alive_timeout: Duration,
    /// Largest WebSocket message (after reassembly of fragments); larger → close 1009. Default 1 MiB.
    pub ws_max_message_bytes: usize,
    /// permessage-deflate (RFC 7692): `Some(n)` negotiates it with every client that offers it and
    /// compresses the messages of at least `n` bytes sent to those clients (a broadcast once for
    /// all of them); `None` never negotiates it. Compressed messages from clients are accepted
    /// whatever their size. Default `Some(256)`.
    pub ws_deflate_threshold: Option<usize>,
    /// After this long without any bytes from a WebSocket peer the server sends a ping; if the
    /// peer stays silent for another period the connection is closed. Default 40 s.
    pub ws_idle_ping: Duration,
    /// Outbound bytes a connection may have queued (written by the application but not yet
    /// accepted by the kernel) before [`ServerConfig::slow_consumer`] applies. Default 1 MiB.
    pub max_pending_bytes: usize,
    /// What to do with a WebSocket connection that passes `max_pending_bytes`.
    /// Default [`SlowConsumerPolicy::Close`]`(1008)`.
    pub slow_consumer: SlowConsumerPolicy,
    /// After [`ServerHandle::drain`](crate::ServerHandle::drain) (SIGTERM), how long the server
    /// keeps serving and accepting while its readiness path answers `503`, so load balancers see it
    /// before it stops accepting. Default 5 s.
    pub drain_notice: Duration,
    /// After the notice, the WebSocket connections are closed with 1001 one after another, evenly
    /// over this window in a random order, so their clients do not all reconnect at once
    /// (`shutdown_grace` follows the last close). Zero closes them all at once. Default 10 s.
    pub drain_window: Duration,
    /// How long a deferred answer ([`Reply::later`](crate::Reply::later)) may take; past it the
    /// client gets `504` and a late answer is discarded. Default 30 s.
    pub reply_timeout: Duration,
    /// On shutdown, how long to wait for WebSocket peers to answer the 1001 close and for
    /// in-flight HTTP responses to finish before dropping the connections. Default 10 s.
    pub shutdown_grace: Duration,
    /// When a loop lags (more connections got fan-out frames in one turn than a turn flushes, or
    /// some still wait from earlier turns), the most a fan-out frame may wait before its write, so
    /// that the frames of the fan-outs that reach the same connection meanwhile leave in one write:
    /// less CPU per delivery for at most this much added latency. A fan-out that fits in one turn
    /// is written at once, and so is a connection's own output (an answer, a hook's writes).
    /// Whole milliseconds; zero writes every fan-out as soon as the turn budget allows. Default 2 ms.
    pub broadcast_coalesce: Duration,
    /// Log one line per HTTP request at info level, target `plezi::access`. Default false.
    pub access_log: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_header_bytes: 32 * 1024,
            max_headers: 128,
            max_body_bytes: 50 * 1024 * 1024,
            max_form_body_bytes: 1024 * 1024,
            min_body_rate: 240,
            min_body_rate_grace: Duration::from_secs(5),
            max_connections: None,
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(40),
            ws_max_message_bytes: 1024 * 1024,
            ws_deflate_threshold: Some(DEFAULT_DEFLATE_THRESHOLD),
            ws_idle_ping: Duration::from_secs(40),
            max_pending_bytes: 1024 * 1024,
            slow_consumer: SlowConsumerPolicy::default(),
            drain_notice: Duration::from_secs(5),
            drain_window: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            broadcast_coalesce: Duration::from_millis(2),
            access_log: false,
        }
    }
}

impl ServerConfig {
    /// Checks the values for ones the server cannot work with, saying which field to fix.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let nonzero: [(&str, bool); 9] = [
            ("max_connections", self.max_connections != Some(0)),
            ("max_header_bytes", self.max_header_bytes > 0),
            ("max_headers", self.max_headers > 0),
            ("max_pending_bytes", self.max_pending_bytes > 0),
            ("ws_max_message_bytes", self.ws_max_message_bytes > 0),
            ("header_timeout", !self.header_timeout.is_zero()),
            ("keep_alive_timeout", !self.keep_alive_timeout.is_zero()),
            ("ws_idle_ping", !self.ws_idle_ping.is_zero()),
            ("reply_timeout", !self.reply_timeout.is_zero()),
        ];
        if let Some((name, _)) = nonzero.iter().find(|(_, ok)| !ok) {
            return Err(format!("ServerConfig::{name} must be greater than zero"));
        }
        if let SlowConsumerPolicy::Close(code) = self.slow_consumer
            && !(1000..=4999).contains(&code)
        {
            return Err(format!(
                "SlowConsumerPolicy::Close({code}) is not a WebSocket close code that may be sent; use 1008 or 1013"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = ServerConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.max_header_bytes, 32 * 1024);
        assert_eq!(c.max_body_bytes, 50 * 1024 * 1024);
        assert_eq!(c.max_form_body_bytes, 1024 * 1024);
        assert_eq!(c.min_body_rate, 240);
        assert_eq!(c.slow_consumer, SlowConsumerPolicy::Close(1008));
        assert_eq!(c.broadcast_coalesce, Duration::from_millis(2));
    }

    #[test]
    fn zero_limit_is_rejected_with_the_field_name() {
        let c = ServerConfig {
            max_headers: 0,
            ..ServerConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("max_headers"));
    }
}
