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

mod memory;
mod redis_store;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(crate) use memory::MemoryStore;
pub(crate) use redis_store::RedisStore;
pub(crate) use store::{Claimed, Done, MailboxStore, Quota, Signals, Turn};

use crate::config::MAX_IDENTITY_BYTES;
use crate::core::{Core, Counters};
use crate::envelope::{self, Envelope, EnvelopeBody};
use crate::error::BusError;
use crate::message::{Message, Payload, Target};
use crate::sink::MailboxBatch;
use crate::uuid::ConnectionUuid;

/// What the mailbox store holds, as counted against its caps ([`crate::Bus::mailbox_usage`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MailboxUsage {
    /// Identities with stored messages (`mailbox_store_max_identities` caps it).
    pub identities: usize,
    /// Bytes counted: each message's stored size + 64, each mailbox's identity + 256
    /// (`mailbox_store_max_bytes` caps it).
    pub bytes: usize,
}

/// The receipt for messages claimed from a mailbox (see [`MailboxBatch`]).
///
/// Cheap to clone; all clones are one claim. Call [`Claim::delivered`] once a live connection took the
/// messages: they leave the mailbox for good (and are forwarded to the identity's live connections on other
/// servers). If every clone is dropped without that call, the messages stay first in the mailbox (they
/// never left it) and the identity's other servers are told to drain.
#[derive(Clone)]
pub struct Claim {
    inner: Arc<ClaimInner>,
}

struct ClaimInner {
    identity: String,
    token: String,
    messages: Mutex<Option<Vec<Vec<u8>>>>,
    jobs: Sender<Job>,
}

impl Claim {
    /// The claimed messages reached a live connection; removes them for good. Idempotent.
    pub fn delivered(&self) {
        if let Some(messages) = self.inner.messages.lock().take() {
            let _ = self.inner.jobs.send(Job::Delivered {
                identity: self.inner.identity.clone(),
                token: self.inner.token.clone(),
                messages,
            });
        }
    }

    /// The identity the messages belong to.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// Whether [`Claim::delivered`] was called.
    pub fn is_delivered(&self) -> bool {
        self.inner.messages.lock().is_none()
    }
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("identity", &self.inner.identity)
            .field("delivered", &self.is_delivered())
            .finish()
    }
}

impl Drop for ClaimInner {
    fn drop(&mut self) {
        if self.messages.get_mut().take().is_some() {
            // If the worker is gone (bus shut down) the turn simply expires; the messages never left.
            let _ = self.jobs.send(Job::GiveBack {
                identity: std::mem::take(&mut self.identity),
                token: std::mem::take(&mut self.token),
            });
        }
    }
}

/// A notification waiting for the worker (Redis store).
struct NotifyJob {
    identity: String,
    stored: Vec<u8>,
    /// Bytes counted against `notify_queue_max_bytes` while queued.
    charge: usize,
    /// The connection to tell if it is refused (when nobody waits for the answer).
    from: Option<ConnectionUuid>,
    /// The event name, for that report.
    event: Option<String>,
    /// Whoever waits for the answer.
    reply: Option<Sender<Result<(), BusError>>>,
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

fn quota(core: &Core) -> Quota {
    let c = &core.config;
    Quota {
        max_messages: c.mailbox_max_messages,
        max_bytes: c.mailbox_max_bytes,
        store_max_identities: c.mailbox_store_max_identities,
        store_max_bytes: c.mailbox_store_max_bytes,
    }
}

/// Stores one notification; on success returns whether this server must drain.
fn store_notify(
    core: &Core,
    store: &dyn MailboxStore,
    server_channel_prefix: &str,
    identity: &str,
    stored: &[u8],
) -> Result<bool, BusError> {
    let drain = drain_envelope(core, identity);
    let result = store.notify(
        identity,
        stored,
        core.server,
        core.config.mailbox_lifespan,
        &quota(core),
        &Signals {
            server_channel_prefix,
            drain: &drain,
        },
    );
    if result.is_err() {
        Counters::add(&core.counters.notify_refused, 1);
    }
    result
}

/// The mailbox side of a bus: the store plus the worker thread.
pub(crate) struct Mailboxes {
    core: Arc<Core>,
    store: Arc<dyn MailboxStore>,
    jobs: Sender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
    worker: Option<ThreadId>,
    server_channel_prefix: String,
    /// Bytes of notifications queued for the worker.
    pending: Arc<AtomicUsize>,
}

impl Mailboxes {
    pub fn start(
        core: Arc<Core>,
        store: Arc<dyn MailboxStore>,
        server_channel_prefix: String,
    ) -> Mailboxes {
        let (jobs, rx) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            core: core.clone(),
            store: store.clone(),
            jobs: jobs.clone(),
            in_flight: HashMap::new(),
            waiting: HashMap::new(),
            refresh: HashMap::new(),
            retry: Vec::new(),
            server_channel_prefix: server_channel_prefix.clone(),
            pending: pending.clone(),
            tokens: 0,
        };
        let thread = std::thread::Builder::new()
            .name("plezi-mailbox".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| log::error!("cannot start the mailbox thread: {e}"))
            .ok();
        Mailboxes {
            core,
            store,
            jobs,
            worker: thread.as_ref().map(|t| t.thread().id()),
            thread: Mutex::new(thread),
            server_channel_prefix,
            pending,
        }
    }

