//! [`App`]: routes, a public folder and limits, wired to a server and a bus.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;

use plezi_dispatch::ParamsLimits;
use plezi_dispatch::{
    Controller, Dispatcher, Reload, Routes, SessionConfig, SessionKey, TypeScript,
};
use plezi_messaging::{
    Bus, Engine, MemorySessionStore, RedisSessionStore, SessionStore, SessionStoreConfig,
};
use plezi_server::{Request, Response, RunningServer, Server, ServerConfig, ServerHandle};

use crate::config::Config;

/// How long [`App::build`] waits for Redis to confirm the subscriptions.
const BUS_READY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
use crate::error::Error;
use crate::logger::init_logging;

/// An application: routes tried in the order added, a public folder, the client route, limits,
/// threads; configured from the environment ([`Config::from_env`]).
///
/// ```no_run
/// use plezi::prelude::*;
///
/// #[derive(Default)]
/// struct Echo;
/// impl Echo {
///     fn echo(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value { msg }
/// }
/// impl Controller for Echo {
///     fn events() -> Events<Self> { events![both echo => Echo::echo] }
/// }
///
/// fn main() -> Result<(), plezi::Error> {
///     App::new()
///         .client("/client.js")?
///         .route("/echo", Echo::default)?
///         .run()
/// }
/// ```
pub struct App {
    config: Result<Config, Error>,
    routes: Routes,
    public_folder: Option<PathBuf>,
    server_config: ServerConfig,
    bus: Option<Bus>,
    sessions: Option<SessionConfig>,
    health: Option<(String, String)>,
    templates: Option<PathBuf>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("routes", &self.routes)
            .field("public_folder", &self.public_folder)
            .finish_non_exhaustive()
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An application configured from the environment (`HOST`, `PORT`, `PL_THREADS`,
    /// `PL_REDIS_URL`/`REDIS_URL`, `PL_REDIS_CA_FILE`, `PL_REDIS_CERT_FILE`, `PL_REDIS_KEY_FILE`,
    /// `PL_APP_NAME`, `PL_ENV`, `PL_SESSION_KEY`, `PL_SESSION_IDLE`, `PL_SESSION_MAX`,
    /// `PL_PUBLIC_ORIGIN`); a variable that does not parse makes [`App::build`] fail, and so do TLS
    /// settings that cannot work (see `docs/configuration.md`).
    ///
    /// ```
    /// use plezi::App;
    /// let app = App::new(); // HOST, PORT, PL_THREADS, PL_REDIS_URL... are read when it is built
    /// # drop(app);
    /// ```
    pub fn new() -> App {
        App::with_config_result(Config::from_env())
    }

    /// An application with this configuration (the environment is not read).
    ///
    /// ```
    /// use plezi::{App, Config};
    /// let config = Config { port: 8080, ..Config::default() };
    /// let app = App::with_config(config);
    /// # drop(app);
    /// ```
    pub fn with_config(config: Config) -> App {
        App::with_config_result(Ok(config))
    }

    fn with_config_result(config: Result<Config, Error>) -> App {
        App {
            config,
            routes: Routes::new(),
            public_folder: None,
            server_config: ServerConfig::default(),
            bus: None,
            sessions: None,
            health: None,
            templates: None,
        }
    }

    /// Routes `pattern` to controller type `C` (instances built by `factory`, e.g.
    /// `Chat::default`). Fails on a bad pattern or event table.
    ///
    /// ```
    /// use plezi::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Items;
    /// impl Controller for Items {
    ///     fn index(&mut self, _cx: &mut Ctx<'_>) -> Option<Response> {
    ///         Some(Response::json(200, "[]"))
    ///     }
    /// }
    ///
    /// let app = App::new().route("/items", Items::default)?; // also serves /items/:id
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn route<C, F>(mut self, pattern: &str, factory: F) -> Result<App, Error>
    where
        C: Controller,
        F: Fn() -> C + Send + Sync + 'static,
    {
        self.routes.controller(pattern, factory)?;
        Ok(self)
    }

    /// Serves the bundled JavaScript client (`PleziClient`) at `path`, e.g. `/client.js`.
    ///
    /// ```
    /// let app = plezi::App::new().client("/client.js")?; // <script src="/client.js">
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn client(mut self, path: &str) -> Result<App, Error> {
        self.routes.client(path)?;
        Ok(self)
    }

    /// Serves the metrics as Prometheus text at `path`, e.g. `/metrics` (off unless called).
    /// Restrict who reads it (`docs/security.md#metrics`); what each metric means is in
    /// `docs/operations.md#metrics`. From code, the same numbers come typed from
    /// `dispatcher().metrics().snapshot()`.
    ///
    /// ```
    /// let app = plezi::App::new().metrics("/metrics")?;
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn metrics(mut self, path: &str) -> Result<App, Error> {
        self.routes.metrics(path)?;
        Ok(self)
    }

    /// Adds a rewrite route, e.g. `(:locale){en|fr}`.
    ///
    /// ```
    /// use plezi::prelude::*;
    /// # #[derive(Default)] struct Home;
    /// # impl Controller for Home {}
    /// // `/fr/home` reaches the `/home` route with params["locale"] == "fr"; `/home` still works.
    /// let app = App::new().rewrite("(:locale){en|fr}")?.route("/home", Home::default)?;
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn rewrite(mut self, pattern: &str) -> Result<App, Error> {
        self.routes.rewrite(pattern)?;
        Ok(self)
    }

    /// Replaces the answer when no route answers (default: `404 Not Found`).
    ///
    /// ```
    /// use plezi::prelude::*;
    /// let app = App::new().not_found(|req: &Request| {
    ///     Response::html(404, format!("<h1>No page at {}</h1>", req.path()))
    /// });
    /// # drop(app);
    /// ```
    pub fn not_found(mut self, f: impl Fn(&Request) -> Response + Send + Sync + 'static) -> App {
        self.routes.not_found(f);
        self
    }

    /// Serves files below `dir` (GET/HEAD) before the routes.
    ///
    /// ```
    /// let app = plezi::App::new().public_folder("public"); // GET /app.css serves public/app.css
    /// # drop(app);
    /// ```
    pub fn public_folder(mut self, dir: impl Into<PathBuf>) -> App {
        self.public_folder = Some(dir.into());
        self
    }

    /// Answers health checks for load balancers and orchestrators: `live` answers `200` while the
    /// process serves, `ready` answers `200`, then `503` from the moment SIGTERM arrives (the
    /// drain: see `docs/operations.md`).
    ///
    /// ```
    /// let app = plezi::App::new().health("/healthz", "/readyz");
    /// # drop(app);
    /// ```
    pub fn health(mut self, live: &str, ready: &str) -> App {
        self.health = Some((live.to_owned(), ready.to_owned()));
        self
    }

    /// Renders templates from `dir` (`Ctx::render`, `Ctx::render_page`; MiniJinja, auto-escaped
    /// by file name). Read again at every render in development, parsed once with
    /// `PL_ENV=production`.
    ///
    /// ```
    /// let app = plezi::App::new().templates("views"); // cx.render_page("home.html", ...)
    /// # drop(app);
    /// ```
    pub fn templates(mut self, dir: impl Into<PathBuf>) -> App {
        self.templates = Some(dir.into());
        self
    }

    /// Server limits and timeouts (see [`ServerConfig`]).
    ///
    /// ```
    /// use plezi::plezi_server::ServerConfig;
    /// let config = ServerConfig { max_connections: Some(20_000), ..ServerConfig::default() };
    /// let app = plezi::App::new().limits(config);
    /// # drop(app);
    /// ```
    pub fn limits(mut self, config: ServerConfig) -> App {
        self.server_config = config;
        self
    }

    /// Limits on request params.
    ///
    /// ```
    /// use plezi::plezi_dispatch::ParamsLimits;
    /// let limits = ParamsLimits { max_params: 100, ..ParamsLimits::default() };
    /// let app = plezi::App::new().params_limits(limits);
    /// # drop(app);
    /// ```
    pub fn params_limits(mut self, limits: ParamsLimits) -> App {
        self.routes.params_limits(limits);
        self
    }

    /// Event-loop threads (overrides `PL_THREADS`).
    ///
    /// ```
    /// let app = plezi::App::new().threads(2);
    /// # drop(app);
    /// ```
    pub fn threads(mut self, n: usize) -> App {
        if let Ok(c) = &mut self.config {
            c.threads = Some(n);
        }
        self
    }

    /// Listens on `host:port` (overrides `HOST` and `PORT`; port 0 picks a free port).
    ///
    /// ```
    /// let app = plezi::App::new().listen("0.0.0.0", 8080);
    /// # drop(app);
    /// ```
    pub fn listen(mut self, host: &str, port: u16) -> App {
        if let Ok(c) = &mut self.config {
            c.host = host.to_owned();
            c.port = port;
        }
        self
    }

    /// Uses this bus instead of one built from the configuration.
    ///
    /// ```
    /// use plezi::plezi_messaging::{Bus, BusConfig};
    /// // Tests often share one in-process bus between two apps, as two servers would share Redis.
    /// let bus = Bus::in_process(BusConfig::default());
    /// let app = plezi::App::new().bus(bus);
    /// # drop(app);
    /// ```
    pub fn bus(mut self, bus: Bus) -> App {
        self.bus = Some(bus);
        self
    }

    /// Sessions with this key, store and limits instead of the ones built from the
    /// configuration (`PL_SESSION_KEY`; Redis when the bus uses Redis, else memory).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use plezi::plezi_dispatch::{SessionConfig, SessionKey};
    /// use plezi::plezi_messaging::MemorySessionStore;
    ///
    /// # fn secret_from_your_vault() -> Vec<u8> { vec![7; 32] }
    /// let key = SessionKey::new(secret_from_your_vault())?;
    /// let config = SessionConfig::new(key, Arc::new(MemorySessionStore::default()));
    /// let app = plezi::App::new().sessions(config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sessions(mut self, config: SessionConfig) -> App {
        self.sessions = Some(config);
        self
    }

