//! [`Dispatcher`]: routes + bus = a running application's [`Service`] and bus [`Sink`].
//!
//! [`Sink`]: plezi_messaging::Sink

use std::sync::Arc;

use plezi_messaging::{Bus, ConnectionUuid, Message, Payload, Target};
use plezi_server::{Reply, Request, Response, ServerHandle, Service};
use serde_json::Value;

use crate::app_state::AppState;
use crate::client_route;
use crate::controller::Controller;
use crate::endpoint::UpgradeReply;
use crate::error::SendError;
use crate::metrics::{self, Metrics};
use crate::params::Params;
use crate::router::Router;
use crate::routes::{NotFound, RouteTarget, Routes};
use crate::session::Sessions;
use crate::sink::DispatchSink;

/// The immutable routing table.
struct Table {
    router: Router,
    targets: Vec<RouteTarget>,
    not_found: NotFound,
}

/// An application ready to serve: give [`Dispatcher::service`] to the server builder, then
/// [`Dispatcher::attach`] the built server's handle (before it runs).
///
/// ```no_run
/// use plezi_dispatch::{Dispatcher, Routes};
/// use plezi_messaging::{Bus, BusConfig};
/// use plezi_server::Server;
///
/// let mut routes = Routes::new();
/// routes.client("/client.js")?;
/// let app = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
/// let server = Server::builder().service(app.service()).build()?;
/// app.attach(server.handle());
/// server.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    app: Arc<AppState>,
    table: Arc<Table>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("bus", &self.app.bus)
            .field("routes", &self.table.router)
            .finish()
    }
}

impl Dispatcher {
    /// Joins the routes to `bus`: registers the bus sink. (Each WebSocket connection joins its
    /// controller type's broadcasts on the bus when it opens.)
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// assert!(dispatcher.bus().state().connected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(routes: Routes, bus: Bus) -> Dispatcher {
        let Routes {
            router,
            targets,
            kinds,
            not_found,
            limits,
            sessions,
            secure_cookies,
            templates,
            channel_histories,
            ..
        } = routes;
        let histories = kinds
            .iter()
            .filter_map(|k| {
                Some((
                    Target::Broadcast {
                        controller: k.name.clone(),
                    },
                    k.history?,
                ))
            })
            .chain(
                channel_histories
                    .into_iter()
                    .map(|(n, l)| (Target::Channel(n), l)),
            );
        for (target, limits) in histories {
            if let Err(e) = bus.keep_history(&target, limits) {
                log::warn!(
                    "plezi: {target:?} keeps no history, so reconnecting clients recover nothing: {e}"
                );
            }
        }
        let sessions = Sessions::new(sessions, secure_cookies);
        let mut app = AppState::new(bus.clone(), limits, sessions, secure_cookies, &kinds);
        app.templates = templates;
        let app = Arc::new(app);
        bus.set_sink(Arc::new(DispatchSink {
            app: Arc::downgrade(&app),
        }));
        Dispatcher {
            app,
            table: Arc::new(Table {
                router,
                targets,
                not_found,
            }),
        }
    }

    /// The server [`Service`] (cheap to clone).
    ///
    /// ```no_run
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let app = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// let server = plezi_server::Server::builder().service(app.service()).build()?;
    /// app.attach(server.handle());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn service(&self) -> DispatchService {
        DispatchService {
            app: self.app.clone(),
            table: self.table.clone(),
        }
    }

    /// Connects the dispatcher to its server; call once, before the server runs. Deliveries need
    /// it: until then they are dropped (mailbox messages stay stored).
    ///
    /// ```no_run
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let app = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// let server = plezi_server::Server::builder().service(app.service()).build()?;
    /// app.attach(server.handle()); // before run: deliveries reach the connections from now on
    /// server.run()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach(&self, handle: ServerHandle) {
        if !self.app.attach(handle) {
            log::warn!("plezi: Dispatcher::attach called twice; the first server stays attached");
        }
    }

    /// The bus.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// println!("this server: {}", dispatcher.bus().server_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bus(&self) -> &Bus {
        &self.app.bus
    }

    /// The application's metrics: connections, messages, fan-outs, HTTP answers, the bus, the
    /// mailboxes and handler latencies, read when asked (see [`Metrics`]).
    ///
    /// ```
    /// # use plezi_dispatch::{Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// let dispatcher = Dispatcher::new(Routes::new(), Bus::in_process(BusConfig::default()));
    /// let snapshot = dispatcher.metrics().snapshot();
    /// assert!(snapshot.server.is_none()); // no server attached yet
    /// ```
    pub fn metrics(&self) -> Metrics {
        Metrics::new(self.app.clone())
    }

    /// Every connection of controller type `C`, on every server, runs its handler for `event`
    /// (upstream `Controller.broadcast`, from outside any connection).
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// // A thread outside any connection: every Chat connection runs its `news` handler.
    /// dispatcher.broadcast::<Chat>("news", json!({"title": "hello"}))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn broadcast<C: Controller>(&self, event: &str, data: Value) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: C::bus_name(),
        };
        self.post(target, Payload::event(event, data))
    }

    /// Every WebSocket connection of the application, on every server, runs its handler for
    /// `event`.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// dispatcher.multicast("maintenance", json!({"in_minutes": 5}))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn multicast(&self, event: &str, data: Value) -> Result<(), SendError> {
        self.post(Target::Multicast, Payload::event(event, data))
    }

    /// Connection `to` runs its handler for `event`.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// let to = dispatcher.bus().connection_uuid(0, 7, 0); // usually a UUID a client sent
    /// dispatcher.unicast(to, "private", json!({"text": "hi"}))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unicast(&self, to: ConnectionUuid, event: &str, data: Value) -> Result<(), SendError> {
        self.post(Target::Unicast(to), Payload::event(event, data))
    }

    /// The subscribers of `channel` run their handler for `event`.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// dispatcher.publish("room:lobby", "say", json!({"text": "server restarts soon"}))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(&self, channel: &str, event: &str, data: Value) -> Result<(), SendError> {
        self.post(
            Target::Channel(channel.to_owned()),
            Payload::event(event, data),
        )
    }

    /// Stores `event` in `identity`'s mailbox and signals its live connections. Never waits for
    /// Redis, so it may be called anywhere (an event loop's timer included): the in-memory store
    /// answers at once; with Redis the notification is queued, and a refusal found later is
    /// logged and counted in `BusState::notify_refused`. Not rate limited. To wait for the
    /// stored-or-refused answer off the event loops, call `self.bus().notify(..)`.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// // Stored in user-7's mailbox: delivered now if connected, else when they register.
    /// dispatcher.notify("user-7", "invoice", json!({"id": 42}))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notify(&self, identity: &str, event: &str, data: Value) -> Result<(), SendError> {
        Ok(self
            .app
            .bus
            .notify_from(None, identity, Payload::event(event, data))?)
    }

    /// Fast path: `text` written as is to every connection of controller type `C` on every
    /// server (framed once per server, no handler runs).
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Dispatcher, Routes};
    /// # use plezi_messaging::{Bus, BusConfig};
    /// # use serde_json::json;
    /// # #[derive(Default)] struct Chat;
    /// # impl Controller for Chat {}
    /// let mut routes = Routes::new();
    /// routes.controller("/chat", Chat::default)?;
    /// let dispatcher = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
    /// dispatcher.broadcast_raw::<Chat>(r#"{"event":"tick"}"#)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn broadcast_raw<C: Controller>(&self, text: &str) -> Result<(), SendError> {
        let target = Target::Broadcast {
            controller: C::bus_name(),
        };
        self.post(target, Payload::raw(text))
    }

    fn post(&self, target: Target, payload: Payload) -> Result<(), SendError> {
        Ok(self.app.bus.publish(Message::new(target, payload))?)
    }
}

