//! What a WebSocket handler sees: messages, and why a connection closed.

use tungstenite::protocol::frame::coding::CloseCode;

/// A complete WebSocket message, borrowed from the connection's read buffer (or from the
/// decoder's reassembly buffer for a fragmented message). Copy what you keep.
///
/// ```
/// use plezi_server::{Message, WebSocket, WebSocketHandler};
///
/// struct Echo;
/// impl WebSocketHandler for Echo {
///     fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
///         let _ = match msg {
///             Message::Text(text) => ws.write_text(text),
///             Message::Binary(bytes) => ws.write_binary(bytes),
///         };
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message; always valid UTF-8.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// Why a connection closed (passed to `on_close`).
///
/// ```
/// use plezi_server::{CloseInfo, ConnId, Message, WebSocket, WebSocketHandler};
///
/// struct Logged;
/// impl WebSocketHandler for Logged {
///     fn on_message(&mut self, _ws: &mut WebSocket<'_>, _msg: Message<'_>) {}
///     fn on_close(&mut self, id: ConnId, info: &CloseInfo) {
///         match info.code {
///             Some(1000 | 1001) => {}
///             Some(code) => log::warn!("{id} closed with {code}: {}", info.reason),
///             None => log::warn!("{id} dropped without a close frame"),
///         }
///     }
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code from the close frame; `None` when the frame had no code or the
    /// connection ended without a close handshake.
    pub code: Option<u16>,
    /// The close reason from the close frame (empty if none).
    pub reason: String,
    /// True when this side (the server) sent the first close frame or dropped the connection.
    pub initiated_by_server: bool,
}

/// Whether `code` may appear in a close frame on the wire: 1000–1003, 1007–1013 and 3000–4999.
///
/// 1004, 1005, 1006 and 1015 are reserved for local use and never sent; other codes below 3000
/// are unassigned. (1012 "service restart" and 1013 "try again later" are registered with IANA
/// and accepted, as tungstenite does.)
pub(crate) fn is_valid_close_code(code: u16) -> bool {
    CloseCode::from(code).is_allowed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_ranges() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000,
            4999,
        ];
        for code in valid {
            assert!(is_valid_close_code(code), "{code} should be valid");
        }
        let invalid = [
            0,
            1,
            999,
            1004,
            1005,
            1006,
            1014,
            1015,
            1016,
            1100,
            2000,
            2999,
            5000,
            u16::MAX,
        ];
        for code in invalid {
            assert!(!is_valid_close_code(code), "{code} should be invalid");
        }
    }
}