    /// Starts the bus and binds the server; nothing is served until [`Built::run`] or
    /// [`Built::spawn`].
    ///
    /// ```no_run
    /// let built = plezi::App::new().listen("127.0.0.1", 0).build()?;
    /// println!("serving {}", built.url());
    /// built.run()
    /// # ; Ok::<(), plezi::Error>(())
    /// ```
    pub fn build(self) -> Result<Built, Error> {
        let config = self.config?;
        let bus = match self.bus {
            Some(bus) => bus,
            None => Bus::new(config.bus.clone())?,
        };
        let redis = !matches!(bus.config().engine, Engine::InProcess);
        let mut routes = self.routes;
        let sessions = match self.sessions {
            Some(sessions) => sessions,
            None => session_config(&config, &bus)?,
        };
        routes
            .sessions(sessions)
            .secure_cookies(config.secure_cookies());
        if let Some(dir) = self.templates {
            let reload = match config.production {
                true => Reload::Never,
                false => Reload::EveryRender,
            };
            routes.templates(dir, reload);
        }
        let dispatcher = Dispatcher::new(routes, bus);
        let mut server_config = self.server_config;
        if let Some(notice) = config.drain_notice {
            server_config.drain_notice = notice;
        }
        if let Some(window) = config.drain_window {
            server_config.drain_window = window;
        }
        if let Some(deflate) = config.ws_deflate {
            server_config.ws_deflate_threshold = deflate;
        }
        let mut builder = Server::builder()
            .bind(config.address())
            .config(server_config)
            .service(dispatcher.service())
            .origin_policy(config.origin_policy()?);
        if let Some(n) = config.threads {
            builder = builder.threads(n);
        }
        if let Some(dir) = self.public_folder {
            builder = builder.public_folder(dir);
        }
        if let Some((live, ready)) = &self.health {
            builder = builder.health(live, ready);
        }
        let server = builder.build()?;
        dispatcher.attach(server.handle());
        if redis {
            // Ready means subscribed: wait (briefly) until Redis confirmed the controller
            // channels, so a message sent right after the ready line is not missed. If Redis is
            // down, publishes queue until it is back.
            if let Err(e) = dispatcher.bus().flush(BUS_READY_WAIT) {
                log::warn!("plezi: the bus is not connected to Redis yet ({e}); starting anyway");
            }
        }
        Ok(Built {
            server,
            dispatcher,
            redis,
        })
    }

