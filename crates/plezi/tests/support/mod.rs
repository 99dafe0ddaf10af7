//! Test support for the facade: a real `redis-server` on a free port, example processes started
//! from the built examples, and a blocking WebSocket client. Every wait has a deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::Message;
use tungstenite::protocol::WebSocket;

/// How long any single wait may take.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A throwaway `redis-server` child process, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): these tests need a real Redis; install it with \
                     `apt-get install -y redis-server` (.ci/install.sh does)"
                )
            });
        let server = RedisServer { port, child };
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if server.ping() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(10)); // polling with a deadline
        }
        panic!("redis-server on port {port} did not answer PING");
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && s.read(&mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a built example (`target/<profile>/examples/<name>`), next to this test binary.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p plezi --example {name}` \
         (`cargo test -p plezi` builds the examples before running the tests)",
        path.display()
    );
    path
}

/// An example process listening on a free port, killed on drop.
pub struct ExampleProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl ExampleProcess {
    /// Starts example `name` with `PORT=0` and `env`, and waits for its ready line
    /// (`plezi listening on http://ADDR/ ...`).
    pub fn start(name: &str, env: &[(&str, &str)]) -> ExampleProcess {
        let mut cmd = Command::new(example_path(name));
        cmd.env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("PL_THREADS", "2")
            .env_remove("PL_REDIS_URL")
            .env_remove("REDIS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("example {name} printed no ready line within {DEADLINE:?}")
        });
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in the ready line {line:?}"));
        ExampleProcess { addr, child }
    }

    /// Stops the process at once (SIGKILL: no goodbye to Redis or clients).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A WebSocket client connected to `path`.
    pub fn ws(&self, path: &str) -> Ws {
        Ws::connect(self.addr, path)
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking WebSocket client.
pub struct Ws {
    socket: WebSocket<TcpStream>,
}

impl Ws {
    pub fn connect(addr: SocketAddr, path: &str) -> Ws {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let url = format!("ws://{addr}{path}");
        let (socket, _) = tungstenite::client::client(url.as_str(), stream)
            .unwrap_or_else(|e| panic!("WebSocket handshake with {url}: {e}"));
        Ws { socket }
    }

    pub fn send(&mut self, value: &Value) {
        self.socket
            .send(Message::text(value.to_string()))
            .expect("send");
    }

    /// The next text message as JSON.
    pub fn json(&mut self) -> Value {
        loop {
            match self.socket.read() {
                Ok(Message::Text(t)) => {
                    return serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {t}"));
                }
                Ok(Message::Close(f)) => panic!("closed by the server: {f:?}"),
                Ok(_) => continue,
                Err(e) => panic!("reading: {e}"),
            }
        }
    }

    /// The next message whose `event` is not one of `skip` (presence chatter, for instance).
    pub fn json_skipping(&mut self, skip: &[&str]) -> Value {
        loop {
            let v = self.json();
            if !skip.iter().any(|s| v["event"] == *s) {
                return v;
            }
        }
    }

    /// Sends an `echo` with a marker and expects it next: nothing else was queued.
    pub fn nothing_before_echo(&mut self, marker: &str) {
        self.send(&serde_json::json!({"event": "echo", "marker": marker}));
        let got = self.json();
        assert_eq!(got["marker"], marker, "expected only the echo, got {got}");
    }

    pub fn whoami(&mut self) -> String {
        self.send(&serde_json::json!({"event": "whoami"}));
        let got = self.json();
        got["id"]
            .as_str()
            .unwrap_or_else(|| panic!("whoami: {got}"))
            .to_owned()
    }
}
