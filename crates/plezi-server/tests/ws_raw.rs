//! WebSocket behaviour over raw TCP with hand-made frames: upgrade checks (426, 400), subprotocol
//! selection, protocol errors (1002), invalid UTF-8 (1007), the message-size limit (1009), ping/pong,
//! fragmentation, the close handshake, and the server's idle ping.

mod common;

use std::time::Duration;

use common::client::{close_payload, encode_frame, upgrade_request};
use common::{Client, Event, STEP, TestServer, op};

/// Reads until a close frame, checks its code, answers it, and expects the server to hang up.
fn expect_close(c: &mut Client, code: u16, what: &str) {
    let f = c
        .read_until_close(STEP)
        .unwrap_or_else(|e| panic!("{what}: expected close {code}, got {e:?}"));
    assert_eq!(f.close_code(), Some(code), "{what}: close frame {f:?}");
    let _ = c.try_send(encode_frame(
        true,
        op::CLOSE,
        &close_payload(code, ""),
        Some([1, 2, 3, 4]),
    ));
    c.expect_eof(STEP);
}

#[test]
fn echoes_text_and_binary_of_all_length_encodings() {
    let s = TestServer::start();
    let mut c = s.ws("/ws");
    c.send_text("hello");
    assert_eq!(c.expect_text(), "hello");
    c.send_text("");
    assert_eq!(c.expect_text(), "");
    c.send_text("héllo wörld ✓ 🚀");
    assert_eq!(c.expect_text(), "héllo wörld ✓ 🚀");
    for len in [125usize, 126, 127, 65_535, 65_536, 300_000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        c.send_binary(&data);
        let (opcode, got) = c.read_message();
        assert_eq!(opcode, op::BINARY);
        assert!(
            got == data,
            "binary echo of {len} bytes differs (got {} bytes)",
            got.len()
        );
    }
    let f = c.close_handshake(1000);
    assert_eq!(f.close_code(), Some(1000));
}

#[test]
fn version_8_is_426_with_supported_version() {
    let s = TestServer::start();
    let mut c = s.client();
    let req = upgrade_request("/ws", &[])
        .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
    c.send(req);
    let resp = c.read_response();
    assert_eq!(resp.status, 426, "{resp:?}");
    assert_eq!(
        resp.header("sec-websocket-version").map(str::trim),
        Some("13"),
        "{resp:?}"
    );
}

#[test]
fn bad_or_missing_key_is_400() {
    let s = TestServer::start();
    for key_line in [
        "Sec-WebSocket-Key: short",
        "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!",
        "",
    ] {
        let mut c = s.client();
        let mut req = upgrade_request("/ws", &[]).replace(
            &format!("Sec-WebSocket-Key: {}\r\n", common::client::WS_KEY),
            "",
        );
        if !key_line.is_empty() {
            req = req.replace("\r\n\r\n", &format!("\r\n{key_line}\r\n\r\n"));
        }
        c.send(req);
        let resp = c.read_response();
        assert_eq!(resp.status, 400, "key line {key_line:?}: {resp:?}");
    }
}

#[test]
fn subprotocol_selection() {
    let s = TestServer::start();
    let cases: [(&[&str], Option<&str>); 5] = [
        (&["Sec-WebSocket-Protocol: foo, chat"], Some("chat")),
        (
            &["Sec-WebSocket-Protocol: chat, superchat"],
            Some("superchat"),
        ),
        (
            &[
                "Sec-WebSocket-Protocol: foo",
                "Sec-WebSocket-Protocol: chat",
            ],
            Some("chat"),
        ),
        (&["Sec-WebSocket-Protocol: foo"], None),
        (&[], None),
    ];
    for (extra, want) in cases {
        let mut c = s.client();
        let resp = c.ws_handshake("/ws-proto", extra);
        assert_eq!(
            resp.header("sec-websocket-protocol"),
            want,
            "offer {extra:?}: {resp:?}"
        );
        c.send_text("after selection");
        assert_eq!(c.expect_text(), "after selection");
    }
}

#[test]
fn unmasked_client_frame_is_1002() {
    let s = TestServer::start();
    let mut c = s.ws("/ws");
    c.send(encode_frame(true, op::TEXT, b"not masked", None));
    expect_close(&mut c, 1002, "unmasked frame");
}

