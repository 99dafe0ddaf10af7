//! Decoder tests, driven by a tiny client-frame builder (masked frames, any header bits).

use super::*;
use crate::ws::client_frames::*;
use crate::ws::encode::{
    binary_frame, close_frame, encode_frame, ping_frame, pong_frame, text_frame,
};

const MAX: usize = 1 << 20;

/// An owned copy of a [`WsEvent`], to compare runs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

fn own(e: WsEvent<'_>) -> Ev {
    match e {
        WsEvent::Message(Message::Text(s)) => Ev::Text(s.to_string()),
        WsEvent::Message(Message::Binary(b)) => Ev::Binary(b.to_vec()),
        WsEvent::Ping(p) => Ev::Ping(p.to_vec()),
        WsEvent::Pong(p) => Ev::Pong(p.to_vec()),
        WsEvent::Close { code, reason } => Ev::Close(code, reason.to_string()),
    }
}

/// What a connection would see: the events, the first error, and the bytes left unconsumed.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Ev>,
    error: Option<ProtocolError>,
    leftover: usize,
}

/// Feeds `input` cut at `cuts` (ascending offsets), keeping unconsumed bytes like a read buffer.
fn run_cut(max: usize, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut decoder = Decoder::new(max);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        match decoder.decode(&mut buf, &mut |e| events.push(own(e))) {
            Ok(n) => {
                buf.drain(..n);
            }
            Err(error) => {
                return Outcome {
                    events,
                    error: Some(error),
                    leftover: buf.len(),
                };
            }
        }
    }
    Outcome {
        events,
        error: None,
        leftover: buf.len(),
    }
}

fn run(input: &[u8]) -> Outcome {
    run_cut(MAX, input, &[])
}

fn error_of(input: &[u8]) -> ProtocolError {
    let outcome = run(input);
    outcome
        .error
        .unwrap_or_else(|| panic!("expected an error, got {:?}", outcome.events))
}

fn code_of(input: &[u8]) -> u16 {
    error_of(input).close_code
}

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// Checks that `input` gives the same outcome however its bytes arrive: whole, cut at every single
/// position, and one byte at a time.
fn assert_split_invariant(max: usize, input: &[u8]) -> Outcome {
    let whole = run_cut(max, input, &[]);
    for cut in 0..=input.len() {
        assert_eq!(run_cut(max, input, &[cut]), whole, "cut at {cut}");
    }
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(run_cut(max, input, &bytewise), whole, "byte by byte");
    whole
}

fn mixed_session() -> (Vec<u8>, Vec<Ev>) {
    let clef = "𝄞".as_bytes();
    let binary300: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
    let input = concat(&[
        frame(FIN | TEXT, b"Hello"),
        frame(FIN | BINARY, &binary300),
        frame(FIN | PING, b"are you there"),
        // "h\u{e9}llo \u{1d11e}!" in three fragments, cut inside é and inside the 4-byte clef,
        // with a ping and a pong between fragments.
        frame(TEXT, &[b'h', 0xC3]),
        frame(FIN | PING, b""),
        frame(CONT, &[&[0xA9][..], b"llo ", &clef[..2]].concat()),
        frame(FIN | PONG, b"pong"),
        frame(FIN | CONT, &[&clef[2..], b"!"].concat()),
        frame(BINARY, b""),
        frame(FIN | CONT, &[1, 2, 3]),
        frame(FIN | TEXT, b""),
        frame(FIN | CLOSE, &close_payload(1000, b"bye")),
    ]);
    let events = vec![
        Ev::Text("Hello".into()),
        Ev::Binary(binary300),
        Ev::Ping(b"are you there".to_vec()),
        Ev::Ping(vec![]),
        Ev::Pong(b"pong".to_vec()),
        Ev::Text("héllo 𝄞!".into()),
        Ev::Binary(vec![1, 2, 3]),
        Ev::Text(String::new()),
        Ev::Close(Some(1000), "bye".into()),
    ];
    (input, events)
}

#[test]
fn mixed_session_gives_the_same_events_at_every_byte_split() {
    let (input, expected) = mixed_session();
    let outcome = assert_split_invariant(MAX, &input);
    assert_eq!(
        outcome,
        Outcome {
            events: expected,
            error: None,
            leftover: 0
        }
    );
}

