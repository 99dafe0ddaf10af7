//! The loop's coarse timeout sweep and its graceful shutdown. What a timeout or the shutdown does
//! to a connection is the connection's decision (`Conn::on_tick`,
//! `Conn::on_shutdown`); the loop only visits every connection.

use crate::event_loop::EventLoop;

impl EventLoop {
    /// The coarse timeout scan (header, keep-alive, body rate, idle WebSocket ping, close and
    /// linger waits); also retries accepting after a lack of resources.
    pub(crate) fn tick(&mut self) {
        if self.accept_paused {
            self.accept_paused = false;
            self.accept();
        }
        for slot in 0..self.conns.capacity_slots() {
            self.with_conn(slot, |conn, cx, _| conn.on_tick(cx));
        }
    }

    /// Graceful shutdown, first step: stop accepting, close idle HTTP connections, close every
    /// WebSocket with 1001 (after `on_shutdown`).
    pub(crate) fn begin_shutdown(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.grace_deadline = self.now.wrapping_add(self.env.timeouts.grace);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for slot in 0..self.conns.capacity_slots() {
            self.with_conn(slot, |conn, cx, _| conn.on_shutdown(cx));
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
