//! Rate limits for `notify`: a token bucket per WebSocket connection (kept in its state), and one per
//! peer address for HTTP calls (a bounded map). The clock is a parameter, so tests need no sleeps.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use plezi_messaging::RateLimit;

/// The longest wait ever reported (a limit with no refill would say "forever").
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// A token bucket: full at first, one token per call, refilled at `per_second` up to `burst`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TokenBucket {
    tokens: f64,
    /// When `tokens` was last brought up to date; `None`: never used (full).
    at: Option<Instant>,
}

impl TokenBucket {
    fn level(&self, now: Instant, limit: &RateLimit) -> f64 {
        let burst = f64::from(limit.burst);
        match self.at {
            None => burst,
            Some(at) => {
                let refill = now.saturating_duration_since(at).as_secs_f64() * limit.per_second;
                (self.tokens + refill).min(burst)
            }
        }
    }

    /// Takes one token at `now`, or says how long until one is back.
    pub(crate) fn take(&mut self, now: Instant, limit: &RateLimit) -> Result<(), Duration> {
        let tokens = self.level(now, limit);
        self.at = Some(now);
        if tokens >= 1.0 {
            self.tokens = tokens - 1.0;
            return Ok(());
        }
        self.tokens = tokens;
        let wait = if limit.per_second > 0.0 {
            Duration::try_from_secs_f64((1.0 - tokens) / limit.per_second).unwrap_or(MAX_WAIT)
        } else {
            MAX_WAIT
        };
        Err(wait.min(MAX_WAIT))
    }

    /// Whether the bucket is full again (it then carries no state worth keeping).
    fn is_full(&self, now: Instant, limit: &RateLimit) -> bool {
        self.level(now, limit) >= f64::from(limit.burst)
    }
}

/// Peers are counted by address: an IPv4 address, or the /64 network of an IPv6 one (one host usually
/// owns a whole /64).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// One token bucket per peer address, at most `max_peers` of them.
#[derive(Default)]
pub(crate) struct PeerLimiter {
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl PeerLimiter {
    /// Takes a token for `peer`. When the map is full, peers whose bucket refilled are forgotten (they
    /// lose nothing); if every bucket is in use the map starts over (an attacker with that many
    /// addresses gains one burst each time; the memory stays bounded).
    pub(crate) fn take(
        &self,
        peer: IpAddr,
        now: Instant,
        limit: &RateLimit,
        max_peers: usize,
    ) -> Result<(), Duration> {
        let key = peer_key(peer);
        let mut buckets = self.buckets.lock();
        if !buckets.contains_key(&key) && buckets.len() >= max_peers.max(1) {
            buckets.retain(|_, b| !b.is_full(now, limit));
            if buckets.len() >= max_peers.max(1) {
                buckets.clear();
            }
        }
        buckets.entry(key).or_default().take(now, limit)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        per_second: 20.0,
        burst: 100,
    };

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = TokenBucket::default();
        let t0 = Instant::now();
        for _ in 0..100 {
            b.take(t0, &LIMIT).unwrap();
        }
        let wait = b.take(t0, &LIMIT).unwrap_err();
        assert_eq!(wait, Duration::from_millis(50));
        // 1 s later: 20 more, not 21.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..20 {
            b.take(t1, &LIMIT).unwrap();
        }
        assert!(b.take(t1, &LIMIT).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..100 {
            b.take(t2, &LIMIT).unwrap();
        }
        assert!(b.take(t2, &LIMIT).is_err());
    }

    #[test]
    fn no_refill_and_no_burst() {
        let mut b = TokenBucket::default();
        let now = Instant::now();
        let none = RateLimit {
            per_second: 0.0,
            burst: 1,
        };
        b.take(now, &none).unwrap();
        assert_eq!(b.take(now, &none), Err(MAX_WAIT));
        let mut b = TokenBucket::default();
        let zero = RateLimit {
            per_second: 5.0,
            burst: 0,
        };
        assert!(b.take(now, &zero).is_err());
    }

    #[test]
    fn peers_are_limited_apart_and_the_map_stays_bounded() {
        let peers = PeerLimiter::default();
        let now = Instant::now();
        let one = RateLimit {
            per_second: 1.0,
            burst: 1,
        };
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        peers.take(a, now, &one, 10).unwrap();
        assert!(peers.take(a, now, &one, 10).is_err());
        peers.take(b, now, &one, 10).unwrap();
        // One IPv6 host is its /64; an IPv4-mapped address is the IPv4 peer.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        peers.take(v6a, now, &one, 10).unwrap();
        assert!(peers.take(v6b, now, &one, 10).is_err());
        assert!(
            peers
                .take("::ffff:10.0.0.1".parse().unwrap(), now, &one, 10)
                .is_err()
        );
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            let _ = peers.take(ip, now, &one, 10);
            assert!(peers.len() <= 10);
        }
        // Refilled peers are forgotten first; busy ones are kept while there is room.
        let peers = PeerLimiter::default();
        let two = RateLimit {
            per_second: 1.0,
            burst: 2,
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        peers.take(ip("10.0.0.1"), now, &two, 3).unwrap(); // one left
        for p in ["10.0.0.2", "10.0.0.3"] {
            peers.take(ip(p), now, &two, 3).unwrap();
            peers.take(ip(p), now, &two, 3).unwrap(); // none left
        }
        let later = now + Duration::from_millis(1500); // .1 is full again, .2 and .3 are not
        peers.take(ip("10.0.0.4"), later, &two, 3).unwrap();
        assert_eq!(peers.len(), 3);
        assert!(peers.take(ip("10.0.0.2"), later, &two, 3).is_ok());
        assert!(peers.take(ip("10.0.0.2"), later, &two, 3).is_err());
    }
}
