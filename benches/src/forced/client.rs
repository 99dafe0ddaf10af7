//! One forced-disconnect client: a blocking WebSocket connection on its own thread that counts what
//! it receives, is cut with a TCP reset when told, and reconnects presenting its last position.
//!
//! - plezi (`benches/src/forced/server.rs`): `?user=uN&_ack_=1`, reconnects add
//!   `&_recover_=[{"s","e","o"}]` (the last `_pos_` seen); the `_recovered_` report ends a recovery.
//!   Right after connecting the client sends `{"event":"echo"}`: its answer comes after `on_open` (so
//!   the identity is registered) and after the recovery report. Like `PleziClient`, it acknowledges
//!   each mailbox batch (`_mail_` → `_ack_`) and drops a notification whose `_mid_` it counted among
//!   the last `MAIL_IDS_REMEMBERED` (a redelivery whose acknowledgement the reset lost).
//! - Socket.IO 4 (`benches/peers/socketio/server.js` with `SIO_RECOVERY=1`): `&user=uN` in the query,
//!   the namespace connect `40` carries `{"pid","offset"}` of the previous session (the offset is the
//!   last argument of every broadcast event); the server writes the missed packets and then its
//!   connect answer `40{"sid","pid"}`, recovered when `pid` is the previous one.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plezi_dispatch::generated::{
    ACK_EVENT, ACK_PARAM, EVENT_KEY, MAIL_EVENT, MAIL_IDS_REMEMBERED, MESSAGE_ID_KEY,
};
use plezi_test_support::http::encode_query;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use super::tally::Tally;

/// The server's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// plezi auto-dispatch with `_recover_`.
    Plezi,
    /// Socket.IO 4 over its WebSocket transport, with connection-state recovery.
    SocketIo,
}

/// State shared by the run's threads.
pub struct Shared {
    /// Where to connect (`ws://host:port/path`, with Socket.IO's query already in it).
    pub url: String,
    /// The protocol.
    pub proto: Proto,
    /// Broadcasts the sender wrote so far.
    pub sent_says: AtomicU64,
    /// Notifications the notifier wrote so far, per client.
    pub sent_notices: Vec<AtomicU64>,
    /// The traffic stopped: the sent counts are final; clients leave once they have everything.
    pub settle: AtomicBool,
    /// Give up waiting: clients leave now.
    pub give_up: AtomicBool,
    /// First reconnect delay, ms (doubled on each failed attempt, with ±50% jitter).
    pub backoff_ms: u64,
    /// Longest reconnect delay, ms.
    pub backoff_max_ms: u64,
    /// The run's clock (the times below are ns since this instant).
    pub epoch: Instant,
    /// When each notification was written, per client (index = its number), for the report on losses.
    pub notice_times: Vec<parking_lot::Mutex<Vec<u64>>>,
}

impl Shared {
    /// ns since the run's start.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// What the run's controller tells one client, and what it knows of it.
#[derive(Default)]
pub struct Flags {
    /// Reset the connection now (then reconnect).
    pub cut: AtomicBool,
    /// The first connection is registered (its echo or connect answer came).
    pub ready: AtomicBool,
    /// Connected and not waiting for a recovery: a cut now tests recovery.
    pub up: AtomicBool,
}

/// What one client counted.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Broadcasts received.
    pub says: Tally,
    /// Its identity's notifications received.
    pub notices: Tally,
    /// Resets done.
    pub cuts: u64,
    /// Connections the server closed or that failed while open (not cut by the tool).
    pub drops: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Recoveries the server reported complete.
    pub recovered: u64,
    /// Recoveries the server reported failed (a gap).
    pub recovery_failed: u64,
    /// Reconnects that could present no position (nothing of the stream received yet).
    pub no_position: u64,
    /// Reconnect attempt → missed messages delivered, ns, one per successful recovery.
    pub latencies_ns: Vec<u64>,
    /// `err` events (plezi) or connect errors (Socket.IO).
    pub errors: u64,
    /// The first error text, for the report.
    pub first_error: Option<String>,
    /// Frames that were not understood.
    pub unreadable: u64,
    /// plezi: notifications dropped because their `_mid_` was counted already (redelivered after
    /// an acknowledgement lost in a reset).
    pub redelivered: u64,
    /// When each cut happened and when the next connection was registered again (ns since the
    /// run's start; `u64::MAX` if it never was).
    pub outages: Vec<(u64, u64)>,
}