#[test]
fn every_pair_of_cuts_in_a_fragmented_text_message() {
    let input = concat(&[
        frame(TEXT, "κό".as_bytes()),
        frame(FIN | PING, b"x"),
        frame(FIN | CONT, "σμε𝄞".as_bytes()),
    ]);
    let expected = run(&input);
    assert_eq!(
        expected.events,
        [Ev::Ping(b"x".to_vec()), Ev::Text("κόσμε𝄞".into())]
    );
    for a in 0..=input.len() {
        for b in a..=input.len() {
            assert_eq!(run_cut(MAX, &input, &[a, b]), expected, "cuts {a} {b}");
        }
    }
}

#[test]
fn incomplete_frame_is_not_consumed() {
    let f = frame(FIN | TEXT, b"Hello");
    let mut decoder = Decoder::new(MAX);
    let mut buf = f[..f.len() - 1].to_vec();
    let mut events = 0;
    assert_eq!(decoder.decode(&mut buf, &mut |_| events += 1), Ok(0));
    assert_eq!(events, 0);
    assert_eq!(decoder.decode(&mut [], &mut |_| events += 1), Ok(0));
}

#[test]
fn unfragmented_messages_are_delivered_without_copying() {
    let mut input = concat(&[frame(FIN | TEXT, b"abc"), frame(FIN | BINARY, b"def")]);
    let range = input.as_ptr_range();
    let mut decoder = Decoder::new(MAX);
    let mut inside = Vec::new();
    let consumed = decoder
        .decode(&mut input, &mut |e| {
            if let WsEvent::Message(m) = e {
                let ptr = match m {
                    Message::Text(s) => s.as_ptr(),
                    Message::Binary(b) => b.as_ptr(),
                };
                inside.push(range.contains(&ptr));
            }
        })
        .expect("valid frames");
    assert_eq!(consumed, input.len());
    assert_eq!(inside, [true, true]);
}

#[test]
fn decoder_is_small_and_frees_the_reassembly_buffer() {
    assert!(
        std::mem::size_of::<Decoder>() <= 48,
        "{}",
        std::mem::size_of::<Decoder>()
    );
    let mut decoder = Decoder::new(MAX);
    assert_eq!(decoder.fragments.capacity(), 0);
    let mut first = frame(BINARY, &[7; 1000]);
    decoder
        .decode(&mut first, &mut |_| {})
        .expect("first fragment");
    assert_eq!(decoder.buffered_bytes(), 1000);
    let mut last = frame(FIN | CONT, &[8; 10]);
    let mut got = 0;
    decoder
        .decode(&mut last, &mut |e| got = own(e).clone_len())
        .expect("last fragment");
    assert_eq!(got, 1010);
    assert_eq!(decoder.buffered_bytes(), 0);
    assert_eq!(
        decoder.fragments.capacity(),
        0,
        "buffer must be freed, not kept"
    );
}

impl Ev {
    fn clone_len(&self) -> usize {
        match self {
            Ev::Text(s) => s.len(),
            Ev::Binary(b) | Ev::Ping(b) | Ev::Pong(b) => b.len(),
            Ev::Close(_, r) => r.len(),
        }
    }
}

#[test]
fn unmasked_client_frame_is_1002() {
    let e = error_of(&[FIN | TEXT, 0x02, b'h', b'i']);
    assert_eq!(e.close_code, 1002);
    assert!(e.reason.contains("masked"));
}

#[test]
fn reserved_bits_are_1002() {
    for rsv in [0x40, 0x20, 0x10, 0x70] {
        assert_eq!(
            code_of(&frame(FIN | rsv | TEXT, b"x")),
            1002,
            "rsv {rsv:#x}"
        );
        assert_eq!(
            code_of(&frame(FIN | rsv | PING, b"")),
            1002,
            "rsv {rsv:#x} on ping"
        );
    }
}

#[test]
fn reserved_opcodes_are_1002() {
    for op in (3..=7).chain(11..=15) {
        assert_eq!(code_of(&frame(FIN | op, b"")), 1002, "opcode {op}");
    }
}

#[test]
fn header_errors_are_found_from_the_first_two_bytes() {
    for bad in [
        [FIN | 0x40 | TEXT, 0x85],
        [FIN | 3, 0x80],
        [FIN | TEXT, 0x05],
        [PING, 0x80],
        [FIN | PING, 0x80 | 126],
    ] {
        assert_eq!(
            Decoder::new(MAX)
                .decode(&mut bad.clone(), &mut |_| {})
                .map_err(|e| e.close_code),
            Err(1002)
        );
    }
}

#[test]
fn control_frame_rules() {
    assert_eq!(code_of(&frame(FIN | PING, &[0; 126])), 1002);
    assert_eq!(code_of(&frame(FIN | PONG, &[0; 126])), 1002);
    assert_eq!(code_of(&frame(FIN | CLOSE, &[3; 126])), 1002);
    assert_eq!(
        code_of(&frame(PING, b"")),
        1002,
        "control frames must have FIN"
    );
    assert_eq!(
        run(&frame(FIN | PING, &[5; 125])).events,
        [Ev::Ping(vec![5; 125])]
    );
}

