//! The in-memory mailbox store (the in-process engine's): same semantics, lost when the process exits.
//!
//! Every byte it holds is counted: each message as its stored size + [`MESSAGE_OVERHEAD`], each mailbox
//! as its identity + [`ENTRY_OVERHEAD`]. A `notify` that would pass a cap is refused; mailboxes that hold
//! nothing but a remembered lifespan (empty, no live connection) are dropped first when room is needed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::clock::{Clock, SystemClock};
use super::store::{
    Claimed, Done, ENTRY_OVERHEAD, MESSAGE_OVERHEAD, MailboxStore, Quota, Signals, Turn, Usage,
    same_server,
};
use crate::error::{BusError, MailboxLimit};
use crate::uuid::ServerId;

struct Mailbox {
    messages: VecDeque<Vec<u8>>,
    /// Σ (message length + MESSAGE_OVERHEAD).
    bytes: usize,
    lifespan: Option<Duration>,
    expires_at: Instant,
    servers: HashSet<ServerId>,
    /// The drain turn: its token and when it ends.
    turn: Option<(String, Instant)>,
}

impl Mailbox {
    fn idle(&self) -> bool {
        self.messages.is_empty() && self.servers.is_empty() && self.turn.is_none()
    }
}

fn entry_charge(identity: &str) -> usize {
    ENTRY_OVERHEAD + identity.len()
}

pub(crate) struct MemoryStore {
    state: Mutex<State>,
    /// `mailbox_store_max_bytes`: above it, housekeeping also drops idle mailboxes (registrations are
    /// never refused, so they may take the store past its cap; their mailboxes go once they leave).
    max_bytes: usize,
    /// Lifespans and drain turns are deadlines against this clock.
    clock: Arc<dyn Clock>,
}

impl MemoryStore {
    /// A store on the real clock.
    pub(crate) fn new(max_bytes: usize) -> MemoryStore {
        MemoryStore::with_clock(max_bytes, Arc::new(SystemClock))
    }

    /// A store whose deadlines run on `clock`.
    pub(crate) fn with_clock(max_bytes: usize, clock: Arc<dyn Clock>) -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State::default()),
            max_bytes,
            clock,
        }
    }
}

#[derive(Default)]
struct State {
    boxes: HashMap<String, Mailbox>,
    /// Every byte counted: entries and messages.
    bytes: usize,
    /// Mailboxes holding at least one message.
    with_mail: usize,
    ops: u64,
    last_sweep: Option<Instant>,
}

/// When room is needed, sweep at most this often (a sweep walks every mailbox).
const SWEEP_EVERY: Duration = Duration::from_millis(100);

impl State {
    fn remove(&mut self, identity: &str) {
        if let Some(b) = self.boxes.remove(identity) {
            self.bytes -= b.bytes + entry_charge(identity);
            if !b.messages.is_empty() {
                self.with_mail -= 1;
            }
        }
    }

