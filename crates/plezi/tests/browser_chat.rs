//! PleziClient in headless Chromium against the real chat example (`examples/chat.rs`, page
//! `/`): `crates/plezi-dispatch/tests/browser/chat.mjs` runs every run.mjs scenario that
//! needs no mock (the served bundle, emit with ack, `unknown`/`err` 404, auto-reconnect with
//! backoff after a server restart, `close`/`reconnect`, `ajaj.emit`, `ajaj.auto` with the socket
//! closed) plus two that stall the server with SIGSTOP: the timeout callbacks of an emit the
//! server does not acknowledge, and the `ajaj.auto` retry while the socket stays open.
//!
//! Needs Node.js, `npm install` in that folder (playwright-core, ws, typescript) and
//! `/usr/bin/chromium`; `.ci/install.sh` provides them. The test fails with a message when one is
//! missing; it never skips.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plezi-dispatch/tests/browser")
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

#[test]
fn pleziclient_in_chromium_against_the_chat_example() {
    let chat = support::example_path("chat");
    let dir = browser_dir();
    check_environment(&dir);
    // chat.mjs starts the server with PORT set (and restarts it for the reconnect scenario).
    let server_cmd = format!("PL_THREADS=2 exec '{}'", chat.display());
    // `timeout` bounds a hung browser; run.mjs stops its server on SIGTERM.
    let out = Command::new("timeout")
        .args(["300", "node", "chat.mjs", "--server-cmd", &server_cmd])
        .args(["--page", "/", "--client", "/client.js", "--ws", "/chat"])
        .current_dir(&dir)
        .env_remove("PL_REDIS_URL")
        .env_remove("REDIS_URL")
        .output()
        .expect("cannot start `node chat.mjs`");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    match out.status.code() {
        Some(0) => {}
        Some(2) => panic!("the browser test environment is incomplete: {stderr}"),
        Some(124) => panic!("node chat.mjs did not finish within 300 s:\n{stdout}\n{stderr}"),
        _ => panic!(
            "browser scenarios failed against the chat example ({}); rerun with \
             `node chat.mjs --server-cmd {chat:?} --page /` in {}:\n{stdout}\n{stderr}",
            out.status,
            dir.display()
        ),
    }
    // The stalled-server scenarios ran (not filtered out) and nothing failed.
    for scenario in [
        "timeout against a stalled server",
        "ajaj.auto against a stalled server",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok ") && l.contains(scenario)),
            "no passing `{scenario}` scenario in:\n{stdout}"
        );
    }
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