#[test]
fn fragmentation_order_errors() {
    assert_eq!(
        code_of(&frame(FIN | CONT, b"x")),
        1002,
        "continuation without a message"
    );
    assert_eq!(code_of(&frame(CONT, b"x")), 1002);
    assert_eq!(
        code_of(&concat(&[frame(TEXT, b"a"), frame(FIN | TEXT, b"b")])),
        1002
    );
    assert_eq!(
        code_of(&concat(&[frame(BINARY, b"a"), frame(FIN | BINARY, b"b")])),
        1002
    );
    assert_eq!(
        code_of(&concat(&[frame(TEXT, b"a"), frame(BINARY, b"b")])),
        1002
    );
    // A finished message leaves nothing to continue.
    assert_eq!(
        code_of(&concat(&[
            frame(TEXT, b"a"),
            frame(FIN | CONT, b"b"),
            frame(FIN | CONT, b"c")
        ])),
        1002
    );
    let outcome = run(&concat(&[
        frame(TEXT, b"a"),
        frame(FIN | CONT, b"b"),
        frame(FIN | CONT, b"c"),
    ]));
    assert_eq!(
        outcome.events,
        [Ev::Text("ab".into())],
        "events before the error are delivered"
    );
}

#[test]
fn binary_fragments_with_interleaved_controls() {
    let input = concat(&[
        frame(BINARY, &[1]),
        frame(FIN | PING, b"a"),
        frame(CONT, &[2]),
        frame(FIN | PONG, b"b"),
        frame(FIN | CONT, &[3]),
    ]);
    let outcome = assert_split_invariant(MAX, &input);
    assert_eq!(
        outcome.events,
        [
            Ev::Ping(b"a".to_vec()),
            Ev::Pong(b"b".to_vec()),
            Ev::Binary(vec![1, 2, 3])
        ]
    );
}

#[test]
fn invalid_utf8_text_is_1007() {
    assert_eq!(code_of(&frame(FIN | TEXT, &[b'a', 0xFF])), 1007);
    assert_eq!(
        code_of(&frame(FIN | TEXT, &[0xED, 0xA0, 0x80])),
        1007,
        "surrogate"
    );
    assert_eq!(
        code_of(&frame(FIN | TEXT, &[0xE2, 0x82])),
        1007,
        "truncated at the end"
    );
    // Invalid UTF-8 is fine in a binary message.
    assert_eq!(
        run(&frame(FIN | BINARY, &[0xFF])).events,
        [Ev::Binary(vec![0xFF])]
    );
}

#[test]
fn code_point_split_across_fragments_is_valid() {
    let clef = "𝄞".as_bytes();
    for cut in 1..4 {
        let input = concat(&[frame(TEXT, &clef[..cut]), frame(FIN | CONT, &clef[cut..])]);
        assert_eq!(run(&input).events, [Ev::Text("𝄞".into())], "cut {cut}");
    }
    let three = concat(&[
        frame(TEXT, &clef[..1]),
        frame(CONT, &clef[1..3]),
        frame(FIN | CONT, &clef[3..]),
    ]);
    assert_eq!(run(&three).events, [Ev::Text("𝄞".into())]);
}

#[test]
fn message_ending_inside_a_code_point_is_1007() {
    let clef = "𝄞".as_bytes();
    assert_eq!(
        code_of(&concat(&[
            frame(TEXT, b"ok"),
            frame(FIN | CONT, &clef[..3])
        ])),
        1007
    );
}

