//! Echo: `GET /` answers a small page (examples/public/echo/index.html), a WebSocket upgrade on `/`
//! or `/ws` echoes every text and binary message, other files come from `examples/public/echo/`.
//!
//! ```text
//! cargo run --release --example echo          # PORT=3000 HOST=127.0.0.1 by default
//! ```
//! Prints one line with the URL when ready; stops cleanly on SIGINT/SIGTERM. Messages up to
//! 16 MiB are accepted (the size of Autobahn's largest cases), so `kosoku 127.0.0.1:3000` passes.

use std::io::Write;
use std::path::PathBuf;

use plezi::plezi_server::{
    Message, Reply, Request, Response, Server, ServerConfig, Upgrade, WebSocket, WebSocketHandler,
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

/// A minimal stderr logger (warnings and errors; `PLEZI_LOG=debug|info` for more). Filtering
/// is done by `log::set_max_level`.
struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let _ = writeln!(std::io::stderr(), "[{}] {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

fn init_logging() {
    let level = match std::env::var("PLEZI_LOG").as_deref() {
        Ok("debug") => log::LevelFilter::Debug,
        Ok("info") => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

fn main() {
    init_logging();
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let public = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/public/echo");
    let built = Server::builder()
        .bind(format!("{host}:{port}"))
        .public_folder(public)
        .config(ServerConfig {
            ws_max_message_bytes: MAX_MESSAGE,
            ..ServerConfig::default()
        })
        .service(service)
        .build();
    let server = match built {
        Ok(server) => server,
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(1);
        }
    };
    println!("echo listening on http://{}/", server.local_addr());
    if let Err(e) = server.run() {
        eprintln!("echo: {e}");
        std::process::exit(1);
    }
}
