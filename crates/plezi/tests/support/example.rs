//! Example programs (`examples/*.rs`) as child processes on free ports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::SystemTime;

use serde_json::Value;

use super::{DEADLINE, HttpReply, Ws, http};

/// The repository root (two levels above this crate).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The newest modification time of the `.rs`/`.js` files below `dir`.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            if path.ends_with("node_modules") || path.ends_with("target") {
                continue;
            }
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs" || e == "js") {
            entry.metadata().and_then(|m| m.modified()).ok()
        } else {
            None
        };
        newest = newest.max(time);
    }
    newest
}

/// Whether `binary` is missing or older than the sources it is built from.
fn stale(binary: &Path) -> bool {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    let root = repo_root();
    let sources = [
        "examples",
        "crates/plezi-server/src",
        "crates/plezi-messaging/src",
    ]
    .into_iter()
    .chain(["crates/plezi-dispatch/src", "crates/plezi-dispatch/client"])
    .chain(["crates/plezi/src"]);
    sources
        .filter_map(|dir| newest_source(&root.join(dir)))
        .any(|source| source > built)
}

/// The path of example `name`, built with this test's profile into this test's target dir
/// (`target/<profile>/examples/<name>`, next to the test binary). `cargo test -p plezi` builds the
/// examples first; when the binary is missing or older than its sources (e.g. after
/// `cargo test --test cross_process`), it is built here with `cargo build --example`.
pub fn example_path(name: &str) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    let _one_build_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if stale(&path) {
        let target_dir = profile_dir.parent().expect("target/<profile>");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--quiet", "-p", "plezi", "--example", name])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(repo_root());
        if profile_dir.ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo to build example {name}: {e}"));
        assert!(
            status.success() && path.exists(),
            "`cargo build -p plezi --example {name}` failed ({status}); {} is needed",
            path.display()
        );
    }
    path
}

/// An example process listening on a free port; killed on drop.
pub struct ExampleProcess {
    pub addr: SocketAddr,
    pub name: String,
    child: Child,
}

impl ExampleProcess {
    /// Starts example `name` with `PORT=0`, two event loops, no Redis unless `env` names one, and
    /// `env`; waits for its ready line (`plezi listening on http://ADDR/ (bus: ...)`).
    pub fn start(name: &str, env: &[(&str, &str)]) -> ExampleProcess {
        ExampleProcess::spawn(name, Command::new(example_path(name)), env)
    }

    /// Like [`ExampleProcess::start`], with the open-files limit set to `nofile` (through
    /// `prlimit`, which execs the program: the process id is the example's).
    pub fn start_limited(name: &str, nofile: u64, env: &[(&str, &str)]) -> ExampleProcess {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg(example_path(name));
        ExampleProcess::spawn(name, cmd, env)
    }

    fn spawn(name: &str, mut cmd: Command, env: &[(&str, &str)]) -> ExampleProcess {
        cmd.env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("PL_THREADS", "2")
            .env_remove("PL_REDIS_URL")
            .env_remove("REDIS_URL")
            .env_remove("PL_APP_NAME")
            .env_remove("PL_REDIS_CA_FILE")
            .env_remove("PL_REDIS_CERT_FILE")
            .env_remove("PL_REDIS_KEY_FILE")
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads stdout to the end so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = match rx.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(_) => {
                let status = child.try_wait();
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "example {name} printed no ready line within {DEADLINE:?} (exit: {status:?})"
                )
            }
        };
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in the ready line {line:?}"));
        ExampleProcess {
            addr,
            name: name.to_owned(),
            child,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit by itself; its status, if it did.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// Stops the process at once (SIGKILL: no goodbye to Redis or clients) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A WebSocket client connected to `path`.
    pub fn ws(&self, path: &str) -> Ws {
        Ws::connect(self.addr, path)
    }

    /// Logs in as `user` (`POST /login`, a form) and returns the session cookie as a `Cookie`
    /// header value.
    pub fn login(&self, user: &str) -> String {
        let reply = http(
            self.addr,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("user={user}").as_bytes(),
        );
        assert_eq!(reply.status, 303, "{}: POST /login as {user}", self.name);
        reply
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.split(';').next().filter(|c| c.contains("plezi_session=")))
            .unwrap_or_else(|| panic!("{}: no session cookie in {:?}", self.name, reply.headers))
            .to_owned()
    }

    /// A WebSocket client connected to `path` as `user` (logged in first).
    pub fn ws_as(&self, path: &str, user: &str) -> Ws {
        let cookie = self.login(user);
        Ws::connect_with_cookie(self.addr, path, &cookie).named(&format!("{user}@{}", self.name))
    }

    /// A JSON POST to `path` (an AJAJ request).
    pub fn post_json(&self, path: &str, body: &Value) -> HttpReply {
        http(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
