//! [`Routes`]: the ordered list of what an application answers, checked as it is built.

use crate::templates::{Reload, Templates};
use plezi_messaging::HistoryLimits;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use plezi_server::{Request, Response};

use crate::app_state::KindInfo;
use crate::controller::Controller;
use crate::endpoint::{ControllerRoute, Endpoint};
use crate::error::RegisterError;
use crate::events::Events;
use crate::params::ParamsLimits;
use crate::router::Router;
use crate::session::SessionConfig;
use crate::typescript::TypeScript;

/// The replaceable answer when no route answers.
pub(crate) type NotFound = Box<dyn Fn(&Request) -> Response + Send + Sync>;

/// What a route leads to.
pub(crate) enum RouteTarget {
    Controller(Box<dyn Endpoint>),
    Client,
    Metrics,
}

/// One controller type's registration, shared by all its routes.
struct TypeEntry {
    kind: Arc<KindInfo>,
    /// `Arc<Events<C>>`.
    events: Arc<dyn Any + Send + Sync>,
    /// Adds `C`'s events to a TypeScript module.
    describe: fn(&mut TypeScript),
}

fn describe<C: Controller>(ts: &mut TypeScript) {
    ts.controller::<C>();
}

/// The routes of an application, tried in the order they were added.
///
/// ```
/// use plezi_dispatch::{events, Controller, Ctx, Events, Routes};
/// use serde_json::Value;
///
/// #[derive(Default)]
/// struct Echo;
/// impl Controller for Echo {
///     fn events() -> Events<Self> {
///         events![both echo => |_: &mut Echo, _: &mut Ctx<'_>, msg: Value| msg]
///     }
/// }
///
/// let mut routes = Routes::new();
/// routes.client("/client.js")?.controller("/echo", Echo::default)?;
/// # Ok::<(), plezi_dispatch::RegisterError>(())
/// ```
///
/// # Pattern syntax
/// A pattern is split on `/` (a leading `/` is optional; empty segments are ignored). Each
/// segment is one of:
///
/// | segment              | matches                                                         |
/// |----------------------|-----------------------------------------------------------------|
/// | `users`              | exactly that text (compared after percent-decoding both sides)  |
/// | `:name`              | any one segment, stored as `params[name]`                       |
/// | `(:name)`            | optional: one segment if the path has one left, else absent     |
/// | `:name{regex}`       | one segment matching `^(?:regex)$` (the `regex` crate's syntax) |
/// | `(:name){regex}`     | optional and constrained                                        |
/// | `*`                  | the rest of the path (zero or more segments), as `params["*"]`  |
///
/// - Names are `A-Z a-z 0-9 _`, unique in a pattern. `*` must be last. A required segment
///   (literal or `:name`) after an optional one is an error. Braces inside a regex must balance
///   or be escaped; the regex may contain `/` (it still sees one decoded segment).
/// - [`Routes::controller`] appends an optional `(:id)` unless the pattern already names `id` or
///   ends in `*` (so `/users` also serves `/users/42`; the REST table is `docs/protocol.md#rest`).
/// - Matching is positional: an optional parameter is absent only when the path has run out.
///   `'/(:id){publish}/(:title)'` matches `/`, `/publish` and `/publish/Hi`, but not `/echo` —
///   a constrained optional never skips a segment, so the next route gets `/echo`.
/// - A bad pattern is a [`RegisterError::Route`] when the route is added, with a message saying
///   what to write instead.
///
/// # Path decoding
/// The path (without the query) is split on `/` first, then each segment is percent-decoded
/// (`+` stays `+`), so `%2F` is a slash inside one segment value. Trailing and doubled slashes are
/// ignored: `/users/`, `//users` and `/users` are the same path. An invalid escape or non-UTF-8
/// segment makes the request fail with `400 Bad Request`.
/// `params["*"]` is the decoded remaining segments joined with `/` (empty when none remain).
///
/// # Order, fall-through and rewrites
/// Routes are tried in the order they were added; a controller action that declines (`None`) lets
/// the next matching route answer, and past the last one the 404 answer ([`Routes::not_found`]).
///
/// A rewrite ([`Routes::rewrite`]) is one constrained parameter, e.g. `(:locale){en|fr|he}`.
/// When the routes before it did not answer and the first remaining path segment matches its
/// regex, the segment is stored in the params and stripped; routes added after the rewrite see
/// the rest of the path. If the segment does not match, the path is left alone (a rewrite is
/// always optional). Rewrite params are merged under each route's own params.
pub struct Routes {
    pub(crate) router: Router,
    pub(crate) targets: Vec<RouteTarget>,
    types: HashMap<TypeId, TypeEntry>,
    pub(crate) kinds: Vec<Arc<KindInfo>>,
    pub(crate) not_found: NotFound,
    pub(crate) limits: ParamsLimits,
    pub(crate) sessions: SessionConfig,
    pub(crate) secure_cookies: bool,
    pub(crate) templates: Option<Templates>,
    pub(crate) channel_histories: Vec<(String, HistoryLimits)>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("router", &self.router)
            .field("controllers", &self.kinds)
            .finish()
    }
}