    /// Builds, prints one line with the URL, and serves until SIGINT/SIGTERM (graceful stop).
    /// Installs a stderr logger (`PLEZI_LOG=info|debug`) unless the program set one.
    ///
    /// ```no_run
    /// fn main() -> Result<(), plezi::Error> {
    ///     plezi::App::new().public_folder("public").run()
    /// }
    /// ```
    pub fn run(self) -> Result<(), Error> {
        init_logging();
        self.build()?.run()
    }

    /// Runs the application ([`App::run`]), unless the command line asks for its TypeScript
    /// module (`docs/client.md#typed-events`): `--typescript PATH` writes it to `PATH` (when it
    /// changed), `--typescript PATH --check` fails when `PATH` is stale. That is the codegen entry
    /// of an application whose controllers live in its binary: its `cargo xtask codegen` runs
    /// `cargo run -- --typescript public/events.d.ts`.
    ///
    /// ```no_run
    /// fn main() -> Result<(), plezi::Error> {
    ///     plezi::App::new().client("/client.js")?.run_or_codegen()
    /// }
    /// ```
    pub fn run_or_codegen(self) -> Result<(), Error> {
        match crate::typescript::request(std::env::args().skip(1)) {
            Some(request) => request.perform(&self),
            None => self.run(),
        }
    }

