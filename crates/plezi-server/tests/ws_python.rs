//! Interop with the Python `websockets` client (tests/py/ws_client.py): text, unicode, binary,
//! ordered messages, fragmented sends, ping/pong, client close codes echoed, a server close code
//! seen by the client, subprotocol selection, and permessage-deflate (negotiated, compressed both
//! ways, fragmented, a small server window).

mod common;

use common::interop::{self, ExternalClient};
use common::tools::require_python_websockets;

const PYTHON_WEBSOCKETS: ExternalClient = ExternalClient {
    name: "python websockets",
    require: require_python_websockets,
    program: "python3",
    script: "py/ws_client.py",
};

#[test]
fn python_echo_text_binary_big_and_ordered() {
    interop::echo_text_binary_big_and_ordered(&PYTHON_WEBSOCKETS);
}

#[test]
fn python_fragmented_messages() {
    interop::fragmented_messages(&PYTHON_WEBSOCKETS);
}

#[test]
fn python_ping_pong() {
    interop::ping_pong(&PYTHON_WEBSOCKETS);
}

#[test]
fn python_client_close_codes_are_echoed() {
    interop::client_close_codes_are_echoed(&PYTHON_WEBSOCKETS);
}

#[test]
fn python_sees_server_close_code_4000() {
    interop::sees_server_close_code_4000(&PYTHON_WEBSOCKETS);
}

#[test]
fn python_subprotocol_selection() {
    interop::subprotocol_selection(&PYTHON_WEBSOCKETS);
}

#[test]
fn python_permessage_deflate() {
    interop::deflate(&PYTHON_WEBSOCKETS);
}
