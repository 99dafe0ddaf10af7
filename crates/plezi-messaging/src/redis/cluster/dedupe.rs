//! Duplicate envelopes on a cluster, per (origin, channel): each origin numbers its envelopes in the
//! order it sends them, and one channel's envelopes reach a shard in that order; across channels (on
//! other shards, read by other connections) they interleave freely.

use std::collections::HashMap;
use std::time::Instant;

use crate::uuid::ServerId;

/// Most (origin, channel) pairs remembered; past it the half heard from least recently is forgotten.
const MAX_PAIRS: usize = 65_536;

/// An origin and a channel.
type Pair = (ServerId, Box<[u8]>);

/// The last `seq` seen per (origin, channel).
#[derive(Default)]
pub(crate) struct ChannelDedupe {
    last: HashMap<Pair, (u64, Instant)>,
}

impl ChannelDedupe {
    /// Whether envelope `seq` of `origin` on `channel` is new (and records it).
    pub fn fresh(&mut self, origin: ServerId, channel: &[u8], seq: u64) -> bool {
        let now = Instant::now();
        if let Some((last, seen)) = self.last.get_mut(&(origin, channel.into())) {
            if seq <= *last {
                return false;
            }
            *last = seq;
            *seen = now;
            return true;
        }
        if self.last.len() >= MAX_PAIRS {
            let mut seen: Vec<Instant> = self.last.values().map(|(_, t)| *t).collect();
            seen.sort_unstable();
            let cutoff = seen[seen.len() / 2];
            self.last.retain(|_, (_, t)| *t > cutoff);
        }
        self.last.insert((origin, channel.into()), (seq, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_interleave_and_repeats_drop() {
        let mut d = ChannelDedupe::default();
        let a = ServerId::from_u64(1);
        assert!(d.fresh(a, b"x", 2));
        assert!(d.fresh(a, b"y", 1)); // another channel: an earlier seq is fine
        assert!(!d.fresh(a, b"x", 2));
        assert!(!d.fresh(a, b"x", 1));
        assert!(d.fresh(a, b"x", 3));
        assert!(d.fresh(ServerId::from_u64(2), b"x", 1));
    }
}
