//! Interop with the Node `ws` client (tests/node/ws_client.js): text, unicode, binary,
//! ordered messages, fragmented sends, ping/pong, client close codes echoed, a server close code
//! seen by the client, subprotocol selection, and permessage-deflate (negotiated, compressed both
//! ways, fragmented, a small server window).

mod common;

use common::interop::{self, ExternalClient};
use common::tools::require_node_ws;

const NODE_WS: ExternalClient = ExternalClient {
    name: "node ws",
    require: require_node_ws,
    program: "node",
    script: "node/ws_client.js",
};

#[test]
fn node_echo_text_binary_big_and_ordered() {
    interop::echo_text_binary_big_and_ordered(&NODE_WS);
}

#[test]
fn node_fragmented_messages() {
    interop::fragmented_messages(&NODE_WS);
}

#[test]
fn node_ping_pong() {
    interop::ping_pong(&NODE_WS);
}

#[test]
fn node_client_close_codes_are_echoed() {
    interop::client_close_codes_are_echoed(&NODE_WS);
}

#[test]
fn node_sees_server_close_code_4000() {
    interop::sees_server_close_code_4000(&NODE_WS);
}

#[test]
fn node_subprotocol_selection() {
    interop::subprotocol_selection(&NODE_WS);
}

#[test]
fn node_permessage_deflate() {
    interop::deflate(&NODE_WS);
}
