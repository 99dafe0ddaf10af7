//! plezi-hello: the plezi side of the `wrk` comparison with `benches/peers/hyper-hello`.
//!
//! The same job as the hyper peer: `GET /` answers a small text from memory (no public folder,
//! so no file-system lookup), HTTP/1.1 keep-alive.
//!
//! For the static-file comparison in `benches/run-http.sh`:
//! - `MEMORY_FILE=<file>`: `GET /from-memory` answers the bytes the file had at start-up, as
//!   `text/html` from a shared buffer (the in-memory baseline);
//! - `PUBLIC=<folder>`: serves that folder as the public folder (the same file, as a static file).
//!
//! PORT (default 3000) and HOST (default 127.0.0.1) from the environment; prints one ready line;
//! stops on SIGTERM/SIGINT.

use std::io::Write;
use std::sync::Arc;

use plezi_server::{Reply, Request, Response, Server};

fn main() {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let from_memory: Option<Arc<[u8]>> = std::env::var_os("MEMORY_FILE").map(|file| {
        std::fs::read(&file).map(Arc::from).unwrap_or_else(|e| {
            eprintln!("plezi-hello: MEMORY_FILE={}: {e}", file.display());
            std::process::exit(1);
        })
    });
    let service = move |req: &mut Request| -> Reply {
        Reply::Response(match (req.path(), &from_memory) {
            ("/", _) => Response::text(200, "Hello from plezi\n"),
            ("/from-memory", Some(bytes)) => Response::new(200)
                .header("Content-Type", "text/html; charset=utf-8")
                .body(Arc::clone(bytes)),
            _ => Response::text(404, "Not Found\n"),
        })
    };
    let mut builder = Server::builder()
        .bind(format!("{host}:{port}"))
        .service(service);
    if let Some(dir) = std::env::var_os("PUBLIC") {
        builder = builder.public_folder(dir);
    }
    let server = match builder.build() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("plezi-hello: {e}");
            std::process::exit(1);
        }
    };
    println!("plezi-hello listening on http://{}/", server.local_addr());
    let _ = std::io::stdout().flush();
    if let Err(e) = server.run() {
        eprintln!("plezi-hello: {e}");
        std::process::exit(1);
    }
}
