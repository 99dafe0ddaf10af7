//! Identity mailboxes: store-then-signal delivery to an identity's live connections on any server.
//!
//! One worker thread per bus runs every drain (claims, confirmations, returns), so the sink is called for
//! mailboxes from that thread only. `notify` runs on the caller's thread: it returns once the message is
//! stored (one Redis round trip with the Redis store).

mod memory;
mod redis_store;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(crate) use memory::MemoryStore;
pub(crate) use redis_store::RedisStore;
pub(crate) use store::{Claimed, MailboxStore, Signals};

use crate::core::Core;
use crate::envelope::{self, Envelope, EnvelopeBody};
use crate::error::BusError;
use crate::message::{Message, Payload, Target};
use crate::sink::MailboxBatch;

/// The receipt for messages claimed from a mailbox (see [`MailboxBatch`]).
///
/// Cheap to clone; all clones are one claim. Call [`Claim::delivered`] once a live connection took the
/// messages: they leave the mailbox for good (and are forwarded to the identity's live connections on other
/// servers). If every clone is dropped without that call, the messages return to the head of the mailbox in
/// their order, and the identity's other servers are told to drain.
#[derive(Clone)]
pub struct Claim {
    inner: Arc<ClaimInner>,
}

struct ClaimInner {
    identity: String,
    messages: Mutex<Option<Vec<Vec<u8>>>>,
    jobs: Sender<Job>,
}

