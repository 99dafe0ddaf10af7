//! External programs the interop and browser tests drive (Python `websockets`, Node packages,
//! Chromium): presence checks that fail loudly with the install command (tests never skip), and a
//! runner that kills a script at its deadline and captures both streams.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn runs(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails unless `python3` can import `module`.
pub fn require_python_module(module: &str) {
    assert!(
        runs(Command::new("python3").args(["-c", &format!("import {module}")])),
        "python3 with the `{module}` package is required by this test and was not found.\n\
         Install it with: pip install {module}   (or run: cargo xtask setup)"
    );
}

/// Fails unless `node` runs and every package of `packages` is installed in `dir/node_modules`.
pub fn require_node_packages(dir: &Path, packages: &[&str]) {
    assert!(
        runs(Command::new("node").arg("--version")),
        "`node` (Node.js 20) is required by this test and was not found.\n\
         Install it with: apt-get install -y nodejs npm   (or run: cargo xtask setup)"
    );
    for package in packages {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "the Node package `{package}` is required by this test and is not installed.\n\
             Install it with: (cd {} && npm install)   (or run: cargo xtask setup)",
            dir.display()
        );
    }
}

/// Fails unless `/usr/bin/chromium` exists (the browser tests drive it headless).
pub fn require_chromium() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: apt-get install -y chromium (or run: cargo xtask setup)"
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

/// How long a timed-out script may take to stop after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Runs `cmd` (stdin closed), stopping it after `timeout` (SIGTERM, then SIGKILL); captures both
/// streams.
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
                // SIGTERM first: a runner script stops the servers it started; then SIGKILL.
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let grace = Instant::now();
                while grace.elapsed() < TERM_GRACE && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(50));
                }
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

/// Runs `node ARGS` in `dir` (with the variables `unset` removed from its environment) for at
/// most `timeout`, prints both streams, and fails the test unless it exits 0: exit 2 is a runner's
/// "the environment is incomplete". Returns the output for further checks.
pub fn run_node(dir: &Path, args: &[&str], unset: &[&str], timeout: Duration) -> ScriptOutput {
    let mut node = Command::new("node");
    node.args(args).current_dir(dir);
    for name in unset {
        node.env_remove(name);
    }
    let out = run_bounded(node, timeout);
    println!("{}", out.stdout);
    eprintln!("{}", out.stderr);
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    let rerun = format!("node {}", args.join(" "));
    match out.code {
        _ if out.timed_out => {
            panic!("`{rerun}` did not finish within {timeout:?}:\n{stdout}\n{stderr}")
        }
        Some(0) => {}
        Some(2) => panic!("the test environment is incomplete: {stderr}"),
        code => panic!(
            "`{rerun}` failed (exit {code:?}); rerun it in {} to see why:\n{stdout}\n{stderr}",
            dir.display()
        ),
    }
    out
}
