//! State shared by the service, the connections and the bus sink of one application.

use crate::templates::Templates;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use plezi_messaging::{Bus, ConnectionUuid};
use plezi_server::{ConnId, ServerHandle};

use crate::events::Mode;
use crate::metrics::Timings;
use crate::params::ParamsLimits;
use crate::rate::PeerLimiter;
use crate::session::Sessions;

/// What every part of a running application shares.
pub(crate) struct AppState {
    pub(crate) bus: Bus,
    handle: OnceLock<ServerHandle>,
    pub(crate) limits: ParamsLimits,
    /// Session cookie and store.
    pub(crate) sessions: Sessions,
    /// Cookies default to `Secure` (the public origin is https).
    pub(crate) secure_cookies: bool,
    /// Controller bus name → server tag.
    tags: HashMap<String, u64>,
    /// The HTTP `notify` rate limit per peer address.
    pub(crate) notify_peers: PeerLimiter,
    /// The templates, if the routes named a folder.
    pub(crate) templates: Option<Templates>,
    /// Handler and AJAJ latencies (the metrics this crate measures).
    pub(crate) timings: Timings,
}

impl AppState {
    pub(crate) fn new(
        bus: Bus,
        limits: ParamsLimits,
        sessions: Sessions,
        secure_cookies: bool,
        kinds: &[Arc<KindInfo>],
    ) -> AppState {
        AppState {
            bus,
            handle: OnceLock::new(),
            limits,
            sessions,
            secure_cookies,
            tags: kinds.iter().map(|k| (k.name.clone(), k.tag)).collect(),
            notify_peers: PeerLimiter::default(),
            templates: None,
            timings: Timings::default(),
        }
    }

    /// The server, once attached.
    pub(crate) fn handle(&self) -> Option<&ServerHandle> {
        self.handle.get()
    }

    /// Attaches the server (once; later calls are ignored and return false).
    pub(crate) fn attach(&self, handle: ServerHandle) -> bool {
        self.handle.set(handle).is_ok()
    }

    /// The server tag of a controller type, by bus name.
    pub(crate) fn tag_of(&self, name: &str) -> Option<u64> {
        self.tags.get(name).copied()
    }

    /// The bus UUID of a local connection.
    pub(crate) fn uuid_of(&self, id: ConnId) -> ConnectionUuid {
        self.bus
            .connection_uuid(id.loop_index(), id.slot(), id.generation())
    }

    /// The local connection a UUID names, if it belongs to this server.
    pub(crate) fn conn_of(&self, uuid: ConnectionUuid) -> Option<ConnId> {
        (uuid.server() == self.bus.server_id())
            .then(|| ConnId::new(uuid.loop_index(), uuid.slot(), uuid.generation()))
    }
}

/// What the application knows about one controller type.
#[derive(Debug)]
pub(crate) struct KindInfo {
    /// The bus name (`Controller::bus_name`).
    pub(crate) name: String,
    /// The server tag of its WebSocket connections.
    pub(crate) tag: u64,
    /// `Controller::message_store_lifespan`.
    pub(crate) lifespan: Duration,
    /// The WebSocket mode.
    pub(crate) mode: Mode,
    /// `Controller::history`.
    pub(crate) history: Option<plezi_messaging::HistoryLimits>,
}
