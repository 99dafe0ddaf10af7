//! Cross-origin attacks in headless Chromium against the real chat example:
//! `crates/plezi-dispatch/tests/browser/cross-origin.mjs` serves an attacker page on a second origin
//! (`http://localhost:P2`, the app being `http://127.0.0.1:P1`) that tries, with the visitor's session
//! cookie in the browser, a WebSocket to `/chat`, form posts to `/login` and `/chat`, a `text/plain`
//! `fetch` and an `<img>` GET of `/chat/notify?...`; a logged-in victim connection must never get the
//! forged notices. The same actions from the app's own page work (`docs/security.md#origins`,
//! `#cross-site`).
//!
//! Needs Node.js, `npm install` in that folder (playwright-core, ws) and `/usr/bin/chromium`;
//! `cargo xtask setup` installs them. The test fails with a message when one is missing; it never skips.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use plezi_test_support::tools::{require_chromium, require_node_packages, run_node};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plezi-dispatch/tests/browser")
}

#[test]
fn a_page_on_another_origin_cannot_act_as_the_visitor() {
    let chat = support::example_path("chat");
    let dir = browser_dir();
    require_node_packages(&dir, &["playwright-core", "ws"]);
    require_chromium();
    let server_cmd = format!("PL_THREADS=2 exec '{}'", chat.display());
    let out = run_node(
        &dir,
        &["cross-origin.mjs", "--server-cmd", &server_cmd],
        &[
            "PL_REDIS_URL",
            "REDIS_URL",
            "PL_ALLOWED_ORIGINS",
            "PL_PUBLIC_ORIGIN",
        ],
        Duration::from_secs(180),
    );
    let stdout = &out.stdout;
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count() >= 5,
        "every scenario ran: {stdout}"
    );
}
