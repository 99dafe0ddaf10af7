//! The legitimate clients: churning chat connections (guests and logged-in users) and the
//! notifiers whose numbered notifications are checked to arrive exactly once.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

use super::{DRAIN, RUN, Rng, STOP, Shared, http, nap};

/// The user name of logged-in slot `i`.
pub fn user_name(i: usize) -> String {
    format!("soak-user-{i}")
}

/// Logs in as `user` (`POST /login`, form): the session cookie, retried until the run stops.
fn login(shared: &Shared, user: &str, rng: &mut Rng) -> Option<String> {
    let body = format!("user={user}");
    loop {
        if shared.phase() == STOP {
            return None;
        }
        match http(
            shared,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
            Duration::from_secs(10),
        ) {
            Ok((303, Some(cookie))) => return Some(cookie),
            Ok((status, _)) => shared.failed(format!("POST /login answered {status}")),
            Err(e) => shared.failed(format!("POST /login: {}", e.kind())),
        }
        nap(
            shared,
            rng.between(Duration::from_secs(1), Duration::from_secs(3)),
            DRAIN,
        );
    }
}

/// Opens a WebSocket on `/chat` with the optional session cookie.
fn open(shared: &Shared, cookie: Option<&str>) -> Result<WebSocket<TcpStream>, String> {
    let url = format!("ws://{}/chat", shared.cfg.target.addr);
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    if let Some(c) = cookie {
        req.headers_mut().insert(
            "Cookie",
            HeaderValue::from_str(c).map_err(|e| e.to_string())?,
        );
    }
    let stream = shared
        .tcp(Duration::from_secs(10))
        .map_err(|e| format!("connect: {}", e.kind()))?;
    // Small read buffers: thousands of clients, each reading small frames.
    let config = tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024);
    match tungstenite::client::client_with_config(req, stream, Some(config)) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            Err(format!("upgrade answered {}", r.status().as_u16()))
        }
        Err(e) => Err(format!("handshake: {e}")),
    }
}

/// What a read gave.
enum Read {
    Text(String),
    Idle,
    Closed,
}

fn read(ws: &mut WebSocket<TcpStream>, wait: Duration) -> Read {
    let wait = wait.max(Duration::from_millis(1));
    if ws.get_mut().set_read_timeout(Some(wait)).is_err() {
        return Read::Closed;
    }
    match ws.read() {
        Ok(Message::Text(t)) => Read::Text(t.to_string()),
        Ok(Message::Close(_)) => Read::Closed,
        Ok(_) => Read::Idle,
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            Read::Idle
        }
        Err(_) => Read::Closed,
    }
}

