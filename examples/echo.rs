//! Echo: `GET /` answers a small page (examples/public/echo/index.html), a WebSocket upgrade on `/`
//! or `/ws` echoes every text and binary message, other files come from `examples/public/echo/`.
//!
//! ```text
//! cargo run --release --example echo          # PORT=3000 HOST=127.0.0.1 by default
//! ```
//! Prints one line with the URL when ready; stops cleanly on SIGINT/SIGTERM. Messages up to
//! 16 MiB are accepted (the size of Autobahn's largest cases) and every echo is compressed for a
//! client that negotiated permessage-deflate, so `kosoku 127.0.0.1:3000` passes all 517 cases.

use std::path::PathBuf;

use plezi::plezi_server::{
    Message, Reply, Request, Response, Server, ServerConfig, ServerError, Upgrade, WebSocket,
    WebSocketHandler,
};

/// Autobahn's largest messages (cases 9.1.6, 9.2.6) are 16 MiB; the server default is 1 MiB.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Echoes every message back to its sender.
struct Echo;

impl WebSocketHandler for Echo {
    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        let _ = match msg {
            Message::Text(text) => ws.write_text(text),
            Message::Binary(bytes) => ws.write_binary(bytes),
        };
    }
}

fn service(req: &mut Request) -> Reply {
    match req.path() {
        "/" | "/ws" if req.is_websocket_upgrade() => Reply::Upgrade(Upgrade::new(Box::new(Echo))),
        "/" => Reply::Response(Response::text(
            200,
            "plezi echo: open a WebSocket to / or /ws and every message comes back\n",
        )),
        _ => Reply::Response(Response::text(404, "Not Found\n")),
    }
}

fn main() {
    plezi::init_logging();
    if let Err(e) = serve() {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
}

/// Binds `HOST:PORT`, prints the URL once ready and runs until SIGINT/SIGTERM.
fn serve() -> Result<(), ServerError> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let public = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/public/echo");
    let server = Server::builder()
        .bind(format!("{host}:{port}"))
        .public_folder(public)
        .config(ServerConfig {
            ws_max_message_bytes: MAX_MESSAGE,
            // Every echo compressed for clients that negotiate permessage-deflate, however small:
            // the Autobahn compression cases (12.*, 13.*) send messages from 16 bytes up and their
            // runner (kosoku) fails a case when an echo on a compressing connection comes back
            // uncompressed, though RFC 7692 allows it (the server default is 256 bytes).
            ws_deflate_threshold: Some(0),
            ..ServerConfig::default()
        })
        .service(service)
        .build()?;
    println!("echo listening on http://{}/", server.local_addr());
    server.run()
}