impl Claim {
    /// The claimed messages reached a live connection; removes them for good. Idempotent.
    pub fn delivered(&self) {
        if let Some(messages) = self.inner.messages.lock().take() {
            let _ = self.inner.jobs.send(Job::Delivered {
                identity: self.inner.identity.clone(),
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
        if let Some(messages) = self.messages.get_mut().take() {
            // If the worker is gone (bus shut down) the messages are lost with the in-memory store, and were
            // already claimed from Redis: the bus is stopping either way.
            let _ = self.jobs.send(Job::GiveBack {
                identity: std::mem::take(&mut self.identity),
                messages,
            });
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
    Delivered {
        identity: String,
        messages: Vec<Vec<u8>>,
    },
    GiveBack {
        identity: String,
        messages: Vec<Vec<u8>>,
    },
    Barrier(Sender<()>),
    Stop,
}

/// The mailbox side of a bus: the store plus the worker thread.
pub(crate) struct Mailboxes {
    core: Arc<Core>,
    store: Arc<dyn MailboxStore>,
    jobs: Sender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
    server_channel_prefix: String,
}

impl Mailboxes {
    pub fn start(
        core: Arc<Core>,
        store: Arc<dyn MailboxStore>,
        server_channel_prefix: String,
    ) -> Mailboxes {
        let (jobs, rx) = mpsc::channel();
        let worker = Worker {
            core: core.clone(),
            store: store.clone(),
            jobs: jobs.clone(),
            in_flight: HashMap::new(),
            refresh: HashMap::new(),
            retry: Vec::new(),
            server_channel_prefix: server_channel_prefix.clone(),
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
            thread: Mutex::new(thread),
            server_channel_prefix,
        }
    }

    pub fn notify(&self, identity: &str, payload: &Payload) -> Result<(), BusError> {
        let stored = envelope::encode_stored(payload);
        let drain = drain_envelope(&self.core, identity);
        let config = &self.core.config;
        let mine = self.store.notify(
            identity,
            &stored,
            self.core.server,
            config.mailbox_lifespan,
            config.mailbox_max_messages,
            &Signals {
                server_channel_prefix: &self.server_channel_prefix,
                drain: &drain,
            },
        )?;
        if mine {
            self.drain(identity);
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
    pub fn drain_handle(&self) -> Box<dyn Fn(&str) + Send + Sync> {
        let jobs = Mutex::new(self.jobs.clone());
        Box::new(move |identity| {
            let _ = jobs.lock().send(Job::Drain {
                identity: identity.to_owned(),
            });
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

struct Worker {
    core: Arc<Core>,
    store: Arc<dyn MailboxStore>,
    jobs: Sender<Job>,
    /// Identities with a claim handed to the sink and not yet confirmed or returned; `true` if a drain was
    /// asked for meanwhile.
    in_flight: HashMap<String, bool>,
    /// Locally registered identities and when to renew them next.
    refresh: HashMap<String, (Duration, Instant)>,
    /// Jobs that failed because the store was unreachable, retried on the next tick.
    retry: Vec<Job>,
    server_channel_prefix: String,
}

const TICK: Duration = Duration::from_millis(250);
const MAX_REFRESH: Duration = Duration::from_secs(3600);

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(job) => self.handle(job),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_tick {
                self.tick();
                next_tick = Instant::now() + TICK;
            }
        }
        // Return what the sink dropped before the stop, so a Redis mailbox keeps it.
        while let Ok(job) = rx.try_recv() {
            if matches!(job, Job::GiveBack { .. } | Job::Delivered { .. }) {
                self.handle(job);
            }
        }
    }

    fn handle(&mut self, job: Job) {
        let result = match &job {
            Job::Register { identity, lifespan } => self.register(identity, *lifespan),
            Job::Unregister { identity } => self.unregister(identity),
            Job::Drain { identity } => self.drain(identity),
            Job::Delivered { identity, messages } => self.delivered(identity, messages),
            Job::GiveBack { identity, messages } => self.give_back(identity, messages),
            Job::Barrier(done) => {
                let _ = done.send(());
                Ok(())
            }
            Job::Stop => Ok(()),
        };
        if let Err(e) = result {
            if self.retry.is_empty() {
                log::warn!("mailbox store unreachable, will retry: {e}");
            }
            self.retry.push(job);
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
        for job in std::mem::take(&mut self.retry) {
            self.handle(job);
        }
    }

    fn register(&mut self, identity: &str, lifespan: Duration) -> Result<(), BusError> {
        if self.core.registry.read().identity(identity).is_none() {
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
        if self.core.registry.read().identity(identity).is_some() {
            return Ok(()); // registered again meanwhile
        }
        self.refresh.remove(identity);
        self.store.unregister(identity, self.core.server)
    }

    fn drain(&mut self, identity: &str) -> Result<(), BusError> {
        if let Some(asked) = self.in_flight.get_mut(identity) {
            *asked = true;
            return Ok(());
        }
        if self.core.registry.read().identity(identity).is_none() {
            return Ok(());
        }
        let config = &self.core.config;
        match self.store.claim(
            identity,
            self.core.server,
            config.mailbox_claim_batch,
            config.mailbox_claim_ttl,
        )? {
            Claimed::Busy => {
                log::debug!("mailbox of {identity:?} is being drained by another server")
            }
            Claimed::Messages(messages) => self.hand_over(identity, messages),
        }
        Ok(())
    }

    fn delivered(&mut self, identity: &str, messages: &[Vec<u8>]) -> Result<(), BusError> {
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
        let drain = drain_envelope(&self.core, identity);
        let signals = Signals {
            server_channel_prefix: &self.server_channel_prefix,
            drain: &drain,
        };
        let config = &self.core.config;
        let next = self.store.delivered(
            identity,
            self.core.server,
            &forwards,
            config.mailbox_claim_batch,
            config.mailbox_claim_ttl,
            &signals,
        )?;
        self.in_flight.remove(identity);
        match next {
            Claimed::Busy => {}
            Claimed::Messages(messages) => self.hand_over(identity, messages),
        }
        Ok(())
    }

    fn give_back(&mut self, identity: &str, messages: &[Vec<u8>]) -> Result<(), BusError> {
        let drain = drain_envelope(&self.core, identity);
        let signals = Signals {
            server_channel_prefix: &self.server_channel_prefix,
            drain: &drain,
        };
        self.store
            .give_back(identity, self.core.server, messages, &signals)?;
        let asked = self.in_flight.remove(identity).unwrap_or(false);
        if asked {
            // A connection registered while the claim was out: give it its turn now.
            self.drain(identity)?;
        }
        Ok(())
    }

    /// Hands claimed messages to the sink (or straight back to the store if nobody is left to take them).
    fn hand_over(&mut self, identity: &str, messages: Vec<Vec<u8>>) {
        if messages.is_empty() {
            return;
        }
        let connections = self
            .core
            .registry
            .read()
            .identity_recipients(identity, None);
        let claim = Claim {
            inner: Arc::new(ClaimInner {
                identity: identity.to_owned(),
                messages: Mutex::new(Some(messages.clone())),
                jobs: self.jobs.clone(),
            }),
        };
        self.in_flight.insert(identity.to_owned(), false);
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