    /// Drops expired mailboxes, and (with `idle`) those holding nothing but a lifespan.
    fn sweep(&mut self, now: Instant, idle: bool) {
        self.last_sweep = Some(now);
        let dead: Vec<String> = self
            .boxes
            .iter()
            .filter(|(_, b)| b.expires_at <= now || (idle && b.idle()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            self.remove(&id);
        }
    }

    /// Housekeeping on every operation: forget `identity` if it expired; every 1,024 operations sweep the
    /// expired ones (and idle ones if the store is over its byte cap: registrations are never refused).
    fn touch(&mut self, identity: &str, now: Instant, max_bytes: usize) {
        self.ops += 1;
        if self.ops.is_multiple_of(1024) {
            let over = self.bytes > max_bytes;
            self.sweep(now, over);
        }
        if self
            .boxes
            .get(identity)
            .is_some_and(|b| b.expires_at <= now)
        {
            self.remove(identity);
        }
    }

    /// The identity's mailbox (a fresh one if it does not exist), renewed.
    fn open(&mut self, identity: &str, fallback: Duration, now: Instant) -> &mut Mailbox {
        if !self.boxes.contains_key(identity) {
            self.bytes += entry_charge(identity);
            self.boxes.insert(
                identity.to_owned(),
                Mailbox {
                    messages: VecDeque::new(),
                    bytes: 0,
                    lifespan: None,
                    expires_at: now,
                    servers: HashSet::new(),
                    turn: None,
                },
            );
        }
        let b = self
            .boxes
            .get_mut(identity)
            .expect("the mailbox was just inserted");
        b.expires_at = now + b.lifespan.unwrap_or(fallback);
        b
    }

    /// Whether a message of `charge` bytes fits.
    fn check(&self, identity: &str, charge: usize, quota: &Quota) -> Result<(), BusError> {
        let existing = self.boxes.get(identity);
        let (len, bytes) = existing.map_or((0, 0), |b| (b.messages.len(), b.bytes));
        if len >= quota.max_messages {
            return Err(BusError::MailboxFull {
                identity: identity.to_owned(),
                limit: MailboxLimit::Messages(quota.max_messages),
            });
        }
        if bytes + charge > quota.max_bytes {
            return Err(BusError::MailboxFull {
                identity: identity.to_owned(),
                limit: MailboxLimit::Bytes(quota.max_bytes),
            });
        }
        if len == 0 && self.with_mail >= quota.store_max_identities {
            return Err(BusError::StoreFull {
                limit: MailboxLimit::Identities(quota.store_max_identities),
            });
        }
        let entry = if existing.is_some() {
            0
        } else {
            entry_charge(identity)
        };
        if self.bytes + charge + entry > quota.store_max_bytes {
            return Err(BusError::StoreFull {
                limit: MailboxLimit::StoreBytes(quota.store_max_bytes),
            });
        }
        Ok(())
    }

    /// Reads up to `max` messages under `token` unless another turn is live.
    fn take(&mut self, identity: &str, turn: &Turn<'_>, now: Instant) -> Claimed {
        let Some(b) = self.boxes.get_mut(identity) else {
            return Claimed::Messages(Vec::new());
        };
        if let Some((holder, until)) = &b.turn
            && *until > now
            && !same_server(holder, turn.token)
        {
            return Claimed::Busy {
                retry_in: *until - now,
            };
        }
        let n = turn.max.min(b.messages.len());
        let taken: Vec<Vec<u8>> = b.messages.iter().take(n).cloned().collect();
        b.turn = (n > 0).then(|| (turn.token.to_owned(), now + turn.ttl));
        Claimed::Messages(taken)
    }
}

impl MailboxStore for MemoryStore {
    fn is_local(&self) -> bool {
        true
    }

    fn notify(
        &self,
        identity: &str,
        message: &[u8],
        me: ServerId,
        default_lifespan: Duration,
        quota: &Quota,
        _signals: &Signals<'_>,
    ) -> Result<bool, BusError> {
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.touch(identity, now, self.max_bytes);
        let charge = message.len() + MESSAGE_OVERHEAD;
        if let Err(e) = state.check(identity, charge, quota) {
            // Room may be held by expired or idle mailboxes: sweep (not too often) and look again.
            let due = state
                .last_sweep
                .is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY);
            if !matches!(e, BusError::StoreFull { .. }) || !due {
                return Err(e);
            }
            state.sweep(now, true);
            state.check(identity, charge, quota)?;
        }
        let b = state.open(identity, default_lifespan, now);
        let first = b.messages.is_empty();
        b.messages.push_back(message.to_vec());
        b.bytes += charge;
        let mine = b.servers.contains(&me);
        state.bytes += charge;
        if first {
            state.with_mail += 1;
        }
        Ok(mine)
    }

    fn register(&self, identity: &str, me: ServerId, lifespan: Duration) -> Result<(), BusError> {
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.touch(identity, now, self.max_bytes);
        let b = state.open(identity, lifespan, now);
        b.lifespan = Some(lifespan);
        b.expires_at = now + lifespan;
        b.servers.insert(me);
        Ok(())
    }

    fn unregister(&self, identity: &str, me: ServerId) -> Result<(), BusError> {
        if let Some(b) = self.state.lock().boxes.get_mut(identity) {
            b.servers.remove(&me);
        }
        Ok(())
    }

