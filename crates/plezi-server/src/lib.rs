//! plezi-server: the mio event-loop HTTP/1.1 and WebSocket core of the plezi framework.
//!
//! A [`Server`] runs N event loops (threads), each with its own `mio::Poll` and connections. An
//! HTTP request goes to static files (if a public folder is set) and then to the [`Service`],
//! which answers with a [`Response`] or an [`Upgrade`] to WebSocket; a WebSocket connection is
//! then driven by its [`WebSocketHandler`]. A [`ServerHandle`] reaches any connection or loop
//! from any thread: write, close, run a closure, broadcast one encoded frame to many.
//!
//! ```no_run
//! use plezi_server::{Message, Reply, Request, Response, Server, Upgrade, WebSocket, WebSocketHandler};
//!
//! struct Echo;
//! impl WebSocketHandler for Echo {
//!     fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
//!         let _ = match msg {
//!             Message::Text(t) => ws.write_text(t),
//!             Message::Binary(b) => ws.write_binary(b),
//!         };
//!     }
//! }
//!
//! let server = Server::builder()
//!     .bind("127.0.0.1:3000")
//!     .service(|req: &mut Request| {
//!         if req.is_websocket_upgrade() {
//!             Reply::Upgrade(Upgrade::new(Box::new(Echo)))
//!         } else {
//!             Reply::Response(Response::text(200, "hello\n"))
//!         }
//!     })
//!     .build()?;
//! server.run()?;
//! # Ok::<(), plezi_server::ServerError>(())
//! ```
//!
//! Architecture invariant: this crate knows nothing of controllers, JSON or Redis.
//!
//! The `http` and `ws` modules are the protocol layers as pure code over buffers, and `outbound`
//! is a connection's queue of encoded output; they are public for benchmarks and tools.
//! Applications need only the crate-root items.

pub mod http;
pub mod outbound;
pub mod ws;

mod blocking;
mod config;
mod conn_id;
mod connection;
mod error;
mod event_loop;
mod handle;
mod handler;
mod http_conn;
mod loop_tasks;
mod panic_guard;
mod server;
mod slab;
mod static_files;
mod sweep;
mod timers;
mod ws_conn;

pub use config::{ServerConfig, SlowConsumerPolicy};
pub use conn_id::ConnId;
pub use error::{ServerError, WriteError};
pub use handle::{EachFn, ServerHandle};
pub use handler::{Filter, Reply, Service, Upgrade, WebSocket, WebSocketHandler};
pub use http::{Body, FileBody, Request, Response};
pub use server::{RunningServer, Server, ServerBuilder};
pub use timers::TimerId;
pub use ws::{CloseInfo, Message, SharedFrame};
