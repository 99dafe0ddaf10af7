//! A tiny blocking websocket-shootout server for the load tool's own tests (a thread per client).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// Starts the server on a free port; returns `ws://127.0.0.1:PORT/ws`.
pub fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let clients = clients.clone();
            thread::spawn(move || serve(stream, clients));
        }
    });
    format!("ws://127.0.0.1:{port}/ws")
}

fn serve(mut stream: TcpStream, clients: Arc<Mutex<Vec<TcpStream>>>) -> Option<()> {
    let _ = stream.set_nodelay(true);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        crate::ws::ACCEPT
    );
    stream.write_all(reply.as_bytes()).ok()?;
    clients.lock().ok()?.push(stream.try_clone().ok()?);
    loop {
        let mut h = [0u8; 2];
        stream.read_exact(&mut h).ok()?;
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                stream.read_exact(&mut l).ok()?;
                u16::from_be_bytes(l) as usize
            }
            127 => return None,
            n => n as usize,
        };
        let mut mask = [0u8; 4];
        stream.read_exact(&mut mask).ok()?;
        let mut text = vec![0u8; len];
        stream.read_exact(&mut text).ok()?;
        text.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b ^= mask[i & 3]);
        let text = String::from_utf8(text).ok()?;
        if text.starts_with(r#"{"type":"echo""#) {
            stream.write_all(&frame(&text)).ok()?;
        } else if let Some(rest) = text.strip_prefix(r#"{"type":"broadcast""#) {
            let all = clients.lock().ok()?;
            let out = frame(&text);
            for mut c in all.iter() {
                let _ = c.write_all(&out);
            }
            let result = format!(
                r#"{{"type":"broadcastResult"{},"listenCount":{}}}"#,
                &rest[..rest.len() - 1],
                all.len()
            );
            stream.write_all(&frame(&result)).ok()?;
        }
    }
}

fn frame(text: &str) -> Vec<u8> {
    let mut out = vec![0x81];
    if text.len() < 126 {
        out.push(text.len() as u8);
    } else {
        out.push(126);
        out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out
}