    /// The TypeScript module of the routed controllers' events (`docs/client.md#typed-events`).
    ///
    /// ```
    /// let module = plezi::App::new().typescript().render()?;
    /// assert!(module.contains("Generated from the controllers' event tables"));
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn typescript(&self) -> TypeScript {
        self.routes.typescript()
    }

    /// Builds and serves on background threads (for tests and embedding).
    ///
    /// ```no_run
    /// let running = plezi::App::new().listen("127.0.0.1", 0).spawn()?;
    /// let url = format!("http://{}/", running.local_addr());
    /// // ... talk to `url` ...
    /// running.stop()?;
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn spawn(self) -> Result<Running, Error> {
        self.build()?.spawn()
    }
}

/// How long a stopping application waits for the bus to store and publish what it queued.
const BUS_FINISH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// After the server stopped: notifications queued for the mailbox store are stored and queued
/// publishes reach Redis (bounded by [`BUS_FINISH_WAIT`]) before the bus goes.
fn finish_bus(dispatcher: &Dispatcher) {
    if let Err(e) = dispatcher.bus().flush(BUS_FINISH_WAIT) {
        log::warn!("plezi: stopping with bus work unfinished: {e}");
    }
}

/// The sessions of `config`: its key (or, outside production, a random one with a warning), in
/// Redis when the bus uses Redis, else in memory.
fn session_config(config: &Config, bus: &Bus) -> Result<SessionConfig, Error> {
    let key = match &config.session_key {
        Some(key) => key.clone(),
        None if config.production => {
            return Err(Error::Session(format!(
                "PL_ENV=production needs PL_SESSION_KEY: set it to at least {} random bytes \
                 (e.g. `openssl rand -base64 48`), the same on every server of the application",
                SessionKey::MIN_BYTES
            )));
        }
        None => {
            log::warn!(
                "plezi: PL_SESSION_KEY is not set: session cookies are signed with a random key, \
                 so sessions end when this process stops and other servers cannot read them; set \
                 PL_SESSION_KEY (32 bytes or more) to keep them (required with PL_ENV=production)"
            );
            SessionKey::random()
        }
    };
    let limits: SessionStoreConfig = config.sessions;
    let store: Arc<dyn SessionStore> = match &bus.config().engine {
        Engine::Redis { url } => Arc::new(RedisSessionStore::with_tls(
            url,
            &bus.config().redis_tls,
            &bus.config().app_name,
            limits,
        )?),
        Engine::InProcess => Arc::new(MemorySessionStore::new(limits)),
    };
    Ok(SessionConfig::new(key, store))
}

