//! The metrics route ([`Routes::metrics`](crate::Routes::metrics)): `GET`/`HEAD` at exactly its
//! path answers the Prometheus text, `Cache-Control: no-store`. The snapshot is read on the
//! server's blocking pool (the Redis mailbox store may take a round trip), never on an event loop.

use std::sync::Arc;

use plezi_server::{Reply, Request, Response};

use super::Metrics;
use crate::app_state::AppState;

/// Answers `req` with the metrics, or `None` for methods other than GET and HEAD.
pub(crate) fn serve(app: &Arc<AppState>, req: &Request) -> Option<Reply> {
    if !matches!(req.method(), "GET" | "HEAD") {
        return None;
    }
    let metrics = Metrics::new(app.clone());
    let answer = move || {
        Response::new(200)
            .header("Content-Type", Metrics::CONTENT_TYPE)
            .header("Cache-Control", "no-store")
            .body(metrics.prometheus_text())
    };
    let Some(handle) = app.handle().cloned() else {
        return Some(Reply::Response(answer()));
    };
    Some(Reply::later(move |responder| {
        handle.run_blocking(move || responder.respond(answer()));
    }))
}
