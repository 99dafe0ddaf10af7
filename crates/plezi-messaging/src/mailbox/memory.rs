//! The in-memory mailbox store (the in-process engine's): same semantics, lost when the process exits.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::store::{Claimed, MailboxStore, Signals};
use crate::error::BusError;
use crate::uuid::ServerId;

struct Mailbox {
    messages: VecDeque<Vec<u8>>,
    lifespan: Option<Duration>,
    expires_at: Instant,
    servers: HashSet<ServerId>,
    turn: Option<(ServerId, Instant)>,
}

#[derive(Default)]
pub(crate) struct MemoryStore {
    boxes: Mutex<State>,
}

#[derive(Default)]
struct State {
    boxes: HashMap<String, Mailbox>,
    ops: u64,
}

impl State {
    /// The identity's mailbox (a fresh one if it never existed or expired), renewed.
    fn open(&mut self, identity: &str, fallback: Duration) -> &mut Mailbox {
        let now = Instant::now();
        self.ops += 1;
        if self.ops.is_multiple_of(1024) {
            self.boxes.retain(|_, b| b.expires_at > now);
        }
        if self
            .boxes
            .get(identity)
            .is_some_and(|b| b.expires_at <= now)
        {
            self.boxes.remove(identity);
        }
        let b = self
            .boxes
            .entry(identity.to_owned())
            .or_insert_with(|| Mailbox {
                messages: VecDeque::new(),
                lifespan: None,
                expires_at: now,
                servers: HashSet::new(),
                turn: None,
            });
        b.expires_at = now + b.lifespan.unwrap_or(fallback);
        b
    }
}

impl Mailbox {
    fn take(&mut self, me: ServerId, max: usize, turn_ttl: Duration) -> Claimed {
        let now = Instant::now();
        if let Some((owner, until)) = self.turn
            && owner != me
            && until > now
        {
            return Claimed::Busy;
        }
        let n = max.min(self.messages.len());
        let taken: Vec<Vec<u8>> = self.messages.drain(..n).collect();
        self.turn = if taken.is_empty() {
            None
        } else {
            Some((me, now + turn_ttl))
        };
        Claimed::Messages(taken)
    }
}

impl MailboxStore for MemoryStore {
    fn notify(
        &self,
        identity: &str,
        message: &[u8],
        me: ServerId,
        default_lifespan: Duration,
        max_messages: usize,
        _signals: &Signals<'_>,
    ) -> Result<bool, BusError> {
        let mut state = self.boxes.lock();
        let b = state.open(identity, default_lifespan);
        if b.messages.len() >= max_messages {
            return Err(BusError::MailboxFull {
                identity: identity.to_owned(),
                limit: max_messages,
            });
        }
        b.messages.push_back(message.to_vec());
        Ok(b.servers.contains(&me))
    }

    fn register(&self, identity: &str, me: ServerId, lifespan: Duration) -> Result<(), BusError> {
        let mut state = self.boxes.lock();
        let b = state.open(identity, lifespan);
        b.lifespan = Some(lifespan);
        b.expires_at = Instant::now() + lifespan;
        b.servers.insert(me);
        Ok(())
    }

    fn unregister(&self, identity: &str, me: ServerId) -> Result<(), BusError> {
        if let Some(b) = self.boxes.lock().boxes.get_mut(identity) {
            b.servers.remove(&me);
        }
        Ok(())
    }

    fn claim(
        &self,
        identity: &str,
        me: ServerId,
        max: usize,
        turn_ttl: Duration,
    ) -> Result<Claimed, BusError> {
        let mut state = self.boxes.lock();
        let fallback = turn_ttl.max(Duration::from_secs(1));
        Ok(state.open(identity, fallback).take(me, max, turn_ttl))
    }

    fn delivered(
        &self,
        identity: &str,
        me: ServerId,
        _forwards: &[Vec<u8>],
        max: usize,
        turn_ttl: Duration,
        _signals: &Signals<'_>,
    ) -> Result<Claimed, BusError> {
        self.claim(identity, me, max, turn_ttl)
    }

    fn give_back(
        &self,
        identity: &str,
        me: ServerId,
        messages: &[Vec<u8>],
        _signals: &Signals<'_>,
    ) -> Result<(), BusError> {
        let mut state = self.boxes.lock();
        let b = state.open(identity, Duration::from_secs(1));
        for m in messages.iter().rev() {
            b.messages.push_front(m.clone());
        }
        if b.turn.is_some_and(|(owner, _)| owner == me) {
            b.turn = None;
        }
        Ok(())
    }
}
