//! Writing to a socket: `send` for one buffer (what std does) and `sendmsg` for several, instead
//! of std's `writev`, which goes through the VFS layer (`fdget_pos`, `sock_write_iter`): about
//! 11–15% of the server's CPU per broadcast delivery at 5,000 clients (see docs/benchmarks.md).

use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;

/// A `Write` over a connected socket that never blocks and never raises SIGPIPE.
pub(crate) struct SocketSink<'a, S: AsRawFd>(pub(crate) &'a S);

impl<S: AsRawFd> SocketSink<'_, S> {
    fn send_iovecs(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: an all-zero msghdr is valid (no name, no control data).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is guaranteed ABI-compatible with iovec on Unix; sendmsg only reads them.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len() as _;
        let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
        // SAFETY: the descriptor is valid for the borrow of the socket; msg points at live slices.
        let n = unsafe { libc::sendmsg(self.0.as_raw_fd(), &msg, flags) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl<S: AsRawFd> Write for SocketSink<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_iovecs(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.send_iovecs(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn vectored_send_arrives_in_order_and_reports_a_closed_peer() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let mut sink = SocketSink(&server);
        let n = sink
            .write_vectored(&[
                IoSlice::new(b"hello "),
                IoSlice::new(b"vectored "),
                IoSlice::new(b"world"),
            ])
            .expect("send");
        assert_eq!(n, 20);
        sink.write_all(b"!").expect("send one");
        let mut got = [0u8; 21];
        (&client).read_exact(&mut got).expect("read");
        assert_eq!(&got, b"hello vectored world!");

        drop(client);
        // Writing to a closed peer fails with an error (EPIPE/ECONNRESET), never a signal.
        let failed = (0..100).any(|_| sink.write(&[0u8; 1024]).is_err());
        assert!(failed);
    }
}
