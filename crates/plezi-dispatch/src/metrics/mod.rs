//! An application's metrics: [`Metrics`] reads, at the moment it is asked, the counters each
//! layer keeps cheaply for itself (the server's per-loop counters, the bus's counters and state,
//! the mailbox store's usage, and this crate's handler latencies), as a typed
//! [`MetricsSnapshot`] or as Prometheus text (`prometheus.rs`); `route.rs` serves the text on the
//! opt-in route ([`Routes::metrics`](crate::Routes::metrics)). Nothing is pushed into a registry
//! on the hot paths: the encoder reads the counters at scrape time.

mod latency;
mod prometheus;
mod route;

use std::sync::Arc;
use std::time::Instant;

use plezi_messaging::{BusState, MailboxUsage};
use plezi_server::ServerStats;

use crate::app_state::AppState;

pub(crate) use latency::Latency;
pub use latency::LatencySnapshot;
pub(crate) use route::serve;

/// The latencies this crate measures (the other counters live in the layers that count them).
#[derive(Default)]
pub(crate) struct Timings {
    /// A WebSocket client message's handling: parse, handler, answer.
    pub(crate) handler: Latency,
    /// An AJAJ request's handler and its JSON answer.
    pub(crate) ajaj: Latency,
}

impl Timings {
    /// Runs `f` and counts how long it took in `histogram`.
    pub(crate) fn time<R>(histogram: &Latency, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let r = f();
        histogram.observe(started.elapsed());
        r
    }
}

/// A running application's metrics, readable from code ([`Metrics::snapshot`]) or as Prometheus
/// text ([`Metrics::prometheus_text`]); what each one means is in `docs/operations.md#metrics`.
/// Cheap to clone. Get it from [`Dispatcher::metrics`](crate::Dispatcher::metrics).
///
/// ```
/// use plezi_dispatch::{Dispatcher, Routes};
/// use plezi_messaging::{Bus, BusConfig};
///
/// let app = Dispatcher::new(Routes::new(), Bus::in_process(BusConfig::default()));
/// let now = app.metrics().snapshot();
/// assert!(now.bus.connected);
/// assert_eq!(now.handler_latency.count, 0);
/// assert!(app.metrics().prometheus_text().contains("plezi_bus_connected 1"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    app: Arc<AppState>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Every metric of an application at one moment ([`Metrics::snapshot`]). Counters count since the
/// process started.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// The server's connections, messages, fan-outs, queues and HTTP answers; `None` until a
    /// server is attached ([`Dispatcher::attach`](crate::Dispatcher::attach)).
    pub server: Option<ServerStats>,
    /// The bus: connected, queued publishes, peers, and its counters.
    pub bus: BusState,
    /// What the mailbox store holds; `None` when it could not be read (the Redis store
    /// unreachable).
    pub mailboxes: Option<MailboxUsage>,
    /// How long WebSocket client messages took to handle (parse, handler, answer).
    pub handler_latency: LatencySnapshot,
    /// How long AJAJ requests took (handler and JSON answer).
    pub ajaj_latency: LatencySnapshot,
}

impl Metrics {
    pub(crate) fn new(app: Arc<AppState>) -> Metrics {
        Metrics { app }
    }

    /// Reads every metric now. With a Redis mailbox store this asks Redis for the mailbox usage
    /// (one round trip, bounded by the store's I/O timeout), so call it off the event loops, as
    /// the metrics route does.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let app = &self.app;
        let mailboxes = app
            .bus
            .mailbox_usage()
            .inspect_err(|e| log::debug!("plezi: metrics without the mailbox usage: {e}"))
            .ok();
        MetricsSnapshot {
            server: app.handle().map(|h| h.stats()),
            bus: app.bus.state(),
            mailboxes,
            handler_latency: app.timings.handler.snapshot(),
            ajaj_latency: app.timings.ajaj.snapshot(),
        }
    }

    /// Every metric now, in the Prometheus text exposition format (version 0.0.4; its content
    /// type is [`Metrics::CONTENT_TYPE`]). Label values are fixed names and status codes, never
    /// anything a client sent. Blocks like [`Metrics::snapshot`].
    pub fn prometheus_text(&self) -> String {
        prometheus::encode(&self.snapshot())
    }

    /// The `Content-Type` of [`Metrics::prometheus_text`].
    pub const CONTENT_TYPE: &'static str = prometheus::CONTENT_TYPE;
}
