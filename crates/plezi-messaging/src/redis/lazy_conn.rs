//! One synchronous Redis connection opened at first use, with I/O timeouts, and dropped after a
//! failure so the next call reconnects: what the mailbox store and the session store call through.

use std::time::Duration;

use parking_lot::Mutex;

use super::tls::redis_client;
use crate::config::RedisTls;
use crate::error::BusError;

/// A lazily opened, self-healing synchronous connection to one Redis.
pub(crate) struct LazyConnection {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    io_timeout: Duration,
}

impl LazyConnection {
    /// A connection to the Redis at `url` (with TLS for `rediss://`, see `tls::redis_client`),
    /// opened at the first call; each call (and the connect) fails after `io_timeout`.
    pub(crate) fn new(
        url: &str,
        tls: &RedisTls,
        io_timeout: Duration,
    ) -> Result<LazyConnection, BusError> {
        let client = redis_client(url, tls)?;
        Ok(LazyConnection {
            client,
            conn: Mutex::new(None),
            io_timeout,
        })
    }

    /// Runs `f` on the connection, connecting first if needed; after an I/O error, a timeout or a
    /// dropped connection the connection is discarded, so the next call reconnects.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, BusError> {
        let mut slot = self.conn.lock();
        if slot.is_none() {
            let conn = self.client.get_connection_with_timeout(self.io_timeout)?;
            conn.set_read_timeout(Some(self.io_timeout))?;
            conn.set_write_timeout(Some(self.io_timeout))?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(BusError::Redis("no connection".into()));
        };
        let result = f(conn);
        if let Err(e) = &result
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || !redis::ConnectionLike::is_open(conn))
        {
            *slot = None;
        }
        result.map_err(BusError::from)
    }
}
