//! Cross-origin attacks in headless Chromium against the real chat example:
//! `crates/plezi-dispatch/tests/browser/cross-origin.mjs` serves an attacker page on a second origin
//! (`http://localhost:P2`, the app being `http://127.0.0.1:P1`) that tries, with the visitor's session
//! cookie in the browser, a WebSocket to `/chat`, form posts to `/login` and `/chat`, a `text/plain`
//! `fetch` and an `<img>` GET of `/chat/notify?...`; a logged-in victim connection must never get the
//! forged notices. The same actions from the app's own page work (`docs/security.md#origins`,
//! `#cross-site`).
//!
//! Needs Node.js, `npm install` in that folder (playwright-core, ws) and `/usr/bin/chromium`;
//! `.ci/install.sh` provides them. The test fails with a message when one is missing; it never skips.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plezi-dispatch/tests/browser")
}

#[test]
fn a_page_on_another_origin_cannot_act_as_the_visitor() {
    let chat = support::example_path("chat");
    let dir = browser_dir();
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "`node` is required for the browser tests: install Node.js 20 (CI: .ci/install.sh)"
    );
    for package in ["playwright-core", "ws"] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "{package} is missing: run `npm install` in {} (CI: .ci/install.sh)",
            dir.display()
        );
    }
    let server_cmd = format!("PL_THREADS=2 exec '{}'", chat.display());
    let out = Command::new("timeout")
        .args([
            "180",
            "node",
            "cross-origin.mjs",
            "--server-cmd",
            &server_cmd,
        ])
        .current_dir(&dir)
        .env_remove("PL_REDIS_URL")
        .env_remove("REDIS_URL")
        .env_remove("PL_ALLOWED_ORIGINS")
        .env_remove("PL_PUBLIC_ORIGIN")
        .output()
        .expect("cannot start `node cross-origin.mjs`");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    match out.status.code() {
        Some(0) => {}
        Some(2) => panic!("the browser test environment is incomplete: {stderr}"),
        Some(124) => {
            panic!("node cross-origin.mjs did not finish within 180 s:\n{stdout}\n{stderr}")
        }
        _ => panic!(
            "cross-origin scenarios failed ({}); rerun with `node cross-origin.mjs --server-cmd {chat:?}` \
             in {}:\n{stdout}\n{stderr}",
            out.status,
            dir.display()
        ),
    }
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count() >= 5,
        "every scenario ran: {stdout}"
    );
}
