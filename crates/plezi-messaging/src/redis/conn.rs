//! Where Redis is (parsed from the URL) and a blocking RESP connection to it.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::resp::{self, Decoder, Value};
use crate::error::BusError;

/// A Redis server address and credentials, from `redis://[user:pass@]host:port/db`.
#[derive(Clone, Debug)]
pub(crate) struct RedisAddr {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl RedisAddr {
    pub fn parse(url: &str) -> Result<RedisAddr, BusError> {
        let client = redis::Client::open(url).map_err(|e| {
            BusError::Config(format!(
                "cannot use Redis URL {:?}: {e}; expected redis://[user:pass@]host:port/db",
                redact(url)
            ))
        })?;
        let info = client.get_connection_info();
        let settings = info.redis_settings();
        match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => Ok(RedisAddr {
                host: host.clone(),
                port: *port,
                username: settings.username().map(str::to_owned),
                password: settings.password().map(str::to_owned),
            }),
            _ => Err(BusError::Config(format!(
                "Redis URL {:?}: only redis://host:port is supported (this build has no TLS, and the bus \
                 does not use unix sockets)",
                redact(url)
            ))),
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
    /// Every address of a comma-separated list of URLs (the seed nodes of a cluster, or one Redis).
    pub fn parse_all(list: &str) -> Result<Vec<RedisAddr>, BusError> {
        split_urls(list)?
            .iter()
            .map(|u| RedisAddr::parse(u))
            .collect()
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

/// A blocking RESP2 connection.
pub(crate) struct RespConn {
    stream: TcpStream,
    decoder: Decoder,
    rbuf: Box<[u8]>,
}

impl RespConn {
    /// Connects, authenticates and names the connection (`CLIENT SETNAME`).
    pub fn connect(
        addr: &RedisAddr,
        timeout: Duration,
        name: &str,
        max_bulk: usize,
    ) -> io::Result<RespConn> {
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves to nothing", addr.host),
        );
        let mut stream = None;
        for sa in (addr.host.as_str(), addr.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or(last)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut conn = RespConn {
            stream,
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
        self.stream.write_all(bytes)
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
            let n = self.stream.read(&mut self.rbuf)?;
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
        self.stream.set_read_timeout(timeout)
    }

    /// A second handle on the socket (for writes from other threads, and for shutdown).
    pub fn try_clone_stream(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
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
        let a = RedisAddr::parse("redis://user:secret@127.0.0.1:6390/3").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 6390));
        assert_eq!(
            (a.username.as_deref(), a.password.as_deref()),
            (Some("user"), Some("secret"))
        );
        let b = RedisAddr::parse("redis://localhost").unwrap();
        assert_eq!((b.port, b.password), (6379, None));
        assert!(matches!(
            RedisAddr::parse("rediss://localhost:6380"),
            Err(BusError::Config(_))
        ));
        assert!(matches!(
            RedisAddr::parse("http://x"),
            Err(BusError::Config(_))
        ));
        assert_eq!(redact("redis://u:pw@h:1/2"), "redis://***@h:1/2");
        assert_eq!(
            redact("redis://u:pw@a:1,redis://b:2"),
            "redis://***@a:1,redis://b:2"
        );
        let all = RedisAddr::parse_all("redis://a:7000, redis://b:7001").unwrap();
        assert_eq!((all[1].host.as_str(), all[1].port), ("b", 7001));
        assert!(RedisAddr::parse_all("redis://a:7000,").is_err());
    }
}