    /// Never asked: this store signals no other server (every server sharing it is in this process).
    fn forget(
        &self,
        identity: &str,
        server: ServerId,
        _registration: &str,
    ) -> Result<(), BusError> {
        self.unregister(identity, server)
    }

    fn claim(&self, identity: &str, turn: &Turn<'_>) -> Result<Claimed, BusError> {
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.touch(identity, now, self.max_bytes);
        if let Some(b) = state.boxes.get_mut(identity) {
            b.expires_at = now + b.lifespan.unwrap_or(turn.ttl.max(Duration::from_secs(1)));
        }
        Ok(state.take(identity, turn, now))
    }

    fn renew(&self, identity: &str, token: &str, ttl: Duration) -> Result<bool, BusError> {
        let mut state = self.state.lock();
        match state.boxes.get_mut(identity).and_then(|b| b.turn.as_mut()) {
            Some((held, until)) if held == token => {
                *until = self.clock.now() + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn delivered(
        &self,
        identity: &str,
        _me: ServerId,
        done: &Done<'_>,
        next: &Turn<'_>,
        _signals: &Signals<'_>,
    ) -> Result<Claimed, BusError> {
        let now = self.clock.now();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let Some(b) = state.boxes.get_mut(identity) else {
            return Ok(Claimed::Messages(Vec::new()));
        };
        match &b.turn {
            Some((held, _)) if held == done.token => {}
            Some((_, until)) if *until > now => {
                return Ok(Claimed::Busy {
                    retry_in: *until - now,
                });
            }
            _ => {
                return Ok(Claimed::Busy {
                    retry_in: Duration::ZERO,
                });
            }
        }
        let n = done.count.min(b.messages.len());
        let removed: usize = b
            .messages
            .drain(..n)
            .map(|m| m.len() + MESSAGE_OVERHEAD)
            .sum();
        b.bytes -= removed;
        b.turn = None;
        b.expires_at = now + b.lifespan.unwrap_or(next.ttl.max(Duration::from_secs(1)));
        let emptied = n > 0 && b.messages.is_empty();
        state.bytes -= removed;
        if emptied {
            state.with_mail -= 1;
        }
        Ok(state.take(identity, next, now))
    }

    fn give_back(
        &self,
        identity: &str,
        _me: ServerId,
        token: &str,
        _signals: &Signals<'_>,
    ) -> Result<(), BusError> {
        let mut state = self.state.lock();
        if let Some(b) = state.boxes.get_mut(identity)
            && b.turn.as_ref().is_some_and(|(held, _)| held == token)
        {
            b.turn = None;
        }
        Ok(())
    }

    fn usage(&self) -> Result<Usage, BusError> {
        let now = self.clock.now();
        let mut state = self.state.lock();
        state.sweep(now, false);
        Ok(Usage {
            identities: state.with_mail,
            bytes: state.bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::ManualClock;
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn quota() -> Quota {
        Quota {
            max_messages: 100,
            max_bytes: 10_000,
            store_max_identities: 1_000,
            store_max_bytes: 1 << 20,
        }
    }

    fn signals() -> Signals<'static> {
        Signals {
            server_channel_prefix: "",
            drain: b"",
        }
    }

    fn turn(token: &str, ttl: Duration) -> Turn<'_> {
        Turn {
            token,
            max: 10,
            ttl,
        }
    }

    fn done(token: &str, count: usize) -> Done<'_> {
        Done {
            token,
            count,
            forwards: &[],
        }
    }

    fn msgs(c: Claimed) -> Vec<Vec<u8>> {
        match c {
            Claimed::Messages(m) => m,
            Claimed::Busy { .. } => panic!("busy"),
        }
    }

    #[test]
    fn bytes_are_counted_and_released() {
        let s = MemoryStore::new(1 << 20);
        let me = ServerId::from_u64(1);
        for i in 0..3u8 {
            s.notify("u", &[i; 100], me, DAY, &quota(), &signals())
                .unwrap();
        }
        let full = 3 * (100 + MESSAGE_OVERHEAD) + entry_charge("u");
        assert_eq!(
            s.usage().unwrap(),
            Usage {
                identities: 1,
                bytes: full
            }
        );
        let got = msgs(s.claim("u", &turn("t1", DAY)).unwrap());
        assert_eq!(got.len(), 3);
        // Claimed messages are still stored (and counted) until delivered.
        assert_eq!(s.usage().unwrap().bytes, full);
        let next = msgs(
            s.delivered("u", me, &done("t1", 3), &turn("t2", DAY), &signals())
                .unwrap(),
        );
        assert!(next.is_empty());
        assert_eq!(
            s.usage().unwrap(),
            Usage {
                identities: 0,
                bytes: entry_charge("u")
            }
        );
    }

    #[test]
    fn every_cap_refuses_with_its_limit() {
        let s = MemoryStore::new(1 << 20);
        let me = ServerId::from_u64(1);
        let q = Quota {
            max_messages: 2,
            max_bytes: 2 * (10 + MESSAGE_OVERHEAD),
            store_max_identities: 2,
            store_max_bytes: 4 * (10 + MESSAGE_OVERHEAD) + 2 * entry_charge("a") + 40,
        };
        let n = |id: &str, len: usize| s.notify(id, &vec![b'x'; len], me, DAY, &q, &signals());
        n("a", 10).unwrap();
        assert!(matches!(
            n("a", 11),
            Err(BusError::MailboxFull {
                limit: MailboxLimit::Bytes(_),
                ..
            })
        ));
        n("a", 10).unwrap();
        assert!(matches!(
            n("a", 1),
            Err(BusError::MailboxFull {
                limit: MailboxLimit::Messages(2),
                ..
            })
        ));
        n("b", 10).unwrap();
        assert!(matches!(
            n("c", 1),
            Err(BusError::StoreFull {
                limit: MailboxLimit::Identities(2)
            })
        ));
        n("b", 10).unwrap(); // exactly at the store's byte cap minus 40
        let q2 = Quota {
            store_max_identities: 10,
            ..q
        };
        assert!(matches!(
            s.notify("d", b"x", me, DAY, &q2, &signals()),
            Err(BusError::StoreFull {
                limit: MailboxLimit::StoreBytes(_)
            })
        ));
    }

    #[test]
    fn idle_mailboxes_make_room() {
        let s = MemoryStore::new(1 << 20);
        let me = ServerId::from_u64(1);
        let q = Quota {
            store_max_bytes: entry_charge("a") + entry_charge("b") + 10 + 2 * MESSAGE_OVERHEAD,
            ..quota()
        };
        // "a" registered and left: only its lifespan is remembered.
        s.register("a", me, DAY).unwrap();
        s.unregister("a", me).unwrap();
        s.notify("b", &[0; 10], me, DAY, &q, &signals()).unwrap();
        // "c" needs its entry and one message: room only once "a" is dropped (not while a sweep is
        // not due).
        s.state.lock().last_sweep = Some(s.clock.now());
        assert!(matches!(
            s.notify("c", b"", me, DAY, &q, &signals()),
            Err(BusError::StoreFull { .. })
        ));
        s.state.lock().last_sweep = None;
        s.notify("c", b"", me, DAY, &q, &signals()).unwrap();
        assert!(!s.state.lock().boxes.contains_key("a"));
        assert_eq!(s.usage().unwrap().bytes, q.store_max_bytes);
    }

    #[test]
    fn registration_churn_stays_bounded() {
        let cap = 100 * entry_charge("user-0000");
        let s = MemoryStore::new(cap);
        let me = ServerId::from_u64(1);
        for i in 0..20_000 {
            let id = format!("user-{i:04}");
            s.register(&id, me, DAY).unwrap();
            s.unregister(&id, me).unwrap();
        }
        // Over the cap, every 1,024th operation drops the idle ones.
        let state = s.state.lock();
        assert!(state.boxes.len() <= 100 + 1024, "{}", state.boxes.len());
        assert!(state.bytes <= cap + 1024 * entry_charge("user-0000"));
    }

    #[test]
    fn a_live_turn_makes_others_wait_and_an_expired_one_is_taken_over() {
        let clock = Arc::new(ManualClock::new());
        let s = MemoryStore::with_clock(1 << 20, clock.clone());
        let (a, b) = (ServerId::from_u64(1), ServerId::from_u64(2));
        for i in 0..3u8 {
            s.notify("u", &[i], a, DAY, &quota(), &signals()).unwrap();
        }
        let ttl = Duration::from_millis(50);
        assert_eq!(msgs(s.claim("u", &turn("a1", ttl)).unwrap()).len(), 3);
        clock.advance(ttl - Duration::from_millis(1));
        assert!(matches!(
            s.claim("u", &turn("b1", ttl)).unwrap(),
            Claimed::Busy { retry_in } if retry_in == Duration::from_millis(1)
        ));
        // The holder never confirms: once its turn ends, the same messages go to the next claim, first.
        clock.advance(Duration::from_millis(1));
        let got = msgs(s.claim("u", &turn("b1", ttl)).unwrap());
        assert_eq!(got, vec![vec![0], vec![1], vec![2]]);
        // The late holder's confirmation and return change nothing.
        assert!(matches!(
            s.delivered("u", a, &done("a1", 3), &turn("a2", ttl), &signals())
                .unwrap(),
            Claimed::Busy { .. }
        ));
        s.give_back("u", a, "a1", &signals()).unwrap();
        assert!(!s.renew("u", "a1", ttl).unwrap());
        assert!(s.renew("u", "b1", ttl).unwrap());
        assert_eq!(s.state.lock().boxes["u"].messages.len(), 3);
        let next = msgs(
            s.delivered("u", b, &done("b1", 3), &turn("b2", ttl), &signals())
                .unwrap(),
        );
        assert!(next.is_empty());
        assert_eq!(s.usage().unwrap().identities, 0);
    }

    #[test]
    fn a_mailbox_expires_after_its_lifespan_without_access() {
        let clock = Arc::new(ManualClock::new());
        let s = MemoryStore::with_clock(1 << 20, clock.clone());
        let me = ServerId::from_u64(1);
        let lifespan = Duration::from_secs(300);
        // The registration sets the lifespan; then the identity goes offline and gets mail.
        s.register("short", me, lifespan).unwrap();
        s.unregister("short", me).unwrap();
        s.notify("short", b"gone", me, DAY, &quota(), &signals())
            .unwrap();
        clock.advance(lifespan - Duration::from_millis(1));
        assert_eq!(s.usage().unwrap().identities, 1, "expired too early");
        clock.advance(Duration::from_millis(1));
        s.register("short", me, DAY).unwrap();
        assert!(
            msgs(s.claim("short", &turn("t", DAY)).unwrap()).is_empty(),
            "expired mail was claimed"
        );
        assert_eq!(s.usage().unwrap().identities, 0);
    }

    #[test]
    fn every_access_renews_a_mailbox() {
        let clock = Arc::new(ManualClock::new());
        let s = MemoryStore::with_clock(1 << 20, clock.clone());
        let me = ServerId::from_u64(1);
        let lifespan = Duration::from_secs(400);
        s.register("kept", me, lifespan).unwrap();
        s.unregister("kept", me).unwrap();
        s.notify("kept", b"1", me, DAY, &quota(), &signals())
            .unwrap();
        clock.advance(Duration::from_secs(250));
        // A notification is an access: the lifespan starts again.
        s.notify("kept", b"2", me, DAY, &quota(), &signals())
            .unwrap();
        clock.advance(Duration::from_secs(250));
        s.register("kept", me, lifespan).unwrap();
        let got = msgs(s.claim("kept", &turn("t", DAY)).unwrap());
        assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec()]);
        // Unaccessed past its lifespan, even a mailbox with a registration in the past goes.
        s.unregister("kept", me).unwrap();
        s.give_back("kept", me, "t", &signals()).unwrap();
        clock.advance(lifespan);
        assert_eq!(s.usage().unwrap().identities, 0);
    }
}
