//! The loop's coarse timeout sweep and its graceful shutdown. What a timeout or the shutdown does
//! to a connection is the connection's decision (`Conn::on_tick`,
//! `Conn::on_shutdown`); the loop only visits every connection.

use std::sync::atomic::Ordering;

use rand::seq::SliceRandom;

use crate::event_loop::EventLoop;

impl EventLoop {
    /// The coarse timeout scan (header, keep-alive, body rate, idle WebSocket ping, close and
    /// linger waits); also retries accepting after a lack of resources, and sets the loop's
    /// queued-bytes gauge to what its connections hold (so the gauge costs the write path nothing).
    pub(crate) fn tick(&mut self) {
        if self.accept_paused {
            self.accept_paused = false;
            self.accept();
        }
        let mut queued = 0u64;
        for slot in 0..self.conns.capacity_slots() {
            self.with_conn(slot, |conn, cx, _| conn.on_tick(cx));
            if let Some(conn) = self.conns.get_mut(slot) {
                queued += conn.pending() as u64;
            }
        }
        self.env
            .stats()
            .queued_bytes
            .store(queued, Ordering::Relaxed);
    }

    /// Graceful shutdown, first step: stop accepting, close idle HTTP connections (in-flight
    /// requests finish), and close the WebSockets with 1001 (after `on_shutdown`): all at once
    /// when `window_ms` is 0, else one after another, evenly over the window in a random order
    /// (a drain: their clients reconnect elsewhere at a bounded rate). The loop ends once every
    /// connection is gone, or `shutdown_grace` after the window.
    pub(crate) fn begin_shutdown(&mut self, window_ms: u32) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let mut websockets = Vec::new();
        for slot in 0..self.conns.capacity_slots() {
            match self.conns.get_with_generation(slot) {
                Some((generation, conn)) if window_ms > 0 && conn.websocket().is_some() => {
                    websockets.push((slot, generation));
                }
                Some(_) => self.with_conn(slot, |conn, cx, _| conn.on_shutdown(cx)),
                None => {}
            }
        }
        websockets.shuffle(&mut rand::rng());
        let count = websockets.len() as u64;
        for (i, (slot, generation)) in websockets.into_iter().enumerate() {
            let offset = (i as u64 * u64::from(window_ms) / count) as u32;
            self.closing_later
                .push_back((self.now.wrapping_add(offset), slot, generation));
        }
        self.grace_deadline = self
            .now
            .wrapping_add(window_ms)
            .wrapping_add(self.env.timeouts.grace);
    }

    /// Closes the WebSockets a drain scheduled for now or earlier.
    pub(crate) fn close_due(&mut self) {
        while let Some(&(due, slot, generation)) = self.closing_later.front() {
            if !Self::reached(self.now, due) {
                return;
            }
            self.closing_later.pop_front();
            if self.conns.get_checked(slot, generation).is_some() {
                self.with_conn(slot, |conn, cx, _| conn.on_shutdown(cx));
            }
        }
    }

    /// Drops every remaining connection and stops taking tasks.
    pub(crate) fn finish(&mut self) {
        for slot in 0..self.conns.capacity_slots() {
            if self.conns.get_mut(slot).is_some() {
                self.remove(slot, true);
            }
        }
        drop(self.env.handle.inbox_for(self.index).close());
    }
}
