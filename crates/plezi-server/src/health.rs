//! Health endpoints for load balancers and orchestrators: a liveness path that answers `200`
//! while the process serves, and a readiness path that answers `200` until the server begins to
//! drain ([`ServerHandle::drain`](crate::ServerHandle::drain)) or stop, then `503`, so new clients
//! go elsewhere while the connections it holds are moved off gently. Answered on the loop before
//! static files, the origin checks and the service; `GET` and `HEAD` only.

use crate::http::{Request, Response};

/// The two paths (see [`ServerBuilder::health`](crate::ServerBuilder::health)).
#[derive(Clone, Debug)]
pub(crate) struct Health {
    live: String,
    ready: String,
}

impl Health {
    pub(crate) fn new(live: &str, ready: &str) -> Health {
        Health {
            live: live.to_owned(),
            ready: ready.to_owned(),
        }
    }

    /// The answer when `req` asks one of the paths; `draining`: the server stops taking clients.
    pub(crate) fn answer(&self, req: &Request, draining: bool) -> Option<Response> {
        if !matches!(req.method(), "GET" | "HEAD") {
            return None;
        }
        let resp = if req.path() == self.live {
            Response::text(200, "live\n")
        } else if req.path() == self.ready {
            match draining {
                false => Response::text(200, "ready\n"),
                true => Response::text(503, "draining\n"),
            }
        } else {
            return None;
        };
        Some(resp.header("Cache-Control", "no-store"))
    }
}
