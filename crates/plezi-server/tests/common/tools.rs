//! External clients (Python `websockets`, Node `ws`): presence checks that fail loudly with the
//! install command, and a bounded script runner.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Folder of this crate's tests (`crates/plezi-server/tests`).
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Panics with the install command unless `python3` can import `websockets`.
pub fn require_python_websockets() {
    let ok = Command::new("python3")
        .args(["-c", "import websockets"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with the `websockets` package is required by this test and was not found.\n\
         Install it with: pip install websockets   (or run: bash .ci/install.sh)"
    );
}

/// Panics with the install command unless `node` runs and `ws` is installed in tests/node.
pub fn require_node_ws() {
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        node_ok,
        "`node` (Node.js 18+) is required by this test and was not found.\n\
         Install it with: apt-get install -y nodejs npm   (or run: bash .ci/install.sh)"
    );
    let ws = tests_dir().join("node/node_modules/ws/package.json");
    assert!(
        ws.exists(),
        "the Node `ws` package is required by this test and is not installed ({} missing).\n\
         Install it with: (cd crates/plezi-server/tests/node && npm install)   (or run: bash .ci/install.sh)",
        ws.display()
    );
}

/// What a finished script produced.
#[derive(Debug)]
pub struct ScriptOutput {
    /// Exit code (None: killed by a signal or by the timeout).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether the timeout killed it.
    pub timed_out: bool,
}

impl ScriptOutput {
    /// Panics (showing both streams) unless the script exited 0.
    pub fn assert_success(&self, what: &str) {
        assert!(
            !self.timed_out && self.code == Some(0),
            "{what} failed (exit {:?}, timed out: {}).\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.timed_out,
            self.stdout,
            self.stderr
        );
    }

    /// Lines of stdout, trimmed.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

/// Runs `cmd`, killing it after `timeout`; captures both streams.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> ScriptOutput {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    ScriptOutput {
        code: status.and_then(|s| s.code()),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
        timed_out,
    }
}
