//! AJAJ (`docs/protocol.md#ajaj`): the same event handlers over HTTP.
//!
//! The request's `id` param (route segment, query, form or JSON body) names the event; the
//! handler receives the params as one JSON object with `event` set to that name (so the same
//! shape as over WebSocket; `id` and every other param stay in it). Its [`Answer`] becomes the
//! reply:
//!
//! | answer | reply |
//! |---|---|
//! | nothing | `200`, empty body (the client treats only 200 as success) |
//! | JSON value | `200`, `application/json` |
//! | string | `200`, `text/plain; charset=utf-8`, as is |
//! | `err` (`Answer::Error`) | its status, the `err` object as `application/json` |
//!
//! Every reply carries `Cache-Control: no-store` (an event is not a cacheable document). A `429`
//! (the `notify` rate limit) carries `Retry-After`: the whole seconds the limit takes to allow one
//! more call (at least 1).
//!
//! `GET` and `HEAD` run only handlers declared safe (`events![safe ..]`); for any other handler
//! they are answered `405` with `Allow: POST` and the `err` object, and the handler does not run:
//! any page can make a browser send a `GET` (a link, an `<img>`), with the user's cookies.

use plezi_server::Response;
use serde_json::Value;

use crate::answer::Answer;
use crate::app_state::AppState;
use crate::context::HttpExtras;
use crate::generated::EVENT_KEY;
use crate::params::Params;
use crate::wire;

/// The handler's argument for an AJAJ request of `event`.
pub(crate) fn message(params: &Params, event: &str) -> Value {
    let mut map = params.as_map().clone();
    map.insert(EVENT_KEY.to_owned(), Value::from(event));
    Value::Object(map)
}

/// `405 Method Not Allowed` with `Allow: POST`: an AJAJ `GET`/`HEAD` for a handler not declared
/// safe for it (`events![safe ..]`), so a link or an `<img>` on any page cannot run it.
pub(crate) fn method_not_allowed(
    app: &AppState,
    message: Value,
    extras: &mut HttpExtras,
) -> Response {
    let answer = Answer::error(
        405,
        "this event runs from POST only (GET may only call handlers declared safe)",
        message,
    );
    reply(app, answer, extras).header("Allow", "POST")
}

/// The HTTP reply for a handler's answer, with the cookies it set (and its session saved).
pub(crate) fn reply(app: &AppState, answer: Answer, extras: &mut HttpExtras) -> Response {
    let resp = match answer {
        Answer::Nothing => Response::new(200),
        Answer::Json(v) => Response::json(200, v.to_string()),
        Answer::Text(s) => Response::text(200, s),
        Answer::Msg(m) => Response::json(200, m.to_string()),
        Answer::Error {
            status,
            result,
            request,
        } => {
            let resp = Response::json(status, wire::error_event(status, &result, &request));
            match (status, &app.bus.config().notify_rate) {
                (429, Some(limit)) => {
                    let wait = (1.0 / limit.per_second).ceil().clamp(1.0, 86_400.0) as u64;
                    resp.header("Retry-After", &wait.to_string())
                }
                _ => resp,
            }
        }
    };
    extras.finish(app, resp.header("Cache-Control", "no-store"))
}