    /// Stores a notification. In memory (or on the worker thread itself) it is stored at once and the
    /// answer is final. Otherwise it is queued for the worker, in call order: with `wait` the caller waits
    /// for the answer; without, `Ok` means "queued", and a refusal goes to the sink's `notify_refused` for
    /// `from` (or is logged and counted when there is no `from`).
    pub fn notify(
        &self,
        identity: &str,
        payload: &Payload,
        from: Option<ConnectionUuid>,
        wait: bool,
    ) -> Result<(), BusError> {
        check_identity(identity)?;
        let stored = envelope::encode_stored(payload);
        let here = self.store.is_local() || Some(std::thread::current().id()) == self.worker;
        if here {
            let mine = store_notify(
                &self.core,
                &*self.store,
                &self.server_channel_prefix,
                identity,
                &stored,
            )?;
            if mine {
                self.drain(identity);
            }
            return Ok(());
        }
        let charge = stored.len() + identity.len() + store::MESSAGE_OVERHEAD;
        let max_bytes = self.core.config.notify_queue_max_bytes;
        let before = self.pending.fetch_add(charge, Ordering::AcqRel);
        if before + charge > max_bytes {
            self.pending.fetch_sub(charge, Ordering::AcqRel);
            Counters::add(&self.core.counters.notify_refused, 1);
            return Err(BusError::NotifyQueueFull { max_bytes });
        }
        let (reply, answer) = if wait {
            let (tx, rx) = mpsc::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let event = match payload {
            Payload::Event { event, .. } => Some(event.clone()),
            Payload::Raw(_) => None,
        };
        let job = Job::Notify(NotifyJob {
            identity: identity.to_owned(),
            stored,
            charge,
            from,
            event,
            reply,
        });
        if self.jobs.send(job).is_err() {
            self.pending.fetch_sub(charge, Ordering::AcqRel);
            return Err(BusError::Closed);
        }
        match answer {
            Some(rx) => rx.recv().unwrap_or(Err(BusError::Closed)),
            None => Ok(()),
        }
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

fn drain_envelope(core: &Core, identity: &str) -> Vec<u8> {
    Envelope {
        origin: core.server,
        seq: None,
        body: EnvelopeBody::Drain {
            identity: identity.to_owned(),
        },
    }
    .encode()
}

/// A claim handed to the sink and not yet confirmed or returned.
struct InFlight {
    token: String,
    /// A drain was asked for meanwhile.
    asked: bool,
    /// When to renew the turn next.
    renew_at: Instant,
}

struct Worker {
    core: Arc<Core>,
    store: Arc<dyn MailboxStore>,
    jobs: Sender<Job>,
    in_flight: HashMap<String, InFlight>,
    /// Identities whose claim found another server's turn live, and when that turn ends.
    waiting: HashMap<String, Instant>,
    /// Locally registered identities and when to renew them next.
    refresh: HashMap<String, (Duration, Instant)>,
    /// Jobs that failed because the store was unreachable, retried on the next tick.
    retry: Vec<Job>,
    server_channel_prefix: String,
    pending: Arc<AtomicUsize>,
    /// Claims made so far (makes each claim's token unique).
    tokens: u64,
}

const TICK: Duration = Duration::from_millis(250);
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// How long after another server's turn should end to try again (its expiry is Redis's clock).
const RETRY_SLACK: Duration = Duration::from_millis(10);

impl Worker {
    fn tick_every(&self) -> Duration {
        (self.core.config.mailbox_claim_ttl / 4).clamp(MIN_TICK, TICK)
    }

    fn run(mut self, rx: Receiver<Job>) {
        let every = self.tick_every();
        let mut next_tick = Instant::now() + every;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(job) => self.handle(job),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_tick {
                self.tick();
                next_tick = Instant::now() + every;
            }
        }
        // Confirm what the sink confirmed before the stop, and answer queued notifications.
        while let Ok(job) = rx.try_recv() {
            match job {
                Job::GiveBack { .. } | Job::Delivered { .. } => self.handle(job),
                Job::Notify(n) => {
                    if let Some(reply) = n.reply {
                        let _ = reply.send(Err(BusError::Closed));
                    }
                }
                _ => {}
            }
        }
    }

    fn handle(&mut self, job: Job) {
        let result = match &job {
            Job::Register { identity, lifespan } => self.register(identity, *lifespan),
            Job::Unregister { identity } => self.unregister(identity),
            Job::Drain { identity } => self.drain(identity),
            Job::Delivered {
                identity,
                token,
                messages,
            } => self.delivered(identity, token, messages),
            Job::GiveBack { identity, token } => self.give_back(identity, token),
            Job::Barrier(done) => {
                let _ = done.send(());
                Ok(())
            }
            Job::Notify(_) | Job::Stop => Ok(()),
        };
        if let Job::Notify(n) = job {
            self.notify(n);
            return;
        }
        if let Err(e) = result {
            if self.retry.is_empty() {
                log::warn!("mailbox store unreachable, will retry: {e}");
            }
            self.retry.push(job);
        }
    }

    /// Stores a queued notification and answers (never retried: the sender hears about a failure).
    fn notify(&mut self, job: NotifyJob) {
        self.pending.fetch_sub(job.charge, Ordering::AcqRel);
        let result = store_notify(
            &self.core,
            &*self.store,
            &self.server_channel_prefix,
            &job.identity,
            &job.stored,
        );
        let answer = match result {
            Ok(mine) => {
                if mine && let Err(e) = self.drain(&job.identity) {
                    log::debug!("mailbox drain of a new notification failed, will retry: {e}");
                    self.retry.push(Job::Drain {
                        identity: job.identity.clone(),
                    });
                }
                Ok(())
            }
            Err(e) => Err(e),
        };
        match (job.reply, answer) {
            (Some(reply), answer) => {
                let _ = reply.send(answer);
            }
            (None, Ok(())) => {}
            (None, Err(e)) => match job.from {
                Some(from) => {
                    self.core
                        .sink()
                        .notify_refused(from, &job.identity, job.event.as_deref(), &e)
                }
                None => log::debug!("a notification was refused after it was queued: {e}"),
            },
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let due: Vec<(String, Duration)> = self
            .refresh
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(id, (life, _))| (id.clone(), *life))
            .collect();
        for (identity, lifespan) in due {
            if let Err(e) = self.store.register(&identity, self.core.server, lifespan) {
                log::debug!("mailbox renewal of {identity:?} failed: {e}");
                continue;
            }
            self.refresh
                .insert(identity, (lifespan, now + refresh_every(lifespan)));
        }
        // Keep the turns of claims still out, so that only a holder that stopped loses its turn.
        let ttl = self.core.config.mailbox_claim_ttl;
        for (identity, f) in self.in_flight.iter_mut().filter(|(_, f)| f.renew_at <= now) {
            match self.store.renew(identity, &f.token, ttl) {
                Ok(true) => f.renew_at = now + ttl / 3,
                Ok(false) => {
                    log::debug!(
                        "the drain turn of {identity:?} ended before its claim was confirmed"
                    );
                    f.renew_at = now + ttl;
                }
                Err(e) => log::debug!("renewing the drain turn of {identity:?} failed: {e}"),
            }
        }
        // Another server's turn ended: drain (if its holder died, its messages are ours now).
        let due: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for identity in due {
            self.waiting.remove(&identity);
            if let Err(e) = self.drain(&identity) {
                log::debug!("mailbox drain of {identity:?} failed, will retry: {e}");
                self.retry.push(Job::Drain { identity });
            }
        }
        for job in std::mem::take(&mut self.retry) {
            self.handle(job);
        }
    }

    fn registered(&self, identity: &str) -> bool {
        self.core.registry.read().identity(identity).is_some()
    }

    fn register(&mut self, identity: &str, lifespan: Duration) -> Result<(), BusError> {
        if !self.registered(identity) {
            return Ok(()); // unregistered meanwhile
        }
        self.store.register(identity, self.core.server, lifespan)?;
        self.refresh.insert(
            identity.to_owned(),
            (lifespan, Instant::now() + refresh_every(lifespan)),
        );
        self.drain(identity)
    }

    fn unregister(&mut self, identity: &str) -> Result<(), BusError> {
        if self.registered(identity) {
            return Ok(()); // registered again meanwhile
        }
        self.refresh.remove(identity);
        self.waiting.remove(identity);
        self.store.unregister(identity, self.core.server)
    }

    fn new_token(&mut self) -> String {
        self.tokens += 1;
        format!("{}:{}", self.core.server, self.tokens)
    }

    fn turn<'t>(&self, token: &'t str) -> Turn<'t> {
        Turn {
            token,
            max: self.core.config.mailbox_claim_batch,
            ttl: self.core.config.mailbox_claim_ttl,
        }
    }

