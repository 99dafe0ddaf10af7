//! Identity mailboxes: store-then-signal delivery to an identity's live connections on any server.
//!
//! One worker thread per bus runs every drain (claims, confirmations, returns), so the sink is called for
//! mailboxes from that thread only. With the Redis store it also stores every notification, in the order
//! the calls were made, so that no caller's thread ever waits for Redis unless it asked to
//! ([`crate::Bus::notify`]); the in-memory store is updated on the caller's thread (it never waits for I/O).
//!
//! Drain turns (see `store.rs` for the claim model): while a claim is out, the worker renews its turn, so
//! only a holder that stopped (crashed, or stalled past `mailbox_claim_ttl`) loses it. A server whose claim
//! found another turn live tries again when that turn ends, without waiting for another notify or
//! registration: a crashed holder delays the identity's mail by at most one turn.

mod clock;
mod memory;
mod redis_store;
mod store;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(crate) use memory::MemoryStore;
pub(crate) use redis_store::{PruneFn, RedisStore, SignalFn};
pub(crate) use store::{Claimed, Done, MailboxStore, Quota, Signals, Turn};

use crate::config::MAX_IDENTITY_BYTES;
use crate::counters::Counters;
use crate::envelope::{self, Envelope, EnvelopeBody};
use crate::error::BusError;
use crate::local_node::LocalNode;
use crate::message::Payload;
use crate::sink::ClaimSettler;
use crate::uuid::ConnectionUuid;
use worker::Worker;

/// What the mailbox store holds, as counted against its caps ([`crate::Bus::mailbox_usage`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MailboxUsage {
    /// Identities with stored messages (`mailbox_store_max_identities` caps it).
    pub identities: usize,
    /// Bytes counted: each message's stored size + 64, each mailbox's identity + 256
    /// (`mailbox_store_max_bytes` caps it).
    pub bytes: usize,
}

/// The mailbox worker settles claims: a confirmed claim's messages leave the mailbox for good, a dropped
/// one's turn ends and its messages stay first in line.
impl ClaimSettler for Sender<Job> {
    fn delivered(&self, identity: String, token: String, messages: Vec<Vec<u8>>) {
        let _ = self.send(Job::Delivered {
            identity,
            token,
            messages,
        });
    }

    fn given_back(&self, identity: String, token: String) {
        // If the worker is gone (bus shut down) the turn simply expires; the messages never left.
        let _ = self.send(Job::GiveBack { identity, token });
    }
}

/// A notification waiting for the worker (Redis store).
struct NotifyJob {
    identity: String,
    stored: Vec<u8>,
    /// Bytes counted against `notify_queue_max_bytes` while queued.
    charge: usize,
    /// The event name, for a refusal's report.
    event: Option<String>,
    /// Who hears the outcome.
    outcome: Outcome,
}

/// Called once with a queued notification's outcome (see [`crate::Bus::notify_then`]).
pub(crate) type NotifyDone = Box<dyn FnOnce(Result<(), BusError>) + Send>;

/// Runs a closure once everything Redis published to this server before the call has been routed (at
/// once without Redis). A claimed batch is handed over through it, so a live connection gets the
/// messages another server forwarded (by pub/sub) before the later ones this server claimed.
pub(crate) type AfterPubSub = Box<dyn Fn(Box<dyn FnOnce() + Send>) + Send + Sync>;

/// The [`AfterPubSub`] of a bus without Redis: nothing to wait for.
pub(crate) fn at_once() -> AfterPubSub {
    Box::new(|then| then())
}

/// Who hears how a notification ended.
pub(crate) enum Outcome {
    /// Called once with the answer.
    Then(NotifyDone),
    /// Only a refusal is reported: to this connection through the sink, or logged without one.
    RefusalTo(Option<ConnectionUuid>),
}

impl Outcome {
    /// Tells whoever listens that the notification ended with `result`.
    fn finish(
        self,
        node: &LocalNode,
        identity: &str,
        event: Option<&str>,
        result: Result<(), BusError>,
    ) {
        match (self, result) {
            (Outcome::Then(done), result) => done(result),
            (Outcome::RefusalTo(_), Ok(())) => {}
            (Outcome::RefusalTo(Some(from)), Err(e)) => {
                node.sink().notify_refused(from, identity, event, &e)
            }
            (Outcome::RefusalTo(None), Err(e)) => {
                log::debug!("a notification was refused after it was queued: {e}")
            }
        }
    }
}