#[test]
fn invalid_utf8_in_fragment_1_of_3_fails_before_fragment_2() {
    // Autobahn 6.4.1: the error must come with the fragment that contains it.
    let mut decoder = Decoder::new(MAX);
    let mut first = frame(TEXT, &[0xCE, 0xBA, 0xF4, 0x90, 0x80, 0x80]);
    let mut events = 0;
    let result = decoder.decode(&mut first, &mut |_| events += 1);
    assert_eq!(result.map_err(|e| e.close_code), Err(1007));
    assert_eq!(events, 0);
    // Autobahn 6.4.1 exactly: a valid first fragment, the invalid sequence in the second.
    let mut decoder = Decoder::new(MAX);
    let mut part1 = frame(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    assert_eq!(decoder.decode(&mut part1, &mut |_| {}), Ok(part1.len()));
    let mut part2 = frame(CONT, b"\xf4\x90\x80\x80");
    assert_eq!(
        decoder
            .decode(&mut part2, &mut |_| {})
            .map_err(|e| e.close_code),
        Err(1007)
    );
}

#[test]
fn invalid_utf8_fails_before_its_frame_is_complete() {
    // Autobahn 6.4.3: one text frame sent in three chops; the second chop holds the bad bytes.
    let part1 = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    let part2 = b"\xf4\x90\x80\x80";
    let part3 = b"edited";
    let whole = frame(FIN | TEXT, &[&part1[..], part2, part3].concat());
    let cut1 = 6 + part1.len();
    let cut2 = cut1 + part2.len();
    let mut decoder = Decoder::new(MAX);
    let mut buf = whole[..cut1].to_vec();
    assert_eq!(
        decoder.decode(&mut buf, &mut |_| {}),
        Ok(0),
        "first chop is valid so far"
    );
    buf.extend_from_slice(&whole[cut1..cut2]);
    assert_eq!(
        decoder
            .decode(&mut buf, &mut |_| {})
            .map_err(|e| e.close_code),
        Err(1007)
    );
    // The same bytes in one go give the same error.
    assert_eq!(code_of(&whole), 1007);
}

#[test]
fn valid_text_frame_arriving_in_chops_is_delivered_once_and_intact() {
    let text = "κόσμε 𝄞 ".repeat(50);
    let input = concat(&[
        frame(FIN | TEXT, text.as_bytes()),
        frame(FIN | TEXT, b"next"),
    ]);
    let outcome = assert_split_invariant(MAX, &input);
    assert_eq!(outcome.events, [Ev::Text(text), Ev::Text("next".into())]);
}

#[test]
fn oversized_frame_is_1009_from_its_header_alone() {
    let max = 1000;
    let e = run_cut(max, &header_only(FIN | BINARY, 1001), &[]);
    assert_eq!(e.error.map(|e| e.close_code), Some(1009));
    // A 1 GB announcement: refused without waiting for (or buffering) the payload.
    let e = run_cut(max, &header_only(FIN | TEXT, 1 << 30), &[]);
    assert_eq!(e.error.map(|e| e.close_code), Some(1009));
    // Exactly the limit is fine.
    let ok = run_cut(max, &frame(FIN | BINARY, &[0; 1000]), &[]);
    assert_eq!(ok.events, [Ev::Binary(vec![0; 1000])]);
}

#[test]
fn fragments_adding_up_past_the_limit_are_1009() {
    let max = 1000;
    let mut decoder = Decoder::new(max);
    let mut first = frame(BINARY, &[0; 600]);
    assert_eq!(decoder.decode(&mut first, &mut |_| {}), Ok(first.len()));
    let mut second = header_only(CONT, 401);
    assert_eq!(
        decoder
            .decode(&mut second, &mut |_| {})
            .map_err(|e| e.close_code),
        Err(1009)
    );
    let exact = concat(&[
        frame(TEXT, &[b'a'; 600]),
        frame(FIN | PING, b""),
        frame(FIN | CONT, &[b'b'; 400]),
    ]);
    assert_eq!(run_cut(max, &exact, &[]).events.len(), 2);
    // Control frames do not count towards the limit.
    assert_eq!(
        run_cut(0, &frame(FIN | PING, b"abc"), &[]).events,
        [Ev::Ping(b"abc".to_vec())]
    );
}

#[test]
fn sixty_four_bit_length_with_top_bit_is_1002() {
    let mut header = vec![FIN | BINARY, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 63).to_be_bytes());
    let e = error_of(&header);
    assert_eq!(e.close_code, 1002);
    // u64::MAX also has the top bit set.
    let mut header = vec![FIN | BINARY, 0x80 | 127];
    header.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(code_of(&header), 1002);
}

#[test]
fn sixteen_and_sixty_four_bit_lengths() {
    for len in [125usize, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let input = frame(FIN | BINARY, &payload);
        let expected_header = match len {
            0..=125 => 6,
            126..=65535 => 8,
            _ => 14,
        };
        assert_eq!(input.len(), expected_header + len);
        let outcome = run_cut(MAX, &input, &[1, 3, 9, 13, len / 2]);
        assert_eq!(
            outcome,
            Outcome {
                events: vec![Ev::Binary(payload)],
                error: None,
                leftover: 0
            },
            "len {len}"
        );
    }
}

