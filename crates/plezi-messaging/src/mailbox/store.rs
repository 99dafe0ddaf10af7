//! The storage side of identity mailboxes: one trait, an in-memory and a Redis implementation.

use std::time::Duration;

use crate::error::BusError;
use crate::uuid::ServerId;

/// A claim attempt's answer.
#[derive(Debug, PartialEq)]
pub(crate) enum Claimed {
    /// Another server holds the identity's drain turn; it drains everything, including what is new.
    Busy,
    /// The claimed messages (stored form, oldest first); empty when the mailbox is empty (turn released).
    Messages(Vec<Vec<u8>>),
}

/// Signals for other servers, pre-encoded by the caller (the store only knows where to send them).
pub(crate) struct Signals<'a> {
    /// Redis channel prefix of server channels (`{app}:srv:`).
    pub server_channel_prefix: &'a str,
    /// The drain envelope for this identity.
    pub drain: &'a [u8],
}

/// Atomic mailbox operations. Every operation renews the identity's lifespan.
pub(crate) trait MailboxStore: Send + Sync {
    /// Appends a message, then signals every other server holding live connections of the identity.
    /// Returns whether `me` holds live connections (so the caller drains locally).
    fn notify(
        &self,
        identity: &str,
        message: &[u8],
        me: ServerId,
        default_lifespan: Duration,
        max_messages: usize,
        signals: &Signals<'_>,
    ) -> Result<bool, BusError>;

    /// Records that `me` holds live connections of the identity (also: renews; heals a stale removal).
    fn register(&self, identity: &str, me: ServerId, lifespan: Duration) -> Result<(), BusError>;

    /// `me` no longer holds live connections of the identity.
    fn unregister(&self, identity: &str, me: ServerId) -> Result<(), BusError>;

    /// Takes up to `max` messages from the head, with the identity's drain turn.
    fn claim(
        &self,
        identity: &str,
        me: ServerId,
        max: usize,
        turn_ttl: Duration,
    ) -> Result<Claimed, BusError>;

    /// The last claim reached a live connection: forwards its messages (pre-encoded envelopes) to the other
    /// servers holding live connections, then claims the next batch (or releases the turn).
    fn delivered(
        &self,
        identity: &str,
        me: ServerId,
        forwards: &[Vec<u8>],
        max: usize,
        turn_ttl: Duration,
        signals: &Signals<'_>,
    ) -> Result<Claimed, BusError>;

    /// The last claim reached nobody: puts the messages back at the head in order, releases the turn, and
    /// signals the other servers holding live connections.
    fn give_back(
        &self,
        identity: &str,
        me: ServerId,
        messages: &[Vec<u8>],
        signals: &Signals<'_>,
    ) -> Result<(), BusError>;
}
