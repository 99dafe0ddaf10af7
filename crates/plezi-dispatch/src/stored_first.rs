//! An HTTP request that called `notify` is answered only once its notifications are stored
//! (`docs/protocol.md#notify-over-http`): with Redis the store answers on the mailbox thread,
//! after the handler returned, so the reply waits for it (`Reply::later`), and a notification the
//! store refused replaces the handler's answer with the `err` the client would have seen over a
//! WebSocket (507 for a full mailbox or store, 503 when Redis failed).

use std::sync::Arc;

use parking_lot::Mutex;
use plezi_messaging::BusError;
use plezi_server::{Reply, Response};
use serde_json::json;

use crate::answer::bus_error_status;
use crate::wire;

/// The notifications one HTTP request queued, and what to do once they are all stored.
#[derive(Default)]
pub(crate) struct PendingNotifies {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Notifications queued and not yet answered.
    outstanding: usize,
    /// The first one the store refused.
    refused: Option<Refusal>,
    /// Runs when `outstanding` reaches zero.
    then: Option<Box<dyn FnOnce(Option<Refusal>) + Send>>,
}

/// A notification the store refused after it was queued.
pub(crate) struct Refusal {
    identity: String,
    event: String,
    error: BusError,
}

impl Refusal {
    /// The `err` answer, with the `Set-Cookie` headers the handler's answer had (a session
    /// started by the same request stays started).
    fn response(&self, answered: &Response) -> Response {
        let status = bus_error_status(&self.error);
        let request = json!({"notify": self.identity, "event": self.event});
        let body = wire::error_event(status, &self.error.to_string(), &request);
        let mut resp = Response::json(status, body).header("Cache-Control", "no-store");
        for (name, value) in answered.headers() {
            if name.eq_ignore_ascii_case("set-cookie") {
                resp = resp.header(name, value);
            }
        }
        resp
    }
}

impl PendingNotifies {
    /// One more notification is about to be queued.
    pub(crate) fn start(&self) {
        self.state.lock().outstanding += 1;
    }

    /// The notification started last was refused at once (its answer never comes).
    pub(crate) fn cancel(&self) {
        self.state.lock().outstanding -= 1;
    }

    /// The store answered one notification.
    pub(crate) fn done(&self, identity: &str, event: &str, stored: Result<(), BusError>) {
        let mut state = self.state.lock();
        state.outstanding -= 1;
        if let Err(error) = stored {
            log::debug!(
                "plezi: a notification to {identity:?} from an HTTP request was refused: {error}"
            );
            state.refused.get_or_insert(Refusal {
                identity: identity.to_owned(),
                event: event.to_owned(),
                error,
            });
        }
        if state.outstanding == 0
            && let Some(then) = state.then.take()
        {
            let refused = state.refused.take();
            drop(state);
            then(refused);
        }
    }

    /// The reply to send: `resp` at once when nothing is outstanding (or was refused), else a
    /// deferred reply sent once every notification is answered.
    pub(crate) fn reply(self: Arc<Self>, resp: Response) -> Reply {
        let mut state = self.state.lock();
        if state.outstanding == 0 {
            return Reply::Response(match state.refused.take() {
                Some(refusal) => refusal.response(&resp),
                None => resp,
            });
        }
        drop(state);
        Reply::later(move |responder| {
            let mut state = self.state.lock();
            let answer = move |refused: Option<Refusal>| {
                responder.respond(match refused {
                    Some(refusal) => refusal.response(&resp),
                    None => resp,
                })
            };
            if state.outstanding == 0 {
                let refused = state.refused.take();
                drop(state);
                answer(refused);
            } else {
                state.then = Some(Box::new(answer));
            }
        })
    }
}
