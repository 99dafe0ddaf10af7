//! PleziClient in headless Chromium against the real chat example (not the mock): runs the
//! scenarios of `crates/plezi-dispatch/tests/browser/run.mjs` with `--server-cmd` pointing at the
//! built `chat` example (emit with ack, timeouts, `unknown`, reconnect after a restart,
//! `ajaj.emit`, `ajaj.auto`). Needs Node.js, `npm install` in that folder and
//! `/usr/bin/chromium` (`.ci/install.sh`); fails with a message when one is missing.

mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn pleziclient_against_the_chat_example() {
    let chat = support::example_path("chat");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plezi-dispatch/tests/browser");
    assert!(
        Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "`node` is required: install Node.js 20 (CI: .ci/install.sh)"
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
    let server_cmd = format!("PL_THREADS=2 {}", chat.display());
    let out = Command::new("timeout")
        .args(["300", "node", "run.mjs", "--server-cmd", &server_cmd])
        .args([
            "--page",
            "/chat.html",
            "--client",
            "/client.js",
            "--ws",
            "/chat",
        ])
        .current_dir(&dir)
        .env_remove("PL_REDIS_URL")
        .env_remove("REDIS_URL")
        .output()
        .expect("cannot start `node run.mjs`");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert_ne!(
        out.status.code(),
        Some(2),
        "the browser test environment is incomplete: {stderr}"
    );
    assert!(
        out.status.success(),
        "browser scenarios failed against the chat example:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}
