//! The chat protocol of plezi's `examples/chat.rs` (JSON auto-dispatch at `/chat`) for `plezi-load chat`.
//!
//! - A sender writes `{"event":"chat","message":M}` and, pipelined behind it, `{"event":"echo"}`. The
//!   server runs the `chat` handler (every *other* chat connection gets
//!   `{"event":"chat","from":UUID,"message":M}`) before it reads the `echo`, so the echo's reply says
//!   the broadcast was made.
//! - Every data frame a listener gets is a delivery (listeners count frame headers only).

use crate::room::{Frame, Protocol, message_text};
use crate::ws;

/// plezi's auto-dispatch chat.
pub struct Chat;

impl Protocol for Chat {
    const NAME: &'static str = "chat";
    const USAGE: &'static str = "\
plezi-load chat: chat-room fan-out against plezi's examples/chat.rs (auto-dispatch `chat` event).

usage:
  plezi-load chat [--url ws://127.0.0.1:3000/chat] [--clients 1000] [--senders 1] [--in-flight 1]
                  [--payload 64] [--duration 10] [--warmup 2] [--sample-every 16] [--batch-us 100]
                  [--listener-read-ms 10] [--server-pid PID] [--label NAME] [--sources 8]
                  [--connect-timeout 60] [--drain 5]

Each chat message goes to every other client (clients - 1 deliveries); the options mean what they mean
for `plezi-load broadcast`. Prints one human line and one JSON line.";
    const NEEDS_READY: bool = false;
    const LISTENERS_READ_DATA: bool = false;

    fn hello(_out: &mut Vec<u8>) {}

    fn classify(payload: &[u8]) -> Frame {
        if payload.starts_with(br#"{"event":"chat""#)
            || ws::find(payload, br#""event":"chat""#).is_some()
        {
            Frame::Delivery
        } else if ws::find(payload, br#""event":"echo""#).is_some() {
            Frame::Done
        } else {
            Frame::Other
        }
    }

    fn encode_chat(sent_ns: u64, payload_len: usize, text: &mut Vec<u8>, out: &mut Vec<u8>) {
        text.clear();
        text.extend_from_slice(br#"{"event":"chat","message":""#);
        message_text(sent_ns, payload_len, text);
        text.extend_from_slice(br#""}"#);
        ws::encode_masked(ws::OP_TEXT, text, out);
        ws::encode_masked(ws::OP_TEXT, br#"{"event":"echo"}"#, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_told_apart() {
        assert_eq!(
            Chat::classify(br#"{"event":"chat","from":"u","message":"1x"}"#),
            Frame::Delivery
        );
        assert_eq!(Chat::classify(br#"{"event":"echo"}"#), Frame::Done);
        assert_eq!(
            Chat::classify(br#"{"event":"_ack_","_EID_":1}"#),
            Frame::Other
        );
    }

    #[test]
    fn a_chat_message_is_followed_by_an_echo() {
        let (mut text, mut out) = (Vec::new(), Vec::new());
        Chat::encode_chat(5, 30, &mut text, &mut out);
        assert_eq!(
            std::str::from_utf8(&text).expect("utf8"),
            r#"{"event":"chat","message":"00000000000000000005xxxxxxxxxx"}"#
        );
        // Two masked text frames: 2 + 4 header bytes each (payloads under 126 bytes).
        assert_eq!(out.len(), 6 + text.len() + 6 + br#"{"event":"echo"}"#.len());
    }
}

#[cfg(test)]
mod end_to_end {
    use plezi_dispatch::{Controller, Ctx, Dispatcher, Events, Routes, SendError, events};
    use plezi_messaging::{Bus, BusConfig};
    use plezi_server::Server;
    use serde_json::{Value, json};

    use super::Chat;
    use crate::args::{Command, parse};
    use crate::report::Value as Field;
    use crate::room::run;

    /// The chat of `examples/chat.rs`, reduced to the two events the load uses.
    #[derive(Default)]
    struct Room;

    impl Room {
        fn chat(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<Option<Value>, SendError> {
            if cx.is_delivery() {
                return Ok(Some(msg));
            }
            let chat = json!({"event": "chat", "from": cx.id(), "message": msg["message"]});
            cx.broadcast("chat", chat)?;
            Ok(None)
        }

        fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
            msg
        }
    }

    impl Controller for Room {
        fn events() -> Events<Self> {
            events![ws chat => Room::chat, ws echo => Room::echo]
        }
    }

    fn int(report: &crate::report::Report, name: &str) -> u64 {
        match report.get(name) {
            Some(Field::Int(n)) => *n,
            other => panic!("{name}: {other:?}"),
        }
    }

    /// A one-thread chat server on a free port with `bus`: its `ws://` URL and the running server.
    fn chat_server(bus: Bus) -> (String, plezi_server::RunningServer) {
        let mut routes = Routes::new();
        routes
            .controller("/chat", Room::default)
            .expect("the route");
        let app = Dispatcher::new(routes, bus);
        let server = Server::builder()
            .bind("127.0.0.1:0")
            .threads(1)
            .service(app.service())
            .build()
            .expect("the server binds");
        app.attach(server.handle());
        let url = format!("ws://{}/chat", server.local_addr());
        (url, server.spawn().expect("the server starts"))
    }

    fn chat_run(urls: &[String]) -> crate::report::Report {
        let me = std::process::id();
        let mut argv = format!(
            "broadcast --clients 40 --senders 2 --in-flight 2 --duration 0.6 --warmup 0.2 \
             --sample-every 4 --server-pid {me}"
        );
        for url in urls {
            argv.push_str(&format!(" --url {url}"));
        }
        let argv: Vec<String> = argv.split_whitespace().map(String::from).collect();
        let Ok(Command::Broadcast(common, cfg)) = parse(&argv) else {
            panic!("args")
        };
        run::<Chat>(&common, &cfg).expect("run")
    }

    fn check(report: &crate::report::Report) {
        assert!(int(report, "deliveries") > 39, "{}", report.human_line());
        assert_eq!(int(report, "lost"), 0, "{}", report.human_line());
        assert_eq!(int(report, "unreadable_samples"), 0);
        assert!(int(report, "latency_samples") > 0);
    }

    #[test]
    fn counts_every_delivery_of_a_plezi_chat() {
        let (url, server) = chat_server(Bus::in_process(BusConfig::default()));
        check(&chat_run(&[url]));
        server.stop().expect("the server stops");
    }

    /// Clients split over two servers sharing a real Redis: every message reaches the other server's
    /// clients too (a message only one server delivered would be counted lost).
    #[test]
    fn counts_every_delivery_across_two_servers() {
        let redis = plezi_test_support::redis::RedisServer::start();
        let config = BusConfig {
            app_name: "loadtest".into(),
            ..BusConfig::default()
        };
        let buses: Vec<Bus> = (0..2)
            .map(|_| Bus::redis(config.clone(), &redis.url()).expect("the bus"))
            .collect();
        plezi_test_support::wait::eventually("both buses on Redis", || {
            buses
                .iter()
                .all(|b| b.state().connected && b.state().peers >= 2)
                .then_some(())
        });
        let (servers, urls): (Vec<_>, Vec<_>) = buses
            .iter()
            .map(|b| {
                let (url, server) = chat_server(b.clone());
                (server, url)
            })
            .unzip();
        let report = chat_run(&urls);
        check(&report);
        let published: u64 = buses.iter().map(|b| b.state().published).sum();
        assert!(published > 0, "the chat went through Redis");
        for server in servers {
            server.stop().expect("the server stops");
        }
    }
}
