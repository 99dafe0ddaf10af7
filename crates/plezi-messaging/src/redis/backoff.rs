//! Reconnect pacing (capped exponential backoff with jitter), interruptible sleeps, outage logging.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::counters::Counters;

pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The next delay: `min * 2^attempt`, capped at `max`, scaled by a random factor in [0.5, 1].
    pub fn next_delay(&mut self) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        base.mul_f64(rand::random_range(0.5..=1.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A stop flag whose sleeps end early when it is raised.
#[derive(Default)]
pub(crate) struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub fn raise(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }

    pub fn is_raised(&self) -> bool {
        *self.stopped.lock()
    }

    /// Sleeps up to `d`; true if stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut stopped = self.stopped.lock();
        while !*stopped {
            if self.wake.wait_until(&mut stopped, deadline).timed_out() {
                break;
            }
        }
        *stopped
    }
}

/// Logs an outage once when it starts and once when it ends.
pub(crate) struct Outage {
    role: &'static str,
    since: Option<Instant>,
    attempts: u32,
}

impl Outage {
    pub fn new(role: &'static str) -> Outage {
        Outage {
            role,
            since: None,
            attempts: 0,
        }
    }

    pub fn failed(&mut self, why: &dyn std::fmt::Display) {
        self.attempts += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            log::warn!(
                "Redis {} connection down: {why}; reconnecting with backoff",
                self.role
            );
        }
    }

    pub fn recovered(&mut self, counters: &Counters) {
        if let Some(since) = self.since.take() {
            log::info!(
                "Redis {} connection back after {:.1?} ({} attempts)",
                self.role,
                since.elapsed(),
                self.attempts
            );
            Counters::add(&counters.reconnects, 1);
        }
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for expected_base in [100u64, 200, 400, 800, 1000, 1000] {
            let d = b.next_delay().as_millis() as u64;
            assert!(
                d >= expected_base / 2 && d <= expected_base,
                "{d} vs {expected_base}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn stop_interrupts_sleep() {
        let stop = std::sync::Arc::new(Stop::default());
        let s2 = stop.clone();
        let t = std::thread::spawn(move || s2.sleep(Duration::from_secs(60)));
        stop.raise();
        assert!(t.join().unwrap());
    }
}
