//! The interop scenarios shared by the third-party client tests (`ws_node.rs`, `ws_python.rs`):
//! each client script (tests/node/ws_client.js, tests/py/ws_client.py) takes the server URL and a
//! scenario name, prints `ok ...` lines and ends with `done`; the functions here run one scenario
//! against a fresh [`TestServer`] and check its lines (and, for closes, the server's event log).

use std::process::Command;
use std::time::Duration;

use super::tools::{ScriptOutput, run_bounded, tests_dir};
use super::{Event, STEP, TestServer};

/// A third-party WebSocket client: how to check it is installed and how to run its script.
pub struct ExternalClient {
    /// Named in failure messages, e.g. "node ws".
    pub name: &'static str,
    /// Panics with the install command when the client is missing.
    pub require: fn(),
    /// The interpreter, e.g. `node`.
    pub program: &'static str,
    /// The script, relative to the tests folder.
    pub script: &'static str,
}

impl ExternalClient {
    /// Runs `scenario` against `s`; the script must succeed and end with `done`.
    fn run_scenario(&self, s: &TestServer, scenario: &str) -> ScriptOutput {
        (self.require)();
        let mut cmd = Command::new(self.program);
        cmd.arg(tests_dir().join(self.script))
            .arg(format!("ws://{}", s.addr))
            .arg(scenario);
        let out = run_bounded(cmd, Duration::from_secs(90));
        out.assert_success(&format!("{} scenario {scenario}", self.name));
        assert_eq!(out.lines().last().copied(), Some("done"), "{out:?}");
        out
    }
}

fn assert_lines(out: &ScriptOutput, want: &[&str]) {
    let lines = out.lines();
    for w in want {
        assert!(
            lines.iter().any(|l| l.starts_with(w)),
            "missing {w:?} in {lines:?}"
        );
    }
}

/// Text, unicode, binary, a big message and 500 ordered messages come back.
pub fn echo_text_binary_big_and_ordered(client: &ExternalClient) {
    let s = TestServer::start();
    let out = client.run_scenario(&s, "echo");
    assert_lines(
        &out,
        &[
            "ok text",
            "ok unicode",
            "ok binary",
            "ok big",
            "ok ordered 500",
        ],
    );
}

/// Fragmented text and binary sends are reassembled and echoed.
pub fn fragmented_messages(client: &ExternalClient) {
    let s = TestServer::start();
    let out = client.run_scenario(&s, "fragmented");
    assert_lines(&out, &["ok fragmented text", "ok fragmented binary"]);
}

/// A ping is answered with a pong and the connection keeps echoing.
pub fn ping_pong(client: &ExternalClient) {
    let s = TestServer::start();
    let out = client.run_scenario(&s, "ping");
    assert_lines(&out, &["ok pong", "ok echo after ping"]);
}

/// Close codes 1000 and 4001 sent by the client are echoed and reach `on_close`.
pub fn client_close_codes_are_echoed(client: &ExternalClient) {
    let s = TestServer::start();
    let out = client.run_scenario(&s, "client_close");
    assert_lines(&out, &["ok closed 1000", "ok closed 4001"]);
    s.log.wait_for("two on_close", STEP, |ev| {
        ev.iter().filter(|e| matches!(e, Event::Close(..))).count() == 2
    });
    let mut codes: Vec<(Option<u16>, bool)> = s.log.closes();
    codes.sort();
    assert_eq!(codes, vec![(Some(1000), false), (Some(4001), false)]);
}

/// The client sees the server's close code 4000.
pub fn sees_server_close_code_4000(client: &ExternalClient) {
    let s = TestServer::start();
    let out = client.run_scenario(&s, "server_close");
    assert_lines(&out, &["ok server closed 4000"]);
}

/// permessage-deflate is negotiated with the client's default offer and with a small server
/// window; compressed messages (whole and fragmented) go both ways.
pub fn deflate(client: &ExternalClient) {
    let s = TestServer::start();
    let out = client.run_scenario(&s, "deflate");
    assert_lines(&out, &["ok negotiated", "ok compressed", "ok window 10"]);
}

/// The server picks `chat` when offered, and no subprotocol when none is offered.
pub fn subprotocol_selection(client: &ExternalClient) {
    let s = TestServer::start();
    let out = client.run_scenario(&s, "subprotocol");
    assert_lines(&out, &["ok subprotocol chat", "ok no subprotocol"]);
}
