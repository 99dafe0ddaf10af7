//! WebSocket compression with a real browser: `crates/plezi-dispatch/tests/browser/deflate.mjs`
//! opens the echo example's page in headless Chromium (which offers permessage-deflate on every
//! WebSocket and then compresses every message it sends) and checks from the page that the
//! extension was negotiated with the server's answer and that compressed messages are echoed
//! intact (large and small text, binary, 50 in a row), so both the server's inflating and the
//! browser's inflating of the server's compressed frames are exercised.
//!
//! Needs Node.js, `npm install` in that folder (playwright-core) and `/usr/bin/chromium`;
//! `cargo xtask setup` installs them. The test fails with a message when one is missing.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use plezi_test_support::tools::{require_chromium, require_node_packages, run_node};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plezi-dispatch/tests/browser")
}

#[test]
fn chromium_exchanges_compressed_messages_with_the_echo_example() {
    let echo = support::example_path("echo");
    let dir = browser_dir();
    require_node_packages(&dir, &["playwright-core"]);
    require_chromium();
    let server_cmd = format!("exec '{}'", echo.display());
    let out = run_node(
        &dir,
        &[
            "deflate.mjs",
            "--server-cmd",
            &server_cmd,
            "--page",
            "/",
            "--ws",
            "/ws",
        ],
        &[],
        Duration::from_secs(120),
    );
    assert!(
        out.stdout.contains("ok - permessage-deflate negotiated")
            && out.stdout.contains("ok - compressed echoes"),
        "{}",
        out.stdout
    );
}
