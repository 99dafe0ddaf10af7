//! The Redis channels this server wants to hear, and where each subscription stands on the current
//! subscriber connection. Pure bookkeeping (no I/O): the callers send the commands it asks for, and feed
//! it Redis's replies.
//!
//! A channel is *held* while this server has a local reason to hear it (a member of the controller type,
//! a subscriber of the named channel or pattern, a live connection of the identity). When the last
//! reason goes, the channel becomes *idle*; it is unsubscribed only once it has been idle for the whole
//! grace period, so members that come and go do not flap the subscription. A held channel is
//! *confirmed* once Redis answered the last command sent for it on the current connection, and that
//! command was a subscribe: from then on, everything published on it reaches this server.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

/// How a channel is subscribed: by exact name (`SUBSCRIBE`) or as a glob (`PSUBSCRIBE`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) enum Kind {
    Exact,
    Pattern,
}

impl Kind {
    /// The Redis command that subscribes (`on`) or unsubscribes.
    pub fn verb(self, on: bool) -> &'static [u8] {
        match (self, on) {
            (Kind::Exact, true) => b"SUBSCRIBE",
            (Kind::Exact, false) => b"UNSUBSCRIBE",
            (Kind::Pattern, true) => b"PSUBSCRIBE",
            (Kind::Pattern, false) => b"PUNSUBSCRIBE",
        }
    }
}

/// One channel or pattern.
pub(crate) type Key = (Kind, String);

struct Entry {
    /// This server wants to hear it (held, or idle within the grace period).
    wanted: bool,
    /// Never released (the global and the own server channel).
    permanent: bool,
    /// Idle since then (no local reason left), or `None` while held.
    idle_since: Option<Instant>,
    /// It has a record in `Interest::idle` (at most one, so churn cannot grow the heap).
    queued: bool,
    /// Commands for it sent on the current connection and not answered yet.
    in_flight: u32,
}

/// What the caller of [`Interest::hold`] must do.
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Hold {
    /// Nothing: Redis already confirmed the subscription.
    Confirmed,
    /// Send the subscribe command now, then wait for its confirmation.
    Send,
    /// Wait: a subscribe for it is already on its way (or the connection is down).
    Wait,
}

/// The wanted channels and patterns, with their state on the current subscriber connection.
#[derive(Default)]
pub(crate) struct Interest {
    entries: HashMap<Key, Entry>,
    /// When idle channels were released, soonest first; a record whose channel was held again since is
    /// skipped, one released again since is put back with its new time.
    idle: BinaryHeap<Reverse<(Instant, Key)>>,
    /// A subscriber connection is up: commands are sent and answered on it.
    connected: bool,
}

impl Interest {
    /// Wants `key` for the bus's whole life.
    pub fn hold_forever(&mut self, key: Key) {
        self.hold(key.clone());
        if let Some(e) = self.entries.get_mut(&key) {
            e.permanent = true;
        }
    }

    /// A local reason to hear `key` appeared (the first one, or again within the grace period).
    pub fn hold(&mut self, key: Key) -> Hold {
        let connected = self.connected;
        let e = self.entries.entry(key).or_insert(Entry {
            wanted: false,
            permanent: false,
            idle_since: None,
            queued: false,
            in_flight: 0,
        });
        e.idle_since = None;
        if e.wanted {
            return if connected && e.in_flight == 0 {
                Hold::Confirmed
            } else {
                Hold::Wait
            };
        }
        e.wanted = true;
        if connected {
            e.in_flight += 1;
            Hold::Send
        } else {
            Hold::Wait
        }
    }

    /// The last local reason to hear `key` went away at `now`: it stays subscribed for the grace period.
    pub fn release(&mut self, key: Key, now: Instant) {
        if let Some(e) = self.entries.get_mut(&key)
            && e.wanted
            && !e.permanent
            && e.idle_since.is_none()
        {
            e.idle_since = Some(now);
            if !e.queued {
                e.queued = true;
                self.idle.push(Reverse((now, key)));
            }
        }
    }

