//! Where Redis is (parsed from the URL) and a blocking RESP connection to it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::link::{self, Link, LinkWriter};
use super::resp::{self, Decoder, Value};
use super::tls::{TlsSetup, as_tls_failure, explain, tls_for};
use crate::config::RedisTls;
use crate::error::BusError;

/// A Redis server address, credentials and TLS settings, from `redis[s]://[user:pass@]host:port/db`.
#[derive(Clone, Debug)]
pub(crate) struct RedisAddr {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Present for `rediss://`: the checked TLS settings.
    pub tls: Option<Arc<TlsSetup>>,
}

impl RedisAddr {
    /// Parses `url`, and with `rediss://` reads and checks the TLS files (see `tls::tls_for`).
    pub fn parse(url: &str, tls: &RedisTls) -> Result<RedisAddr, BusError> {
        let client = redis::Client::open(url).map_err(|e| {
            BusError::Config(format!(
                "cannot use Redis URL {:?}: {e}; expected redis://[user:pass@]host:port/db or \
                 rediss://...",
                redact(url)
            ))
        })?;
        let info = client.get_connection_info();
        let settings = info.redis_settings();
        let (host, port) = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port)
            | redis::ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
            _ => {
                return Err(BusError::Config(format!(
                    "Redis URL {:?}: only redis://host:port or rediss://host:port is supported (the \
                     bus does not use unix sockets)",
                    redact(url)
                )));
            }
        };
        Ok(RedisAddr {
            host,
            port,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            tls: tls_for(url, info, tls)?,
        })
    }

    /// With TLS, connects once and fails with [`BusError::Tls`] if the handshake does (a server
    /// certificate that does not verify, a client certificate the server refuses). Without TLS, or
    /// when Redis cannot be reached at all, does nothing: the bus rides out an unreachable Redis.
    pub fn check_tls(&self, timeout: Duration) -> Result<(), BusError> {
        if self.tls.is_none() {
            return Ok(());
        }
        match RespConn::connect(self, timeout, "plezi:tls-check", 1 << 20) {
            Ok(_) => Ok(()),
            Err(e) => match as_tls_failure(&e) {
                Some(why) => Err(BusError::Tls(format!(
                    "{why} (connecting to {}:{})",
                    self.host, self.port
                ))),
                None => {
                    log::warn!(
                        "cannot check TLS to Redis at {}:{} now ({e}); starting anyway, the \
                         connection is retried with backoff",
                        self.host,
                        self.port
                    );
                    Ok(())
                }
            },
        }
    }
}

/// The URLs of `list`, separated by commas (several name nodes of one cluster); refuses an empty one.
pub(crate) fn split_urls(list: &str) -> Result<Vec<String>, BusError> {
    let urls: Vec<String> = list.split(',').map(|u| u.trim().to_owned()).collect();
    if urls.iter().any(String::is_empty) {
        return Err(BusError::Config(format!(
            "Redis URL {:?} has an empty entry; expected redis://host:port, or several separated by \
             commas for the nodes of one cluster",
            redact(list)
        )));
    }
    Ok(urls)
}

impl RedisAddr {
    /// Every address of a comma-separated list of URLs (the seed nodes of a cluster, or one Redis),
    /// all `rediss://` (sharing one TLS setup) or all `redis://`.
    pub fn parse_all(list: &str, tls: &RedisTls) -> Result<Vec<RedisAddr>, BusError> {
        let mut addrs = split_urls(list)?
            .iter()
            .map(|u| RedisAddr::parse(u, tls))
            .collect::<Result<Vec<_>, _>>()?;
        let shared = addrs.first().and_then(|a| a.tls.clone());
        if addrs.iter().any(|a| a.tls.is_some() != shared.is_some()) {
            return Err(BusError::Config(format!(
                "the Redis URLs {:?} mix rediss:// and redis://; name every node with the same \
                 scheme",
                redact(list)
            )));
        }
        for a in &mut addrs {
            a.tls.clone_from(&shared);
        }
        Ok(addrs)
    }
}