/// Counts what a connection received: notices (by number) and chat deliveries.
fn received(shared: &Shared, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    match v["event"].as_str() {
        Some("notice") => {
            if let Some(n) = v["message"]
                .as_str()
                .and_then(|m| m.strip_prefix("soak-n:"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                *shared.delivered.lock().entry(n).or_default() += 1;
            }
        }
        Some("chat") => {
            shared.chat_received.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// A graceful close: our close frame, then everything up to the server's (notices included).
fn close(shared: &Shared, mut ws: WebSocket<TcpStream>) {
    let _ = ws.close(None);
    // Read until the server's close frame; give up only after the socket stayed silent for 3 reads
    // of 2 s (not after a wall-clock deadline: a client thread starved of CPU for a while must still
    // read what is waiting in its socket).
    let mut silent = 0;
    while silent < 3 {
        match read(&mut ws, Duration::from_secs(2)) {
            Read::Text(t) => {
                silent = 0;
                received(shared, &t);
            }
            Read::Idle => {
                silent += 1;
                let _ = ws.flush();
            }
            Read::Closed => return,
        }
    }
    shared.failed("no close frame from the server within 6 s of silence");
}

/// Connection slot `i`: slots below `--users` are logged-in users (one connection at a time, offline
/// in between); the others are guests. Opens, chats, reads, closes and reopens until the run stops.
pub fn connection(shared: &Shared, i: usize) {
    let mut rng = Rng::new(i as u64);
    let user = (i < shared.cfg.users).then(|| user_name(i));
    let cookie = match &user {
        Some(u) => match login(shared, u, &mut rng) {
            Some(c) => Some(c),
            None => return,
        },
        None => None,
    };
    // Each client chats every `connections / chat_rate` seconds on average.
    let chat_every = if shared.cfg.chat_rate > 0.0 {
        Duration::from_secs_f64(shared.cfg.connections as f64 / shared.cfg.chat_rate)
    } else {
        Duration::MAX
    };
    let chat = json!({"event": "chat", "message": "soak"}).to_string();
    while shared.phase() != STOP {
        let mut ws = match open(shared, cookie.as_deref()) {
            Ok(ws) => ws,
            Err(e) => {
                shared.failed(e);
                nap(
                    shared,
                    rng.between(Duration::from_secs(1), Duration::from_secs(3)),
                    DRAIN,
                );
                continue;
            }
        };
        shared.ws_opened.fetch_add(1, Ordering::Relaxed);
        if user.is_some() {
            shared.users_online.fetch_add(1, Ordering::Relaxed);
        }
        let end = Instant::now() + rng.between(shared.cfg.lifetime.0, shared.cfg.lifetime.1);
        let mut next_chat = Instant::now()
            + chat_every
                .min(Duration::from_secs(3600))
                .mul_f64((rng.next() % 1000) as f64 / 1000.0);
        loop {
            let phase = shared.phase();
            let now = Instant::now();
            // In the drain, connections stay open (users collect their mail) until the stop.
            if phase == STOP || (phase == RUN && now >= end) {
                break;
            }
            if phase == RUN && now >= next_chat {
                if ws.send(Message::text(chat.clone())).is_err() {
                    break;
                }
                shared.chat_sent.fetch_add(1, Ordering::Relaxed);
                next_chat = now + chat_every;
            }
            let wait = next_chat
                .min(end)
                .saturating_duration_since(now)
                .min(Duration::from_millis(500));
            match read(&mut ws, wait) {
                Read::Text(t) => received(shared, &t),
                Read::Idle => {}
                Read::Closed => {
                    if phase == RUN && Instant::now() < end {
                        shared.failed("closed by the server");
                    }
                    break;
                }
            }
        }
        close(shared, ws);
        if user.is_some() {
            shared.users_online.fetch_sub(1, Ordering::Relaxed);
            nap(
                shared,
                rng.between(shared.cfg.offline.0, shared.cfg.offline.1),
                RUN,
            );
        } else {
            nap(
                shared,
                rng.between(Duration::ZERO, Duration::from_secs(1)),
                RUN,
            );
        }
    }
}

/// Notifier `k`: a logged-in sender of numbered notifications to random users, one at a time (each
/// followed by an `echo`: an `err` before the echo means the server refused that notification).
pub fn notifier(shared: &Shared, k: usize) {
    let mut rng = Rng::new(1_000_000 + k as u64);
    let Some(cookie) = login(shared, &format!("soak-sender-{k}"), &mut rng) else {
        return;
    };
    let every = if shared.cfg.notify_rate > 0.0 {
        Duration::from_secs_f64(shared.cfg.notifiers as f64 / shared.cfg.notify_rate)
    } else {
        return;
    };
    let mut next = Instant::now() + every.mul_f64((rng.next() % 1000) as f64 / 1000.0);
    'connect: while shared.phase() == RUN {
        let mut ws = match open(shared, Some(&cookie)) {
            Ok(ws) => ws,
            Err(e) => {
                shared.failed(format!("notifier: {e}"));
                nap(shared, Duration::from_secs(1), RUN);
                continue;
            }
        };
        while shared.phase() == RUN {
            let now = Instant::now();
            if now < next {
                match read(&mut ws, (next - now).min(Duration::from_millis(500))) {
                    Read::Closed => continue 'connect,
                    Read::Text(t) => received(shared, &t),
                    Read::Idle => {}
                }
                continue;
            }
            // No catching up after a stall (the clients run in SCHED_IDLE): a burst of overdue
            // notifications would trip the server's per-connection rate limit.
            next = (next + every).max(now);
            if shared.cfg.users == 0 {
                continue;
            }
            let n = shared.next_note.fetch_add(1, Ordering::Relaxed);
            let to = user_name(rng.range(0, shared.cfg.users as u64) as usize);
            let notify = json!({"event": "notify", "user": to, "message": format!("soak-n:{n}")});
            let marker = format!("after-{n}");
            let echo = json!({"event": "echo", "marker": marker});
            if ws.send(Message::text(notify.to_string())).is_err()
                || ws.send(Message::text(echo.to_string())).is_err()
            {
                continue 'connect;
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut refused = None;
            loop {
                if Instant::now() > deadline {
                    refused = Some("no answer in 30 s".to_owned());
                    break;
                }
                match read(&mut ws, Duration::from_millis(500)) {
                    Read::Text(t) => {
                        let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                        if v["marker"] == marker.as_str() {
                            break;
                        }
                        if v["event"] == "err" {
                            refused = Some(format!("err {}", v["status"]));
                        } else {
                            received(shared, &t);
                        }
                    }
                    Read::Idle => {}
                    Read::Closed => {
                        refused = Some("closed before the answer".to_owned());
                        break;
                    }
                }
            }
            match refused {
                None => {
                    shared.accepted.lock().insert(n, to);
                }
                Some(why) => *shared.refused.lock().entry(why).or_default() += 1,
            }
        }
        close(shared, ws);
    }
}
