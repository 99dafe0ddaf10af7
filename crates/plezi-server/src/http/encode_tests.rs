use super::*;
use crate::http::{Body, FileBody, HttpError};

/// Encodes and returns the head as text with the Date value replaced by `<date>`.
fn head(resp: &Response, is_head: bool, keep_alive: bool, minor: u8) -> (String, EncodedHead) {
    let mut out = Vec::new();
    let info = encode_response_head(resp, is_head, keep_alive, minor, &mut out);
    let text = String::from_utf8(out).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    for line in &mut lines {
        if let Some(date) = line.strip_prefix("Date: ") {
            assert!(date::parse_imf(date).is_some(), "bad date {date}");
            *line = "Date: <date>".to_owned();
        }
    }
    (lines.join("\r\n"), info)
}

#[test]
fn small_200() {
    let (text, info) = head(&Response::text(200, "hello"), false, true, 1);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    assert_eq!(
        info,
        EncodedHead {
            framing: Framing::Length(5),
            keep_alive: true
        }
    );
}

#[test]
fn head_gets_the_length_but_no_body() {
    let (text, info) = head(&Response::text(200, "hello"), true, true, 1);
    assert!(text.contains("Content-Length: 5\r\n"));
    assert_eq!(info.framing, Framing::NoBody);
}

#[test]
fn no_length_for_204_304_1xx() {
    for status in [204, 304, 100, 103] {
        let (text, info) = head(&Response::new(status), false, true, 1);
        assert!(!text.contains("Content-Length"), "{status}: {text}");
        assert!(!text.contains("Transfer-Encoding"), "{status}");
        assert_eq!(info.framing, Framing::NoBody);
    }
    let (text, _) = head(&Response::new(200), false, false, 1);
    assert!(
        text.contains("Content-Length: 0\r\nConnection: close\r\n"),
        "{text}"
    );
}

#[test]
fn streams_are_chunked_or_close_delimited() {
    let resp = Response::new(200).body(Body::stream(std::io::empty()));
    let (text, info) = head(&resp, false, true, 1);
    assert!(
        text.contains("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"),
        "{text}"
    );
    assert_eq!(
        info,
        EncodedHead {
            framing: Framing::Chunked,
            keep_alive: true
        }
    );

    let (text, info) = head(&resp, false, true, 0);
    assert!(!text.contains("Transfer-Encoding"));
    assert!(text.contains("Connection: close\r\n"));
    assert_eq!(
        info,
        EncodedHead {
            framing: Framing::UntilClose,
            keep_alive: false
        }
    );

    // HEAD of a stream to an HTTP/1.0 client keeps the connection.
    let (_, info) = head(&resp, true, true, 0);
    assert_eq!(
        info,
        EncodedHead {
            framing: Framing::NoBody,
            keep_alive: true
        }
    );
}

#[test]
fn file_bodies_have_their_length() {
    let path = std::env::temp_dir().join(format!("plezi-encode-{}", std::process::id()));
    std::fs::write(&path, b"0123456789").unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let resp = Response::new(206).body(FileBody::new(f, 2, 4));
    let (text, info) = head(&resp, false, true, 1);
    assert!(text.starts_with("HTTP/1.1 206 Partial Content\r\n"));
    assert!(text.contains("Content-Length: 4\r\n"));
    assert_eq!(info.framing, Framing::Length(4));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn framing_headers_from_the_app_are_ignored() {
    let resp = Response::text(200, "abc")
        .header("Content-Length", "999")
        .header("Transfer-Encoding", "chunked")
        .header("Connection", "keep-alive")
        .header("X-Ok", "1");
    let (text, _) = head(&resp, false, true, 1);
    assert!(text.contains("Content-Length: 3\r\n"));
    assert!(!text.contains("999") && !text.contains("chunked"));
    assert_eq!(text.matches("Connection").count(), 1);
    assert!(text.contains("X-Ok: 1\r\n"));
}

#[test]
fn connection_close_from_the_app_wins() {
    let resp = Response::new(200).header("Connection", "Close");
    let (text, info) = head(&resp, false, true, 1);
    assert!(text.contains("Connection: close\r\n"));
    assert!(!info.keep_alive);

    let (text, info) = head(&HttpError::HeaderTooLarge.response(), false, true, 1);
    assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(text.contains("Connection: close\r\n"));
    assert!(!info.keep_alive);
}

#[test]
fn app_date_replaces_ours() {
    let resp = Response::new(200).header("Date", "Thu, 01 Jan 1970 00:00:00 GMT");
    let mut out = Vec::new();
    encode_head(&resp, false, true, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("Date:").count(), 1);
    assert!(text.contains("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
}

#[test]
fn switching_protocols_is_verbatim() {
    let resp = Response::new(101)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let (text, info) = head(&resp, false, true, 1);
    assert_eq!(
        text,
        "HTTP/1.1 101 Switching Protocols\r\nDate: <date>\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    assert_eq!(
        info,
        EncodedHead {
            framing: Framing::NoBody,
            keep_alive: true
        }
    );
}

#[test]
fn unknown_status_has_an_empty_reason() {
    let (text, _) = head(&Response::new(599), false, true, 1);
    assert!(text.starts_with("HTTP/1.1 599 \r\n"));
}

#[test]
fn the_encoded_head_parses_back() {
    let resp = Response::json(201, b"{\"a\":1}".to_vec()).header("Set-Cookie", "a=1");
    let mut out = Vec::new();
    encode_head(&resp, false, true, &mut out);
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut headers);
    assert_eq!(
        parsed.parse(&out),
        Ok(httparse::Status::Complete(out.len()))
    );
    assert_eq!(parsed.code, Some(201));
    assert_eq!(parsed.reason, Some("Created"));
    let cl = parsed
        .headers
        .iter()
        .find(|h| h.name == "Content-Length")
        .unwrap();
    assert_eq!(cl.value, b"7");
}

#[test]
fn chunks() {
    let mut out = Vec::new();
    encode_chunk(b"", &mut out);
    assert!(out.is_empty());
    encode_chunk(b"a", &mut out);
    encode_chunk(&[b'x'; 255], &mut out);
    encode_chunk(&vec![b'y'; 4096], &mut out);
    encode_last_chunk(&mut out);
    assert!(out.starts_with(b"1\r\na\r\nff\r\n"));
    assert!(out.ends_with(b"y\r\n0\r\n\r\n"));
    assert!(out.windows(6).any(|w| w == b"1000\r\n"));

    // What we encode, our decoder reads back.
    let mut body = Vec::new();
    let mut d = crate::http::BodyDecoder::new(&crate::http::BodyKind::Chunked, 1 << 20);
    assert_eq!(d.decode(&out, &mut body), Ok(out.len()));
    assert!(d.is_done());
    assert_eq!(body.len(), 1 + 255 + 4096);
}

#[test]
fn continue_line() {
    assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
}
