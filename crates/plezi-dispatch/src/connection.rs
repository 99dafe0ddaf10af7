//! A WebSocket connection owned by a controller instance: the server's [`WebSocketHandler`] that
//! builds a [`Ctx`] for every hook, runs auto-dispatch, and receives bus deliveries.

use std::any::Any;
use std::sync::Arc;

use plezi_messaging::{ConnectionUuid, Payload, Target};
use plezi_server::{CloseInfo, ConnId, Message, WebSocket, WebSocketHandler};
use serde_json::Value;

use crate::answer::Answer;
use crate::auto;
use crate::context::{ConnState, Ctx, Source, WsPort};
use crate::controller::Controller;
use crate::core::{Core, KindInfo};
use crate::events::{Events, Mode};
use crate::generated::EVENT_KEY;
use crate::params::Params;

/// One server-side delivery, shared by all its local receivers.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) event: String,
    pub(crate) data: Value,
    pub(crate) from: Option<ConnectionUuid>,
    pub(crate) target: Target,
}

impl Delivery {
    /// The handler's argument: `data`, with `"event": <event>` added when it is an object
    /// without an `event` key, so every source hands handlers the same shape.
    fn argument(&self) -> Value {
        let mut data = self.data.clone();
        if let Value::Object(map) = &mut data
            && !map.contains_key(EVENT_KEY)
        {
            map.insert(EVENT_KEY.to_owned(), Value::from(self.event.as_str()));
        }
        data
    }
}