enum Job {
    Register {
        identity: String,
        lifespan: Duration,
    },
    Unregister {
        identity: String,
    },
    Drain {
        identity: String,
    },
    /// A signal to `server` about `identity` reached nobody: forget that it holds live connections,
    /// unless it registered again since `registration`.
    Prune {
        identity: String,
        server: crate::uuid::ServerId,
        registration: String,
    },
    Notify(NotifyJob),
    Delivered {
        identity: String,
        token: String,
        messages: Vec<Vec<u8>>,
    },
    GiveBack {
        identity: String,
        token: String,
    },
    Barrier(Sender<()>),
    Stop,
}

/// Refuses identities longer than [`MAX_IDENTITY_BYTES`].
pub(crate) fn check_identity(identity: &str) -> Result<(), BusError> {
    if identity.len() > MAX_IDENTITY_BYTES {
        return Err(BusError::IdentityTooLong {
            bytes: identity.len(),
            max: MAX_IDENTITY_BYTES,
        });
    }
    Ok(())
}

fn quota(node: &LocalNode) -> Quota {
    let c = &node.config;
    Quota {
        max_messages: c.mailbox_max_messages,
        max_bytes: c.mailbox_max_bytes,
        store_max_identities: c.mailbox_store_max_identities,
        store_max_bytes: c.mailbox_store_max_bytes,
    }
}

/// Stores one notification; on success returns whether this server must drain.
fn store_notify(
    node: &LocalNode,
    store: &dyn MailboxStore,
    server_channel_prefix: &str,
    identity: &str,
    stored: &[u8],
) -> Result<bool, BusError> {
    let drain = drain_envelope(node, identity);
    let result = store.notify(
        identity,
        stored,
        node.server,
        node.config.mailbox_lifespan,
        &quota(node),
        &Signals {
            server_channel_prefix,
            drain: &drain,
        },
    );
    if result.is_err() {
        Counters::add(&node.counters.notify_refused, 1);
    }
    result
}

/// The mailbox side of a bus: the store plus the worker thread.
pub(crate) struct Mailboxes {
    node: Arc<LocalNode>,
    store: Arc<dyn MailboxStore>,
    jobs: Sender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
    worker: Option<ThreadId>,
    server_channel_prefix: String,
    /// Bytes of notifications queued for the worker.
    pending: Arc<AtomicUsize>,
    /// Notifications given an id so far (makes each stored message's id unique).
    ids: AtomicU64,
}

impl Mailboxes {
    pub fn start(
        node: Arc<LocalNode>,
        store: Arc<dyn MailboxStore>,
        server_channel_prefix: String,
        after_pubsub: AfterPubSub,
    ) -> Mailboxes {
        let (jobs, rx) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let worker = Worker::new(
            node.clone(),
            store.clone(),
            jobs.clone(),
            server_channel_prefix.clone(),
            pending.clone(),
            after_pubsub,
        );
        let thread = std::thread::Builder::new()
            .name("plezi-mailbox".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| log::error!("cannot start the mailbox thread: {e}"))
            .ok();
        Mailboxes {
            node,
            store,
            jobs,
            worker: thread.as_ref().map(|t| t.thread().id()),
            thread: Mutex::new(thread),
            server_channel_prefix,
            pending,
            ids: AtomicU64::new(0),
        }
    }

