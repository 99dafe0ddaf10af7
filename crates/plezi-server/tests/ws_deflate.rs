//! permessage-deflate (RFC 7692) over raw TCP, with a client-side codec from `flate2`: what the
//! server answers to each offer, compressed messages both ways (whole and fragmented), the size
//! threshold, the inflated size under the message limit (a zip bomb gets 1009), bad compressed data
//! (1007) and RSV bits where they are not allowed (1002).

mod common;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use common::client::{close_payload, encode_frame, next_mask};
use common::{Client, Frame, STEP, TestServer, op};

const RSV1: u8 = 0x40;
const ANSWER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Raw DEFLATE with a sync flush, the 4-byte tail removed (RFC 7692 §7.2.1).
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    loop {
        out.reserve(data.len() / 2 + 64);
        let consumed = c.total_in() as usize;
        c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Inflates one compressed message as received (appending the tail, RFC 7692 §7.2.2).
fn inflate(data: &[u8], window_bits: u8) -> Vec<u8> {
    let mut d = Decompress::new_with_window_bits(false, window_bits.max(9));
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(data.len() * 8 + 1024);
    loop {
        let consumed = d.total_in() as usize;
        d.decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .unwrap();
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

/// A masked client frame with the given first byte (FIN, RSV, opcode) as sent.
fn raw_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = encode_frame(true, first & 0x0f, payload, Some(next_mask()));
    f[0] = first;
    f
}

/// Upgrades offering `offer` (if any); returns the client and the `Sec-WebSocket-Extensions`
/// answer (if any).
fn connect(s: &TestServer, offer: Option<&str>) -> (Client, Option<String>) {
    let mut c = s.client();
    let line = offer.map(|o| format!("Sec-WebSocket-Extensions: {o}"));
    let extra: Vec<&str> = line.iter().map(String::as_str).collect();
    let resp = c.ws_handshake("/ws", &extra);
    let ext = resp.header("sec-websocket-extensions").map(str::to_owned);
    (c, ext)
}

fn deflate_client(s: &TestServer) -> Client {
    let (c, ext) = connect(s, Some("permessage-deflate; client_max_window_bits"));
    assert_eq!(ext.as_deref(), Some(ANSWER));
    c
}

/// A compressible text of `len` bytes.
fn chat_text(len: usize) -> String {
    let base =
        "{\"event\":\"chat\",\"name\":\"ada\",\"message\":\"hello, how is everyone today?\"}\n";
    base.repeat(len / base.len() + 1)[..len].to_owned()
}

/// Reads one single-frame message: (RSV1 set, opcode, payload as sent on the wire).
fn read_one(c: &mut Client) -> Frame {
    let f = c.read_data_frame();
    assert!(f.fin, "expected a single-frame message: {f:?}");
    f
}

fn expect_close(c: &mut Client, code: u16, what: &str) {
    let f = c
        .read_until_close(STEP)
        .unwrap_or_else(|e| panic!("{what}: expected close {code}, got {e:?}"));
    assert_eq!(f.close_code(), Some(code), "{what}: {}", f.text());
    let _ = c.try_send(encode_frame(
        true,
        op::CLOSE,
        &close_payload(code, ""),
        Some(next_mask()),
    ));
    c.expect_eof(STEP);
}

#[test]
fn negotiation_matrix() {
    let s = TestServer::start();
    let cases: &[(Option<&str>, Option<&str>)] = &[
        (None, None),
        (Some("x-webkit-deflate-frame"), None),
        (Some("permessage-deflate"), Some(ANSWER)),
        // Chromium and Node `ws`
        (
            Some("permessage-deflate; client_max_window_bits"),
            Some(ANSWER),
        ),
        // Python websockets
        (
            Some("permessage-deflate; client_max_window_bits=12"),
            Some(ANSWER),
        ),
        (
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            Some(ANSWER),
        ),
        (
            Some("permessage-deflate; server_max_window_bits=10"),
            Some(&*Box::leak(
                format!("{ANSWER}; server_max_window_bits=10").into_boxed_str(),
            )),
        ),
        // Declined offers: value missing or out of range, a duplicate, an unknown parameter.
        (Some("permessage-deflate; server_max_window_bits"), None),
        (Some("permessage-deflate; client_max_window_bits=16"), None),
        (
            Some("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            None,
        ),
        (Some("permessage-deflate; foo=1"), None),
        // ...and the next offer taken instead.
        (
            Some("permessage-deflate; foo, permessage-deflate; server_max_window_bits=9"),
            Some(&*Box::leak(
                format!("{ANSWER}; server_max_window_bits=9").into_boxed_str(),
            )),
        ),
    ];
    for (offer, expected) in cases {
        let (mut c, ext) = connect(&s, *offer);
        assert_eq!(ext.as_deref(), *expected, "offer {offer:?}");
        // The connection works either way.
        c.send_text("hi");
        assert_eq!(c.expect_text(), "hi");
    }
    // Two headers: the first acceptable offer wins.
    let mut c = s.client();
    let resp = c.ws_handshake(
        "/ws",
        &[
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99",
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=11",
        ],
    );
    assert_eq!(
        resp.header("sec-websocket-extensions"),
        Some(format!("{ANSWER}; server_max_window_bits=11").as_str())
    );
}

#[test]
fn turned_off_it_is_never_negotiated_and_rsv1_is_1002() {
    let s = TestServer::with_config(|c| c.ws_deflate_threshold = None);
    let (mut c, ext) = connect(&s, Some("permessage-deflate"));
    assert_eq!(ext, None);
    c.send(raw_frame(0x80 | RSV1 | op::TEXT, &deflate(b"hello")));
    expect_close(&mut c, 1002, "RSV1 without negotiation");
}

#[test]
fn compressed_messages_both_ways_and_the_threshold() {
    let s = TestServer::with_config(|c| c.ws_deflate_threshold = Some(100));
    let mut c = deflate_client(&s);
    // A compressed text and a compressed binary message are inflated and echoed, compressed.
    let text = chat_text(5000);
    c.send(raw_frame(0x80 | RSV1 | op::TEXT, &deflate(text.as_bytes())));
    let f = read_one(&mut c);
    assert_eq!((f.opcode, f.rsv), (op::TEXT, 4), "{f:?}");
    assert!(f.payload.len() < 1000, "{} bytes", f.payload.len());
    assert_eq!(inflate(&f.payload, 15), text.as_bytes());
    let bin: Vec<u8> = (0..70_000u32).map(|i| (i % 7) as u8).collect();
    c.send(raw_frame(0x80 | RSV1 | op::BINARY, &deflate(&bin)));
    let f = read_one(&mut c);
    assert_eq!((f.opcode, f.rsv), (op::BINARY, 4));
    assert_eq!(inflate(&f.payload, 15), bin);
    // At the threshold: compressed; below it: sent plain (whether it came compressed or not).
    let at = chat_text(100);
    c.send_text(&at);
    let f = read_one(&mut c);
    assert_eq!(f.rsv, 4);
    assert_eq!(inflate(&f.payload, 15), at.as_bytes());
    let below = chat_text(99);
    c.send(raw_frame(
        0x80 | RSV1 | op::TEXT,
        &deflate(below.as_bytes()),
    ));
    let f = read_one(&mut c);
    assert_eq!((f.rsv, f.text()), (0, below.clone()));
    // Incompressible data over the threshold goes out compressed too (a few bytes bigger).
    let mut x = 88172645463325252u64;
    let noise: Vec<u8> = (0..4000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    c.send_binary(&noise);
    let f = read_one(&mut c);
    assert_eq!(f.rsv, 4);
    assert!(f.payload.len() <= noise.len() + 8);
    assert_eq!(inflate(&f.payload, 15), noise);
    // Uncompressed messages from the client are fine too; empty compressed message.
    c.send_text("plain");
    assert_eq!(c.expect_text(), "plain");
    c.send(raw_frame(0x80 | RSV1 | op::TEXT, &[0x00]));
    assert_eq!(c.expect_text(), "");
    // Control frames are never compressed: a ping gets a plain pong.
    c.send_frame(true, op::PING, &[b'p'; 120]);
    let f = c.read_frame();
    assert_eq!((f.opcode, f.rsv, f.payload.len()), (op::PONG, 0, 120));
    assert_eq!(c.close_handshake(1000).rsv, 0);
}

#[test]
fn server_max_window_bits_is_respected() {
    let s = TestServer::with_config(|c| c.ws_deflate_threshold = Some(0));
    // Data whose repeats are 300 bytes apart: a 15-bit window finds them, a 256-byte one cannot.
    let block: String = (0..300)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let text = block.repeat(40);
    for bits in [8u8, 9, 10, 15] {
        let offer = format!("permessage-deflate; server_max_window_bits={bits}");
        let (mut c, ext) = connect(&s, Some(&offer));
        assert_eq!(
            ext,
            Some(format!("{ANSWER}; server_max_window_bits={bits}")),
            "{offer}"
        );
        c.send_text(&text);
        let f = read_one(&mut c);
        assert_eq!(f.rsv, 4, "bits {bits}");
        // Inflating with exactly the promised window works (9 for 8: zlib's smallest raw window;
        // the compressor's distances stay under 256 then, see ws/deflate.rs).
        assert_eq!(inflate(&f.payload, bits), text.as_bytes(), "bits {bits}");
    }
}

#[test]
fn fragmented_compressed_message_with_a_ping_between() {
    let s = TestServer::start();
    let mut c = deflate_client(&s);
    let text = chat_text(20_000);
    let z = deflate(text.as_bytes());
    let (a, rest) = z.split_at(z.len() / 3);
    let (b, d) = rest.split_at(rest.len() / 2);
    c.send(raw_frame(RSV1 | op::TEXT, a));
    c.send(raw_frame(op::CONT, b));
    c.send(raw_frame(0x80 | op::PING, b"mid"));
    let pong = c.read_frame();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (op::PONG, &b"mid"[..])
    );
    c.send(raw_frame(0x80 | op::CONT, d));
    let f = read_one(&mut c);
    assert_eq!(inflate(&f.payload, 15), text.as_bytes());
    // Compressed fragments of single bytes, then an uncompressed fragmented message after it.
    let small = deflate(chat_text(300).as_bytes());
    c.send(raw_frame(RSV1 | op::BINARY, &small[..1]));
    for byte in &small[1..small.len() - 1] {
        c.send(raw_frame(op::CONT, std::slice::from_ref(byte)));
    }
    c.send(raw_frame(0x80 | op::CONT, &small[small.len() - 1..]));
    let f = read_one(&mut c);
    assert_eq!(
        (f.opcode, inflate(&f.payload, 15)),
        (op::BINARY, chat_text(300).into_bytes())
    );
    c.send(raw_frame(op::TEXT, b"plain "));
    c.send(raw_frame(0x80 | op::CONT, b"again"));
    assert_eq!(c.expect_text(), "plain again");
}

#[test]
fn zip_bomb_is_1009_whole_or_fragmented() {
    let s = TestServer::with_config(|c| c.ws_max_message_bytes = 64 * 1024);
    let bomb = deflate(&vec![0u8; 10 << 20]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let mut c = deflate_client(&s);
    c.send(raw_frame(0x80 | RSV1 | op::BINARY, &bomb));
    expect_close(&mut c, 1009, "whole bomb");
    let mut c = deflate_client(&s);
    let (a, b) = bomb.split_at(bomb.len() / 2);
    c.send(raw_frame(RSV1 | op::TEXT, a));
    c.send(raw_frame(0x80 | op::CONT, b));
    expect_close(&mut c, 1009, "fragmented bomb");
    // Just under the limit inflates fine.
    let mut c = deflate_client(&s);
    let ok = vec![b'z'; 64 * 1024];
    c.send(raw_frame(0x80 | RSV1 | op::TEXT, &deflate(&ok)));
    let f = read_one(&mut c);
    assert_eq!(inflate(&f.payload, 15), ok);
    // One byte over is not.
    let over = vec![b'z'; 64 * 1024 + 1];
    c.send(raw_frame(0x80 | RSV1 | op::TEXT, &deflate(&over)));
    expect_close(&mut c, 1009, "one byte over");
}

#[test]
fn bad_compressed_data_and_bad_utf8_inside_are_1007() {
    let s = TestServer::start();
    let mut c = deflate_client(&s);
    c.send(raw_frame(
        0x80 | RSV1 | op::BINARY,
        &[0xff, 0xff, 0xff, 0xff, 0xff],
    ));
    expect_close(&mut c, 1007, "bad deflate data");
    let mut c = deflate_client(&s);
    c.send(raw_frame(
        0x80 | RSV1 | op::TEXT,
        &deflate(&[b'a', 0xc0, 0x80, b'b']),
    ));
    expect_close(&mut c, 1007, "invalid UTF-8 inside");
}

#[test]
fn rsv_bits_where_they_are_not_allowed_are_1002() {
    let s = TestServer::start();
    // Without negotiation.
    let mut c = s.ws("/ws");
    c.send(raw_frame(0x80 | RSV1 | op::TEXT, &deflate(b"hello")));
    expect_close(&mut c, 1002, "RSV1 without an offer");
    let cases: [(&str, Vec<Vec<u8>>); 4] = [
        (
            "RSV1 on a continuation",
            vec![
                raw_frame(RSV1 | op::TEXT, &deflate(b"ab")),
                raw_frame(0x80 | RSV1 | op::CONT, b"c"),
            ],
        ),
        (
            "RSV1 on a ping",
            vec![raw_frame(0x80 | RSV1 | op::PING, b"")],
        ),
        (
            "RSV1 on a close",
            vec![raw_frame(0x80 | RSV1 | op::CLOSE, b"")],
        ),
        (
            "RSV2 on a text frame",
            vec![raw_frame(0x80 | 0x20 | op::TEXT, b"x")],
        ),
    ];
    for (what, frames) in cases {
        let mut c = deflate_client(&s);
        for f in frames {
            c.send(f);
        }
        expect_close(&mut c, 1002, what);
    }
}
