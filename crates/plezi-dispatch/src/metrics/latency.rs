//! [`Latency`]: a fixed-bucket histogram of durations on relaxed atomics (no lock), and
//! [`LatencySnapshot`], what it held at one moment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (the last bucket, `+Inf`, is implied).
pub(crate) const BOUNDS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The bucket bounds in nanoseconds.
const BOUNDS_NS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Durations counted by bucket (not cumulative; the snapshot adds them up), their count and sum.
#[derive(Default)]
pub(crate) struct Latency {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_ns: AtomicU64,
}

impl Latency {
    /// Counts one duration.
    pub(crate) fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NS.partition_point(|&b| b < ns);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// What was counted so far.
    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(BOUNDS.len());
        for (bound, n) in BOUNDS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.buckets[BOUNDS.len()].load(Ordering::Relaxed);
        LatencySnapshot {
            count,
            sum: Duration::from_nanos(self.sum_ns.load(Ordering::Relaxed)),
            buckets,
        }
    }
}

/// A latency histogram at one moment: how many durations were counted, their sum, and the
/// cumulative count at or under each bucket bound (seconds: 100 µs to 10 s; the rest are only in
/// `count`).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct LatencySnapshot {
    /// Durations counted.
    pub count: u64,
    /// Their sum.
    pub sum: Duration,
    /// `(upper bound in seconds, durations at or under it)`, ascending.
    pub buckets: Vec<(f64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let l = Latency::default();
        l.observe(Duration::from_micros(100)); // exactly on the first bound
        l.observe(Duration::from_millis(3));
        l.observe(Duration::from_secs(60)); // past the last bound
        let s = l.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.000_1, 1));
        assert_eq!(s.buckets[4], (0.002_5, 1));
        assert_eq!(s.buckets[5], (0.005, 2));
        assert_eq!(s.buckets.last(), Some(&(10.0, 2)));
        assert_eq!(
            s.sum,
            Duration::from_micros(100) + Duration::from_millis(3) + Duration::from_secs(60)
        );
    }
}
