//! websocket-shootout peer: tokio + tokio-tungstenite, written the way the shootout's reference servers are:
//! one task reads each connection, one task writes it, and broadcasts go through a `tokio::sync::broadcast`
//! channel that every writer task subscribes to. The writer feeds everything that is ready and flushes once
//! (tokio-tungstenite's usual batching).
//!
//! Protocol at `/ws`: `{"type":"echo","payload":P}` is sent back to the sender;
//! `{"type":"broadcast","payload":P}` goes to every client as `{"type":"broadcast","payload":P}` and the sender
//! gets `{"type":"broadcastResult","payload":P,"listenCount":N}`. PORT (default 3000) and HOST (default
//! 127.0.0.1) from the environment; prints one ready line; stops on SIGTERM/SIGINT.

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
}

#[derive(Serialize)]
struct Broadcast<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    payload: &'a Value,
}

#[derive(Serialize)]
struct BroadcastResult<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    payload: &'a Value,
    #[serde(rename = "listenCount")]
    listen_count: usize,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_string());
    let listener = TcpListener::bind((host.as_str(), port)).await?;
    let (all, _) = broadcast::channel::<Message>(1024);
    println!("tokio-tungstenite listening on ws://{host}:{port}/ws");
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve(stream, all.clone()));
                }
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

async fn serve(stream: TcpStream, all: broadcast::Sender<Message>) {
    let _ = stream.set_nodelay(true);
    let only_ws = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() == "/ws" {
            Ok(resp)
        } else {
            let mut not_found = ErrorResponse::new(None);
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            Err(not_found)
        }
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, only_ws).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let mut from_all = all.subscribe();
    let (direct, mut to_me) = mpsc::unbounded_channel::<Message>();

    let writer = tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                m = to_me.recv() => match m { Some(m) => m, None => break },
                m = from_all.recv() => match m {
                    Ok(m) => m,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            if sink.feed(first).await.is_err() {
                return;
            }
            // Feed whatever else is ready, then flush once.
            loop {
                let next = match to_me.try_recv() {
                    Ok(m) => m,
                    Err(_) => match from_all.try_recv() {
                        Ok(m) => m,
                        Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    },
                };
                if sink.feed(next).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });

    while let Some(Ok(msg)) = source.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(incoming) = serde_json::from_str::<Incoming>(text.as_str()) else { continue };
        match incoming.kind.as_str() {
            "echo" => {
                let _ = direct.send(Message::Text(text));
            }
            "broadcast" => {
                let out = Broadcast { kind: "broadcast", payload: &incoming.payload };
                let Ok(out) = serde_json::to_string(&out) else { continue };
                let _ = all.send(Message::text(out));
                let result = BroadcastResult {
                    kind: "broadcastResult",
                    payload: &incoming.payload,
                    listen_count: all.receiver_count(),
                };
                let Ok(result) = serde_json::to_string(&result) else { continue };
                let _ = direct.send(Message::text(result));
            }
            _ => {}
        }
    }
    writer.abort();
}