/// The [`Service`] of a [`Dispatcher`]: routes, REST actions, AJAJ, upgrades, the client.
///
/// ```no_run
/// # use plezi_dispatch::{Controller, Dispatcher, Routes};
/// # use plezi_messaging::{Bus, BusConfig};
/// # use serde_json::json;
/// # #[derive(Default)] struct Chat;
/// # impl Controller for Chat {}
/// let mut routes = Routes::new();
/// routes.controller("/chat", Chat::default)?;
/// let app = Dispatcher::new(routes, Bus::in_process(BusConfig::default()));
/// let service = app.service(); // what `ServerBuilder::service` takes
/// let server = plezi_server::Server::builder().service(service).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DispatchService {
    app: Arc<AppState>,
    table: Arc<Table>,
}

impl std::fmt::Debug for DispatchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchService").finish_non_exhaustive()
    }
}

fn bad_request(e: &dyn std::fmt::Display) -> Reply {
    Reply::Response(Response::text(400, format!("{e}\n")))
}

fn bad_params(e: &crate::params::ParamsError) -> Reply {
    Reply::Response(Response::text(e.status(), format!("{e}\n")))
}

impl Service for DispatchService {
    fn call(&self, req: &mut Request) -> Reply {
        let req: &Request = req;
        let matches = match self.table.router.matches(req.path()) {
            Ok(m) => m,
            Err(e) => return bad_request(&e),
        };
        let mut base: Option<Params> = None;
        for m in matches {
            let Some(target) = self.table.targets.get(m.route.index()) else {
                continue;
            };
            match target {
                RouteTarget::Client => {
                    if let Some(resp) = client_route::serve(req) {
                        return Reply::Response(resp);
                    }
                }
                RouteTarget::Metrics => {
                    if let Some(reply) = metrics::serve(&self.app, req) {
                        return reply;
                    }
                }
                RouteTarget::Controller(endpoint) => {
                    let base = match &mut base {
                        Some(b) => b,
                        None => match Params::from_request(
                            req.query(),
                            req.header("content-type"),
                            req.body(),
                            &self.app.limits,
                        ) {
                            Ok(p) => base.insert(p),
                            Err(e) => return bad_params(&e),
                        },
                    };
                    let mut params = base.clone();
                    params.merge(m.params);
                    if req.is_websocket_upgrade() {
                        match endpoint.upgrade(&self.app, req, params) {
                            UpgradeReply::Accept(upgrade) => return Reply::Upgrade(upgrade),
                            UpgradeReply::Refuse(resp) => return Reply::Response(resp),
                            UpgradeReply::Decline => {}
                        }
                    } else if let Some(reply) = endpoint.http(&self.app, req, params) {
                        return reply;
                    }
                }
            }
        }
        Reply::Response((self.table.not_found)(req))
    }
}