#[test]
fn protocol_errors_are_1002() {
    let s = TestServer::start();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "reserved opcode 3",
            encode_frame(true, 3, b"x", Some([9, 8, 7, 6])),
        ),
        (
            "reserved opcode 11",
            encode_frame(true, 11, b"", Some([9, 8, 7, 6])),
        ),
        ("RSV1 without extension", {
            let mut f = encode_frame(true, op::TEXT, b"x", Some([9, 8, 7, 6]));
            f[0] |= 0x40;
            f
        }),
        (
            "ping over 125 bytes",
            encode_frame(true, op::PING, &[b'p'; 126], Some([1, 1, 1, 1])),
        ),
        (
            "fragmented ping",
            encode_frame(false, op::PING, b"x", Some([1, 1, 1, 1])),
        ),
        (
            "continuation without start",
            encode_frame(true, op::CONT, b"x", Some([1, 1, 1, 1])),
        ),
        (
            "close with code 999",
            encode_frame(true, op::CLOSE, &close_payload(999, ""), Some([1, 2, 3, 4])),
        ),
        (
            "close with code 1005",
            encode_frame(
                true,
                op::CLOSE,
                &close_payload(1005, ""),
                Some([1, 2, 3, 4]),
            ),
        ),
        (
            "close with 1-byte payload",
            encode_frame(true, op::CLOSE, &[3], Some([1, 2, 3, 4])),
        ),
    ];
    for (what, bytes) in cases {
        let mut c = s.ws("/ws");
        c.send(bytes);
        expect_close(&mut c, 1002, what);
    }
    // A new text message while a fragmented one is open.
    let mut c = s.ws("/ws");
    c.send_frame(false, op::TEXT, b"part");
    c.send_frame(true, op::TEXT, b"new");
    expect_close(&mut c, 1002, "new message inside a fragmented one");
    assert_eq!(
        s.log.count(|e| matches!(e, Event::AfterClose(..))),
        0,
        "{}",
        s.log.describe()
    );
}

#[test]
fn invalid_utf8_is_1007() {
    let s = TestServer::start();
    let mut c = s.ws("/ws");
    c.send_frame(
        true,
        op::TEXT,
        &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xff, 0xfe],
    );
    expect_close(&mut c, 1007, "invalid UTF-8 text");

    // Invalid across fragments (a truncated sequence at the end of the message).
    let mut c = s.ws("/ws");
    c.send_frame(false, op::TEXT, b"ok so far ");
    c.send_frame(true, op::CONT, &[0xe2, 0x82]);
    expect_close(&mut c, 1007, "truncated UTF-8 in the last fragment");

    // A valid code point split across fragments is fine.
    let mut c = s.ws("/ws");
    let euro = "€".as_bytes();
    c.send_frame(false, op::TEXT, &euro[..1]);
    c.send_frame(true, op::CONT, &euro[1..]);
    assert_eq!(c.expect_text(), "€");

    // Invalid UTF-8 in a close reason.
    let mut c = s.ws("/ws");
    let mut payload = close_payload(1000, "");
    payload.extend_from_slice(&[0xff, 0xfe]);
    c.send_frame(true, op::CLOSE, &payload);
    expect_close(&mut c, 1007, "invalid UTF-8 close reason");
}

#[test]
fn message_over_limit_is_1009() {
    let s = TestServer::with_config(|c| c.ws_max_message_bytes = 1000);
    let mut c = s.ws("/ws");
    c.send_binary(&[7u8; 1000]);
    let (_, got) = c.read_message();
    assert_eq!(got.len(), 1000, "a message at the limit is accepted");
    c.send_binary(&[7u8; 2000]);
    expect_close(&mut c, 1009, "single frame over the limit");

    let mut c = s.ws("/ws");
    c.send_frame(false, op::BINARY, &[1u8; 400]);
    for _ in 0..5 {
        c.send_frame(false, op::CONT, &[1u8; 400]);
    }
    // The limit counts the whole message, not one frame.
    let _ = c.try_send(encode_frame(true, op::CONT, &[1u8; 10], Some([5, 5, 5, 5])));
    expect_close(&mut c, 1009, "fragmented message over the limit");
}

#[test]
fn frame_header_announcing_huge_length_is_1009_not_allocated() {
    let s = TestServer::with_config(|c| c.ws_max_message_bytes = 4096);
    let mut c = s.ws("/ws");
    // Claims 2^40 bytes, sends a few.
    let mut hdr = vec![0x82u8, 0x80 | 127];
    hdr.extend_from_slice(&(1u64 << 40).to_be_bytes());
    hdr.extend_from_slice(&[1, 2, 3, 4]);
    hdr.extend_from_slice(b"tiny");
    c.send(hdr);
    expect_close(&mut c, 1009, "frame header claiming 1 TiB");
    let mut ok = s.ws("/ws");
    ok.send_text("still alive");
    assert_eq!(ok.expect_text(), "still alive");
}

