//! The mailbox worker thread: every drain (claims, confirmations, returns), the renewal of registrations
//! and of turns still out, the retry when another server's turn ends, and (Redis store) every queued
//! notification, in call order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::{
    AfterPubSub, Claimed, Done, Job, MailboxStore, NotifyJob, Signals, Turn, drain_envelope,
    store_notify,
};
use crate::envelope::{self, Envelope};
use crate::error::BusError;
use crate::local_node::LocalNode;
use crate::message::{Message, Target};
use crate::sink::{Claim, Mail, MailboxBatch};

/// A claim handed to the sink and not yet confirmed or returned.
struct InFlight {
    token: String,
    /// A drain was asked for meanwhile.
    asked: bool,
    /// When to renew the turn next.
    renew_at: Instant,
}

pub(super) struct Worker {
    node: Arc<LocalNode>,
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
    /// How a claimed batch waits for the forwards published before it (see [`AfterPubSub`]).
    after_pubsub: AfterPubSub,
}

const TICK: Duration = Duration::from_millis(250);
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// How long after another server's turn should end to try again (its expiry is Redis's clock).
const RETRY_SLACK: Duration = Duration::from_millis(10);

impl Worker {
    pub(super) fn new(
        node: Arc<LocalNode>,
        store: Arc<dyn MailboxStore>,
        jobs: Sender<Job>,
        server_channel_prefix: String,
        pending: Arc<AtomicUsize>,
        after_pubsub: AfterPubSub,
    ) -> Worker {
        Worker {
            node,
            store,
            jobs,
            in_flight: HashMap::new(),
            waiting: HashMap::new(),
            refresh: HashMap::new(),
            retry: Vec::new(),
            server_channel_prefix,
            pending,
            tokens: 0,
            after_pubsub,
        }
    }

    fn tick_every(&self) -> Duration {
        (self.node.config.mailbox_claim_ttl / 4).clamp(MIN_TICK, TICK)
    }

    pub(super) fn run(mut self, rx: Receiver<Job>) {
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
                    n.outcome.finish(
                        &self.node,
                        &n.identity,
                        n.event.as_deref(),
                        Err(BusError::Closed),
                    );
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
            Job::Prune {
                identity,
                server,
                registration,
            } => self.store.forget(identity, *server, registration),
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
            &self.node,
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
        job.outcome
            .finish(&self.node, &job.identity, job.event.as_deref(), answer);
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
            if let Err(e) = self.store.register(&identity, self.node.server, lifespan) {
                log::debug!("mailbox renewal of {identity:?} failed: {e}");
                continue;
            }
            self.refresh
                .insert(identity, (lifespan, now + refresh_every(lifespan)));
        }
        // Keep the turns of claims still out, so that only a holder that stopped loses its turn.
        let ttl = self.node.config.mailbox_claim_ttl;
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
        self.node.registry.read().identity(identity).is_some()
    }

    fn register(&mut self, identity: &str, lifespan: Duration) -> Result<(), BusError> {
        if !self.registered(identity) {
            return Ok(()); // unregistered meanwhile
        }
        self.store.register(identity, self.node.server, lifespan)?;
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
        self.store.unregister(identity, self.node.server)
    }

    fn new_token(&mut self) -> String {
        self.tokens += 1;
        format!("{}:{}", self.node.server, self.tokens)
    }

    fn turn<'t>(&self, token: &'t str) -> Turn<'t> {
        Turn {
            token,
            max: self.node.config.mailbox_claim_batch,
            ttl: self.node.config.mailbox_claim_ttl,
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
            .map(|(id, payload)| {
                let mut message = Message::new(Target::Identity(identity.to_owned()), payload);
                message.mailbox_id = id.map(Arc::from);
                Envelope::message(self.node.server, message).encode()
            })
            .collect();
        let next_token = self.new_token();
        let drain = drain_envelope(&self.node, identity);
        let signals = Signals {
            server_channel_prefix: &self.server_channel_prefix,
            drain: &drain,
        };
        let next = self.store.delivered(
            identity,
            self.node.server,
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
        let drain = drain_envelope(&self.node, identity);
        let signals = Signals {
            server_channel_prefix: &self.server_channel_prefix,
            drain: &drain,
        };
        self.store
            .give_back(identity, self.node.server, token, &signals)?;
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
            .node
            .registry
            .read()
            .identity_recipients(identity, None);
        let ttl = self.node.config.mailbox_claim_ttl;
        self.in_flight.insert(
            identity.to_owned(),
            InFlight {
                token: token.clone(),
                asked: false,
                renew_at: Instant::now() + ttl / 3,
            },
        );
        let claim = Claim::new(
            identity.to_owned(),
            token.clone(),
            messages.clone(),
            Box::new(self.jobs.clone()),
        );
        if connections.is_empty() {
            return; // dropping the claim returns the messages
        }
        let mail: Vec<Mail> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let Some((id, payload)) = envelope::decode_stored(m) else {
                    log::warn!(
                        "dropping an unreadable stored message in the mailbox of {identity:?}"
                    );
                    return None;
                };
                // Stored without an id (by an older server): one for this claim only.
                let id = id.unwrap_or_else(|| format!("{token}.{i}"));
                Some(Mail {
                    id: Arc::from(id),
                    payload,
                })
            })
            .collect();
        let batch = MailboxBatch {
            identity: identity.to_owned(),
            connections,
            messages: mail,
            claim,
        };
        // Another server's confirmation published what it forwarded before this claim could take
        // the turn: those messages go first.
        let node = self.node.clone();
        (self.after_pubsub)(Box::new(move || node.sink().deliver_mailbox(batch)));
    }
}

fn refresh_every(lifespan: Duration) -> Duration {
    (lifespan / 2).clamp(TICK, MAX_REFRESH)
}
