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
//! # How it works
//!
//! - **Loops.** `threads` event loops (default: the available cores), each a thread with its own
//!   `mio::Poll` and a slab of connections addressed by [`ConnId`] (loop, slot, generation). One
//!   listener lives on loop 0, which accepts and hands sockets round-robin to the loops
//!   (`TCP_NODELAY` set). Other threads reach a loop through its inbox (a mutex-guarded `Vec`
//!   swapped out whole) and a `mio::Waker` that is only woken when the inbox goes from empty to
//!   non-empty.
//! - **A loop turn.** Poll → read and process socket input → inbox tasks → due timers → the
//!   timeout sweep (every ¼ of the shortest timeout, at most 1 s) → flush every connection that
//!   got output during the turn, once, with vectored writes. When a loop lags behind a wide
//!   fan-out, receivers of fan-out frames wait up to [`ServerConfig::broadcast_coalesce`] so that
//!   later frames leave in the same write; a connection's own output never waits.
//! - **Fan-out.** Each loop lists its WebSocket connections by [`Upgrade::tag`]: a
//!   [`ServerHandle::broadcast`] or [`ServerHandle::for_each`] to a tag visits only its members;
//!   [`ServerHandle::broadcast_listed`] and [`ServerHandle::for_each_listed`] send one task per
//!   loop for a list of ids.
//! - **Memory.** Input is read into one 64 KiB buffer per loop; a connection keeps only the bytes
//!   of an incomplete head or frame, and an outbound queue of encoded chunks (owned, or shared
//!   `Arc` bytes such as a broadcast [`SharedFrame`]) — both unallocated when idle.
//! - **Backpressure.** HTTP input pauses while a response streams or the queue is over
//!   [`ServerConfig::max_pending_bytes`]; a WebSocket over that cap gets the
//!   [`SlowConsumerPolicy`].
//! - **Shutdown.** [`ServerHandle::shutdown`] (or SIGINT/SIGTERM under [`Server::run`]): stop
//!   accepting, close idle HTTP connections, finish in-flight responses, `on_shutdown` then close
//!   1001 for every WebSocket, wait up to [`ServerConfig::shutdown_grace`], drop the rest.
//!
//! - **Safe by default** (`docs/security.md`). A WebSocket upgrade whose `Origin` is not allowed
//!   by the [`OriginPolicy`] (default: same-origin) gets `403`; so does a non-safe request from
//!   another site; [`Cors`] is opt-in; JSON and urlencoded bodies are capped apart from uploads;
//!   a body slower than [`ServerConfig::min_body_rate`] gets `408`; connections past
//!   [`ServerConfig::max_connections`] get `503`; dotfiles are not served.
//!
//! Architecture invariant: this crate knows nothing of controllers, JSON or Redis.
//!
//! # Features
//!
//! - `internals` (off by default): makes the modules `http` and `ws` (the protocol layers as pure
//!   code over buffers) and `outbound` (a connection's queue of encoded output) public, for the
//!   fuzzers, benchmarks and tools. They are not a stable API; applications need only the items
//!   at the crate root.

#[cfg(feature = "internals")]
pub mod http;
#[cfg(not(feature = "internals"))]
mod http;
#[cfg(feature = "internals")]
pub mod outbound;
#[cfg(not(feature = "internals"))]
mod outbound;
#[cfg(feature = "internals")]
pub mod ws;
#[cfg(not(feature = "internals"))]
mod ws;

mod blocking;
mod config;
mod conn_id;
mod connection;
mod deferred;
mod env;
mod error;
mod event_loop;
mod flags;
mod handle;
mod handler;
mod health;
mod http_conn;
mod loop_tasks;
mod next;
mod panic_guard;
mod security;
mod server;
mod slab;
mod socket_sink;
mod static_files;
mod stats;
mod sweep;
mod tag_index;
mod timers;
mod transport;
mod ws_conn;

pub use config::{DEFAULT_DEFLATE_THRESHOLD, ServerConfig, SlowConsumerPolicy};
pub use conn_id::ConnId;
pub use deferred::Responder;
pub use error::{ServerError, WriteError};
pub use handle::{EachFn, ServerHandle};
pub use handler::{Filter, Later, Reply, Service, Upgrade, WebSocket, WebSocketHandler};
pub use http::{Body, FileBody, HeaderError, Origin, OriginError, Request, Response};
pub use security::{Cors, CorsError, OriginListError, OriginPolicy, Preflight, Refusal};
pub use server::{RunningServer, Server, ServerBuilder};
pub use stats::ServerStats;
pub use timers::TimerId;
pub use ws::{CloseInfo, Message, SharedFrame};
