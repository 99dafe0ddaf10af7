//! PleziClient in headless Chromium against the real chat example (`examples/chat.rs`, page
//! `/`): `crates/plezi-dispatch/tests/browser/chat.mjs` runs every run.mjs scenario that
//! needs no mock (the served bundle, emit with ack, `unknown`/`err` 404, auto-reconnect with
//! backoff after a server restart, `close`/`reconnect`, `ajaj.emit`, `ajaj.auto` with the socket
//! closed) plus two that stall the server with SIGSTOP: the timeout callbacks of an emit the
//! server does not acknowledge, and the `ajaj.auto` retry while the socket stays open.
//!
//! Needs Node.js, `npm install` in that folder (playwright-core, ws, typescript) and
//! `/usr/bin/chromium`; `cargo xtask setup` installs them. The test fails with a message when one is
//! missing; it never skips.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use plezi_test_support::tools::{require_chromium, require_node_packages, run_node};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plezi-dispatch/tests/browser")
}

#[test]
fn pleziclient_in_chromium_against_the_chat_example() {
    let chat = support::example_path("chat");
    let dir = browser_dir();
    require_node_packages(&dir, &["playwright-core", "ws", "typescript"]);
    require_chromium();
    // chat.mjs starts the server with PORT set (and restarts it for the reconnect scenario).
    let server_cmd = format!("PL_THREADS=2 exec '{}'", chat.display());
    let out = run_node(
        &dir,
        &[
            "chat.mjs",
            "--server-cmd",
            &server_cmd,
            "--page",
            "/",
            "--client",
            "/client.js",
            "--ws",
            "/chat",
        ],
        &["PL_REDIS_URL", "REDIS_URL"],
        Duration::from_secs(300),
    );
    let stdout = &out.stdout;
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
