//! A real `redis-server` on a free port (killed on drop), raw commands, and a pattern subscriber
//! that records what the servers publish.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DEADLINE, free_port};

/// A throwaway `redis-server` child process (no persistence), killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`. Fails with an install hint when
    /// `redis-server` is missing.
    pub fn start() -> RedisServer {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): these tests need a real Redis; install it \
                     with `apt-get install -y redis-server` (.ci/install.sh does)"
                )
            });
        let server = RedisServer { port, child };
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if server
                .command(&["PING"])
                .is_ok_and(|r| matches!(r, Resp::Simple(s) if s == "PONG"))
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(10)); // polling with a deadline
        }
        panic!("redis-server on port {port} did not answer PING within {DEADLINE:?}");
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(DEADLINE))?;
        Ok(s)
    }

    /// One command over a fresh connection; the parsed reply.
    pub fn command(&self, args: &[&str]) -> std::io::Result<Resp> {
        let mut s = self.connect()?;
        s.write_all(&encode(args))?;
        read_resp(&mut BufReader::new(s))
    }

    /// How many connections subscribe to `channel` (`PUBSUB NUMSUB`).
    pub fn numsub(&self, channel: &str) -> i64 {
        match self.command(&["PUBSUB", "NUMSUB", channel]) {
            Ok(Resp::Array(items)) => match items.get(1) {
                Some(Resp::Int(n)) => *n,
                other => panic!("PUBSUB NUMSUB {channel}: unexpected item {other:?}"),
            },
            other => panic!("PUBSUB NUMSUB {channel}: {other:?}"),
        }
    }

    /// Waits until exactly `n` connections subscribe to `channel`.
    pub fn wait_numsub(&self, channel: &str, n: i64) {
        let started = Instant::now();
        loop {
            let now = self.numsub(channel);
            if now == n {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{channel} has {now} subscribers after {DEADLINE:?}, expected {n}"
            );
            std::thread::sleep(Duration::from_millis(10)); // polling with a deadline
        }
    }

    /// A connection subscribed to every channel matching `pattern` (`PSUBSCRIBE`).
    pub fn watch(&self, pattern: &str) -> RedisWatch {
        let mut s = self.connect().expect("connect to redis-server");
        s.write_all(&encode(&["PSUBSCRIBE", pattern]))
            .expect("PSUBSCRIBE");
        let mut reader = BufReader::new(s);
        match read_resp(&mut reader) {
            Ok(Resp::Array(items)) if items.first() == Some(&Resp::Bulk("psubscribe".into())) => {}
            other => panic!("PSUBSCRIBE {pattern}: {other:?}"),
        }
        RedisWatch { reader }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pattern subscription: every message published on a matching channel.
pub struct RedisWatch {
    reader: BufReader<TcpStream>,
}

impl RedisWatch {
    /// The next published message: (channel, payload). Fails after the deadline.
    pub fn next(&mut self) -> (String, String) {
        loop {
            match read_resp(&mut self.reader) {
                Ok(Resp::Array(items)) => {
                    if let [
                        Resp::Bulk(kind),
                        _,
                        Resp::Bulk(channel),
                        Resp::Bulk(payload),
                    ] = &items[..]
                        && kind == "pmessage"
                    {
                        return (channel.clone(), payload.clone());
                    }
                }
                Ok(other) => panic!("unexpected reply on a subscribed connection: {other:?}"),
                Err(e) => panic!("no message published within {DEADLINE:?} ({e})"),
            }
        }
    }

    /// Reads published messages until one satisfies `done`; returns every message read.
    pub fn until(&mut self, mut done: impl FnMut(&str, &str) -> bool) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        loop {
            let (channel, payload) = self.next();
            let stop = done(&channel, &payload);
            seen.push((channel, payload));
            if stop {
                return seen;
            }
        }
    }
}

/// A Redis reply (RESP2).
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(String),
    Nil,
    Array(Vec<Resp>),
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n", a.len()).as_bytes());
        out.extend(a.as_bytes());
        out.extend(b"\r\n");
    }
    out
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn read_resp(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(bad("redis closed the connection".into()));
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(line.len().min(1));
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| bad(format!("bad RESP line {line:?}")))
    };
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(int(rest)?),
        "$" => match int(rest)? {
            n if n < 0 => Resp::Nil,
            n => {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Resp::Bulk(String::from_utf8_lossy(&buf).into_owned())
            }
        },
        "*" => match int(rest)? {
            n if n < 0 => Resp::Nil,
            n => Resp::Array((0..n).map(|_| read_resp(r)).collect::<Result<_, _>>()?),
        },
        _ => return Err(bad(format!("bad RESP line {line:?}"))),
    })
}
