//! The bus's error type.

use std::fmt;

/// Which mailbox cap a refused `notify` hit (see [`BusError::MailboxFull`] and [`BusError::StoreFull`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MailboxLimit {
    /// The identity's mailbox holds this many messages (`mailbox_max_messages`).
    Messages(usize),
    /// The message would take the identity's mailbox past this many bytes (`mailbox_max_bytes`).
    Bytes(usize),
    /// The store holds mail for this many identities (`mailbox_store_max_identities`).
    Identities(usize),
    /// The message would take the store past this many bytes (`mailbox_store_max_bytes`).
    StoreBytes(usize),
}

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
    /// TLS to Redis cannot work: a certificate or key file is missing, unreadable or not PEM, or the
    /// server's certificate does not verify, or the server refused this client's certificate. The
    /// message says which, and what to set.
    Tls(String),
    /// A Redis command failed or Redis is unreachable.
    Redis(String),
    /// The identity's mailbox is full (`limit` says which cap): nothing was stored.
    MailboxFull {
        /// The identity.
        identity: String,
        /// The cap it hit ([`MailboxLimit::Messages`] or [`MailboxLimit::Bytes`]).
        limit: MailboxLimit,
    },
    /// The mailbox store as a whole is full (`limit` says which cap): nothing was stored.
    StoreFull {
        /// The cap it hit ([`MailboxLimit::Identities`] or [`MailboxLimit::StoreBytes`]).
        limit: MailboxLimit,
    },
    /// Too many notifications are waiting for the Redis store (it is slow or unreachable): nothing was
    /// stored.
    NotifyQueueFull {
        /// The configured cap (`notify_queue_max_bytes`).
        max_bytes: usize,
    },
    /// An identity longer than [`crate::MAX_IDENTITY_BYTES`].
    IdentityTooLong {
        /// Its length in bytes.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// The notification was stored on the Redis master, but no replica confirmed it within
    /// `replica_ack_timeout`: it is lost if that master fails before it replicates. Not retried by
    /// the bus (a retry may store it twice); the caller decides.
    NotReplicated {
        /// The identity.
        identity: String,
        /// How long the bus waited for a replica (`replica_ack_timeout`).
        waited: std::time::Duration,
    },
    /// [`crate::Bus::flush`] gave up waiting.
    Timeout,
    /// The bus is shutting down.
    Closed,
}

/// At most this many characters of an identity go into an error message (an identity may come from a
/// client; an error message may be echoed to one).
const SHOWN_IDENTITY_CHARS: usize = 64;

struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        let head: String = chars.by_ref().take(SHOWN_IDENTITY_CHARS).collect();
        if chars.next().is_some() {
            write!(f, "{head:?}…")
        } else {
            write!(f, "{head:?}")
        }
    }
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
            BusError::Tls(why) => write!(f, "TLS to Redis: {why}"),
            BusError::Redis(why) => write!(
                f,
                "Redis command failed: {why} (check that Redis is reachable)"
            ),
            BusError::MailboxFull { identity, limit } => {
                let identity = Shown(identity);
                match limit {
                    MailboxLimit::Bytes(n) => write!(
                        f,
                        "mailbox full: this notification would take the mailbox of {identity} past {n} \
                         bytes (mailbox_max_bytes); notify less or smaller, or raise mailbox_max_bytes"
                    ),
                    MailboxLimit::Messages(n)
                    | MailboxLimit::Identities(n)
                    | MailboxLimit::StoreBytes(n) => {
                        write!(
                            f,
                            "mailbox full: the mailbox of {identity} holds {n} messages already \
                             (mailbox_max_messages); it has not connected for a while: notify less, or raise \
                             mailbox_max_messages"
                        )
                    }
                }
            }
            BusError::StoreFull { limit } => match limit {
                MailboxLimit::Identities(n) => write!(
                    f,
                    "mailbox store full: {n} identities have stored messages (mailbox_store_max_identities); \
                     retry once some of them connect or their mailboxes expire, or raise \
                     mailbox_store_max_identities"
                ),
                MailboxLimit::StoreBytes(n)
                | MailboxLimit::Messages(n)
                | MailboxLimit::Bytes(n) => write!(
                    f,
                    "mailbox store full: this notification would take the store past {n} bytes \
                     (mailbox_store_max_bytes); retry once mail is delivered or expires, or raise \
                     mailbox_store_max_bytes"
                ),
            },
            BusError::NotifyQueueFull { max_bytes } => write!(
                f,
                "too many notifications are waiting for Redis ({max_bytes} bytes, notify_queue_max_bytes): \
                 check that Redis is reachable and retry later, or raise notify_queue_max_bytes"
            ),
            BusError::IdentityTooLong { bytes, max } => write!(
                f,
                "an identity of {bytes} bytes is longer than the {max} an identity may have: use a user id, \
                 not data"
            ),
            BusError::NotReplicated { identity, waited } => write!(
                f,
                "the notification to {} was stored on the Redis master, but no replica confirmed it \
                 within {waited:?} (replica_ack_timeout): it is lost if that master fails before it \
                 replicates, and a retry may store it twice; check the replicas, or raise \
                 replica_ack_timeout",
                Shown(identity)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_a_bounded_identity() {
        let long = "x".repeat(10_000);
        let e = BusError::MailboxFull {
            identity: long,
            limit: MailboxLimit::Bytes(1 << 20),
        };
        let text = e.to_string();
        assert!(text.len() < 400, "{text}");
        assert!(text.contains("mailbox_max_bytes"));
        let e = BusError::StoreFull {
            limit: MailboxLimit::Identities(3),
        };
        assert!(e.to_string().contains("mailbox_store_max_identities"));
    }
}
