//! A controller route: builds an instance per request or upgrade and runs the REST action, the
//! AJAJ event or `pre_connect`.

use std::sync::Arc;

use plezi_server::{Reply, Request, Response, Upgrade};

use crate::ajaj;
use crate::answer::Answer;
use crate::app_state::{AppState, KindInfo};
use crate::connection::Connection;
use crate::context::{Ctx, HttpExtras, Source};
use crate::controller::{Controller, PreConnect};
use crate::cookies::Cookies;
use crate::events::{Events, Mode};
use crate::metrics::Timings;
use crate::msg::Msg;
use crate::params::{BodyKind, Params};
use crate::router::{Action, rest_action_for};

/// What a route does with a WebSocket upgrade request.
pub(crate) enum UpgradeReply {
    /// Open the connection.
    Accept(Upgrade),
    /// Try the next route.
    Decline,
    /// Answer with this response.
    Refuse(Response),
}

/// A route target with its controller type erased.
pub(crate) trait Endpoint: Send + Sync {
    /// Answers an HTTP request (at once, or once its notifications are stored), or declines
    /// (`None`: the next route is tried).
    fn http(&self, app: &AppState, req: &Request, params: Params) -> Option<Reply>;
    /// Accepts, declines or refuses a WebSocket upgrade.
    fn upgrade(&self, app: &Arc<AppState>, req: &Request, params: Params) -> UpgradeReply;
}

/// Whether a method is `GET` or `HEAD` (AJAJ runs only handlers declared safe for them).
fn is_get(method: &str) -> bool {
    method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")
}

/// A factory for controller instances.
pub(crate) type Factory<C> = Box<dyn Fn() -> C + Send + Sync>;

/// The route of controller type `C`.
pub(crate) struct ControllerRoute<C: Controller> {
    pub(crate) factory: Factory<C>,
    pub(crate) kind: Arc<KindInfo>,
    pub(crate) events: Arc<Events<C>>,
}

/// The REST action with the handler name owned (the params move into the context).
enum Rest {
    Handler(String),
    Index,
    Show,
    New,
    Create,
    Update,
    Delete,
}

impl<C: Controller> ControllerRoute<C> {
    fn rest(&self, method: &str, params: &Params) -> Option<Rest> {
        Some(
            match rest_action_for(method, params, |name| self.events.is_http(name))? {
                Action::Handler(name) => Rest::Handler(name.to_owned()),
                Action::Index => Rest::Index,
                Action::Show => Rest::Show,
                Action::New => Rest::New,
                Action::Create => Rest::Create,
                Action::Update => Rest::Update,
                Action::Delete => Rest::Delete,
            },
        )
    }

    /// Whether an unanswered request counts as an unknown AJAJ event: the controller has an
    /// event table, the method is not `GET`/`HEAD`, the body is JSON and `id` is a string.
    fn unknown_event<'p>(&self, req: &Request, params: &'p Params) -> Option<&'p str> {
        let has_table = self.events.mode() != Mode::HttpOnly || !self.events.is_empty();
        let json = BodyKind::from_content_type(req.header("content-type")) == BodyKind::Json;
        if has_table && json && !is_get(req.method()) {
            params.get_str("id").filter(|id| !id.is_empty())
        } else {
            None
        }
    }
}

impl<C: Controller> Endpoint for ControllerRoute<C> {
    fn http(&self, app: &AppState, req: &Request, params: Params) -> Option<Reply> {
        let action = self.rest(req.method(), &params)?;
        let mut controller = (self.factory)();
        let mut extras = HttpExtras::new(params);
        if let Rest::Handler(name) = &action {
            let handler = self.events.for_http(name)?;
            let message = ajaj::message(&extras.params, name);
            if is_get(req.method()) && !self.events.is_safe(name) {
                return Some(ajaj::method_not_allowed(app, message, &mut extras).into());
            }
            let resp = Timings::time(&app.timings.ajaj, || {
                let mut cx = Ctx::for_request(app, &self.kind, Source::Ajaj, req, &mut extras);
                let answer = (handler.call)(&mut controller, &mut cx, Msg::new(message));
                ajaj::reply(app, answer, &mut extras)
            });
            return Some(extras.reply_once_stored(resp));
        }
        let mut cx = Ctx::for_request(app, &self.kind, Source::Http, req, &mut extras);
        let resp = match action {
            Rest::Index => controller.index(&mut cx),
            Rest::Show => controller.show(&mut cx),
            Rest::New => controller.new(&mut cx),
            Rest::Create => controller.create(&mut cx),
            Rest::Update => controller.update(&mut cx),
            Rest::Delete => controller.delete(&mut cx),
            Rest::Handler(_) => None,
        };
        if let Some(resp) = resp {
            let resp = extras.finish(app, resp);
            return Some(extras.reply_once_stored(resp));
        }
        let event = self.unknown_event(req, &extras.params)?.to_owned();
        let message = ajaj::message(&extras.params, &event);
        let resp = Timings::time(&app.timings.ajaj, || {
            let mut cx = Ctx::for_request(app, &self.kind, Source::Ajaj, req, &mut extras);
            let answer: Answer = controller.unknown(&mut cx, message);
            ajaj::reply(app, answer, &mut extras)
        });
        Some(extras.reply_once_stored(resp))
    }

    fn upgrade(&self, app: &Arc<AppState>, req: &Request, params: Params) -> UpgradeReply {
        if self.kind.mode == Mode::HttpOnly {
            return UpgradeReply::Decline;
        }
        let mut controller = (self.factory)();
        let mut extras = HttpExtras::new(params);
        let decision = {
            let mut cx = Ctx::for_request(app, &self.kind, Source::Http, req, &mut extras);
            controller.pre_connect(&mut cx)
        };
        match decision {
            PreConnect::Accept => {}
            PreConnect::Decline => return UpgradeReply::Decline,
            PreConnect::Refuse(resp) => return UpgradeReply::Refuse(resp),
        }
        // The connection keeps the session the upgrade request carried: loaded if pre_connect
        // read it, else its verified id for a read later.
        let session_id = match extras.session.get() {
            Some(_) => None,
            None => {
                let cookies = extras
                    .cookies
                    .get_or_init(|| Cookies::parse(req.header_all("cookie")));
                app.sessions.verified_id(cookies)
            }
        };
        let HttpExtras {
            params,
            protocol,
            session,
            ..
        } = extras;
        let conn = Connection::new(
            app.clone(),
            self.kind.clone(),
            self.events.clone(),
            controller,
            params,
            session_id,
            session,
        );
        let upgrade = Upgrade::new(Box::new(conn)).tag(self.kind.tag);
        UpgradeReply::Accept(match protocol {
            Some(p) => upgrade.protocol(&p),
            None => upgrade,
        })
    }
}