    fn drain(&mut self, identity: &str) -> Result<(), BusError> {
        if let Some(f) = self.in_flight.get_mut(identity) {
            f.asked = true;
            return Ok(());
        }
        if !self.registered(identity) {
            self.waiting.remove(identity);
            return Ok(());
        }
        let token = self.new_token();
        let claimed = self.store.claim(identity, &self.turn(&token))?;
        self.after_claim(identity, token, claimed);
        Ok(())
    }

    fn after_claim(&mut self, identity: &str, token: String, claimed: Claimed) {
        match claimed {
            Claimed::Busy { retry_in } => {
                if self.registered(identity) {
                    log::debug!(
                        "mailbox of {identity:?} is being drained by another claim; trying again in {retry_in:?}"
                    );
                    self.waiting
                        .insert(identity.to_owned(), Instant::now() + retry_in + RETRY_SLACK);
                }
            }
            Claimed::Messages(messages) => {
                self.waiting.remove(identity);
                self.hand_over(identity, token, messages);
            }
        }
    }

    fn delivered(
        &mut self,
        identity: &str,
        token: &str,
        messages: &[Vec<u8>],
    ) -> Result<(), BusError> {
        if self
            .in_flight
            .get(identity)
            .is_none_or(|f| f.token != token)
        {
            return Ok(()); // not the claim out (cannot happen; harmless)
        }
        let forwards: Vec<Vec<u8>> = messages
            .iter()
            .filter_map(|m| envelope::decode_stored(m))
            .map(|payload| {
                Envelope::message(
                    self.core.server,
                    Message::new(Target::Identity(identity.to_owned()), payload),
                )
                .encode()
            })
            .collect();
        let next_token = self.new_token();
        let drain = drain_envelope(&self.core, identity);
        let signals = Signals {
            server_channel_prefix: &self.server_channel_prefix,
            drain: &drain,
        };
        let next = self.store.delivered(
            identity,
            self.core.server,
            &Done {
                token,
                count: messages.len(),
                forwards: &forwards,
            },
            &self.turn(&next_token),
            &signals,
        )?;
        self.in_flight.remove(identity);
        self.after_claim(identity, next_token, next);
        Ok(())
    }