/// The URL with any password replaced, for log lines and errors.
pub(crate) fn redact(url: &str) -> String {
    if url.contains(',') {
        return url.split(',').map(redact).collect::<Vec<_>>().join(",");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// A blocking RESP2 connection, plain or TLS.
pub(crate) struct RespConn {
    link: Link,
    decoder: Decoder,
    rbuf: Box<[u8]>,
}

impl RespConn {
    /// Connects (with TLS for `rediss://`), authenticates and names the connection
    /// (`CLIENT SETNAME`). A TLS failure carries a `TlsFailure` that says what to fix.
    pub fn connect(
        addr: &RedisAddr,
        timeout: Duration,
        name: &str,
        max_bulk: usize,
    ) -> io::Result<RespConn> {
        RespConn::open(addr, timeout, name, max_bulk).map_err(|e| explain(e, &addr.host))
    }

    fn open(
        addr: &RedisAddr,
        timeout: Duration,
        name: &str,
        max_bulk: usize,
    ) -> io::Result<RespConn> {
        let link = link::connect(&addr.host, addr.port, addr.tls.as_deref(), timeout)?;
        let mut conn = RespConn {
            link,
            decoder: Decoder::new(max_bulk),
            rbuf: vec![0u8; 64 * 1024].into(),
        };
        let mut out = Vec::new();
        if let Some(password) = &addr.password {
            match &addr.username {
                Some(user) => {
                    resp::command(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()])
                }
                None => resp::command(&mut out, &[b"AUTH", password.as_bytes()]),
            }
            conn.send(&out)?;
            if let Value::Error(e) = conn.read()? {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("Redis refused AUTH: {}", String::from_utf8_lossy(&e)),
                ));
            }
            out.clear();
        }
        // Names help `CLIENT LIST`; old servers without SETNAME answer an error, which is fine.
        resp::command(&mut out, &[b"CLIENT", b"SETNAME", name.as_bytes()]);
        conn.send(&out)?;
        conn.read()?;
        Ok(conn)
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.link.write_all(bytes)
    }

    /// Reads the next value; a read timeout surfaces as `WouldBlock`/`TimedOut` and loses nothing.
    pub fn read(&mut self) -> io::Result<Value> {
        loop {
            if let Some(v) = self
                .decoder
                .next()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.0))?
            {
                return Ok(v);
            }
            let n = self.link.read(&mut self.rbuf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                ));
            }
            self.decoder.feed(&self.rbuf[..n]);
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.link.set_read_timeout(timeout)
    }

    /// A second handle for writes from other threads, and for shutdown.
    pub fn writer(&self) -> io::Result<LinkWriter> {
        self.link.writer()
    }
}

/// A read that ran into the socket's read timeout.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let none = RedisTls::default();
        let a = RedisAddr::parse("redis://user:secret@127.0.0.1:6390/3", &none).unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 6390));
        assert_eq!(
            (a.username.as_deref(), a.password.as_deref()),
            (Some("user"), Some("secret"))
        );
        assert!(a.tls.is_none());
        let b = RedisAddr::parse("redis://localhost", &none).unwrap();
        assert_eq!((b.port, b.password), (6379, None));
        assert!(matches!(
            RedisAddr::parse("http://x", &none),
            Err(BusError::Config(_))
        ));
        assert_eq!(redact("redis://u:pw@h:1/2"), "redis://***@h:1/2");
        assert_eq!(
            redact("redis://u:pw@a:1,redis://b:2"),
            "redis://***@a:1,redis://b:2"
        );
        let all =
            RedisAddr::parse_all("redis://a:7000, redis://b:7001", &RedisTls::default()).unwrap();
        assert_eq!((all[1].host.as_str(), all[1].port), ("b", 7001));
        assert!(RedisAddr::parse_all("redis://a:7000,", &RedisTls::default()).is_err());
    }
}
