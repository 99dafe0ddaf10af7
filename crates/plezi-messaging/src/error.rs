//! The bus's error type.

use std::fmt;

/// Why a bus call failed.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum BusError {
    /// The publish queue is full (Redis has been unreachable for a while, or publishing outruns it).
    QueueFull {
        /// The configured capacity (`publish_queue_capacity`).
        capacity: usize,
    },
    /// The configuration cannot work (bad Redis URL, unsupported scheme, ...).
    Config(String),
    /// A Redis command failed or Redis is unreachable.
    Redis(String),
    /// The identity's mailbox holds `mailbox_max_messages` already.
    MailboxFull {
        /// The identity.
        identity: String,
        /// The configured limit.
        limit: usize,
    },
    /// [`crate::Bus::flush`] gave up waiting.
    Timeout,
    /// The bus is shutting down.
    Closed,
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::QueueFull { capacity } => write!(
                f,
                "the bus publish queue is full ({capacity} messages waiting for Redis): check that Redis is \
                 reachable, publish less, or raise publish_queue_capacity"
            ),
            BusError::Config(why) => write!(f, "bus configuration: {why}"),
            BusError::Redis(why) => write!(
                f,
                "Redis command failed: {why} (check that Redis is reachable)"
            ),
            BusError::MailboxFull { identity, limit } => write!(
                f,
                "the mailbox of identity {identity:?} already holds {limit} messages: it has not connected \
                 for a while; raise mailbox_max_messages or notify less"
            ),
            BusError::Timeout => write!(f, "timed out waiting for the bus to reach Redis"),
            BusError::Closed => write!(f, "the bus is shut down"),
        }
    }
}

impl std::error::Error for BusError {}

impl From<redis::RedisError> for BusError {
    fn from(e: redis::RedisError) -> BusError {
        BusError::Redis(e.to_string())
    }
}
