//! The JavaScript client (`PleziClient`) in headless Chromium: runs `tests/browser/run.mjs`, which starts
//! `tests/browser/mock-server.mjs` (a small Node stand-in for the server) and checks emit with ack,
//! timeouts, `unknown`, reconnection with backoff after a restart, `ajaj.emit` and the `ajaj.auto` fallback.
//!
//! Needs Node.js, `npm install` in `tests/browser` (playwright-core, ws, typescript: the `.d.ts` is
//! type-checked first) and `/usr/bin/chromium`; `.ci/install.sh` provides them all. The test fails (it
//! never skips) when one is missing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The whole run takes about 10 s; the deadline only stops a hung browser.
const DEADLINE: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn check_environment(dir: &Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "`node` is required for the browser tests: install Node.js 20 (CI: .ci/install.sh)"
    );
    for package in ["playwright-core", "ws", "typescript"] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "{package} is missing: run `npm install` in {} (CI: .ci/install.sh)",
            dir.display()
        );
    }
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: apt-get install -y chromium (CI: .ci/install.sh)"
    );
}

/// Collects a child's pipe on a thread so the child never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Waits for `child` until the deadline; then asks it to stop (it stops its server) and kills it.
fn wait_with_deadline(child: &mut Child) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(5) && matches!(child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(100)); // polling with a deadline
    }
}

#[test]
fn pleziclient_in_headless_chromium() {
    let dir = browser_dir();
    check_environment(&dir);
    let mut child = Command::new("node")
        .arg("run.mjs")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start `node run.mjs`");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_with_deadline(&mut child);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    println!("{stdout}");
    eprintln!("{stderr}");
    match status {
        None => panic!("node run.mjs did not finish within {DEADLINE:?}\n{stdout}\n{stderr}"),
        Some(status) if status.code() == Some(2) => {
            panic!("the browser test environment is incomplete: {stderr}")
        }
        Some(status) => assert!(
            status.success(),
            "browser scenarios failed ({status}); run `node run.mjs` in {} to see them:\n{stdout}\n{stderr}",
            dir.display()
        ),
    }
}