    fn give_back(&mut self, identity: &str, token: &str) -> Result<(), BusError> {
        if self
            .in_flight
            .get(identity)
            .is_none_or(|f| f.token != token)
        {
            return Ok(());
        }
        let drain = drain_envelope(&self.core, identity);
        let signals = Signals {
            server_channel_prefix: &self.server_channel_prefix,
            drain: &drain,
        };
        self.store
            .give_back(identity, self.core.server, token, &signals)?;
        let asked = self.in_flight.remove(identity).is_some_and(|f| f.asked);
        if asked {
            // A connection registered while the claim was out: give it its turn now.
            self.drain(identity)?;
        }
        Ok(())
    }

    /// Hands claimed messages to the sink (or returns them at once if nobody is left to take them).
    fn hand_over(&mut self, identity: &str, token: String, messages: Vec<Vec<u8>>) {
        if messages.is_empty() {
            return;
        }
        let connections = self
            .core
            .registry
            .read()
            .identity_recipients(identity, None);
        let ttl = self.core.config.mailbox_claim_ttl;
        self.in_flight.insert(
            identity.to_owned(),
            InFlight {
                token: token.clone(),
                asked: false,
                renew_at: Instant::now() + ttl / 3,
            },
        );
        let claim = Claim {
            inner: Arc::new(ClaimInner {
                identity: identity.to_owned(),
                token,
                messages: Mutex::new(Some(messages.clone())),
                jobs: self.jobs.clone(),
            }),
        };
        if connections.is_empty() {
            return; // dropping the claim returns the messages
        }
        let payloads: Vec<Payload> = messages
            .iter()
            .filter_map(|m| {
                let p = envelope::decode_stored(m);
                if p.is_none() {
                    log::warn!(
                        "dropping an unreadable stored message in the mailbox of {identity:?}"
                    );
                }
                p
            })
            .collect();
        self.core.sink().deliver_mailbox(MailboxBatch {
            identity: identity.to_owned(),
            connections,
            messages: payloads,
            claim,
        });
    }
}

fn refresh_every(lifespan: Duration) -> Duration {
    (lifespan / 2).clamp(TICK, MAX_REFRESH)
}