/// The position a reconnect presents.
#[derive(Clone, Debug, Default)]
struct Position {
    /// plezi: the last `_pos_` object.
    plezi: Option<Value>,
    /// Socket.IO: the session's pid.
    pid: Option<String>,
    /// Socket.IO: the last broadcast offset.
    offset: Option<String>,
}

type Ws = WebSocket<TcpStream>;

/// The last mailbox message ids counted, oldest forgotten first (what `PleziClient` remembers).
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    fn new() -> RecentIds {
        RecentIds {
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    /// Remembers `id`; false when it was remembered already.
    fn add(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        self.set.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        if self.order.len() > MAIL_IDS_REMEMBERED as usize
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// Opens a connection (`Err` on any failure: the caller backs off and retries).
pub fn connect(url: &str) -> Result<Ws, String> {
    let target = crate::net::Target::parse(url)?;
    let stream = TcpStream::connect_timeout(&target.addr.into(), Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let (ws, _) = tungstenite::client::client(url, stream).map_err(|e| format!("upgrade: {e}"))?;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Resets the connection: `SO_LINGER` 0, then close (the kernel sends RST, not FIN).
pub fn reset(ws: Ws) {
    plezi_test_support::reset_on_close(ws.get_ref());
    drop(ws);
}

/// What one read brought.
pub enum Read {
    /// A text frame.
    Text(String),
    /// Nothing within the read timeout.
    Idle,
    /// The connection is gone.
    Closed(String),
}

/// Reads one frame (waits at most the socket's read timeout).
pub fn read(ws: &mut Ws) -> Read {
    match ws.read() {
        Ok(Message::Text(t)) => Read::Text(t.as_str().to_owned()),
        Ok(Message::Close(_)) => Read::Closed("closed by the server".into()),
        Ok(_) => Read::Idle,
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Read::Idle
        }
        Err(e) => Read::Closed(e.to_string()),
    }
}

/// Sends a text frame.
pub fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::text(text)).map_err(|e| e.to_string())
}

/// The delay before reconnect attempt `attempt` (0 first): `backoff_ms · 2^attempt`, at most
/// `backoff_max_ms`, times a jitter in `[0.5, 1.5)`.
pub fn backoff(shared: &Shared, attempt: u32) -> Duration {
    let base = shared
        .backoff_ms
        .saturating_mul(1 << attempt.min(16))
        .min(shared.backoff_max_ms);
    Duration::from_micros((base as f64 * 1000.0 * rand::random_range(0.5..1.5)) as u64)
}

fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// Client `index` (identity `u{index}`) until the run tells it to leave.
pub fn run(index: usize, shared: Arc<Shared>, flags: Arc<Flags>) -> Outcome {
    let mut out = Outcome::default();
    let mut pos = Position::default();
    let mut attempt = 0u32;
    let mut first = true;
    let mut mail_ids = RecentIds::new();
    let base_url = match shared.proto {
        Proto::Plezi => with_query(&shared.url, &format!("user=u{index}&{ACK_PARAM}=1")),
        Proto::SocketIo => with_query(&shared.url, &format!("user=u{index}")),
    };
    loop {
        if shared.give_up.load(Ordering::Relaxed) {
            return out;
        }
        let attempt_at = Instant::now();
        let recovering = !first
            && match shared.proto {
                Proto::Plezi => pos.plezi.is_some(),
                Proto::SocketIo => pos.pid.is_some() && pos.offset.is_some(),
            };
        if !first && !recovering {
            out.no_position += 1;
        }
        let url = match (&pos.plezi, recovering) {
            (Some(p), true) => with_query(
                &base_url,
                &format!("_recover_={}", encode_query(&json!([p]).to_string())),
            ),
            _ => base_url.clone(),
        };
        let mut ws = match connect(&url) {
            Ok(ws) => ws,
            Err(e) => {
                out.connect_failures += 1;
                out.first_error.get_or_insert(e);
                std::thread::sleep(backoff(&shared, attempt));
                attempt += 1;
                continue;
            }
        };
        let hello = match shared.proto {
            Proto::Plezi => r#"{"event":"echo"}"#.to_owned(),
            Proto::SocketIo if recovering => {
                format!("40{}", json!({"pid": pos.pid, "offset": pos.offset}))
            }
            Proto::SocketIo => "40".to_owned(),
        };
        let mut awaiting = recovering;
        let mut registered = false;
        if let Err(e) = send(&mut ws, hello) {
            out.drops += 1;
            out.first_error.get_or_insert(e);
            std::thread::sleep(backoff(&shared, attempt));
            attempt += 1;
            continue;
        }
        // Read until cut, closed, or done.
        let closed = loop {
            if flags.cut.swap(false, Ordering::Relaxed) {
                flags.up.store(false, Ordering::Relaxed);
                reset(ws);
                out.cuts += 1;
                out.outages.push((shared.now(), u64::MAX));
                break None;
            }
            if shared.give_up.load(Ordering::Relaxed) {
                return out;
            }
            if registered && !awaiting && shared.settle.load(Ordering::Relaxed) && {
                let says = shared.sent_says.load(Ordering::Relaxed);
                let notices = shared.sent_notices[index].load(Ordering::Relaxed);
                out.says.complete(says) && out.notices.complete(notices)
            } {
                let _ = ws.close(None);
                let _ = ws.flush();
                return out;
            }
            let text = match read(&mut ws) {
                Read::Idle => continue,
                Read::Closed(why) => break Some(why),
                Read::Text(t) => t,
            };
            let event = match shared.proto {
                Proto::Plezi => plezi_frame(&text, &mut out, &mut pos, &mut mail_ids),
                Proto::SocketIo => sio_frame(&text, &mut out, &mut pos, &mut ws),
            };
            match event {
                Event::Registered { recovered } => {
                    if awaiting {
                        awaiting = false;
                        match recovered {
                            Some(true) => {
                                out.recovered += 1;
                                out.latencies_ns
                                    .push(attempt_at.elapsed().as_nanos() as u64);
                            }
                            Some(false) => out.recovery_failed += 1,
                            // The echo came without a recovery report: no recovery.
                            None => out.recovery_failed += 1,
                        }
                    }
                    if !registered {
                        registered = true;
                        if let Some(o) = out.outages.last_mut().filter(|o| o.1 == u64::MAX) {
                            o.1 = shared.now();
                        }
                        attempt = 0;
                        flags.ready.store(true, Ordering::Relaxed);
                        flags.up.store(true, Ordering::Relaxed);
                    }
                }
                Event::Recovered(ok) if awaiting => {
                    awaiting = false;
                    if ok {
                        out.recovered += 1;
                        out.latencies_ns
                            .push(attempt_at.elapsed().as_nanos() as u64);
                    } else {
                        out.recovery_failed += 1;
                    }
                }
                Event::Mail(mid) => {
                    let ack = json!({EVENT_KEY: ACK_EVENT, MESSAGE_ID_KEY: mid});
                    if let Err(e) = send(&mut ws, ack.to_string()) {
                        break Some(e);
                    }
                }
                Event::Recovered(_) | Event::Nothing => {}
            }
        };
        first = false;
        if let Some(why) = closed {
            flags.up.store(false, Ordering::Relaxed);
            out.drops += 1;
            out.first_error.get_or_insert(why);
        }
        std::thread::sleep(backoff(&shared, attempt));
        attempt += 1;
    }
}

/// What a frame meant for the connection's state.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Counted (or ignored); nothing changes.
    Nothing,
    /// The connection is registered (plezi: the echo; Socket.IO: the connect answer, with whether
    /// it recovered the previous session).
    Registered {
        /// Socket.IO: whether the session was recovered; plezi: `None`.
        recovered: Option<bool>,
    },
    /// plezi's `_recovered_` report: whether every stream was recovered.
    Recovered(bool),
    /// plezi's `_mail_`: a mailbox batch ending with this message id was written; acknowledge it.
    Mail(String),
}

fn error(out: &mut Outcome, text: &str) {
    out.errors += 1;
    out.first_error.get_or_insert_with(|| text.to_owned());
}

/// One plezi frame.
fn plezi_frame(
    text: &str,
    out: &mut Outcome,
    pos: &mut Position,
    mail_ids: &mut RecentIds,
) -> Event {
    let Ok(msg) = serde_json::from_str::<Value>(text) else {
        out.unreadable += 1;
        return Event::Nothing;
    };
    match msg["event"].as_str() {
        Some("say") => {
            match msg["n"].as_u64() {
                Some(n) => {
                    out.says.record(n);
                }
                None => out.unreadable += 1,
            }
            if msg["_pos_"].is_object() {
                pos.plezi = Some(msg["_pos_"].clone());
            }
            Event::Nothing
        }
        Some("notice") => {
            if let Some(mid) = msg[MESSAGE_ID_KEY].as_str()
                && !mail_ids.add(mid)
            {
                out.redelivered += 1;
                return Event::Nothing;
            }
            match msg["k"].as_u64() {
                Some(k) => {
                    out.notices.record(k);
                }
                None => out.unreadable += 1,
            }
            Event::Nothing
        }
        Some("echo") => Event::Registered { recovered: None },
        Some(MAIL_EVENT) => match msg[MESSAGE_ID_KEY].as_str() {
            Some(mid) => Event::Mail(mid.to_owned()),
            None => {
                out.unreadable += 1;
                Event::Nothing
            }
        },
        Some("_recovered_") => Event::Recovered(
            msg["streams"]
                .as_object()
                .is_some_and(|s| !s.is_empty() && s.values().all(|v| v == true)),
        ),
        Some("err") => {
            error(out, text);
            Event::Nothing
        }
        _ => Event::Nothing,
    }
}

/// One Socket.IO (Engine.IO) frame; answers pings on `ws`.
fn sio_frame(text: &str, out: &mut Outcome, pos: &mut Position, ws: &mut Ws) -> Event {
    if text == "2" {
        let _ = send(ws, "3".to_owned());
        return Event::Nothing;
    }
    sio_packet(text, out, pos)
}

/// One Socket.IO packet (anything but a ping).
fn sio_packet(text: &str, out: &mut Outcome, pos: &mut Position) -> Event {
    if let Some(rest) = text.strip_prefix("40") {
        let Ok(answer) = serde_json::from_str::<Value>(rest) else {
            out.unreadable += 1;
            return Event::Nothing;
        };
        let pid = answer["pid"].as_str().map(str::to_owned);
        let recovered = pos.pid.is_some() && pid == pos.pid;
        if !recovered {
            // A new session: its offsets start over.
            pos.offset = None;
        }
        pos.pid = pid;
        return Event::Registered {
            recovered: Some(recovered),
        };
    }
    if text.starts_with("44") {
        error(out, text);
        return Event::Nothing;
    }
    let Some(rest) = text.strip_prefix("42") else {
        return Event::Nothing;
    };
    let Ok(Value::Array(args)) = serde_json::from_str::<Value>(rest) else {
        out.unreadable += 1;
        return Event::Nothing;
    };
    if let Some(Value::String(offset)) = args.get(2) {
        pos.offset = Some(offset.clone());
    }
    let (tally, key) = match args.first().and_then(Value::as_str) {
        Some("say") => (&mut out.says, "n"),
        Some("notice") => (&mut out.notices, "k"),
        _ => return Event::Nothing,
    };
    match args.get(1).and_then(|d| d[key].as_u64()) {
        Some(n) => {
            tally.record(n);
        }
        None => out.unreadable += 1,
    }
    Event::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plezi_frames_are_counted_and_positions_kept() {
        let (mut out, mut pos) = (Outcome::default(), Position::default());
        let mut ids = RecentIds::new();
        let say = r#"{"event":"say","n":0,"_pos_":{"s":"ctl:room","e":"ab","o":1}}"#;
        assert_eq!(
            plezi_frame(say, &mut out, &mut pos, &mut ids),
            Event::Nothing
        );
        plezi_frame(r#"{"event":"say","n":0}"#, &mut out, &mut pos, &mut ids);
        plezi_frame(r#"{"event":"notice","k":0}"#, &mut out, &mut pos, &mut ids);
        assert_eq!(out.says.duplicates, 1);
        assert!(out.notices.complete(1));
        assert_eq!(pos.plezi, Some(json!({"s":"ctl:room","e":"ab","o":1})));
        assert_eq!(
            plezi_frame(
                r#"{"event":"_recovered_","streams":{"ctl:room":false}}"#,
                &mut out,
                &mut pos,
                &mut ids
            ),
            Event::Recovered(false)
        );
        assert_eq!(
            plezi_frame(r#"{"event":"echo"}"#, &mut out, &mut pos, &mut ids),
            Event::Registered { recovered: None }
        );
        plezi_frame("not json", &mut out, &mut pos, &mut ids);
        assert_eq!(out.unreadable, 1);
    }

    #[test]
    fn plezi_mail_is_acknowledged_and_a_redelivery_dropped() {
        let (mut out, mut pos) = (Outcome::default(), Position::default());
        let mut ids = RecentIds::new();
        let notice = |k: u64| format!(r#"{{"event":"notice","k":{k},"_mid_":"s.{k}"}}"#);
        for k in [0, 1, 0, 1, 2] {
            assert_eq!(
                plezi_frame(&notice(k), &mut out, &mut pos, &mut ids),
                Event::Nothing
            );
        }
        assert_eq!(out.redelivered, 2);
        assert_eq!(out.notices.duplicates, 0);
        assert!(out.notices.complete(3));
        assert_eq!(
            plezi_frame(
                r#"{"event":"_mail_","_mid_":"s.2"}"#,
                &mut out,
                &mut pos,
                &mut ids
            ),
            Event::Mail("s.2".into())
        );
        // Bounded: the oldest id is forgotten once MAIL_IDS_REMEMBERED newer ones came.
        for k in 3..3 + u64::from(MAIL_IDS_REMEMBERED) {
            plezi_frame(&notice(k), &mut out, &mut pos, &mut ids);
        }
        plezi_frame(&notice(0), &mut out, &mut pos, &mut ids);
        assert_eq!(out.notices.duplicates, 1);
    }

    #[test]
    fn socket_io_offsets_and_sessions_are_tracked() {
        let (mut out, mut pos) = (Outcome::default(), Position::default());
        assert_eq!(
            sio_packet(r#"40{"sid":"a","pid":"p1"}"#, &mut out, &mut pos),
            Event::Registered {
                recovered: Some(false)
            }
        );
        sio_packet(r#"42["say",{"n":3},"off-9"]"#, &mut out, &mut pos);
        sio_packet(r#"42["notice",{"k":0},"off-10"]"#, &mut out, &mut pos);
        assert_eq!(pos.offset.as_deref(), Some("off-10"));
        assert_eq!(out.says.distinct(4), 1);
        assert!(out.notices.complete(1));
        // Same pid: recovered, the offset stays; another pid: a new session.
        assert_eq!(
            sio_packet(r#"40{"sid":"a","pid":"p1"}"#, &mut out, &mut pos),
            Event::Registered {
                recovered: Some(true)
            }
        );
        assert_eq!(pos.offset.as_deref(), Some("off-10"));
        assert_eq!(
            sio_packet(r#"40{"sid":"b","pid":"p2"}"#, &mut out, &mut pos),
            Event::Registered {
                recovered: Some(false)
            }
        );
        assert_eq!(pos.offset, None);
    }
}
