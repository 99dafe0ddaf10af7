//! A broadcast is compressed once for every receiver that negotiated permessage-deflate with the
//! same window, shared byte for byte, and sent plain to the others. One test alone in this file:
//! it reads the process-wide count of compressions, which other tests would move.

mod common;

use flate2::{Decompress, FlushDecompress};
use plezi_server::ws::deflated_messages;
use plezi_server::{Filter, SharedFrame};

use common::{Client, TestServer};

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = vec![0; 1 << 20];
    d.decompress(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out.truncate(d.total_out() as usize);
    out
}

fn connect(s: &TestServer, offer: Option<&str>) -> Client {
    let mut c = s.client();
    let line = offer.map(|o| format!("Sec-WebSocket-Extensions: {o}"));
    let extra: Vec<&str> = line.iter().map(String::as_str).collect();
    let resp = c.ws_handshake("/ws", &extra);
    assert_eq!(
        resp.header("sec-websocket-extensions").is_some(),
        offer.is_some()
    );
    c
}

#[test]
fn a_broadcast_is_compressed_once_per_window_size() {
    // Four loops, so the receivers are spread over threads that race to compress.
    let s = TestServer::start_with(common::Options {
        threads: 4,
        ..common::Options::default()
    });
    let mut deflating: Vec<Client> = (0..12)
        .map(|_| connect(&s, Some("permessage-deflate; client_max_window_bits")))
        .collect();
    let mut small_window: Vec<Client> = (0..3)
        .map(|_| connect(&s, Some("permessage-deflate; server_max_window_bits=10")))
        .collect();
    let mut plain: Vec<Client> = (0..3).map(|_| connect(&s, None)).collect();
    // Every connection is open on its loop once it answers an echo.
    for c in deflating
        .iter_mut()
        .chain(&mut small_window)
        .chain(&mut plain)
    {
        c.send_text("ready");
        assert_eq!(c.expect_text(), "ready");
    }

    let text = "{\"event\":\"chat\",\"message\":\"the same words again and again\"} ".repeat(40);
    let before = deflated_messages();
    s.handle.broadcast(SharedFrame::text(&text), Filter::all());

    let first = deflating[0].read_data_frame();
    assert_eq!(first.rsv, 4, "compressed: {first:?}");
    assert!(first.payload.len() < text.len() / 4);
    assert_eq!(inflate(&first.payload), text.as_bytes());
    for c in &mut deflating[1..] {
        let f = c.read_data_frame();
        assert_eq!((f.rsv, &f.payload), (4, &first.payload), "the same bytes");
    }
    let windowed = small_window[0].read_data_frame();
    assert_eq!(windowed.rsv, 4);
    assert_eq!(inflate(&windowed.payload), text.as_bytes());
    for c in &mut small_window[1..] {
        assert_eq!(c.read_data_frame().payload, windowed.payload);
    }
    for c in &mut plain {
        let f = c.read_data_frame();
        assert_eq!((f.rsv, f.text()), (0, text.clone()));
    }
    // 15 receivers that negotiated, two window sizes: two compressions.
    assert_eq!(deflated_messages() - before, 2);

    // A broadcast under the threshold is not compressed at all.
    let before = deflated_messages();
    s.handle
        .broadcast(SharedFrame::text("short"), Filter::all());
    for c in deflating
        .iter_mut()
        .chain(&mut small_window)
        .chain(&mut plain)
    {
        let f = c.read_data_frame();
        assert_eq!((f.rsv, f.text()), (0, "short".to_owned()));
    }
    assert_eq!(deflated_messages(), before);
}
