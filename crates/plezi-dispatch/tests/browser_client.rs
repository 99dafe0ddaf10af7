//! The JavaScript client (`PleziClient`) in headless Chromium: runs `tests/browser/run.mjs`, which starts
//! `tests/browser/mock-server.mjs` (a small Node stand-in for the server) and checks emit with ack,
//! timeouts, `unknown`, reconnection with backoff after a restart, recovery positions, acknowledged
//! mailboxes (`_mail_` answered with `_ack_`, a redelivered `_mid_` dropped), `ajaj.emit` and the
//! `ajaj.auto` fallback.
//!
//! Needs Node.js, `npm install` in `tests/browser` (playwright-core, ws, typescript: the `.d.ts` is
//! type-checked first) and `/usr/bin/chromium`; `cargo xtask setup` installs them all. The test fails (it
//! never skips) when one is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use plezi_test_support::tools::{require_chromium, require_node_packages, run_node};

/// The whole run takes about 10 s; the deadline only stops a hung browser.
const DEADLINE: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[test]
fn pleziclient_in_headless_chromium() {
    let dir = browser_dir();
    require_node_packages(&dir, &["playwright-core", "ws", "typescript"]);
    require_chromium();
    run_node(&dir, &["run.mjs"], &[], DEADLINE);
}