#[test]
fn close_payload_rules() {
    assert_eq!(
        run(&frame(FIN | CLOSE, b"")).events,
        [Ev::Close(None, String::new())]
    );
    assert_eq!(
        code_of(&frame(FIN | CLOSE, &[0x03])),
        1002,
        "1-byte payload"
    );
    for code in [
        0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_eq!(
            code_of(&frame(FIN | CLOSE, &close_payload(code, b""))),
            1002,
            "code {code}"
        );
    }
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        assert_eq!(
            run(&frame(FIN | CLOSE, &close_payload(code, b""))).events,
            [Ev::Close(Some(code), String::new())]
        );
    }
    assert_eq!(
        code_of(&frame(
            FIN | CLOSE,
            &close_payload(1000, &[0xCE, 0xBA, 0xF4, 0x90])
        )),
        1007
    );
    let reason = "é".repeat(61) + "x";
    assert_eq!(
        run(&frame(FIN | CLOSE, &close_payload(1000, reason.as_bytes()))).events,
        [Ev::Close(Some(1000), reason)]
    );
}

#[test]
fn everything_after_a_close_is_ignored() {
    let input = concat(&[
        frame(FIN | TEXT, b"a"),
        frame(FIN | CLOSE, &close_payload(1001, b"")),
        frame(FIN | TEXT, b"after"),
        vec![0xFF, 0xFF],
    ]);
    let mut decoder = Decoder::new(MAX);
    let mut buf = input.clone();
    let mut events = Vec::new();
    assert_eq!(
        decoder.decode(&mut buf, &mut |e| events.push(own(e))),
        Ok(input.len())
    );
    assert_eq!(
        events,
        [Ev::Text("a".into()), Ev::Close(Some(1001), String::new())]
    );
    let mut late = frame(FIN | TEXT, b"late");
    let late_len = late.len();
    assert_eq!(
        decoder.decode(&mut late, &mut |_| panic!("no events after close")),
        Ok(late_len)
    );
}

#[test]
fn close_inside_a_fragmented_message_drops_it() {
    let input = concat(&[
        frame(TEXT, b"half"),
        frame(FIN | CLOSE, &close_payload(1000, b"")),
    ]);
    assert_eq!(run(&input).events, [Ev::Close(Some(1000), String::new())]);
}

#[test]
fn encoded_frames_round_trip_through_the_decoder() {
    let long_text = "plezi ".repeat(20_000);
    let long_binary: Vec<u8> = (0..70_000).map(|i| (i % 256) as u8).collect();
    let server_frames = [
        text_frame("hello"),
        text_frame(&long_text),
        binary_frame(&long_binary),
        binary_frame(&[]),
        ping_frame(b"ping"),
        pong_frame(b"pong"),
        encode_frame_vec(OpCode::Data(Data::Text), false, b"frag"),
        encode_frame_vec(OpCode::Data(Data::Continue), true, b"ment"),
        close_frame(4000, "custom"),
    ];
    let input: Vec<u8> = server_frames
        .iter()
        .flat_map(|f| mask_server_frame(f))
        .collect();
    let outcome = run_cut(MAX, &input, &[3, 100, 50_000, 120_000, 190_000]);
    assert_eq!(
        outcome,
        Outcome {
            events: vec![
                Ev::Text("hello".into()),
                Ev::Text(long_text),
                Ev::Binary(long_binary),
                Ev::Binary(vec![]),
                Ev::Ping(b"ping".to_vec()),
                Ev::Pong(b"pong".to_vec()),
                Ev::Text("fragment".into()),
                Ev::Close(Some(4000), "custom".into()),
            ],
            error: None,
            leftover: 0,
        }
    );
}

fn encode_frame_vec(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(opcode, fin, payload, &mut out);
    out
}

#[test]
fn next_frame_len_reports_the_whole_frame_size() {
    let decoder = Decoder::new(MAX);
    let f = frame(FIN | BINARY, &[0; 300]);
    assert_eq!(decoder.next_frame_len(&f[..1]), None);
    assert_eq!(
        decoder.next_frame_len(&f[..7]),
        None,
        "mask key not complete"
    );
    assert_eq!(decoder.next_frame_len(&f[..8]), Some(308));
    assert_eq!(
        decoder.next_frame_len(&header_only(FIN | BINARY, 1 << 40)),
        Some((1usize << 40) + 14)
    );
    assert_eq!(
        decoder.next_frame_len(&[FIN | TEXT, 0x01]),
        None,
        "invalid (unmasked)"
    );
}

#[test]
fn error_display_says_what_happened() {
    let e = error_of(&frame(FIN | TEXT, &[0xFF]));
    assert_eq!(
        e.to_string(),
        "WebSocket protocol violation by the peer: text is not valid UTF-8 (close code 1007)"
    );
}
