//! The server's counters: one [`LoopStats`] per event loop, written only by its loop thread, and
//! [`ServerStats`], their sum as [`ServerHandle::stats`](crate::ServerHandle::stats) reads it.
//!
//! A loop's counters are relaxed atomics it alone writes (a load and a store, no locked
//! instruction), on their own cache lines, so counting costs the loop about as much as a plain
//! integer and readers on other threads never slow it down. A fan-out counts its receivers once
//! per loop task, not once per receiver.

use std::sync::atomic::{AtomicU64, Ordering};

/// The lowest and highest status code a [`Response`](crate::Response) may carry.
const FIRST_STATUS: u16 = 100;
const LAST_STATUS: u16 = 999;
const STATUSES: usize = (LAST_STATUS - FIRST_STATUS + 1) as usize;

/// One loop's counters. Only the loop's thread writes them ([`LoopStats::add`]); any thread reads.
#[repr(align(128))]
pub(crate) struct LoopStats {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) upgrades: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) fanouts: AtomicU64,
    pub(crate) fanout_receivers: AtomicU64,
    pub(crate) slow_consumers_closed: AtomicU64,
    pub(crate) slow_consumer_drops: AtomicU64,
    /// Bytes in the loop's outbound queues at its last timeout sweep.
    pub(crate) queued_bytes: AtomicU64,
    /// HTTP responses by status code (index: status − 100).
    responses: Box<[AtomicU64]>,
}

impl Default for LoopStats {
    fn default() -> LoopStats {
        LoopStats {
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            upgrades: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            fanouts: AtomicU64::new(0),
            fanout_receivers: AtomicU64::new(0),
            slow_consumers_closed: AtomicU64::new(0),
            slow_consumer_drops: AtomicU64::new(0),
            queued_bytes: AtomicU64::new(0),
            responses: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LoopStats {
    /// Adds `n` to a counter of this loop. Call only on the loop's own thread: the single writer
    /// makes a plain load and store exact.
    #[inline]
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Counts one HTTP response with `status`.
    pub(crate) fn response(&self, status: u16) {
        let index = usize::from(status.clamp(FIRST_STATUS, LAST_STATUS) - FIRST_STATUS);
        if let Some(counter) = self.responses.get(index) {
            LoopStats::add(counter, 1);
        }
    }
}

/// The server's counters at one moment ([`ServerHandle::stats`](crate::ServerHandle::stats)):
/// totals since it started, and gauges (open connections, queued bytes). Each loop's counters are
/// exact; the sum over loops is read without stopping them, so two fields may be a few events apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Open connections (HTTP and WebSocket).
    pub connections: usize,
    /// Of `connections`, those upgraded to WebSocket.
    pub websockets: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused with `503` at `ServerConfig::max_connections`.
    pub refused: u64,
    /// Connections upgraded to WebSocket.
    pub upgrades: u64,
    /// WebSocket messages received (complete data messages, not control frames).
    pub messages_in: u64,
    /// WebSocket data messages queued for sending (a connection's own writes and fan-out
    /// deliveries alike).
    pub messages_out: u64,
    /// Fan-out tasks run, one per loop per fan-out ([`ServerHandle::broadcast`](crate::ServerHandle::broadcast),
    /// `for_each` and their listed forms).
    pub fanouts: u64,
    /// Connections those fan-outs visited (each receiver of each fan-out once).
    pub fanout_receivers: u64,
    /// WebSockets closed by the slow-consumer policy (`SlowConsumerPolicy::Close`).
    pub slow_consumers_closed: u64,
    /// Messages refused by the slow-consumer policy (`SlowConsumerPolicy::Drop`).
    pub slow_consumer_drops: u64,
    /// Bytes queued for connections and not yet written, as of each loop's last timeout sweep
    /// (at most a second old; a quarter of the shortest connection timeout).
    pub queued_bytes: u64,
    /// HTTP responses sent, by status code, ascending (codes never sent are left out). Codes come
    /// from the server and the application, never from a request, so the set stays small.
    pub http_responses: Vec<(u16, u64)>,
}

impl ServerStats {
    /// Adds one loop's counters.
    pub(crate) fn add_loop(&mut self, l: &LoopStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        self.accepted += get(&l.accepted);
        self.refused += get(&l.refused);
        self.upgrades += get(&l.upgrades);
        self.messages_in += get(&l.messages_in);
        self.messages_out += get(&l.messages_out);
        self.fanouts += get(&l.fanouts);
        self.fanout_receivers += get(&l.fanout_receivers);
        self.slow_consumers_closed += get(&l.slow_consumers_closed);
        self.slow_consumer_drops += get(&l.slow_consumer_drops);
        self.queued_bytes += get(&l.queued_bytes);
        for (i, c) in l.responses.iter().enumerate() {
            let n = get(c);
            if n == 0 {
                continue;
            }
            let status = FIRST_STATUS + i as u16;
            match self
                .http_responses
                .binary_search_by_key(&status, |&(s, _)| s)
            {
                Ok(at) => self.http_responses[at].1 += n,
                Err(at) => self.http_responses.insert(at, (status, n)),
            }
        }
    }

    /// HTTP responses sent with `status`.
    pub fn responses_with(&self, status: u16) -> u64 {
        self.http_responses
            .iter()
            .find(|&&(s, _)| s == status)
            .map_or(0, |&(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_sum_and_statuses_stay_sorted() {
        let (a, b) = (LoopStats::default(), LoopStats::default());
        LoopStats::add(&a.messages_in, 3);
        LoopStats::add(&b.messages_in, 4);
        a.response(404);
        b.response(200);
        b.response(404);
        a.response(7); // out of range: counted as the nearest code a response may carry
        a.queued_bytes.store(30, Ordering::Relaxed);
        b.queued_bytes.store(50, Ordering::Relaxed);
        let mut s = ServerStats::default();
        s.add_loop(&a);
        s.add_loop(&b);
        assert_eq!(s.messages_in, 7);
        assert_eq!(s.http_responses, vec![(100, 1), (200, 1), (404, 2)]);
        assert_eq!(s.responses_with(404), 2);
        assert_eq!(s.queued_bytes, 80);
    }
}
