//! Counting what one client received of one numbered stream (broadcasts `0..sent`, or one identity's
//! notifications `0..sent`): each number must arrive exactly once, in order.

/// What a client received of one numbered stream.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// How many times each number arrived (index = number).
    seen: Vec<u32>,
    /// The highest number received so far.
    highest: Option<u64>,
    /// Arrivals of a number already received.
    pub duplicates: u64,
    /// First arrivals of a number lower than one already received.
    pub reordered: u64,
}

/// Numbers beyond this are not tracked (a corrupt frame must not grow memory without bound).
const MAX_SEQ: u64 = 1 << 24;

impl Tally {
    /// Counts the arrival of number `n`; false when `n` is out of range (counted nowhere).
    pub fn record(&mut self, n: u64) -> bool {
        if n >= MAX_SEQ {
            return false;
        }
        let i = n as usize;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, 0);
        }
        self.seen[i] += 1;
        if self.seen[i] > 1 {
            self.duplicates += 1;
        } else if self.highest.is_some_and(|h| n < h) {
            self.reordered += 1;
        }
        self.highest = Some(self.highest.map_or(n, |h| h.max(n)));
        true
    }

    /// Distinct numbers of `0..sent` received.
    pub fn distinct(&self, sent: u64) -> u64 {
        self.seen
            .iter()
            .take(sent as usize)
            .filter(|&&c| c > 0)
            .count() as u64
    }

    /// Whether every number of `0..sent` arrived.
    pub fn complete(&self, sent: u64) -> bool {
        self.distinct(sent) == sent
    }

    /// Numbers received that were never sent (`>= sent`).
    pub fn unexpected(&self, sent: u64) -> u64 {
        self.seen
            .iter()
            .skip(sent as usize)
            .filter(|&&c| c > 0)
            .count() as u64
    }

    /// The first numbers of `0..sent` that never arrived (at most `max`), for the report.
    pub fn missing(&self, sent: u64, max: usize) -> Vec<u64> {
        (0..sent)
            .filter(|&n| self.seen.get(n as usize).is_none_or(|&c| c == 0))
            .take(max)
            .collect()
    }
}

/// The sum over clients of one kind of stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Messages that should have arrived (per client: what was sent to it).
    pub expected: u64,
    /// Distinct expected messages that arrived.
    pub delivered: u64,
    /// Arrivals of a message already received.
    pub duplicates: u64,
    /// First arrivals behind a later message.
    pub reordered: u64,
    /// Numbers that were never sent.
    pub unexpected: u64,
}

impl Totals {
    /// Adds one client's tally of a stream of `sent` messages.
    pub fn add(&mut self, tally: &Tally, sent: u64) {
        self.expected += sent;
        self.delivered += tally.distinct(sent);
        self.duplicates += tally.duplicates;
        self.reordered += tally.reordered;
        self.unexpected += tally.unexpected(sent);
    }

    /// Expected messages that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected - self.delivered
    }

    /// `delivered / expected` (1 when nothing was expected).
    pub fn ratio(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.delivered as f64 / self.expected as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_once_in_order_is_complete() {
        let mut t = Tally::default();
        for n in 0..5 {
            assert!(t.record(n));
        }
        assert!(t.complete(5));
        assert_eq!((t.duplicates, t.reordered, t.unexpected(5)), (0, 0, 0));
        let mut totals = Totals::default();
        totals.add(&t, 5);
        assert_eq!(totals.lost(), 0);
        assert!((totals.ratio() - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn losses_duplicates_and_reordering_are_counted() {
        let mut t = Tally::default();
        for n in [0, 2, 1, 2, 4, 4, 7] {
            t.record(n);
        }
        // 3 never came; 1 came after 2; 2 and 4 twice; 7 was never sent.
        assert_eq!(t.distinct(6), 4);
        assert_eq!(t.missing(6, 10), vec![3, 5]);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.reordered, 1);
        assert_eq!(t.unexpected(6), 1);
        assert!(!t.complete(6));
        let mut totals = Totals::default();
        totals.add(&t, 6);
        totals.add(&Tally::default(), 2);
        assert_eq!(totals.expected, 8);
        assert_eq!(totals.delivered, 4);
        assert_eq!(totals.lost(), 4);
        assert!((totals.ratio() - 0.5).abs() < f64::EPSILON);
    }

    #[test]
    fn absurd_numbers_are_refused() {
        let mut t = Tally::default();
        assert!(!t.record(u64::MAX));
        assert_eq!(t.distinct(1), 0);
    }
}
