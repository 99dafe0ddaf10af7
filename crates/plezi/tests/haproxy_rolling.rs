//! A rolling restart behind a real load balancer: HAProxy (health-checking `/readyz`) in front of
//! two chat example processes sharing a `redis-server`. A fleet of logged-in Node clients
//! (`tests/node/chat_fleet.js`, reconnecting with backoff and jitter) receives identity
//! notifications sent at a steady rate while both processes are restarted one after the other
//! (SIGTERM, wait for the exit, start again on the same port). Then: every promised notification
//! arrived exactly once, nothing arrived twice, every client is connected again, and the closes of
//! each drain were spread over its window (the peak reconnect rate is measured and bounded).
//!
//! Needs `haproxy`, `redis-server` and `node` (`cargo xtask setup` installs them).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ExampleProcess, RedisServer, free_port, http};

const USERS: usize = 500;
const DRAIN_S: u64 = 2;
const SESSION_KEY: &str = "rolling-restart-test-key-0123456789abcdef";

/// HAProxy in front of `backends`, health-checking `/readyz` every 100 ms.
struct Haproxy {
    child: Child,
    port: u16,
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A temporary folder removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Haproxy {
    fn start(backends: &[u16]) -> Haproxy {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("plezi-haproxy-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  server s{i} 127.0.0.1:{p} check\n"))
            .collect();
        let config = format!(
            "global\n  maxconn 8192\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n  \
             timeout tunnel 1h\n  retries 3\n  option redispatch\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
             backend be\n  balance roundrobin\n  option httpchk GET /readyz\n  \
             http-check expect status 200\n  default-server inter 100ms fall 1 rise 1\n{servers}"
        );
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).expect("write haproxy.cfg");
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy runs (apt-get install -y haproxy, or: cargo xtask setup)");
        let proxy = Haproxy {
            child,
            port,
            _dir: tempdir::Dir(dir),
        };
        assert!(
            plezi_test_support::wait_until(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            }),
            "haproxy listens"
        );
        proxy
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Node client fleet.
struct Fleet {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Fleet {
    fn start(base: &str) -> Fleet {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
        let mut child = Command::new("node")
            .arg(dir.join("chat_fleet.js"))
            .env("BASE", base)
            .env("USERS", USERS.to_string())
            .env("NOTIFIERS", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (apt-get install -y nodejs npm, or: cargo xtask setup)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Fleet {
            child,
            stdin,
            lines,
        }
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("fleet stdin");
    }

    fn expect_line(&self, what: &str, timeout: Duration) -> String {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("the fleet did not print {what}"))
    }

    fn report(&mut self) -> Value {
        self.command("REPORT");
        let line = self.expect_line("its report", Duration::from_secs(10));
        serde_json::from_str(&line).expect("a JSON report")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chat(redis_url: &str, port: u16) -> ExampleProcess {
    let port = port.to_string();
    let drain = DRAIN_S.to_string();
    ExampleProcess::start(
        "chat",
        &[
            ("PORT", port.as_str()),
            ("PL_REDIS_URL", redis_url),
            ("PL_APP_NAME", "rolling2"),
            ("PL_SESSION_KEY", SESSION_KEY),
            ("PL_DRAIN_NOTICE_S", "1"),
            ("PL_DRAIN_S", drain.as_str()),
        ],
    )
}

/// SIGTERM, wait for a clean exit, start again on the same port.
fn restart(process: &mut ExampleProcess, redis_url: &str, port: u16) -> Instant {
    let term = Command::new("kill")
        .args(["-TERM", &process.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let began = Instant::now();
    let status = process
        .wait_exit(Duration::from_secs(30))
        .expect("the process exits by itself after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    *process = start_chat(redis_url, port);
    began
}

#[test]
fn a_rolling_restart_behind_haproxy_loses_and_duplicates_no_notification() {
    let redis = RedisServer::start();
    let url = redis.url();
    let ports = [free_port(), free_port()];
    let mut chats = [start_chat(&url, ports[0]), start_chat(&url, ports[1])];
    let proxy = Haproxy::start(&ports);
    let base = format!("http://127.0.0.1:{}", proxy.port);
    assert!(plezi_test_support::wait_until(
        Duration::from_secs(10),
        || http(
            format!("127.0.0.1:{}", proxy.port).parse().unwrap(),
            "GET",
            "/readyz",
            &[],
            b""
        )
        .status
            == 200
    ));

    let mut fleet = Fleet::start(&base);
    assert_eq!(fleet.expect_line("READY", Duration::from_secs(60)), "READY");
    fleet.command("NOTIFY 150");
    std::thread::sleep(Duration::from_secs(1));
    for (process, port) in chats.iter_mut().zip(ports) {
        restart(process, &url, port);
        // Let HAProxy see the new process before the next one goes.
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(1));
    fleet.command("STOP");

    // Every client reconnected and every promised notification arrived.
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let report = fleet.report();
        let promised = report["promised"].as_array().map_or(0, Vec::len);
        let received: usize = report["received"].as_object().map_or(0, |m| {
            m.values().map(|v| v.as_array().map_or(0, Vec::len)).sum()
        });
        if (report["connected"] == USERS && received >= promised) || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        report["connected"], USERS,
        "every client is connected again"
    );

    let mut seen: HashMap<&str, usize> = HashMap::new();
    for messages in report["received"].as_object().expect("received").values() {
        for m in messages.as_array().expect("a list") {
            *seen.entry(m.as_str().expect("a string")).or_default() += 1;
        }
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "delivered twice: {duplicated:?}");
    let promised: Vec<&str> = report["promised"]
        .as_array()
        .expect("promised")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let lost: Vec<_> = promised.iter().filter(|m| !seen.contains_key(*m)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} promised notifications lost: {:?}",
        lost.len(),
        promised.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(
        promised.len() > 200,
        "only {} notifications promised",
        promised.len()
    );
    assert_eq!(report["refused"].as_array().map_or(0, Vec::len), 0);

    // Each drain's closes are spread over its window (the reconnect rate follows them).
    let closes: Vec<u64> = report["closes"]
        .as_array()
        .expect("closes")
        .iter()
        .filter(|c| c[1] == 1001)
        .filter_map(|c| c[0].as_u64())
        .collect();
    assert!(closes.len() >= USERS, "{} closes with 1001", closes.len());
    let mut per_half_second: HashMap<u64, usize> = HashMap::new();
    for ms in &closes {
        *per_half_second.entry(ms / 500).or_default() += 1;
    }
    let peak = per_half_second.values().copied().max().unwrap_or(0);
    // The second process drained holds almost every client (those of the first moved to it): its
    // closes, evenly over DRAIN_S seconds, are USERS / (2 * DRAIN_S) per half second; all at once
    // would be USERS in one.
    let even = USERS / (2 * DRAIN_S as usize);
    println!(
        "rolling restart: {} promised, {} closes with 1001, peak {peak} closes per 500 ms (even: {even}), {} reconnects",
        promised.len(),
        closes.len(),
        report["reconnects"].as_array().map_or(0, Vec::len)
    );
    // A loaded machine bunches the closes a little (a lagging loop, a lagging client process:
    // 170-250 per half second seen); all at once would put nearly every client in one.
    assert!(
        peak <= USERS * 3 / 5,
        "closes not spread: {peak} in one 500 ms (even would be {even}, all at once {USERS})"
    );
}
