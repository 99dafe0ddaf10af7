//! A controller route: builds an instance per request or upgrade and runs the REST action, the
//! AJAJ event or `pre_connect`.

use std::sync::Arc;

use plezi_server::{Request, Response, Upgrade};

use crate::ajaj;
use crate::answer::Answer;
use crate::connection::Connection;
use crate::context::{Ctx, HttpExtras, Source};
use crate::controller::Controller;
use crate::core::{Core, KindInfo};
use crate::events::{Events, Mode};
use crate::params::{BodyKind, Params};
use crate::router::{Action, rest_action_for};

/// A route target with its controller type erased.
pub(crate) trait Endpoint: Send + Sync {
    /// Answers an HTTP request, or declines (`None`: the next route is tried).
    fn http(&self, core: &Core, req: &Request, params: Params) -> Option<Response>;
    /// Accepts a WebSocket upgrade, or declines.
    fn upgrade(&self, core: &Arc<Core>, req: &Request, params: Params) -> Option<Upgrade>;
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
    /// event table, the body is JSON and `id` is a string.
    fn unknown_event<'p>(&self, req: &Request, params: &'p Params) -> Option<&'p str> {
        let has_table = self.events.mode() != Mode::HttpOnly || !self.events.is_empty();
        let json = BodyKind::from_content_type(req.header("content-type")) == BodyKind::Json;
        if has_table && json {
            params.get_str("id").filter(|id| !id.is_empty())
        } else {
            None
        }
    }
}

impl<C: Controller> Endpoint for ControllerRoute<C> {
    fn http(&self, core: &Core, req: &Request, params: Params) -> Option<Response> {
        let action = self.rest(req.method(), &params)?;
        let mut controller = (self.factory)();
        let mut extras = HttpExtras::new(params);
        if let Rest::Handler(name) = &action {
            let handler = self.events.for_http(name)?;
            let message = ajaj::message(&extras.params, name);
            let mut cx = Ctx::for_request(core, &self.kind, Source::Ajaj, req, &mut extras);
            let answer = (handler.call)(&mut controller, &mut cx, message);
            return Some(ajaj::reply(answer, &extras));
        }
        let mut cx = Ctx::for_request(core, &self.kind, Source::Http, req, &mut extras);
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
            return Some(extras.finish(resp));
        }
        let event = self.unknown_event(req, &extras.params)?.to_owned();
        let message = ajaj::message(&extras.params, &event);
        let mut cx = Ctx::for_request(core, &self.kind, Source::Ajaj, req, &mut extras);
        let answer: Answer = controller.unknown(&mut cx, message);
        Some(ajaj::reply(answer, &extras))
    }

    fn upgrade(&self, core: &Arc<Core>, req: &Request, params: Params) -> Option<Upgrade> {
        if self.kind.mode == Mode::HttpOnly {
            return None;
        }
        let mut controller = (self.factory)();
        let mut extras = HttpExtras::new(params);
        let accepted = {
            let mut cx = Ctx::for_request(core, &self.kind, Source::Http, req, &mut extras);
            controller.pre_connect(&mut cx)
        };
        if !accepted {
            return None;
        }
        let HttpExtras {
            params, protocol, ..
        } = extras;
        let conn = Connection::new(
            core.clone(),
            self.kind.clone(),
            self.events.clone(),
            controller,
            params,
        );
        let upgrade = Upgrade::new(Box::new(conn)).tag(self.kind.tag);
        Some(match protocol {
            Some(p) => upgrade.protocol(&p),
            None => upgrade,
        })
    }
}
