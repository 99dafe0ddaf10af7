//! Pacing of the event loop, so the load tool batches its work instead of waking for every frame.
//!
//! A client that sleeps in `epoll_wait` is woken by the server's every write: on loopback that wake-up
//! (an IPI and a context switch on the client's core, the wake-up call itself in the server's `write`)
//! costs both sides more than the frame, and the server's share lands in its CPU time per delivery —
//! a cost that remote clients never put on a real server. So after a poll that found work, the tool
//! sleeps a short `batch` interval and then collects everything that arrived meanwhile with a
//! non-blocking poll; only a poll that found nothing blocks.

use std::io;
use std::time::Duration;

use mio::{Events, Poll};

/// Sleeps between busy polls.
pub struct Pacer {
    batch: Duration,
    last: usize,
}

impl Pacer {
    /// A pacer that sleeps `batch` after each poll that found work (zero: never sleeps).
    pub fn new(batch: Duration) -> Pacer {
        // Let short sleeps be short (the default timer slack is 50 µs).
        // SAFETY: PR_SET_TIMERSLACK takes a plain integer argument.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0) };
        Pacer { batch, last: 0 }
    }

    /// Fills `events`, waiting at most `max_wait`.
    pub fn poll(
        &mut self,
        poll: &mut Poll,
        events: &mut Events,
        max_wait: Duration,
    ) -> io::Result<()> {
        if self.last > 0 && self.last < events.capacity() && !self.batch.is_zero() {
            std::thread::sleep(self.batch.min(max_wait));
            poll.poll(events, Some(Duration::ZERO))?;
            if !events.is_empty() {
                self.last = events.iter().count();
                return Ok(());
            }
        }
        poll.poll(events, Some(max_wait))?;
        self.last = events.iter().count();
        Ok(())
    }
}
