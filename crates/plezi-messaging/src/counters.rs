//! The bus's event counters, read by [`crate::Bus::state`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::message::Target;

/// How many times each bus event happened since the bus started (relaxed atomics: exact totals, no
/// ordering with other memory).
#[derive(Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub received: AtomicU64,
    /// Of `received`, per kind (the `KIND_*` indexes).
    pub received_kinds: [AtomicU64; 6],
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicates: AtomicU64,
    pub reconnects: AtomicU64,
    pub failed_unicasts: AtomicU64,
    pub notify_refused: AtomicU64,
}

/// Indexes of `Counters::received_kinds`.
pub(crate) const KIND_MULTICAST: usize = 0;
pub(crate) const KIND_BROADCAST: usize = 1;
pub(crate) const KIND_UNICAST: usize = 2;
pub(crate) const KIND_CHANNEL: usize = 3;
pub(crate) const KIND_IDENTITY: usize = 4;
pub(crate) const KIND_DRAIN: usize = 5;

/// The `received_kinds` index of a message to `target`.
pub(crate) fn kind_of(target: &Target) -> usize {
    match target {
        Target::Multicast => KIND_MULTICAST,
        Target::Broadcast { .. } => KIND_BROADCAST,
        Target::Unicast(_) => KIND_UNICAST,
        Target::Channel(_) => KIND_CHANNEL,
        Target::Identity(_) => KIND_IDENTITY,
    }
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
