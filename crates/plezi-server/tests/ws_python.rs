//! Interop with the Python `websockets` client (tests/py/ws_client.py): text, unicode, binary,
//! ordered messages, fragmented sends, ping/pong, client close codes echoed, a server close code
//! seen by the client, subprotocol selection, and a declined permessage-deflate offer.

mod common;

use std::process::Command;
use std::time::Duration;

use common::tools::{ScriptOutput, require_python_websockets, run_bounded, tests_dir};
use common::{Event, STEP, TestServer};

fn run_scenario(s: &TestServer, scenario: &str) -> ScriptOutput {
    require_python_websockets();
    let mut cmd = Command::new("python3");
    cmd.arg(tests_dir().join("py/ws_client.py"))
        .arg(format!("ws://{}", s.addr))
        .arg(scenario);
    let out = run_bounded(cmd, Duration::from_secs(90));
    out.assert_success(&format!("python websockets scenario {scenario}"));
    assert_eq!(out.lines().last().copied(), Some("done"), "{out:?}");
    out
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

#[test]
fn python_echo_text_binary_big_and_ordered() {
    let s = TestServer::start();
    let out = run_scenario(&s, "echo");
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

#[test]
fn python_fragmented_messages() {
    let s = TestServer::start();
    let out = run_scenario(&s, "fragmented");
    assert_lines(&out, &["ok fragmented text", "ok fragmented binary"]);
}

#[test]
fn python_ping_pong() {
    let s = TestServer::start();
    let out = run_scenario(&s, "ping");
    assert_lines(&out, &["ok pong", "ok echo after ping"]);
}

#[test]
fn python_client_close_codes_are_echoed() {
    let s = TestServer::start();
    let out = run_scenario(&s, "client_close");
    assert_lines(&out, &["ok closed 1000", "ok closed 4001"]);
    s.log.wait_for("two on_close", STEP, |ev| {
        ev.iter().filter(|e| matches!(e, Event::Close(..))).count() == 2
    });
    let mut codes: Vec<(Option<u16>, bool)> = s
        .log
        .snapshot()
        .into_iter()
        .filter_map(|e| match e {
            Event::Close(_, code, by_server) => Some((code, by_server)),
            _ => None,
        })
        .collect();
    codes.sort();
    assert_eq!(codes, vec![(Some(1000), false), (Some(4001), false)]);
}

#[test]
fn python_sees_server_close_code_4000() {
    let s = TestServer::start();
    let out = run_scenario(&s, "server_close");
    assert_lines(&out, &["ok server closed 4000"]);
}

#[test]
fn python_subprotocol_selection() {
    let s = TestServer::start();
    let out = run_scenario(&s, "subprotocol");
    assert_lines(&out, &["ok subprotocol chat", "ok no subprotocol"]);
}