/// A built application: the server is bound, the bus started.
pub struct Built {
    server: Server,
    dispatcher: Dispatcher,
    redis: bool,
}

impl Built {
    /// The address the server listens on.
    ///
    /// ```no_run
    /// let built = plezi::App::new().listen("127.0.0.1", 0).build()?;
    /// assert_ne!(built.local_addr().port(), 0); // the port the system picked
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The page URL (`http://host:port/`).
    ///
    /// ```no_run
    /// let built = plezi::App::new().listen("127.0.0.1", 0).build()?;
    /// assert!(built.url().starts_with("http://127.0.0.1:"));
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr())
    }

    /// The dispatcher, to broadcast, notify or publish from outside a connection.
    ///
    /// ```no_run
    /// use plezi::serde_json::json;
    /// let built = plezi::App::new().build()?;
    /// let dispatcher = built.dispatcher().clone();
    /// std::thread::spawn(move || {
    ///     // every connection of every controller type, on every server sharing the bus
    ///     let _ = dispatcher.multicast("tick", json!({"at": 1}));
    /// });
    /// built.run()
    /// # ; Ok::<(), plezi::Error>(())
    /// ```
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The server handle.
    ///
    /// ```no_run
    /// let built = plezi::App::new().build()?;
    /// let handle = built.handle();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_secs(60));
    ///     handle.shutdown(); // graceful: run() returns
    /// });
    /// built.run()
    /// # ; Ok::<(), plezi::Error>(())
    /// ```
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Prints `plezi listening on http://host:port/ (...)` and serves until SIGINT/SIGTERM.
    ///
    /// ```no_run
    /// let built = plezi::App::new().build()?;
    /// built.run() // until SIGINT/SIGTERM
    /// # ; Ok::<(), plezi::Error>(())
    /// ```
    pub fn run(self) -> Result<(), Error> {
        let bus = if self.redis { "Redis" } else { "in-process" };
        println!("plezi listening on {} (bus: {bus})", self.url());
        let Built {
            server, dispatcher, ..
        } = self;
        let result = server.run();
        finish_bus(&dispatcher);
        drop(dispatcher);
        Ok(result?)
    }

    /// Serves on background threads; the [`Running`] value stops the server when dropped.
    ///
    /// ```no_run
    /// let running = plezi::App::new().listen("127.0.0.1", 0).build()?.spawn()?;
    /// running.stop()?;
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn spawn(self) -> Result<Running, Error> {
        let Built {
            server, dispatcher, ..
        } = self;
        let server = server.spawn()?;
        Ok(Running { server, dispatcher })
    }
}

/// An application serving on background threads.
pub struct Running {
    server: RunningServer,
    dispatcher: Dispatcher,
}

impl Running {
    /// The address the server listens on.
    ///
    /// ```no_run
    /// let running = plezi::App::new().listen("127.0.0.1", 0).spawn()?;
    /// let addr = running.local_addr(); // connect test clients here
    /// # running.stop()?;
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The dispatcher (broadcast, notify, publish from outside a connection; the bus).
    ///
    /// ```no_run
    /// use plezi::serde_json::json;
    /// let running = plezi::App::new().listen("127.0.0.1", 0).spawn()?;
    /// running.dispatcher().multicast("news", json!({"title": "hello"}))?;
    /// # running.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// The server handle.
    ///
    /// ```no_run
    /// let running = plezi::App::new().listen("127.0.0.1", 0).spawn()?;
    /// let handle = running.handle(); // Send + Sync: reach connections from any thread
    /// # drop(handle); running.stop()?;
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Graceful shutdown, then waits for the server's threads.
    ///
    /// ```no_run
    /// let running = plezi::App::new().listen("127.0.0.1", 0).spawn()?;
    /// running.stop()?; // closes WebSockets with 1001, finishes responses, joins the threads
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn stop(self) -> Result<(), Error> {
        let result = self.server.stop();
        finish_bus(&self.dispatcher);
        Ok(result?)
    }
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("local_addr", &self.local_addr())
            .field("dispatcher", &self.dispatcher)
            .finish()
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("local_addr", &self.local_addr())
            .field("dispatcher", &self.dispatcher)
            .finish()
    }
}
