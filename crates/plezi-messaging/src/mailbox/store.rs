//! The storage side of identity mailboxes: one trait, an in-memory and a Redis implementation.
//!
//! # Claims stay in the mailbox until they are delivered
//! A claim *reads* a batch from the head and takes the identity's drain turn with a fresh token; the
//! messages stay at the head until [`MailboxStore::delivered`] removes them. So:
//! - a server that dies holding the turn loses nothing: its turn expires and the next server claims the
//!   same messages, still first in line (at-least-once across a crash);
//! - nothing is ever put back: returning a claim only releases the turn, so a claim returned late (after
//!   its turn expired and another server drained later messages) cannot put old messages behind new ones.
//!
//! Every turn operation is fenced by its token: `delivered`, `give_back` and `renew` with a token that no
//! longer holds the turn change nothing.

use std::time::Duration;

use crate::error::BusError;
use crate::uuid::ServerId;

/// Bookkeeping bytes counted per stored message, on top of its size.
pub(crate) const MESSAGE_OVERHEAD: usize = 64;
/// Bookkeeping bytes counted per mailbox, on top of its identity's length.
pub(crate) const ENTRY_OVERHEAD: usize = 256;

/// A claim attempt's answer.
#[derive(Debug, PartialEq)]
pub(crate) enum Claimed {
    /// Another claim holds the identity's drain turn (it drains everything, including what is new); the
    /// turn ends by itself in `retry_in` if its holder never confirms it.
    Busy {
        /// Time left on the other turn.
        retry_in: Duration,
    },
    /// The claimed messages (stored form, oldest first), read under the caller's token; empty when the
    /// mailbox is empty (no turn taken).
    Messages(Vec<Vec<u8>>),
}

/// Signals for other servers, pre-encoded by the caller (the store only knows where to send them).
pub(crate) struct Signals<'a> {
    /// Redis channel prefix of server channels (`{app}:srv:`).
    pub server_channel_prefix: &'a str,
    /// The drain envelope for this identity.
    pub drain: &'a [u8],
}

/// The caps a `notify` is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quota {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub store_max_identities: usize,
    pub store_max_bytes: usize,
}

/// What a store holds (see [`crate::MailboxUsage`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Usage {
    pub identities: usize,
    pub bytes: usize,
}

/// Whether two claim tokens (`{server id}:{n}`) come from one server.
pub(crate) fn same_server(a: &str, b: &str) -> bool {
    a.split(':').next() == b.split(':').next()
}

/// One claim of the drain turn.
pub(crate) struct Turn<'a> {
    /// Unique per claim: `{server id}:{n}`.
    pub token: &'a str,
    /// Most messages to read.
    pub max: usize,
    /// How long the turn lasts unless renewed.
    pub ttl: Duration,
}

/// A confirmation: the claim of `token` (its first `count` messages) reached a live connection.
pub(crate) struct Done<'a> {
    pub token: &'a str,
    pub count: usize,
    /// The messages as envelopes for the other servers' live connections.
    pub forwards: &'a [Vec<u8>],
}

/// Atomic mailbox operations. Every operation renews the identity's lifespan.
pub(crate) trait MailboxStore: Send + Sync {
    /// Whether every operation completes in memory (never waits for I/O), so it may run on any thread.
    fn is_local(&self) -> bool;

    /// Appends a message (refused with `MailboxFull`/`StoreFull` when it does not fit), then signals every
    /// other server holding live connections of the identity. Returns whether `me` holds live connections
    /// (so the caller drains locally).
    fn notify(
        &self,
        identity: &str,
        message: &[u8],
        me: ServerId,
        default_lifespan: Duration,
        quota: &Quota,
        signals: &Signals<'_>,
    ) -> Result<bool, BusError>;

    /// Records that `me` holds live connections of the identity (also: renews; heals a stale removal).
    fn register(&self, identity: &str, me: ServerId, lifespan: Duration) -> Result<(), BusError>;

    /// `me` no longer holds live connections of the identity.
    fn unregister(&self, identity: &str, me: ServerId) -> Result<(), BusError>;

    /// A signal to `server` about the identity reached nobody: forgets that `server` holds live
    /// connections, unless it registered again since `registration` (the one the signal was sent for).
    fn forget(&self, identity: &str, server: ServerId, registration: &str) -> Result<(), BusError>;

    /// Reads up to `turn.max` messages from the head and takes the drain turn, unless another
    /// server's claim holds it. A turn held by an earlier claim of the same server (the server
    /// before the first `:` of the token) is taken over: a server claims only with no claim of its
    /// own out, so such a turn is one whose answer it never got (the connection broke after Redis
    /// ran the claim), and its messages are still first in line.
    fn claim(&self, identity: &str, turn: &Turn<'_>) -> Result<Claimed, BusError>;

    /// Extends the turn held by `token`; false if that token no longer holds it.
    fn renew(&self, identity: &str, token: &str, ttl: Duration) -> Result<bool, BusError>;

    /// The claim of `done.token` reached a live connection: removes its messages, forwards them to the
    /// other servers holding live connections, then claims the next batch under `next` (or ends the turn).
    /// If that token no longer holds the turn, nothing changes and the answer is `Busy` (the messages are
    /// still first in line for the turn's holder).
    fn delivered(
        &self,
        identity: &str,
        me: ServerId,
        done: &Done<'_>,
        next: &Turn<'_>,
        signals: &Signals<'_>,
    ) -> Result<Claimed, BusError>;

    /// The claim of `token` reached nobody: ends its turn (the messages never left the head) and signals
    /// the other servers holding live connections. Nothing happens if `token` no longer holds the turn.
    fn give_back(
        &self,
        identity: &str,
        me: ServerId,
        token: &str,
        signals: &Signals<'_>,
    ) -> Result<(), BusError>;

    /// What the store holds.
    fn usage(&self) -> Result<Usage, BusError>;
}
