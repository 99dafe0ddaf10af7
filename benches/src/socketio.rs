//! Socket.IO 4 over its WebSocket transport (Engine.IO v4) for `plezi-load socketio`, against the peer in
//! `benches/peers/socketio/` (`socket.broadcast.emit`, the same fan-out as plezi's chat example).
//!
//! Engine.IO packets are text frames whose first character is the type: `0` open (the server's first
//! frame, with `sid`, `pingInterval`...), `2` ping (answered `3`), `4` message. Socket.IO packets ride in
//! messages: `40` connect to the default namespace (answered `40{"sid":...}`), `42[...]` event,
//! `43<id>[...]` acknowledgement.
//!
//! - Every client sends `40` after the upgrade and is ready once the server's `40{...}` arrives.
//! - A sender writes `421["chat",{"message":M}]` (event with ack id 1); the server broadcasts
//!   `42["chat",{"from":SID,"message":M}]` to every other socket, then acknowledges with `431[]`.
//! - Listeners read payloads (a ping is a text frame too; it must be answered or the server drops the
//!   connection after `pingInterval + pingTimeout`).

use crate::room::{Frame, Protocol, message_text};
use crate::ws;

/// Socket.IO 4 chat.
pub struct SocketIo;

impl Protocol for SocketIo {
    const NAME: &'static str = "socketio";
    const USAGE: &'static str = "\
plezi-load socketio: chat-room fan-out against a Socket.IO 4 server (benches/peers/socketio/server.js).

usage:
  plezi-load socketio [--url ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket] [--clients 1000]
                      [--senders 1] [--in-flight 1] [--payload 64] [--duration 10] [--warmup 2]
                      [--sample-every 16] [--batch-us 100] [--listener-read-ms 10] [--server-pid PID]
                      [--label NAME] [--sources 8] [--connect-timeout 60] [--drain 5]

Each `chat` event goes to every other socket (clients - 1 deliveries); the options mean what they mean
for `plezi-load broadcast`. Prints one human line and one JSON line.";
    const NEEDS_READY: bool = true;
    const LISTENERS_READ_DATA: bool = true;

    fn hello(out: &mut Vec<u8>) {
        ws::encode_masked(ws::OP_TEXT, b"40", out);
    }

    fn classify(payload: &[u8]) -> Frame {
        match payload {
            [b'4', b'2', ..] => Frame::Delivery,
            [b'4', b'3', ..] => Frame::Done,
            [b'4', b'0', ..] => Frame::Ready,
            [b'2'] => Frame::Answer(b"3"),
            _ => Frame::Other,
        }
    }

    fn encode_chat(sent_ns: u64, payload_len: usize, text: &mut Vec<u8>, out: &mut Vec<u8>) {
        text.clear();
        text.extend_from_slice(br#"421["chat",{"message":""#);
        message_text(sent_ns, payload_len, text);
        text.extend_from_slice(br#""}]"#);
        ws::encode_masked(ws::OP_TEXT, text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_io_and_socket_io_packets_are_told_apart() {
        assert_eq!(
            SocketIo::classify(br#"0{"sid":"a","pingInterval":25000}"#),
            Frame::Other
        );
        assert_eq!(SocketIo::classify(br#"40{"sid":"b"}"#), Frame::Ready);
        assert_eq!(
            SocketIo::classify(br#"42["chat",{"from":"b","message":"1x"}]"#),
            Frame::Delivery
        );
        assert_eq!(SocketIo::classify(b"431[]"), Frame::Done);
        assert_eq!(SocketIo::classify(b"2"), Frame::Answer(b"3"));
    }

    #[test]
    fn a_chat_event_asks_for_an_ack() {
        let (mut text, mut out) = (Vec::new(), Vec::new());
        SocketIo::encode_chat(7, 24, &mut text, &mut out);
        assert_eq!(
            std::str::from_utf8(&text).expect("utf8"),
            r#"421["chat",{"message":"00000000000000000007xxxx"}]"#
        );
    }
}
