//! The abusive clients, each a thread that runs until the stop and counts the answers it got:
//! cross-origin WebSocket upgrades, oversized JSON bodies, trickled bodies, notification floods to
//! made-up identities, and floods of idle connections.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

use super::{RUN, Rng, Shared, nap, read_answer};

/// An abusive client's body.
pub type Abuser = fn(&Shared);

/// Every abusive client: (thread name, body).
pub fn all() -> Vec<(&'static str, Abuser)> {
    vec![
        ("abuse-origin", cross_origin as Abuser),
        ("abuse-big-body", big_body),
        ("abuse-trickle", trickle),
        ("abuse-notify", notify_flood),
        ("abuse-notify-2", notify_flood),
        ("abuse-conn-flood", connection_flood),
    ]
}

fn answer(r: std::io::Result<(u16, Option<String>)>) -> String {
    match r {
        Ok((status, _)) => status.to_string(),
        Err(e) => match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => "no answer (timeout)".into(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
                "closed without an answer".into()
            }
            k => format!("error: {k}"),
        },
    }
}

/// A WebSocket upgrade of `/chat` from a page on another origin, five times a second.
fn cross_origin(shared: &Shared) {
    let origins = [
        "http://evil.example".to_owned(),
        format!("http://{}.evil.example", shared.cfg.target.host),
        "null".to_owned(),
    ];
    let mut i = 0;
    while shared.phase() == RUN {
        let origin = &origins[i % origins.len()];
        i += 1;
        let r = shared.tcp(Duration::from_secs(10)).and_then(|mut s| {
            let req = format!(
                "GET /chat HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                 Origin: {origin}\r\n\r\n",
                shared.host()
            );
            s.write_all(req.as_bytes())?;
            read_answer(&mut s)
        });
        shared.abused("cross-origin WebSocket upgrade", answer(r));
        nap(shared, Duration::from_millis(200), RUN);
    }
}

/// A 48 MiB JSON body announced, up to 4 MiB of it sent, once a second (what a parser that waits
/// for the whole body would take whole).
fn big_body(shared: &Shared) {
    let chunk = vec![b' '; 64 * 1024];
    while shared.phase() == RUN {
        let r = shared.tcp(Duration::from_secs(10)).and_then(|mut s| {
            let head = format!(
                "POST /chat HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n[",
                shared.host(),
                48 << 20
            );
            s.write_all(head.as_bytes())?;
            for _ in 0..64 {
                if s.write_all(&chunk).is_err() {
                    break; // answered early and closed: read the answer
                }
            }
            read_answer(&mut s)
        });
        shared.abused("48 MiB JSON body", answer(r));
        nap(shared, Duration::from_secs(1), RUN);
    }
}