    /// When the oldest idle channel's grace period ends.
    pub fn next_expiry(&self, grace: Duration) -> Option<Instant> {
        self.idle.peek().map(|Reverse((at, _))| *at + grace)
    }

    /// The channels idle for `grace` by `now`: no longer wanted. While connected, send their unsubscribe
    /// commands (already counted as in flight).
    pub fn expire(&mut self, now: Instant, grace: Duration) -> Vec<Key> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.idle.peek() {
            if *at + grace > now {
                break;
            }
            let Some(Reverse((_, key))) = self.idle.pop() else {
                break;
            };
            let Some(e) = self.entries.get_mut(&key) else {
                continue;
            };
            e.queued = false;
            let Some(since) = e.idle_since else {
                continue; // held again since
            };
            if since + grace > now {
                // Held and released again since: wait for the grace from that release.
                e.queued = true;
                self.idle.push(Reverse((since, key)));
                continue;
            }
            e.wanted = false;
            e.idle_since = None;
            if self.connected {
                e.in_flight += 1;
                out.push(key);
            } else if e.in_flight == 0 {
                self.entries.remove(&key);
            }
        }
        out
    }

    /// Redis answered one (un)subscribe command for `key`. True if it is confirmed now.
    pub fn replied(&mut self, key: &Key) -> bool {
        let Some(e) = self.entries.get_mut(key) else {
            return false;
        };
        e.in_flight = e.in_flight.saturating_sub(1);
        if e.in_flight > 0 {
            return false;
        }
        if !e.wanted {
            self.entries.remove(key);
            return false;
        }
        true
    }

    /// Whether `key` is wanted and confirmed by Redis on the current connection.
    pub fn confirmed(&self, key: &Key) -> bool {
        self.connected
            && self
                .entries
                .get(key)
                .is_some_and(|e| e.wanted && e.in_flight == 0)
    }

    /// Whether a subscriber connection is up.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Whether every command sent on the current connection was answered.
    pub fn settled(&self) -> bool {
        self.connected && self.entries.values().all(|e| e.in_flight == 0)
    }

    /// A new connection: every wanted channel is to be subscribed on it (counted as in flight). Returns
    /// the patterns, then the exact channels.
    pub fn connect(&mut self) -> (Vec<String>, Vec<String>) {
        self.entries.retain(|_, e| e.wanted);
        self.connected = true;
        let (mut patterns, mut exact) = (Vec::new(), Vec::new());
        for ((kind, name), e) in &mut self.entries {
            e.in_flight = 1;
            match kind {
                Kind::Pattern => patterns.push(name.clone()),
                Kind::Exact => exact.push(name.clone()),
            }
        }
        (patterns, exact)
    }

    /// Every channel with a record (wanted, or with an unsubscribe not yet answered).
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.keys()
    }

    /// Whether `key` is wanted with nothing in flight (a `sunsubscribe` for it then comes from Redis,
    /// not as the answer to ours).
    pub fn settled_wanted(&self, key: &Key) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.wanted && e.in_flight == 0)
    }

    /// On a cluster, where each channel lives on its own master's connection: that connection is new
    /// or gone, so earlier commands for `key` will not be answered. A wanted channel counts one
    /// subscribe in flight (sent now on a new connection, or by the next one); one no longer wanted is
    /// forgotten. True if it is wanted (to be subscribed).
    pub fn reset(&mut self, key: &Key) -> bool {
        match self.entries.get_mut(key) {
            Some(e) if e.wanted => {
                e.in_flight = 1;
                true
            }
            Some(_) => {
                self.entries.remove(key);
                false
            }
            None => false,
        }
    }

    /// The wanted exact channels (what a cluster's subscriber connections must carry).
    pub fn wanted_exact(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|((kind, _), e)| e.wanted && *kind == Kind::Exact)
            .map(|((_, name), _)| name.as_str())
    }

    /// The connection is gone: nothing is in flight any more.
    pub fn disconnect(&mut self) {
        self.connected = false;
        self.entries.retain(|_, e| e.wanted);
        for e in self.entries.values_mut() {
            e.in_flight = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(name: &str) -> Key {
        (Kind::Exact, name.to_owned())
    }

    #[test]
    fn a_hold_is_confirmed_by_the_reply_to_its_own_subscribe() {
        let mut i = Interest::default();
        assert_eq!(
            i.hold(ex("a")),
            Hold::Wait,
            "not connected: nothing to send"
        );
        let (p, e) = i.connect();
        assert!(p.is_empty() && e == vec!["a".to_owned()]);
        assert!(!i.confirmed(&ex("a")) && !i.settled());
        assert!(i.replied(&ex("a")));
        assert!(i.confirmed(&ex("a")) && i.settled());
        assert_eq!(i.hold(ex("a")), Hold::Confirmed);
        assert_eq!(i.hold(ex("b")), Hold::Send);
        assert_eq!(i.hold(ex("b")), Hold::Wait);
        assert!(i.replied(&ex("b")));
    }

    #[test]
    fn release_waits_for_the_grace_period_and_a_new_hold_cancels_it() {
        let grace = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut i = Interest::default();
        i.connect();
        assert_eq!(i.hold(ex("a")), Hold::Send);
        i.replied(&ex("a"));
        i.release(ex("a"), t0);
        assert_eq!(i.next_expiry(grace), Some(t0 + grace));
        assert!(i.expire(t0 + grace / 2, grace).is_empty());
        assert_eq!(
            i.hold(ex("a")),
            Hold::Confirmed,
            "held again within the grace"
        );
        assert!(
            i.expire(t0 + grace, grace).is_empty(),
            "the stale release is skipped"
        );
        let t1 = t0 + grace;
        i.release(ex("a"), t1);
        assert_eq!(i.expire(t1 + grace, grace), vec![ex("a")]);
        assert!(!i.confirmed(&ex("a")));
        // Held again before Redis answered the unsubscribe: the subscribe follows it, and only the
        // reply to the subscribe confirms.
        assert_eq!(i.hold(ex("a")), Hold::Send);
        assert!(!i.replied(&ex("a")), "the unsubscribe's reply");
        assert!(!i.confirmed(&ex("a")));
        assert!(i.replied(&ex("a")), "the subscribe's reply");
        assert!(i.confirmed(&ex("a")));
    }

    #[test]
    fn permanent_channels_never_expire_and_a_reconnect_resends_what_is_wanted() {
        let grace = Duration::from_millis(1);
        let t0 = Instant::now();
        let mut i = Interest::default();
        i.hold_forever(ex("all"));
        i.hold((Kind::Pattern, "p*".to_owned()));
        i.release(ex("all"), t0);
        assert!(i.expire(t0 + grace, grace).is_empty());
        let (p, e) = i.connect();
        assert_eq!((p, e), (vec!["p*".to_owned()], vec!["all".to_owned()]));
        i.release((Kind::Pattern, "p*".to_owned()), t0);
        i.disconnect();
        assert!(
            i.expire(t0 + grace, grace).is_empty(),
            "nothing to send while down"
        );
        assert_eq!(i.connect(), (vec![], vec!["all".to_owned()]));
    }

    #[test]
    fn on_a_cluster_a_reset_connection_resubscribes_what_is_wanted_and_forgets_the_rest() {
        let mut i = Interest::default();
        i.connect();
        assert_eq!(i.hold(ex("a")), Hold::Send);
        assert!(i.replied(&ex("a")) && i.settled_wanted(&ex("a")));
        // Its master's connection broke: the next one subscribes it, joins wait for that.
        assert!(i.reset(&ex("a")));
        assert!(!i.confirmed(&ex("a")) && !i.settled_wanted(&ex("a")));
        assert!(i.replied(&ex("a")) && i.confirmed(&ex("a")));
        // Released and expired (an unsubscribe in flight), then its connection broke: forgotten.
        let t = Instant::now();
        i.release(ex("a"), t);
        assert_eq!(
            i.expire(t + Duration::from_secs(1), Duration::ZERO),
            vec![ex("a")]
        );
        assert!(!i.reset(&ex("a")));
        assert_eq!(i.keys().count(), 0);
        assert_eq!(i.wanted_exact().count(), 0);
    }
}
