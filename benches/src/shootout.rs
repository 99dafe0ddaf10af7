//! The websocket-shootout messages, as bytes: what clients send and the few facts read back from what
//! the server sends (only on sampled clients and senders; everything else is counted by frame headers).
//!
//! Payloads are JSON strings that start with 20 digits — the send time in nanoseconds on the tool's
//! clock — so a sampled receiver knows when its copy was sent, padded to the requested size with
//! words picked from a short list by a generator seeded with that time: text that compresses about as
//! well as a chat message does (a run of one letter would make permessage-deflate look far better).

use crate::ws;

/// Smallest payload: the 20 timestamp digits.
pub const MIN_PAYLOAD: usize = 20;

/// Appends the masked frame of `{"type":KIND,"payload":"<sent_ns><x...>"}` to `out`, with a payload
/// of `payload_len` characters.
pub fn encode_message(
    kind: &str,
    sent_ns: u64,
    payload_len: usize,
    text: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    text.clear();
    text.extend_from_slice(b"{\"type\":\"");
    text.extend_from_slice(kind.as_bytes());
    text.extend_from_slice(b"\",\"payload\":\"");
    text.extend_from_slice(format!("{sent_ns:020}").as_bytes());
    pad_with_words(sent_ns, payload_len.saturating_sub(MIN_PAYLOAD), text);
    text.extend_from_slice(b"\"}");
    ws::encode_masked(ws::OP_TEXT, text, out);
}

/// Words of the padding (no digits, quotes or backslashes: the payload stays a plain JSON string).
const WORDS: [&str; 32] = [
    "hello", "there", "how", "is", "everyone", "doing", "today", "the", "meeting", "moved", "to",
    "three", "o'clock", "see", "you", "in", "room", "please", "bring", "your", "notes", "and", "a",
    "coffee", "thanks", "great", "idea", "let's", "ship", "it", "tomorrow", "ok",
];

/// Appends exactly `len` bytes of space-separated words, chosen by a generator seeded with `seed`.
fn pad_with_words(seed: u64, len: usize, text: &mut Vec<u8>) {
    let end = text.len() + len;
    let mut x = seed | 1;
    while text.len() < end {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let word = WORDS[(x >> 59) as usize].as_bytes();
        text.push(b' ');
        text.extend_from_slice(word);
    }
    text.truncate(end);
}

/// The send time carried by a message's payload (the digits after `"payload":"`).
pub fn sent_ns(message: &[u8]) -> Option<u64> {
    let at = ws::find(message, b"\"payload\"")? + 9;
    let rest = &message[at..];
    let rest = &rest[rest.iter().position(|&b| b == b'"')? + 1..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// True for a `broadcastResult` message.
pub fn is_broadcast_result(message: &[u8]) -> bool {
    ws::find(message, b"broadcastResult").is_some()
}

/// The `listenCount` of a `broadcastResult` message.
pub fn listen_count(message: &[u8]) -> Option<u64> {
    let at = ws::find(message, b"\"listenCount\"")? + 13;
    let rest = &message[at..];
    let rest = &rest[rest.iter().position(|b| b.is_ascii_digit())?..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_send_time() {
        let (mut text, mut frame) = (Vec::new(), Vec::new());
        encode_message("broadcast", 123_456_789, 64, &mut text, &mut frame);
        let s = std::str::from_utf8(&text).expect("utf8");
        assert_eq!(s.len(), r#"{"type":"broadcast","payload":""}"#.len() + 64);
        assert!(
            s.starts_with(r#"{"type":"broadcast","payload":"00000000000123456789 "#),
            "{s}"
        );
        assert!(s.ends_with("\"}"));
        assert_eq!(sent_ns(&text), Some(123_456_789));
        assert_eq!(
            sent_ns(br#"{"payload": "42x","type":"broadcast"}"#),
            Some(42)
        );
        assert_eq!(sent_ns(br#"{"type":"broadcast"}"#), None);
        assert!(!is_broadcast_result(&text));
    }

    #[test]
    fn broadcast_results_are_recognised() {
        let m = br#"{"type":"broadcastResult","payload":"000001x","listenCount":1000}"#;
        assert!(is_broadcast_result(m));
        assert_eq!(listen_count(m), Some(1000));
        assert_eq!(
            listen_count(br#"{"listenCount": 7,"type":"broadcastResult"}"#),
            Some(7)
        );
        assert_eq!(sent_ns(m), Some(1));
    }
}
