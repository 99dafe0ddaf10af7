//! [`Transport`]: the byte stream under a connection. In the server it is a `mio` TCP socket; the
//! connection's unit tests drive the same state machine over an in-memory fake.

use std::io::{self, Read};
use std::net::Shutdown;

use mio::net::TcpStream;

use crate::outbound::{Flush, OutQueue};
use crate::socket_sink::SocketSink;

/// What a connection needs from its socket. Every call is non-blocking: `WouldBlock` means "wait
/// for the next readiness event".
pub(crate) trait Transport {
    /// Reads into `buf`; `Ok(0)` is the peer's FIN.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes as much of `out` as the socket takes.
    fn send(&mut self, out: &mut OutQueue) -> io::Result<Flush>;
    /// Shuts our side down for writing (best effort: the peer may be gone already).
    fn shutdown_write(&mut self);
}

impl Transport for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(self, buf)
    }

    fn send(&mut self, out: &mut OutQueue) -> io::Result<Flush> {
        out.write_to(&mut SocketSink(&*self))
    }

    fn shutdown_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}
