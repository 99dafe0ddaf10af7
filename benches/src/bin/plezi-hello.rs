//! plezi-hello: the plezi side of the `wrk` comparison with `benches/peers/hyper-hello`.
//!
//! The same job as the hyper peer: `GET /` answers a small text from memory (no public folder,
//! so no file-system lookup), HTTP/1.1 keep-alive. `examples/echo` answers `GET /` from its public
//! folder, a different job (stat + ETag + file body), measured separately in `benches/run-http.sh`.
//! PORT (default 3000) and HOST (default 127.0.0.1) from the environment; prints one ready line;
//! stops on SIGTERM/SIGINT.

use std::io::Write;

use plezi_server::{Reply, Request, Response, Server};

fn service(req: &mut Request) -> Reply {
    match req.path() {
        "/" => Reply::Response(Response::text(200, "Hello from plezi\n")),
        _ => Reply::Response(Response::text(404, "Not Found\n")),
    }
}

fn main() {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let server = match Server::builder()
        .bind(format!("{host}:{port}"))
        .service(service)
        .build()
    {
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