/// The controller side of a connection, with its type erased.
trait Live: Send {
    fn open(&mut self, cx: &mut Ctx<'_>);
    fn message(&mut self, cx: &mut Ctx<'_>, message: Message<'_>);
    fn drained(&mut self, cx: &mut Ctx<'_>);
    fn shutdown(&mut self, cx: &mut Ctx<'_>);
    fn close(&mut self, cx: &mut Ctx<'_>, info: &CloseInfo);
    /// Runs the handler named `event`; `None` when there is none.
    fn deliver(&mut self, cx: &mut Ctx<'_>, event: &str, data: Value) -> Option<Answer>;
    fn failed_unicast(
        &mut self,
        cx: &mut Ctx<'_>,
        target: ConnectionUuid,
        payload: &Payload,
    ) -> Answer;
}

/// A controller instance with its type's event table.
struct Typed<C: Controller> {
    controller: C,
    events: Arc<Events<C>>,
}

impl<C: Controller> Live for Typed<C> {
    fn open(&mut self, cx: &mut Ctx<'_>) {
        self.controller.on_open(cx);
    }

    fn message(&mut self, cx: &mut Ctx<'_>, message: Message<'_>) {
        match self.events.mode() {
            Mode::AutoDispatch => auto::on_message(&mut self.controller, &self.events, cx, message),
            Mode::Raw => self.controller.on_message(cx, message),
            Mode::HttpOnly => {}
        }
    }

    fn drained(&mut self, cx: &mut Ctx<'_>) {
        self.controller.on_drained(cx);
    }

    fn shutdown(&mut self, cx: &mut Ctx<'_>) {
        self.controller.on_shutdown(cx);
    }

    fn close(&mut self, cx: &mut Ctx<'_>, info: &CloseInfo) {
        self.controller.on_close(cx, info);
    }

    fn deliver(&mut self, cx: &mut Ctx<'_>, event: &str, data: Value) -> Option<Answer> {
        let handler = self.events.for_delivery(event)?;
        Some((handler.call)(&mut self.controller, cx, data))
    }

    fn failed_unicast(
        &mut self,
        cx: &mut Ctx<'_>,
        target: ConnectionUuid,
        payload: &Payload,
    ) -> Answer {
        self.controller.failed_unicast(cx, target, payload)
    }
}

/// The server's handler for one dispatch connection.
pub(crate) struct Connection {
    core: Arc<Core>,
    kind: Arc<KindInfo>,
    state: ConnState,
    live: Box<dyn Live>,
}

impl Connection {
    /// A connection for `controller`, which accepted the upgrade in `pre_connect`.
    pub(crate) fn new<C: Controller>(
        core: Arc<Core>,
        kind: Arc<KindInfo>,
        events: Arc<Events<C>>,
        controller: C,
        params: Params,
    ) -> Connection {
        // The real UUID is known in on_open (the server assigns the slot at the upgrade).
        let uuid = core.bus.connection_uuid(0, 0, 0);
        Connection {
            core,
            kind,
            state: ConnState {
                uuid,
                params,
                on_bus: false,
            },
            live: Box::new(Typed { controller, events }),
        }
    }

    /// Runs `f` with a context for this connection.
    fn with_cx<R>(
        &mut self,
        ws: &mut WebSocket<'_>,
        source: Source,
        target: Option<&Target>,
        f: impl FnOnce(&mut dyn Live, &mut Ctx<'_>) -> R,
    ) -> R {
        let port: &mut dyn WsPort = ws;
        let mut cx =
            Ctx::for_connection(&self.core, &self.kind, source, &mut self.state, Some(port));
        if let Some(target) = target {
            cx = cx.with_target(target);
        }
        f(&mut *self.live, &mut cx)
    }

    /// A server-side delivery: the handler named by the event runs; its answer is written.
    pub(crate) fn deliver(&mut self, ws: &mut WebSocket<'_>, delivery: &Delivery) {
        let source = Source::Delivery {
            from: delivery.from,
        };
        self.with_cx(ws, source, Some(&delivery.target), |live, cx| {
            if let Some(answer) = live.deliver(cx, &delivery.event, delivery.argument()) {
                cx.write_answer(&answer);
            }
        });
    }

    /// Pre-encoded bytes from the bus, written as they are.
    pub(crate) fn deliver_raw(ws: &mut WebSocket<'_>, bytes: &[u8]) {
        let written = match std::str::from_utf8(bytes) {
            Ok(text) => ws.write_text(text),
            Err(_) => ws.write_binary(bytes),
        };
        if let Err(e) = written {
            log::debug!("plezi: raw delivery not written: {e}");
        }
    }

    /// A unicast this connection sent found no server.
    pub(crate) fn failed_unicast(
        &mut self,
        ws: &mut WebSocket<'_>,
        target: ConnectionUuid,
        payload: &Payload,
    ) {
        self.with_cx(ws, Source::Hook, None, |live, cx| {
            let answer = live.failed_unicast(cx, target, payload);
            cx.write_answer(&answer);
        });
    }

    /// The dispatch connection behind a server handler, if it is one.
    pub(crate) fn downcast(handler: &mut dyn WebSocketHandler) -> Option<&mut Connection> {
        let any: &mut dyn Any = handler;
        any.downcast_mut::<Connection>()
    }
}

impl WebSocketHandler for Connection {
    fn on_open(&mut self, ws: &mut WebSocket<'_>) {
        self.state.uuid = self.core.uuid_of(ws.id());
        self.with_cx(ws, Source::Hook, None, |live, cx| live.open(cx));
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        self.with_cx(ws, Source::WebSocket, None, |live, cx| {
            live.message(cx, msg)
        });
    }

    fn on_drained(&mut self, ws: &mut WebSocket<'_>) {
        self.with_cx(ws, Source::Hook, None, |live, cx| live.drained(cx));
    }

    fn on_shutdown(&mut self, ws: &mut WebSocket<'_>) {
        self.with_cx(ws, Source::Hook, None, |live, cx| live.shutdown(cx));
    }

    fn on_close(&mut self, id: ConnId, info: &CloseInfo) {
        let mut cx =
            Ctx::for_connection(&self.core, &self.kind, Source::Hook, &mut self.state, None);
        self.live.close(&mut cx, info);
        if self.state.on_bus {
            self.core.bus.forget(self.state.uuid);
        }
        log::trace!("plezi: connection {id} ({}) closed", self.state.uuid);
    }
}
