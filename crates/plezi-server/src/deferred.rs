//! Answers that come later. A [`Service`](crate::Service) returns [`Reply::later`](crate::Reply::later)
//! when its response depends on work that finishes elsewhere (another thread, a store): the
//! connection waits for the [`Responder`] with its input paused (later pipelined requests wait
//! their turn), then sends the answer as if the service had returned it. Nothing waits forever:
//! past `ServerConfig::reply_timeout` the client gets `504`, and a responder dropped without an
//! answer sends `500`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::conn_id::ConnId;
use crate::handle::{ServerHandle, Task};
use crate::http::Response;

/// What the service hands over: called once, on the loop thread, with the request's responder.
pub(crate) type LaterFn = Box<dyn FnOnce(Responder) + Send>;

/// Tells apart the deferred requests of one connection (and of a reused slot), so a late answer
/// never reaches a later request.
pub(crate) fn next_ticket() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The way to answer one deferred request, from any thread. Answer with [`Responder::respond`];
/// dropping it unanswered answers `500`. An answer that comes after the reply timeout, or after
/// the connection closed, is discarded.
///
/// ```
/// use plezi_server::{Reply, Request, Response, Responder};
/// fn service(_req: &mut Request) -> Reply {
///     Reply::later(|responder: Responder| {
///         std::thread::spawn(move || responder.respond(Response::text(200, "done\n")));
///     })
/// }
/// ```
pub struct Responder {
    id: ConnId,
    ticket: u64,
    server: ServerHandle,
    answered: bool,
}

impl Responder {
    pub(crate) fn new(id: ConnId, ticket: u64, server: ServerHandle) -> Responder {
        Responder {
            id,
            ticket,
            server,
            answered: false,
        }
    }

    /// The connection the request came on.
    pub fn conn_id(&self) -> ConnId {
        self.id
    }

    /// Sends `response` as the request's answer (through the connection's loop).
    pub fn respond(mut self, response: Response) {
        self.answered = true;
        self.send(response);
    }

    fn send(&self, response: Response) {
        self.server.send(
            self.id.loop_index(),
            Task::Respond(self.id, self.ticket, Box::new(response)),
        );
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.answered {
            log::warn!(
                "plezi: a deferred request on {:?} was dropped without an answer; sent 500",
                self.id
            );
            self.send(Response::text(500, "Internal Server Error\n").header("Connection", "close"));
        }
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("id", &self.id)
            .field("ticket", &self.ticket)
            .finish()
    }
}