/// `--trickle` connections, each sending a body one byte every 5 s; answered or closed ones are
/// replaced.
fn trickle(shared: &Shared) {
    struct Slow {
        s: TcpStream,
        next: Instant,
        got: Vec<u8>,
    }
    let mut rng = Rng::new(77);
    let mut slow: Vec<Slow> = Vec::new();
    while shared.phase() == RUN {
        while slow.len() < shared.cfg.trickle && shared.phase() == RUN {
            match shared.tcp(Duration::from_secs(10)) {
                Ok(mut s) => {
                    let head = format!(
                        "POST /chat HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                         Content-Length: 100000\r\n\r\n{{",
                        shared.host()
                    );
                    if s.write_all(head.as_bytes()).is_ok() && s.set_nonblocking(true).is_ok() {
                        let next =
                            Instant::now() + rng.between(Duration::ZERO, Duration::from_secs(5));
                        slow.push(Slow {
                            s,
                            next,
                            got: Vec::new(),
                        });
                    }
                }
                Err(e) => {
                    shared.abused("trickled body", format!("connect: {}", e.kind()));
                    break;
                }
            }
        }
        let now = Instant::now();
        let mut buf = [0u8; 4096];
        slow.retain_mut(|c| {
            match c.s.read(&mut buf) {
                Ok(0) => {
                    let status = String::from_utf8_lossy(&c.got)
                        .split(' ')
                        .nth(1)
                        .map_or("closed without an answer".to_owned(), str::to_owned);
                    shared.abused("trickled body", status);
                    return false;
                }
                Ok(n) => {
                    c.got.extend_from_slice(&buf[..n]);
                    if c.got.windows(2).any(|w| w == b"\r\n") {
                        let status = String::from_utf8_lossy(&c.got)
                            .split(' ')
                            .nth(1)
                            .unwrap_or("?")
                            .to_owned();
                        shared.abused("trickled body", status);
                        return false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    shared.abused("trickled body", "closed without an answer");
                    return false;
                }
            }
            if now >= c.next {
                c.next = now + Duration::from_secs(5);
                if c.s.write(b" ").is_err() {
                    shared.abused("trickled body", "closed without an answer");
                    return false;
                }
            }
            true
        });
        nap(shared, Duration::from_millis(250), RUN);
    }
    for _ in &slow {
        shared.abused("trickled body", "still held at the stop");
    }
}

/// Bursts of 30 notifications with 512 KiB messages to made-up identities, as fast as the server
/// answers; every `err` status is counted (429: rate, 507: store full).
fn notify_flood(shared: &Shared) {
    let mut rng = Rng::new(99);
    let message = "x".repeat(512 * 1024);
    let url = format!("ws://{}/chat", shared.cfg.target.addr);
    while shared.phase() == RUN {
        let Ok(stream) = shared.tcp(Duration::from_secs(10)) else {
            shared.abused("notify flood (512 KiB, made-up users)", "connect failed");
            nap(shared, Duration::from_secs(1), RUN);
            continue;
        };
        let Ok((mut ws, _)) = tungstenite::client::client(url.as_str(), stream) else {
            shared.abused("notify flood (512 KiB, made-up users)", "upgrade failed");
            nap(shared, Duration::from_secs(1), RUN);
            continue;
        };
        let _ = ws.get_mut().set_read_timeout(Some(Duration::from_secs(30)));
        'burst: while shared.phase() == RUN {
            for _ in 0..30 {
                let ghost = format!("ghost-{}", rng.next());
                let n = json!({"event": "notify", "user": ghost, "message": message});
                if ws.send(Message::text(n.to_string())).is_err() {
                    break 'burst;
                }
            }
            if ws
                .send(Message::text(r#"{"event":"echo","marker":"burst"}"#))
                .is_err()
            {
                break;
            }
            let mut refused = 0;
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) => {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        if v["marker"] == "burst" {
                            break;
                        }
                        if v["event"] == "err" {
                            refused += 1;
                            shared.abused(
                                "notify flood (512 KiB, made-up users)",
                                format!("err {}", v["status"]),
                            );
                        }
                    }
                    Ok(Message::Close(f)) => {
                        shared.abused(
                            "notify flood (512 KiB, made-up users)",
                            format!("closed {}", f.map_or(1005, |f| u16::from(f.code))),
                        );
                        break 'burst;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        shared.abused("notify flood (512 KiB, made-up users)", "connection lost");
                        break 'burst;
                    }
                }
            }
            for _ in refused..30 {
                shared.abused("notify flood (512 KiB, made-up users)", "accepted");
            }
        }
        let _ = ws.close(None);
        nap(shared, Duration::from_millis(100), RUN);
    }
}

/// Every 30 s: `--flood` idle connections opened as fast as possible and held for 10 s; counts
/// what each got (nothing, an answer such as 503 or 408, or a refused connect).
fn connection_flood(shared: &Shared) {
    nap(shared, Duration::from_secs(15), RUN);
    while shared.phase() == RUN {
        eprintln!(
            "soak {:>5.1} min: connection flood of {} starts",
            shared.secs() / 60.0,
            shared.cfg.flood
        );
        let mut held = Vec::new();
        for _ in 0..shared.cfg.flood {
            if shared.phase() != RUN {
                break;
            }
            match shared.tcp(Duration::from_secs(5)) {
                Ok(s) => held.push(s),
                Err(e) => shared.abused("connection flood", format!("connect: {}", e.kind())),
            }
        }
        nap(shared, Duration::from_secs(10), RUN);
        for mut s in held {
            let _ = s.set_nonblocking(true);
            let mut buf = [0u8; 256];
            let what = match s.read(&mut buf) {
                Ok(0) => "closed by the server".to_owned(),
                Ok(n) => String::from_utf8_lossy(&buf[..n])
                    .split(' ')
                    .nth(1)
                    .map_or("answered".to_owned(), |s| format!("answered {s}")),
                Err(e) if e.kind() == ErrorKind::WouldBlock => "held open".to_owned(),
                Err(_) => "reset".to_owned(),
            };
            shared.abused("connection flood (idle)", what);
        }
        nap(shared, Duration::from_secs(20), RUN);
    }
}
