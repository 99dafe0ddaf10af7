//! The Hashrocket "websocket-shootout" protocol at `/ws`:
//!
//! - `{"type":"echo","payload":P}` → the same text back to the sender;
//! - `{"type":"broadcast","payload":P}` → `{"type":"broadcast","payload":P}` to every connected
//!   client (the sender included), and `{"type":"broadcastResult","payload":P,"listenCount":N}`
//!   to the sender, N being the number of clients the broadcast went to.
//!
//! ```text
//! cargo run --release --example shootout      # PORT=3000 HOST=127.0.0.1 by default
//! THREADS=1 cargo run --release --example shootout   # one event loop (benchmarks pin it to a core)
//! ```
//!
//! The fast path does not parse JSON: a message that starts with `{"type":"broadcast",` *is*
//! already the broadcast message, so its bytes are framed once into a `SharedFrame` and handed to
//! `ServerHandle::broadcast` (one task per loop, the same `Arc` bytes queued on every connection);
//! the `broadcastResult` is the input with the type renamed and `,"listenCount":N` spliced in
//! before the closing brace. Messages in another shape (other key order, whitespace) go through
//! `serde_json` and are re-encoded in the canonical shape.

use plezi::plezi_server::{
    Filter, Message, Reply, Request, Response, Server, ServerError, SharedFrame, Upgrade,
    WebSocket, WebSocketHandler,
};

const ECHO_PREFIX: &str = r#"{"type":"echo","#;
const BROADCAST_PREFIX: &str = r#"{"type":"broadcast","#;
const RESULT_PREFIX: &str = r#"{"type":"broadcastResult","#;

/// One shootout client.
struct Shootout;

impl WebSocketHandler for Shootout {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let Message::Text(text) = msg else {
            return;
        };
        if text.starts_with(ECHO_PREFIX) {
            let _ = ws.write_text(text);
        } else if let Some(rest) = text.strip_prefix(BROADCAST_PREFIX)
            && let Some(body) = rest.trim_end().strip_suffix('}')
        {
            broadcast(ws, text, body);
        } else {
            slow_path(ws, text);
        }
    }
}

/// Broadcasts `message` (already in the canonical shape; `body` is what follows the type up to,
/// not including, the closing brace) and answers the sender with the result.
fn broadcast(ws: &mut WebSocket<'_>, message: &str, body: &str) {
    let server = ws.server();
    let listeners = server.websocket_count();
    server.broadcast(SharedFrame::text(message), Filter::default());
    let mut result = String::with_capacity(RESULT_PREFIX.len() + body.len() + 24);
    result.push_str(RESULT_PREFIX);
    result.push_str(body);
    result.push_str(",\"listenCount\":");
    result.push_str(&listeners.to_string());
    result.push('}');
    let _ = ws.write_text(&result);
}

/// Any other shape: parse, then answer in the canonical shape.
fn slow_path(ws: &mut WebSocket<'_>, text: &str) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        log::debug!("shootout: ignoring a message that is not a JSON object");
        return;
    };
    let payload = map
        .get("payload")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let kind = map.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    // Built by hand: `json!` would order the keys alphabetically.
    let canonical = |kind: &str| format!(r#"{{"type":"{kind}","payload":{payload}}}"#);
    match kind {
        "echo" => {
            let _ = ws.write_text(&canonical("echo"));
        }
        "broadcast" => {
            let message = canonical("broadcast");
            let body = &message[BROADCAST_PREFIX.len()..message.len() - 1];
            broadcast(ws, &message, body);
        }
        other => log::debug!("shootout: unknown message type {other:?}"),
    }
}

fn service(req: &mut Request) -> Reply {
    match req.path() {
        "/ws" if req.is_websocket_upgrade() => Reply::Upgrade(Upgrade::new(Box::new(Shootout))),
        "/" => Reply::Response(Response::text(
            200,
            "plezi websocket-shootout server: connect a WebSocket to /ws\n",
        )),
        _ => Reply::Response(Response::text(404, "Not Found\n")),
    }
}

fn main() {
    plezi::init_logging();
    if let Err(e) = serve() {
        eprintln!("shootout: {e}");
        std::process::exit(1);
    }
}

/// Binds `HOST:PORT` (`THREADS` event loops), prints the URL once ready and runs until
/// SIGINT/SIGTERM.
fn serve() -> Result<(), ServerError> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let mut builder = Server::builder()
        .bind(format!("{host}:{port}"))
        .service(service);
    if let Some(threads) = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()) {
        builder = builder.threads(threads);
    }
    if let Some(ms) = std::env::var("COALESCE_MS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        builder = builder.config(plezi::plezi_server::ServerConfig {
            broadcast_coalesce: std::time::Duration::from_millis(ms),
            ..Default::default()
        });
    }
    let server = builder.build()?;
    println!("shootout listening on ws://{}/ws", server.local_addr());
    server.run()
}
