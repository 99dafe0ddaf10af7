//! [`Env`]: what every connection of one loop shares (the service, static files, limits,
//! timeouts, policies, the server handle), and the contexts the HTTP and WebSocket layers get
//! from it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ServerConfig;
use crate::conn_id::ConnId;
use crate::handle::ServerHandle;
use crate::handler::Service;
use crate::health::Health;
use crate::http::HttpLimits;
use crate::http_conn::HttpCx;
use crate::security::Guards;
use crate::static_files::StaticFiles;
use crate::stats::LoopStats;
use crate::ws_conn::{WsCx, WsLimits};

/// Connection timeouts in loop-clock milliseconds.
pub(crate) struct Timeouts {
    pub(crate) header: u32,
    pub(crate) keep_alive: u32,
    pub(crate) ws_idle: u32,
    pub(crate) grace: u32,
    /// How long a deferred answer may take.
    pub(crate) reply: u32,
    /// The window over which a drain spreads its WebSocket closes (0: all at once).
    pub(crate) drain_window: u32,
}

/// What every connection of a loop shares.
pub(crate) struct Env {
    pub(crate) handle: ServerHandle,
    /// The loop's index (its counters are `handle.loop_stats(loop_index)`).
    pub(crate) loop_index: u16,
    pub(crate) service: Arc<dyn Service>,
    pub(crate) statics: Option<Arc<StaticFiles>>,
    pub(crate) limits: HttpLimits,
    pub(crate) ws_limits: WsLimits,
    pub(crate) timeouts: Timeouts,
    pub(crate) access_log: bool,
    pub(crate) guards: Arc<Guards>,
    /// The health paths, if the server answers them.
    pub(crate) health: Option<Arc<Health>>,
    pub(crate) max_form_body: usize,
    /// Minimum request body rate (bytes/s, 0 = off) and its grace period (ms).
    pub(crate) min_body_rate: u32,
    pub(crate) min_body_grace: u32,
    /// Most connections of the whole server (checked when loop 0 accepts).
    pub(crate) max_connections: usize,
    /// How long fan-out frames may wait for a write when the loop lags, in ms (0 = never).
    pub(crate) coalesce: u32,
}

fn millis(d: Duration) -> u32 {
    // Capped so wrapping clock arithmetic stays unambiguous.
    d.as_millis().clamp(1, 1 << 30) as u32
}

impl Env {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        handle: ServerHandle,
        loop_index: u16,
        config: &ServerConfig,
        service: Arc<dyn Service>,
        statics: Option<Arc<StaticFiles>>,
        guards: Arc<Guards>,
        health: Option<Arc<Health>>,
        max_connections: usize,
    ) -> Env {
        Env {
            handle,
            loop_index,
            service,
            statics,
            limits: HttpLimits::from(config),
            ws_limits: WsLimits {
                max_pending: config.max_pending_bytes,
                policy: config.slow_consumer,
                max_message: config.ws_max_message_bytes,
                deflate_threshold: config.ws_deflate_threshold,
            },
            timeouts: Timeouts {
                header: millis(config.header_timeout),
                keep_alive: millis(config.keep_alive_timeout),
                ws_idle: millis(config.ws_idle_ping),
                grace: millis(config.shutdown_grace),
                reply: millis(config.reply_timeout),
                drain_window: config.drain_window.as_millis().min(1 << 30) as u32,
            },
            access_log: config.access_log,
            guards,
            health,
            max_form_body: config.max_form_body_bytes,
            min_body_rate: config.min_body_rate,
            min_body_grace: millis(config.min_body_rate_grace),
            max_connections,
            coalesce: config.broadcast_coalesce.as_millis().min(1 << 30) as u32,
        }
    }

    pub(crate) fn http_cx(&self, peer: SocketAddr, now: u32, stopping: bool) -> HttpCx<'_> {
        HttpCx {
            service: self.service.as_ref(),
            statics: self.statics.as_deref(),
            limits: &self.limits,
            ws_limits: &self.ws_limits,
            access_log: self.access_log,
            guards: &self.guards,
            health: self.health.as_deref(),
            draining: self.handle.is_draining(),
            max_form_body: self.max_form_body,
            stats: self.stats(),
            stopping,
            now,
            peer,
        }
    }

    pub(crate) fn ws_cx(&self, id: ConnId, peer: SocketAddr, now: u32) -> WsCx<'_> {
        WsCx {
            id,
            peer,
            server: &self.handle,
            limits: &self.ws_limits,
            stats: self.stats(),
            now,
        }
    }

    /// This loop's counters.
    pub(crate) fn stats(&self) -> &LoopStats {
        self.handle.loop_stats(self.loop_index)
    }

    /// The interval of the timeout scan: a quarter of the shortest timeout, between 10 ms and 1 s.
    pub(crate) fn tick_ms(&self) -> u32 {
        let t = &self.timeouts;
        (t.header.min(t.keep_alive).min(t.ws_idle) / 4).clamp(10, 1000)
    }
}
