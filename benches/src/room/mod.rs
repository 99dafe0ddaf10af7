//! `plezi-load chat` and `plezi-load socketio`: a chat room's fan-out. N clients, S of them senders with
//! K chat messages in flight each; every message goes to every *other* client (N − 1 deliveries), as in
//! plezi's `examples/chat.rs` (auto-dispatch `chat` event) and the Socket.IO 4 peer
//! (`socket.broadcast.emit`).
//!
//! The protocols ([`Protocol`]: [`crate::chat`], [`crate::socketio`]) differ in framing only; the run is
//! the one of `plezi-load broadcast` (same options, warm-up, window, drain, listener sweeps, pacing,
//! latency sampling and CPU figures), so a chat run and a shootout `broadcast` run on the same machine
//! compare deliveries per second like for like. A sender's next message goes out when the server says
//! the previous one was broadcast: the reply to a second event pipelined after the chat message (plezi:
//! an `echo`, answered after the `chat` handler ran), or the Socket.IO acknowledgement (called after
//! `broadcast.emit`). Like the shootout's `broadcastResult`, that is when the fan-out was queued, not
//! when every client has it.
//!
//! This module holds the protocol interface and the command line; [`run()`] (in `run.rs`) drives the load.

mod run;

use std::process::ExitCode;

use crate::args::{self, BroadcastConfig, Common};
use crate::report::Report;
use crate::ws;

pub use run::run;

/// What one server data frame is, for a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A chat message delivered to this client.
    Delivery,
    /// The sender's answer: its last chat message was broadcast.
    Done,
    /// The connection is ready to chat (Socket.IO: the namespace connect was accepted).
    Ready,
    /// Must be answered with this text frame (Engine.IO ping → pong).
    Answer(&'static [u8]),
    /// Anything else (Engine.IO open packet, acknowledgements...).
    Other,
}

/// A chat protocol over WebSocket.
pub trait Protocol {
    /// The scenario's name in the output.
    const NAME: &'static str;
    /// Usage text of the subcommand.
    const USAGE: &'static str;
    /// Whether clients must wait for a [`Frame::Ready`] after sending [`Protocol::hello`].
    const NEEDS_READY: bool;
    /// Whether listeners must see payloads (false: every data frame they get is a delivery, so
    /// they count frame headers only).
    const LISTENERS_READ_DATA: bool;

    /// Appends the frames a client sends once the WebSocket is open (may be none).
    fn hello(out: &mut Vec<u8>);

    /// What a server data frame with this payload is.
    fn classify(payload: &[u8]) -> Frame;

    /// Appends the masked frames of one chat message whose text starts with the send time `sent_ns`
    /// (20 digits) padded with `x` to `payload_len` characters, plus whatever makes the server answer
    /// once it was broadcast. `text` is scratch space.
    fn encode_chat(sent_ns: u64, payload_len: usize, text: &mut Vec<u8>, out: &mut Vec<u8>);
}

/// The message text: the send time in 20 digits, padded with `x` to `len` characters.
pub fn message_text(sent_ns: u64, len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{sent_ns:020}").as_bytes());
    out.resize(out.len() + len.saturating_sub(20), b'x');
}

/// The send time carried by a delivered message (the digits after `"message":"`).
pub fn sent_ns(payload: &[u8]) -> Option<u64> {
    let at = ws::find(payload, b"\"message\":\"")? + 11;
    let rest = &payload[at..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Runs subcommand `chat` or `socketio` if `argv` names one (prints its report; the exit code).
pub fn main(argv: &[String]) -> Option<ExitCode> {
    let (name, rest) = argv.split_first()?;
    let run: fn(&Common, &BroadcastConfig) -> Result<Report, String> = match name.as_str() {
        "chat" => run::<crate::chat::Chat>,
        "socketio" => run::<crate::socketio::SocketIo>,
        _ => return None,
    };
    let usage = match name.as_str() {
        "chat" => crate::chat::Chat::USAGE,
        _ => crate::socketio::SocketIo::USAGE,
    };
    if rest.iter().any(|a| matches!(a.as_str(), "-h" | "--help")) {
        println!("{usage}");
        return Some(ExitCode::SUCCESS);
    }
    // The options are those of `broadcast`; only the defaults of --url differ.
    let mut args = vec!["broadcast".to_owned()];
    if !rest.iter().any(|a| a == "--url") {
        args.extend(["--url".to_owned(), default_url(name).to_owned()]);
    }
    args.extend(rest.iter().cloned());
    let (common, cfg) = match args::parse(&args) {
        Ok(args::Command::Broadcast(common, cfg)) => (common, cfg),
        Ok(_) => return Some(ExitCode::from(2)),
        Err(e) => {
            eprintln!("plezi-load {name}: {e}\n\n{usage}");
            return Some(ExitCode::from(2));
        }
    };
    if cfg.clients < 2 {
        eprintln!(
            "plezi-load {name}: --clients must be at least 2 (a chat needs someone to hear it)"
        );
        return Some(ExitCode::from(2));
    }
    Some(match run(&common, &cfg) {
        Ok(report) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", report.human_line());
            let _ = writeln!(out, "{}", report.json_line());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("plezi-load {name}: {e}");
            ExitCode::FAILURE
        }
    })
}

fn default_url(name: &str) -> &'static str {
    match name {
        "chat" => "ws://127.0.0.1:3000/chat",
        _ => "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket",
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_send_time() {
        let mut text = Vec::new();
        message_text(987_654_321, 64, &mut text);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with(b"00000000000987654321xxx"));
        let delivered = br#"{"event":"chat","from":"x","message":"00000000000987654321xxxx"}"#;
        assert_eq!(sent_ns(delivered), Some(987_654_321));
        assert_eq!(
            sent_ns(br#"42["chat",{"from":"a","message":"42xx"}]"#),
            Some(42)
        );
        assert_eq!(sent_ns(br#"{"event":"chat","message":""}"#), None);
    }
}
