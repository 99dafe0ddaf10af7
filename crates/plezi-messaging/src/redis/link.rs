//! The byte stream under a bus connection: a TCP socket, plain or TLS, that one thread reads while
//! any thread writes through a [`LinkWriter`] (the subscriber thread blocks reading while other
//! threads send `SUBSCRIBE`s, and shut the socket down to force a reconnect).
//!
//! With TLS the rustls session sits behind a mutex that is held only to encrypt or decrypt, never
//! across a blocking socket read: the reader reads ciphertext from the socket unlocked, then locks to
//! hand it to rustls; a writer locks, encrypts and writes to the socket. [`connect`] (address + TLS
//! settings → a link) is the one place a bus connection is opened, for each node it talks to.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;

use super::tls::TlsSetup;

/// Opens a TCP connection to `host:port` (each resolved address in turn, `timeout` each), with
/// `TCP_NODELAY` and read/write timeouts of `timeout`, and with TLS completes the handshake (the
/// server's certificate verified for `host`). A TLS failure is an `InvalidData` error carrying the
/// `rustls::Error` (see `tls::tls_failure`).
pub(crate) fn connect(
    host: &str,
    port: u16,
    tls: Option<&TlsSetup>,
    timeout: Duration,
) -> io::Result<Link> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host} resolves to nothing"),
    );
    let mut stream = None;
    for sa in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut tcp = stream.ok_or(last)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let session = match tls {
        None => None,
        Some(tls) => {
            let name = ServerName::try_from(host.to_owned()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{host:?} is not a host name TLS can verify: {e}"),
                )
            })?;
            let mut session = ClientConnection::new(tls.client.clone(), name)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            while session.is_handshaking() {
                session.complete_io(&mut tcp)?;
            }
            Some(Arc::new(Mutex::new(session)))
        }
    };
    let writer = LinkWriter {
        tcp: tcp.try_clone()?,
        session,
    };
    Ok(Link {
        tcp,
        writer,
        cipher: vec![0u8; 32 * 1024].into(),
        start: 0,
        end: 0,
    })
}

/// A connected stream; reads on the thread that owns it.
pub(crate) struct Link {
    tcp: TcpStream,
    writer: LinkWriter,
    /// TLS: ciphertext read from the socket and not yet handed to rustls (`start..end`).
    cipher: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Link {
    /// Reads decrypted bytes into `buf`; `Ok(0)` at the end of the stream. A read timeout surfaces as
    /// `WouldBlock`/`TimedOut` and loses nothing.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(session) = &self.writer.session else {
            return self.tcp.read(buf);
        };
        loop {
            {
                let mut s = session.lock();
                match s.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if self.start < self.end {
                    let mut pending = &self.cipher[self.start..self.end];
                    self.start += s.read_tls(&mut pending)?;
                    let processed = s.process_new_packets();
                    // Answers rustls owes the server (a key update, or the alert for an error).
                    flush(&mut s, &self.tcp)?;
                    processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    continue;
                }
            }
            let n = self.tcp.read(&mut self.cipher)?;
            if n == 0 {
                return Ok(0);
            }
            (self.start, self.end) = (0, n);
        }
    }

    /// Sets the socket's read timeout.
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(timeout)
    }

    /// Writes all of `bytes` (see [`LinkWriter::write_all`]).
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// A second writer on the same stream, for other threads.
    pub(crate) fn writer(&self) -> io::Result<LinkWriter> {
        Ok(LinkWriter {
            tcp: self.tcp.try_clone()?,
            session: self.writer.session.clone(),
        })
    }
}

/// Writes to a [`Link`] from any thread.
pub(crate) struct LinkWriter {
    tcp: TcpStream,
    session: Option<Arc<Mutex<ClientConnection>>>,
}

impl LinkWriter {
    /// Writes all of `bytes` (encrypted with TLS), blocking up to the socket's write timeout.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(session) = &self.session else {
            return self.tcp.write_all(bytes);
        };
        let mut s = session.lock();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = s.writer().write(rest)?;
            if n == 0 && !s.wants_write() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the TLS session takes no more data",
                ));
            }
            rest = &rest[n..];
            flush(&mut s, &self.tcp)?;
        }
        Ok(())
    }

    /// Shuts the socket down both ways: the reading thread sees the end of the stream (and
    /// reconnects).
    pub(crate) fn shutdown(&self) -> io::Result<()> {
        self.tcp.shutdown(Shutdown::Both)
    }
}

/// Writes out every TLS record rustls has ready.
fn flush(session: &mut ClientConnection, mut tcp: &TcpStream) -> io::Result<()> {
    while session.wants_write() {
        session.write_tls(&mut tcp)?;
    }
    Ok(())
}
