//! Auto-dispatch (`docs/protocol.md#auto-dispatch`): a client's JSON message runs the handler its
//! `event` names.
//!
//! 1. Binary, non-JSON text, or JSON that is not an object: close 1003 with a short reason.
//! 2. `_EID_` present (any JSON value): write `{"event":"_ack_","_EID_":<same>}` first.
//! 3. `event` names a handler WebSocket clients may call: run it with the whole object.
//!    Otherwise (unknown, missing, not a string, reserved, or a `bus`-only handler): run
//!    `Controller::unknown` (default: the `err` 404 answer). The connection stays open.
//! 4. Write the answer back (JSON value as JSON text, string as is, nothing for none).

use plezi_server::Message;
use serde_json::Value;

use crate::answer::Answer;
use crate::context::Ctx;
use crate::controller::Controller;
use crate::events::Events;
use crate::generated::EID_KEY;
use crate::wire::{self, Rejected};

/// Handles one client message of an auto-dispatch connection.
pub(crate) fn on_message<C: Controller>(
    controller: &mut C,
    events: &Events<C>,
    cx: &mut Ctx<'_>,
    message: Message<'_>,
) {
    let parsed = match message {
        Message::Binary(_) => Err(Rejected::Binary),
        Message::Text(text) => wire::parse_event(text),
    };
    let map = match parsed {
        Ok(map) => map,
        Err(rejected) => {
            cx.close_with(Rejected::CODE, rejected.reason());
            return;
        }
    };
    if let Some(eid) = map.get(EID_KEY)
        && let Err(e) = cx.write(&wire::ack(eid))
    {
        log::debug!("plezi: _ack_ not written: {e}");
    }
    let handler = wire::event_name(&map).and_then(|name| events.for_websocket(name));
    let message = Value::Object(map);
    let answer: Answer = match handler {
        Some(handler) => (handler.call)(controller, cx, message),
        None => controller.unknown(cx, message),
    };
    cx.write_answer(&answer);
}