#[test]
fn ping_gets_pong_with_same_payload() {
    let s = TestServer::start();
    let mut c = s.ws("/ws");
    for payload in [&b""[..], b"abc", &[0xffu8; 125]] {
        c.send_frame(true, op::PING, payload);
        let f = c.read_frame();
        assert_eq!(f.opcode, op::PONG, "{f:?}");
        assert!(f.fin);
        assert_eq!(f.payload, payload);
    }
    // An unsolicited pong is ignored.
    c.send_frame(true, op::PONG, b"unsolicited");
    c.send_text("still here");
    assert_eq!(c.expect_text(), "still here");
}

#[test]
fn fragmented_message_is_reassembled_with_interleaved_ping() {
    let s = TestServer::start();
    let mut c = s.ws("/ws");
    c.send_frame(false, op::TEXT, b"frag");
    c.send_frame(false, op::CONT, b"men");
    c.send_frame(true, op::PING, b"in between");
    c.send_frame(false, op::CONT, b"ted ");
    c.send_frame(true, op::CONT, b"message");
    let pong = c.read_frame();
    assert_eq!(
        pong.opcode,
        op::PONG,
        "the pong must come before the echo: {pong:?}"
    );
    assert_eq!(pong.payload, b"in between");
    let (opcode, msg) = c.read_message();
    assert_eq!(opcode, op::TEXT);
    assert_eq!(msg, b"fragmented message");
    assert_eq!(
        s.log.count(|e| matches!(e, Event::Message(..))),
        1,
        "one on_message for one fragmented message"
    );

    c.send_frame(false, op::BINARY, &[1, 2]);
    c.send_frame(false, op::CONT, &[]);
    c.send_frame(true, op::CONT, &[3]);
    let (opcode, msg) = c.read_message();
    assert_eq!((opcode, msg), (op::BINARY, vec![1, 2, 3]));
}

