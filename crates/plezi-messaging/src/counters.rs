//! The bus's event counters, read by [`crate::Bus::state`].

use std::sync::atomic::{AtomicU64, Ordering};

/// How many times each bus event happened since the bus started (relaxed atomics: exact totals, no
/// ordering with other memory).
#[derive(Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub received: AtomicU64,
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicates: AtomicU64,
    pub reconnects: AtomicU64,
    pub failed_unicasts: AtomicU64,
    pub notify_refused: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