/// The default answer when no route answers.
pub(crate) fn default_not_found(_: &Request) -> Response {
    Response::text(404, "Not Found\n")
}

impl Routes {
    /// No routes: every request gets the 404 answer.
    ///
    /// ```
    /// let routes = plezi_dispatch::Routes::new();
    /// # drop(routes);
    /// ```
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            targets: Vec::new(),
            types: HashMap::new(),
            kinds: Vec::new(),
            not_found: Box::new(default_not_found),
            limits: ParamsLimits::default(),
            sessions: SessionConfig::default(),
            secure_cookies: false,
            templates: None,
            channel_histories: Vec::new(),
        }
    }

    /// Routes `pattern` (the syntax is on [`Routes`]; an optional `(:id)` is appended unless the
    /// pattern names `id` or ends in `*`) to controller type `C`, whose instances `factory` builds (one per
    /// request or connection; `C::default` or a closure). Fails on a bad pattern, a reserved or
    /// duplicate event name.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Routes};
    /// # #[derive(Default)] struct Items;
    /// # impl Controller for Items {}
    /// let mut routes = Routes::new();
    /// routes
    ///     .controller("/items", Items::default)? // also /items/7: params["id"] = "7"
    ///     .controller("/archive/:year{[0-9]{4}}", Items::default)?;
    /// # Ok::<(), plezi_dispatch::RegisterError>(())
    /// ```
    pub fn controller<C, F>(
        &mut self,
        pattern: &str,
        factory: F,
    ) -> Result<&mut Self, RegisterError>
    where
        C: Controller,
        F: Fn() -> C + Send + Sync + 'static,
    {
        let (kind, events) = self.register_type::<C>()?;
        let idx = self.router.add(pattern)?;
        debug_assert_eq!(idx.index(), self.targets.len());
        self.targets
            .push(RouteTarget::Controller(Box::new(ControllerRoute {
                factory: Box::new(factory),
                kind,
                events,
            })));
        Ok(self)
    }

    /// The TypeScript module of every routed controller's events (`docs/client.md#typed-events`):
    /// what an application's `cargo xtask codegen` writes next to its pages.
    ///
    /// ```
    /// use plezi_dispatch::{events, Controller, Ctx, Events, Routes};
    /// use serde_json::Value;
    /// #[derive(Default)]
    /// struct Echo;
    /// impl Controller for Echo {
    ///     fn events() -> Events<Self> {
    ///         events![both echo => |_: &mut Echo, _: &mut Ctx<'_>, msg: Value| msg]
    ///     }
    /// }
    /// let mut routes = Routes::new();
    /// routes.controller("/echo", Echo::default)?;
    /// let module = routes.typescript().render().unwrap();
    /// assert!(module.contains("export type EchoClient"));
    /// # Ok::<(), plezi_dispatch::RegisterError>(())
    /// ```
    pub fn typescript(&self) -> TypeScript {
        let mut ts = TypeScript::new();
        for entry in self.types.values() {
            (entry.describe)(&mut ts);
        }
        ts
    }

    /// Serves the bundled JavaScript client (`PleziClient`) at exactly `path`, e.g. `/client.js`.
    ///
    /// ```
    /// let mut routes = plezi_dispatch::Routes::new();
    /// routes.client("/client.js")?; // <script src="/client.js"></script>
    /// # Ok::<(), plezi_dispatch::RegisterError>(())
    /// ```
    pub fn client(&mut self, path: &str) -> Result<&mut Self, RegisterError> {
        let idx = self.router.add_exact(path)?;
        debug_assert_eq!(idx.index(), self.targets.len());
        self.targets.push(RouteTarget::Client);
        Ok(self)
    }

    /// Serves the application's metrics as Prometheus text at exactly `path`, e.g. `/metrics`
    /// (`GET`/`HEAD`). Off unless called. The text holds counts only (no identity, path or
    /// address), but it tells anyone who can read it how busy the server is: keep the path away
    /// from the public, as `docs/security.md#metrics` shows. What each metric means is in
    /// `docs/operations.md#metrics`; [`Dispatcher::metrics`](crate::Dispatcher::metrics) reads
    /// the same from code.
    ///
    /// ```
    /// let mut routes = plezi_dispatch::Routes::new();
    /// routes.metrics("/metrics")?;
    /// # Ok::<(), plezi_dispatch::RegisterError>(())
    /// ```
    pub fn metrics(&mut self, path: &str) -> Result<&mut Self, RegisterError> {
        let idx = self.router.add_exact(path)?;
        debug_assert_eq!(idx.index(), self.targets.len());
        self.targets.push(RouteTarget::Metrics);
        Ok(self)
    }

    /// Adds a rewrite, e.g. `(:locale){en|fr}`: a matching first path segment is stored in the
    /// params and stripped for the routes added after it.
    ///
    /// ```
    /// # use plezi_dispatch::{Controller, Routes};
    /// # #[derive(Default)] struct Items;
    /// # impl Controller for Items {}
    /// let mut routes = Routes::new();
    /// // `/fr/items/7` reaches `/items` with params["locale"] = "fr"; `/items/7` still works.
    /// routes.rewrite("(:locale){en|fr}")?.controller("/items", Items::default)?;
    /// # Ok::<(), plezi_dispatch::RegisterError>(())
    /// ```
    pub fn rewrite(&mut self, pattern: &str) -> Result<&mut Self, RegisterError> {
        self.router.add_rewrite(pattern)?;
        Ok(self)
    }

    /// Replaces the answer when no route answers (default: `404 Not Found` as text). An unknown
    /// AJAJ event is answered by its controller (`err` 404), not by this.
    ///
    /// ```
    /// use plezi_server::{Request, Response};
    /// let mut routes = plezi_dispatch::Routes::new();
    /// routes.not_found(|req: &Request| Response::html(404, format!("<h1>Nothing at {}</h1>", req.path())));
    /// ```
    pub fn not_found(
        &mut self,
        f: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> &mut Self {
        self.not_found = Box::new(f);
        self
    }

    /// Limits on request params (count, key length, nesting).
    ///
    /// ```
    /// use plezi_dispatch::{ParamsLimits, Routes};
    /// let mut routes = Routes::new();
    /// routes.params_limits(ParamsLimits { max_params: 50, ..ParamsLimits::default() });
    /// ```
    pub fn params_limits(&mut self, limits: ParamsLimits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// How sessions are signed and stored (default: [`SessionConfig::default`], a random key and
    /// an in-memory store).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use plezi_dispatch::{Routes, SessionConfig, SessionKey};
    /// use plezi_messaging::MemorySessionStore;
    ///
    /// let key = SessionKey::new([42u8; 32])?; // from your secret store, not a constant
    /// let mut routes = Routes::new();
    /// routes.sessions(SessionConfig::new(key, Arc::new(MemorySessionStore::default())));
    /// # Ok::<(), plezi_dispatch::SessionKeyError>(())
    /// ```
    pub fn sessions(&mut self, config: SessionConfig) -> &mut Self {
        self.sessions = config;
        self
    }

    /// Whether cookies are `Secure` by default (and the session cookie gets the `__Host-`
    /// prefix): set it when the application's public origin is https. Default: off.
    ///
    /// ```
    /// let mut routes = plezi_dispatch::Routes::new();
    /// routes.secure_cookies(true); // served as https (e.g. behind a TLS proxy)
    /// ```
    pub fn secure_cookies(&mut self, on: bool) -> &mut Self {
        self.secure_cookies = on;
        self
    }

    /// Renders templates from `dir` for [`Ctx::render`](crate::Ctx::render) and
    /// [`Ctx::render_page`](crate::Ctx::render_page): read again at every render
    /// ([`Reload::EveryRender`], development) or parsed once ([`Reload::Never`], production).
    /// Default: none (rendering answers [`RenderError`](crate::RenderError)).
    ///
    /// ```
    /// use plezi_dispatch::{Reload, Routes};
    /// let mut routes = Routes::new();
    /// routes.templates("views", Reload::EveryRender);
    /// ```
    pub fn templates(&mut self, dir: impl Into<std::path::PathBuf>, reload: Reload) -> &mut Self {
        self.templates = Some(Templates::new(dir, reload));
        self
    }

    /// Keep the last messages published to the named channel `name`, so a client that reconnects
    /// recovers what it missed on it once it subscribes again (`docs/protocol.md#recovery`).
    /// Default: no channel keeps a history.
    ///
    /// ```
    /// use plezi_messaging::HistoryLimits;
    /// let mut routes = plezi_dispatch::Routes::new();
    /// routes.channel_history("news", HistoryLimits::default());
    /// ```
    pub fn channel_history(&mut self, name: &str, limits: HistoryLimits) -> &mut Self {
        self.channel_histories.push((name.to_owned(), limits));
        self
    }

    /// Registers controller type `C` once: its events are read and checked, it gets a tag.
    fn register_type<C: Controller>(
        &mut self,
    ) -> Result<(Arc<KindInfo>, Arc<Events<C>>), RegisterError> {
        if let Some(entry) = self.types.get(&TypeId::of::<C>())
            && let Ok(events) = entry.events.clone().downcast::<Events<C>>()
        {
            return Ok((entry.kind.clone(), events));
        }
        let name = C::bus_name();
        if self.kinds.iter().any(|k| k.name == name) {
            return Err(RegisterError::DuplicateController { name });
        }
        let events = C::events();
        events.check(&name)?;
        let kind = Arc::new(KindInfo {
            name,
            tag: self.kinds.len() as u64 + 1,
            lifespan: C::message_store_lifespan(),
            mode: events.mode(),
            history: C::history(),
        });
        let events = Arc::new(events);
        self.kinds.push(kind.clone());
        self.types.insert(
            TypeId::of::<C>(),
            TypeEntry {
                kind: kind.clone(),
                events: events.clone(),
                describe: describe::<C>,
            },
        );
        Ok((kind, events))
    }
}