#[test]
fn frames_split_across_tcp_writes() {
    let s = TestServer::start();
    let mut c = s.ws("/ws");
    let bytes = encode_frame(
        true,
        op::TEXT,
        "byte by byte".as_bytes(),
        Some([3, 1, 4, 1]),
    );
    for b in bytes {
        c.send([b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.expect_text(), "byte by byte");
    // And several frames in one write.
    let mut many = Vec::new();
    for i in 0..50 {
        many.extend(encode_frame(
            true,
            op::TEXT,
            format!("m{i}").as_bytes(),
            Some([i, 2, 3, 4]),
        ));
    }
    c.send(many);
    for i in 0..50 {
        assert_eq!(c.expect_text(), format!("m{i}"));
    }
}

#[test]
fn close_handshake_echoes_the_code() {
    let s = TestServer::start();
    for code in [1000u16, 1001, 3000, 4001] {
        let mut c = s.ws("/ws");
        let f = c.close_handshake(code);
        assert_eq!(f.close_code(), Some(code), "server's close reply {f:?}");
    }
    // Empty close payload: the reply has no code or 1000.
    let mut c = s.ws("/ws");
    c.send_frame(true, op::CLOSE, &[]);
    let f = c.read_until_close(STEP).expect("close reply");
    assert!(matches!(f.close_code(), None | Some(1000)), "{f:?}");
    c.expect_eof(STEP);
    s.log.wait_for("5 on_close", STEP, |ev| {
        ev.iter().filter(|e| matches!(e, Event::Close(..))).count() == 5
    });
    let closes: Vec<_> = s.log.closes();
    for (code, by_server) in &closes[..4] {
        assert!(
            !by_server,
            "client-initiated close reported as server-initiated: {closes:?}"
        );
        assert!(code.is_some(), "{closes:?}");
    }
    assert_eq!(
        s.log.count(|e| matches!(e, Event::AfterClose(..))),
        0,
        "{}",
        s.log.describe()
    );
}

#[test]
fn server_initiated_close_sends_the_code() {
    let s = TestServer::start();
    let mut c = s.ws("/ws-close?code=4000");
    let f = c.read_until_close(STEP).expect("close from server");
    assert_eq!(f.close_code(), Some(4000));
    assert_eq!(String::from_utf8_lossy(&f.payload[2..]), "closing as asked");
    c.send_close(4000, "");
    c.expect_eof(STEP);
    let (ids, _) = opened(&s);
    let (code, by_server) = s.log.wait_close(ids[0], STEP);
    assert_eq!(code, Some(4000));
    assert!(by_server, "server close reported as client-initiated");

    // Close from inside on_message; later frames from the client are ignored.
    let mut c = s.ws("/ws");
    c.send_text("close:4002");
    c.send_text("ignored after close");
    let f = c.read_until_close(STEP).expect("close from server");
    assert_eq!(f.close_code(), Some(4002));
    c.send_close(4002, "");
    c.expect_eof(STEP);
}

fn opened(s: &TestServer) -> (Vec<plezi_server::ConnId>, Vec<String>) {
    s.log
        .snapshot()
        .into_iter()
        .filter_map(|e| match e {
            Event::Open(id, p) => Some((id, p)),
            _ => None,
        })
        .unzip()
}

#[test]
fn abrupt_disconnect_runs_on_close_once() {
    let s = TestServer::start();
    let c = s.ws("/ws");
    drop(c);
    let mut c2 = s.ws("/ws");
    c2.send_frame(false, op::TEXT, b"half a message");
    drop(c2);
    s.log.wait_for("2 on_close", STEP, |ev| {
        ev.iter().filter(|e| matches!(e, Event::Close(..))).count() == 2
    });
    let (ids, _) = opened(&s);
    assert_eq!(ids.len(), 2);
    assert!(common::wait_until(STEP, || s.handle.websocket_count() == 0));
    assert_eq!(
        s.log.count(|e| matches!(e, Event::AfterClose(..))),
        0,
        "{}",
        s.log.describe()
    );
}

#[test]
fn idle_connection_is_pinged_then_closed_when_silent() {
    let s = TestServer::with_config(|c| c.ws_idle_ping = Duration::from_millis(300));
    let mut c = s.ws("/ws");
    let f = c.read_frame();
    assert_eq!(f.opcode, op::PING, "expected an idle ping, got {f:?}");
    // Stay silent: the server gives up on us.
    match c.read_until_close(STEP) {
        Ok(close) => {
            let _ = c.try_send(encode_frame(
                true,
                op::CLOSE,
                &close.payload,
                Some([1, 2, 3, 4]),
            ));
            c.expect_eof(STEP);
        }
        Err(common::client::ReadErr::Eof) => {}
        Err(e) => panic!("silent peer was not disconnected: {e:?}"),
    }
    let (ids, _) = opened(&s);
    s.log.wait_close(ids[0], STEP);
}

#[test]
fn idle_connection_answering_pings_stays_open() {
    let s = TestServer::with_config(|c| c.ws_idle_ping = Duration::from_millis(500));
    let mut c = s.ws("/ws");
    let start = std::time::Instant::now();
    let mut pings = 0;
    // Answer every ping (within a fraction of the period) for about five periods.
    while start.elapsed() < Duration::from_millis(2500) {
        match c.try_read_frame(Duration::from_millis(50)) {
            Ok(f) if f.opcode == op::PING => {
                pings += 1;
                c.send_frame(true, op::PONG, &f.payload);
            }
            Ok(f) => panic!("unexpected frame while idle: {f:?}"),
            Err(common::client::ReadErr::Timeout) => {}
            Err(e) => panic!("connection closed although pings were answered: {e:?}"),
        }
    }
    assert!(pings >= 2, "expected repeated idle pings, got {pings}");
    c.send_text("alive");
    loop {
        let f = c.read_frame();
        if f.opcode == op::PING {
            c.send_frame(true, op::PONG, &f.payload);
            continue;
        }
        assert_eq!(f.text(), "alive");
        break;
    }
}

#[test]
fn data_after_upgrade_request_in_same_write_is_processed() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut bytes = upgrade_request("/ws", &[]).into_bytes();
    bytes.extend(encode_frame(true, op::TEXT, b"eager", Some([1, 2, 3, 4])));
    c.send(bytes);
    let resp = c.read_head_response();
    assert_eq!(resp.status, 101);
    assert_eq!(c.expect_text(), "eager");
}

#[test]
fn websocket_count_follows_connections() {
    let s = TestServer::start();
    let clients: Vec<Client> = (0..5).map(|_| s.ws("/ws")).collect();
    assert!(
        common::wait_until(STEP, || s.handle.websocket_count() == 5),
        "count {}",
        s.handle.websocket_count()
    );
    drop(clients);
    assert!(
        common::wait_until(STEP, || s.handle.websocket_count() == 0),
        "count {}",
        s.handle.websocket_count()
    );
}

#[test]
fn backpressure_with_pending_and_on_drained() {
    // 400 frames of 64 KiB (25 MiB, far over the 1 MiB outbound cap) written by a handler that
    // stops at 256 KiB pending and resumes in on_drained: all arrive, nothing is closed.
    let s = TestServer::start();
    let mut c = s.ws("/ws");
    c.send_text("flood:400");
    for i in 0..400 {
        let f = c.read_data_frame();
        assert_eq!(
            (f.opcode, f.payload.len()),
            (op::BINARY, common::FLOOD_FRAME),
            "frame {i}"
        );
    }
    assert_eq!(c.expect_text(), "flood done");
    assert!(
        s.log.count(|e| matches!(e, Event::Drained(_))) >= 1,
        "on_drained never ran although the queue filled up"
    );
    c.send_text("after flood");
    assert_eq!(c.expect_text(), "after flood");
}
