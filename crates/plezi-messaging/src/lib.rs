//! plezi-messaging: connection UUIDs, the message bus (in-process and Redis), identity mailboxes.
//!
//! This crate moves messages between connections, threads, processes and machines. It knows nothing of
//! sockets: the dispatch layer registers a [`Sink`] that receives *local deliveries* — "these connections
//! of this server get this payload" — and runs the right controller handlers.
//!
//! # Names
//! - [`ConnectionUuid`]: server ([`ServerId`], random per process start) + loop index + slot +
//!   generation, as 39 lowercase hex characters. A unicast goes to the owning server only; a stale id never
//!   reaches a newer connection in the same slot.
//! - [`Target`]: multicast (every connection), broadcast (one controller type), unicast (one UUID), named
//!   channel (exact or Redis-glob pattern subscriptions), identity (a user id). Each [`Message`] may name
//!   a connection to skip (`except`, usually the sender).
//! - [`Payload`]: an event name and JSON data (handlers run), or pre-encoded bytes (the fast path).
//!
//! # Engines
//! [`Bus::in_process`] (the default, one server) or [`Bus::redis`] (`PL_REDIS_URL`, else `REDIS_URL`,
//! via [`Bus::from_env`]; `rediss://` for TLS, verified against the system roots or
//! [`RedisTls::ca_file`], with an optional client certificate). Local receivers are always served at once on the publishing thread; other
//! servers get a versioned JSON envelope (`docs/protocol.md#envelope-v1`) through Redis pub/sub and
//! drop their own echoes. Publishes go through a bounded queue drained by one publisher thread that
//! pipelines everything queued in one round trip; when Redis is down they wait in that queue and are flushed after the reconnect (capped exponential
//! backoff with jitter, everything resubscribed); a full queue makes [`Bus::publish`] fail with
//! [`BusError::QueueFull`] — nothing is dropped silently. [`Bus::state`] exposes the counters.
//!
//! With Redis a server hears a controller type's broadcasts, a named channel and an identity's
//! real-time messages only while it has a local member of it ([`Bus::join_controller`],
//! [`Bus::subscribe`], [`Bus::register_as`]), and for `BusConfig::unsubscribe_grace` after the last one
//! left; multicasts reach every server. A join returns once Redis confirmed the subscription, so a
//! message published anywhere after it reaches the new member (`docs/protocol.md#interest`).
//!
//! The Redis URL may name a Redis Cluster (any node, or several separated by commas); the server says
//! so (`INFO cluster`), and the bus then uses sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH` on the master
//! owning each channel), follows topology changes and failovers, and the mailboxes wait for a replica
//! (`docs/protocol.md#redis-cluster`).
//!
//! # Identity mailboxes
//! [`Bus::register_as`], [`Bus::unregister`], [`Bus::notify`], [`Bus::notify_from`]. Store-then-signal:
//! `notify` stores the message in the identity's mailbox first, then signals every server holding live
//! connections of the identity. A signalled server *claims* messages (two claims never overlap: one server
//! at a time holds an identity's drain turn, so order is kept per identity) and hands them to
//! [`Sink::deliver_mailbox`] with a [`Claim`]: [`Claim::delivered`] removes them for good and forwards them
//! to the identity's live connections on the other servers; dropping the claim undelivered (the connection
//! closed meanwhile) ends the turn, and the messages, which never left the mailbox, stay first in line. A
//! server that dies holding a turn is taken over when its turn ends; a claim confirmed or returned after its
//! turn moved on changes nothing, so it can never reorder the mail. A mailbox outlives the identity's last
//! access by its lifespan (default 21 days, per registration), and every access renews it. The in-process
//! engine keeps mailboxes in memory: **they are lost when the process exits**. The Redis engine keeps them
//! in Redis (Lua scripts, no read-modify-write races).
//!
//! Quotas: a mailbox holds at most `mailbox_max_messages` messages and `mailbox_max_bytes` bytes, the store
//! at most `mailbox_store_max_identities` identities with mail and `mailbox_store_max_bytes` bytes; a
//! `notify` past one is refused ([`BusError::MailboxFull`], [`BusError::StoreFull`], naming the
//! [`MailboxLimit`]), never dropped silently. [`Bus::mailbox_usage`] reports the counts.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use plezi_messaging::{Bus, BusConfig, MailboxBatch, LocalDelivery, Payload, Sink};
//!
//! #[derive(Default)]
//! struct Inbox(Mutex<Vec<Payload>>);
//! impl Sink for Inbox {
//!     fn deliver(&self, _: LocalDelivery) {}
//!     fn deliver_mailbox(&self, batch: MailboxBatch) {
//!         self.0.lock().unwrap().extend(batch.messages.into_iter().map(|m| m.payload));
//!         batch.claim.delivered(); // a live connection took them
//!     }
//! }
//!
//! let bus = Bus::in_process(BusConfig::default());
//! let inbox = Arc::new(Inbox::default());
//! bus.set_sink(inbox.clone());
//! bus.notify_event("user-7", "hello", serde_json::json!(1)).unwrap(); // stored: user-7 is offline
//! bus.register_as("user-7", bus.connection_uuid(0, 9, 0), None).unwrap();
//! bus.flush(std::time::Duration::from_secs(5)).unwrap();
//! assert_eq!(inbox.0.lock().unwrap().len(), 1);
//! ```
//!
//! # Features
//!
//! - `internals` (off by default): makes the Redis envelope (the module `envelope`, `Envelope`,
//!   `EnvelopeBody`, `EnvelopeError`) and the glob matcher (`glob_match`) public, for the fuzzers and
//!   benchmarks. They are not a stable API; the format itself is `docs/protocol.md#envelope-v1`.

mod bus;
mod config;
mod counters;
#[cfg(feature = "internals")]
pub mod envelope;
#[cfg(not(feature = "internals"))]
mod envelope;
mod error;
mod glob;
mod history;
mod local_node;
mod mailbox;
mod message;
mod redis;
mod registry;
mod session_store;
mod sink;
mod uuid;

pub use bus::{Bus, BusState, ReceivedKinds};
pub use config::{
    BusConfig, DEFAULT_MAILBOX_LIFESPAN, Engine, MAX_IDENTITY_BYTES, RateLimit, RedisTls,
};
#[cfg(feature = "internals")]
pub use envelope::{Envelope, EnvelopeBody, EnvelopeError};
pub use error::{BusError, MailboxLimit};
#[cfg(feature = "internals")]
pub use glob::glob_match;
pub use history::{HistoryLimits, Position, RecoveryGap};
pub use mailbox::MailboxUsage;
pub use message::{Message, Payload, Target};
pub use session_store::{MemorySessionStore, RedisSessionStore, SessionStore, SessionStoreConfig};
pub use sink::{Claim, LocalDelivery, Mail, MailboxBatch, Recipients, Sink};
pub use uuid::{ConnectionUuid, ParseUuidError, SERVER_ID_TEXT_LEN, ServerId, UUID_TEXT_LEN};
