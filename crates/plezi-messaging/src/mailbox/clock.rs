//! Where the in-memory store reads the time: the real clock, or a test's hand-driven one.

use std::time::Instant;

/// A source of `Instant`s. The in-memory store's lifespans and drain turns are deadlines against it.
pub(crate) trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to, for tests of lifespans and turns without sleeping.
#[cfg(test)]
pub(crate) struct ManualClock {
    now: parking_lot::Mutex<Instant>,
}

#[cfg(test)]
impl ManualClock {
    /// A clock standing at the real current time.
    pub(crate) fn new() -> ManualClock {
        ManualClock {
            now: parking_lot::Mutex::new(Instant::now()),
        }
    }

    /// Moves the clock forward by `by`.
    pub(crate) fn advance(&self, by: std::time::Duration) {
        *self.now.lock() += by;
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock()
    }
}