    /// A fresh mailbox message id: `{server id}.{n}` (server ids are random per process, so ids are
    /// unique across servers and restarts).
    fn new_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}.{n:x}", self.node.server)
    }

    /// Stores a notification. In memory (or on the worker thread itself) it is stored at once and the
    /// answer is final (an `Outcome::Then` is called with `Ok` before this returns). Otherwise it is
    /// queued for the worker, in call order, and `outcome` says who hears the answer: a callback, or
    /// (for a refusal only) the sending connection through the sink.
    /// An `Err` returned here is final and `outcome` is not used.
    pub fn notify(
        &self,
        identity: &str,
        payload: &Payload,
        outcome: Outcome,
    ) -> Result<(), BusError> {
        check_identity(identity)?;
        let stored = envelope::encode_stored(&self.new_id(), payload);
        let here = self.store.is_local() || Some(std::thread::current().id()) == self.worker;
        if here {
            let mine = store_notify(
                &self.node,
                &*self.store,
                &self.server_channel_prefix,
                identity,
                &stored,
            )?;
            if mine {
                self.drain(identity);
            }
            if let Outcome::Then(done) = outcome {
                done(Ok(()));
            }
            return Ok(());
        }
        let charge = stored.len() + identity.len() + store::MESSAGE_OVERHEAD;
        let max_bytes = self.node.config.notify_queue_max_bytes;
        let before = self.pending.fetch_add(charge, Ordering::AcqRel);
        if before + charge > max_bytes {
            self.pending.fetch_sub(charge, Ordering::AcqRel);
            Counters::add(&self.node.counters.notify_refused, 1);
            return Err(BusError::NotifyQueueFull { max_bytes });
        }
        let event = match payload {
            Payload::Event { event, .. } => Some(event.clone()),
            Payload::Raw(_) => None,
        };
        let job = Job::Notify(NotifyJob {
            identity: identity.to_owned(),
            stored,
            charge,
            event,
            outcome,
        });
        if self.jobs.send(job).is_err() {
            self.pending.fetch_sub(charge, Ordering::AcqRel);
            return Err(BusError::Closed);
        }
        Ok(())
    }

    pub fn register(&self, identity: &str, lifespan: Duration) {
        let _ = self.jobs.send(Job::Register {
            identity: identity.to_owned(),
            lifespan,
        });
    }

    pub fn unregister(&self, identity: &str) {
        let _ = self.jobs.send(Job::Unregister {
            identity: identity.to_owned(),
        });
    }

    pub fn drain(&self, identity: &str) {
        let _ = self.jobs.send(Job::Drain {
            identity: identity.to_owned(),
        });
    }

    /// A function that asks the worker to drain an identity (for the Redis subscriber thread); it holds
    /// no reference to the bus itself.
    /// Registers an identity with live local connections again and drains it (after an outage of
    /// this server's own channel: a signal sent meanwhile is gone, and the server may have been
    /// forgotten for the identity when a signal reached nobody).
    pub fn rejoin_handle(&self) -> Box<dyn Fn(&str) + Send + Sync> {
        let jobs = Mutex::new(self.jobs.clone());
        let node = self.node.clone();
        Box::new(move |identity| {
            let Some(lifespan) = node.registry.read().identity(identity).map(|e| e.lifespan) else {
                return;
            };
            let _ = jobs.lock().send(Job::Register {
                identity: identity.to_owned(),
                lifespan,
            });
        })
    }

    /// Queues the removal of a gone server from an identity's mailbox (see [`Job::Prune`]).
    pub fn prune_handle(&self) -> PruneFn {
        let jobs = Mutex::new(self.jobs.clone());
        Arc::new(move |identity, server, registration| {
            let _ = jobs.lock().send(Job::Prune {
                identity: identity.to_owned(),
                server,
                registration,
            });
        })
    }

    pub fn drain_handle(&self) -> Box<dyn Fn(&str) + Send + Sync> {
        let jobs = Mutex::new(self.jobs.clone());
        Box::new(move |identity| {
            let _ = jobs.lock().send(Job::Drain {
                identity: identity.to_owned(),
            });
        })
    }

    /// What the store holds.
    pub fn usage(&self) -> Result<MailboxUsage, BusError> {
        let u = self.store.usage()?;
        Ok(MailboxUsage {
            identities: u.identities,
            bytes: u.bytes,
        })
    }

    /// Waits until the worker handled every job sent before this call.
    pub fn settle(&self, deadline: Instant) -> Result<(), BusError> {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Job::Barrier(tx))
            .map_err(|_| BusError::Closed)?;
        let left = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(left).map_err(|_| BusError::Timeout)
    }

    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

fn drain_envelope(node: &LocalNode, identity: &str) -> Vec<u8> {
    Envelope {
        origin: node.server,
        seq: None,
        body: EnvelopeBody::Drain {
            identity: identity.to_owned(),
        },
    }
    .encode()
}
