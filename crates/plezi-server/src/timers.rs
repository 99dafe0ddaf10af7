//! Per-loop timers: `run_after` / `run_every` callbacks ordered by deadline in a binary heap.
//!
//! Cancelling removes the callback; its heap entry becomes stale and is skipped when it comes up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use crate::panic_guard::guard;

/// Identifies a timer created with `ServerHandle::run_after` or `run_every`, for `cancel_timer`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerId(pub(crate) u64);

impl TimerId {
    /// The loop whose heap holds this timer (the top 16 bits).
    pub(crate) fn loop_index(self) -> u16 {
        (self.0 >> 48) as u16
    }

    pub(crate) fn new(loop_index: u16, seq: u64) -> TimerId {
        TimerId((u64::from(loop_index) << 48) | (seq & ((1 << 48) - 1)))
    }
}

/// A timer's callback.
pub(crate) enum TimerFn {
    /// Runs once.
    Once(Box<dyn FnOnce() + Send>),
    /// Runs every period until cancelled.
    Every(Box<dyn FnMut() + Send>, Duration),
}

/// One loop's timers.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    callbacks: HashMap<u64, TimerFn>,
}

impl Timers {
    /// Schedules `f` at `deadline`.
    pub(crate) fn add(&mut self, id: TimerId, deadline: Instant, f: TimerFn) {
        self.heap.push(Reverse((deadline, id.0)));
        self.callbacks.insert(id.0, f);
    }

    /// Forgets a timer (no effect if it already ran or never existed).
    pub(crate) fn cancel(&mut self, id: TimerId) {
        self.callbacks.remove(&id.0);
        if self.callbacks.is_empty() {
            self.heap.clear();
        }
    }

    /// The earliest deadline still scheduled.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.heap.peek() {
            if self.callbacks.contains_key(id) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// Runs every callback due at `now` (repeating ones are rescheduled). Returns how many ran.
    pub(crate) fn run_due(&mut self, now: Instant) -> usize {
        let mut ran = 0;
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            match self.callbacks.remove(&id) {
                None => {}
                Some(TimerFn::Once(f)) => {
                    guard("a run_after timer", f);
                    ran += 1;
                }
                Some(TimerFn::Every(mut f, every)) => {
                    ran += 1;
                    if guard("a run_every timer (now cancelled)", &mut f).is_none() {
                        continue;
                    }
                    // Catch up without bursts if the loop fell behind.
                    let next = (at + every).max(now + every / 2);
                    self.heap.push(Reverse((next, id)));
                    self.callbacks.insert(id, TimerFn::Every(f, every));
                }
            }
        }
        ran
    }

    /// Number of scheduled timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.callbacks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counter() -> (Arc<AtomicUsize>, impl Fn() -> usize) {
        let c = Arc::new(AtomicUsize::new(0));
        let read = c.clone();
        (c, move || read.load(Ordering::SeqCst))
    }

    #[test]
    fn once_runs_at_deadline_only_once() {
        let (c, count) = counter();
        let mut t = Timers::default();
        let start = Instant::now();
        t.add(
            TimerId::new(0, 1),
            start + Duration::from_millis(10),
            TimerFn::Once(Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            })),
        );
        assert_eq!(t.run_due(start), 0);
        assert_eq!(t.next_deadline(), Some(start + Duration::from_millis(10)));
        assert_eq!(t.run_due(start + Duration::from_millis(10)), 1);
        assert_eq!(t.run_due(start + Duration::from_secs(1)), 0);
        assert_eq!(count(), 1);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn every_repeats_until_cancelled() {
        let (c, count) = counter();
        let mut t = Timers::default();
        let start = Instant::now();
        let id = TimerId::new(3, 9);
        assert_eq!(id.loop_index(), 3);
        let ms = Duration::from_millis;
        t.add(
            id,
            start + ms(5),
            TimerFn::Every(
                Box::new(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                }),
                ms(5),
            ),
        );
        t.run_due(start + ms(5));
        t.run_due(start + ms(10));
        assert_eq!(count(), 2);
        assert_eq!(t.next_deadline(), Some(start + ms(15)));
        t.cancel(id);
        assert_eq!(t.run_due(start + ms(100)), 0);
        assert_eq!(count(), 2);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_panicking_timer_is_contained_and_a_repeating_one_cancelled() {
        let mut t = Timers::default();
        let start = Instant::now();
        t.add(
            TimerId::new(0, 1),
            start,
            TimerFn::Once(Box::new(|| panic!("boom"))),
        );
        t.add(
            TimerId::new(0, 2),
            start,
            TimerFn::Every(Box::new(|| panic!("boom")), Duration::from_millis(1)),
        );
        assert_eq!(t.run_due(start), 2);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn timers_fire_in_deadline_order() {
        let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let mut t = Timers::default();
        let start = Instant::now();
        for (seq, delay) in [(1u64, 30u64), (2, 10), (3, 20)] {
            let order = order.clone();
            t.add(
                TimerId::new(0, seq),
                start + Duration::from_millis(delay),
                TimerFn::Once(Box::new(move || order.lock().push(seq))),
            );
        }
        t.run_due(start + Duration::from_secs(1));
        assert_eq!(*order.lock(), vec![2, 3, 1]);
    }
}
