//! A WebSocket connection owned by a controller instance: the server's [`WebSocketHandler`] that
//! builds a [`Ctx`] for every hook, runs auto-dispatch, and receives bus deliveries.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use plezi_messaging::{ConnectionUuid, Payload, Target};
use plezi_server::{CloseInfo, ConnId, Message, SharedFrame, WebSocket, WebSocketHandler};
use serde_json::Value;

use crate::answer::Answer;
use crate::app_state::{AppState, KindInfo};
use crate::auto;
use crate::context::{ConnState, Ctx, Source, WsPort};
use crate::controller::Controller;
use crate::events::{Events, Mode};
use crate::generated::EVENT_KEY;
use crate::params::Params;

/// One server-side delivery, shared by all its local receivers.
///
/// Most receivers answer with the argument unchanged (show the chat message to the client):
/// that answer is encoded and framed once, and the frame shared by every such receiver.
#[derive(Debug)]
pub(crate) struct Delivery {
    event: String,
    data: Value,
    from: Option<ConnectionUuid>,
    target: Target,
    /// The argument, encoded and framed once, on first use.
    frame: OnceLock<SharedFrame>,
}

impl Delivery {
    pub(crate) fn new(
        event: String,
        data: Value,
        from: Option<ConnectionUuid>,
        target: Target,
    ) -> Delivery {
        Delivery {
            event,
            data,
            from,
            target,
            frame: OnceLock::new(),
        }
    }

    /// Whether `answer` equals [`Delivery::argument`] (without building it).
    fn is_argument(&self, answer: &Value) -> bool {
        match (&self.data, answer) {
            (Value::Object(data), Value::Object(answer)) if !data.contains_key(EVENT_KEY) => {
                answer.len() == data.len() + 1
                    && answer.get(EVENT_KEY).and_then(Value::as_str) == Some(self.event.as_str())
                    && data.iter().all(|(k, v)| answer.get(k) == Some(v))
            }
            _ => self.data == *answer,
        }
    }

    /// The argument as a shared text frame.
    fn argument_frame(&self) -> &SharedFrame {
        self.frame
            .get_or_init(|| SharedFrame::text(&self.argument().to_string()))
    }

    /// The handler's argument: `data`, with `"event": <event>` added when it is an object
    /// without an `event` key, so every source hands handlers the same shape.
    pub(crate) fn argument(&self) -> Value {
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
    /// The controller instance (a `C` for a `Typed<C>`).
    fn controller(&mut self) -> &mut dyn Any;
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
    fn controller(&mut self) -> &mut dyn Any {
        &mut self.controller
    }

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
        if !self.controller.accept_delivery(cx, event) {
            return None;
        }
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
    app: Arc<AppState>,
    kind: Arc<KindInfo>,
    state: ConnState,
    live: Box<dyn Live>,
}

impl Connection {
    /// A connection for `controller`, which accepted the upgrade in `pre_connect`.
    pub(crate) fn new<C: Controller>(
        app: Arc<AppState>,
        kind: Arc<KindInfo>,
        events: Arc<Events<C>>,
        controller: C,
        params: Params,
        session_id: Option<String>,
        session: std::cell::OnceCell<crate::session::Session>,
    ) -> Connection {
        // The real UUID is known in on_open (the server assigns the slot at the upgrade).
        let uuid = app.bus.connection_uuid(0, 0, 0);
        Connection {
            app,
            kind,
            state: ConnState {
                uuid,
                params,
                on_bus: false,
                notify_bucket: Default::default(),
                session_id,
                session,
            },
            live: Box::new(Typed { controller, events }),
        }
    }

    /// Runs `f` with a context for this connection, writing to `port` (the server's WebSocket, or
    /// the test harness's recorder).
    fn with_cx<R>(
        &mut self,
        port: &mut dyn WsPort,
        source: Source,
        target: Option<&Target>,
        f: impl FnOnce(&mut dyn Live, &mut Ctx<'_>) -> R,
    ) -> R {
        let mut cx =
            Ctx::for_connection(&self.app, &self.kind, source, &mut self.state, Some(port));
        if let Some(target) = target {
            cx = cx.with_target(target);
        }
        f(&mut *self.live, &mut cx)
    }

    /// A server-side delivery: the handler named by the event runs; its answer is written.
    pub(crate) fn deliver(&mut self, port: &mut dyn WsPort, delivery: &Delivery) {
        let source = Source::Delivery {
            from: delivery.from,
        };
        self.with_cx(
            port,
            source,
            Some(&delivery.target),
            |live, cx| match live.deliver(cx, &delivery.event, delivery.argument()) {
                Some(Answer::Json(v)) if delivery.is_argument(&v) => {
                    if let Err(e) = cx.write_frame(delivery.argument_frame()) {
                        log::debug!("plezi: answer not written: {e}");
                    }
                }
                Some(answer) => cx.write_answer(&answer),
                None => {}
            },
        );
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
        port: &mut dyn WsPort,
        target: ConnectionUuid,
        payload: &Payload,
    ) {
        self.with_cx(port, Source::Hook, None, |live, cx| {
            let answer = live.failed_unicast(cx, target, payload);
            cx.write_answer(&answer);
        });
    }

    /// The connection opened as `uuid`: runs `on_open`.
    pub(crate) fn open(&mut self, port: &mut dyn WsPort, uuid: ConnectionUuid) {
        self.state.uuid = uuid;
        self.with_cx(port, Source::Hook, None, |live, cx| live.open(cx));
    }

    /// A message from the client: auto-dispatch or `on_message`, by the controller's mode.
    pub(crate) fn message(&mut self, port: &mut dyn WsPort, msg: Message<'_>) {
        self.with_cx(port, Source::WebSocket, None, |live, cx| {
            live.message(cx, msg)
        });
    }

    /// The connection closed: runs `on_close` and leaves the bus.
    pub(crate) fn close(&mut self, info: &CloseInfo) {
        let mut cx =
            Ctx::for_connection(&self.app, &self.kind, Source::Hook, &mut self.state, None);
        self.live.close(&mut cx, info);
        if self.state.on_bus {
            self.app.bus.forget(self.state.uuid);
        }
    }

    /// The connection's bus UUID (a placeholder until it opens).
    pub(crate) fn uuid(&self) -> ConnectionUuid {
        self.state.uuid
    }

    /// The connection's state (UUID, params, session).
    pub(crate) fn state_mut(&mut self) -> &mut ConnState {
        &mut self.state
    }

    /// The controller instance (downcast it to the controller's type).
    pub(crate) fn controller(&mut self) -> &mut dyn Any {
        self.live.controller()
    }

    /// The dispatch connection behind a server handler, if it is one.
    pub(crate) fn downcast(handler: &mut dyn WebSocketHandler) -> Option<&mut Connection> {
        let any: &mut dyn Any = handler;
        any.downcast_mut::<Connection>()
    }
}

impl WebSocketHandler for Connection {
    fn on_open(&mut self, ws: &mut WebSocket<'_>) {
        let uuid = self.app.uuid_of(ws.id());
        self.open(ws, uuid);
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_>, msg: Message<'_>) {
        self.message(ws, msg);
    }

    fn on_drained(&mut self, ws: &mut WebSocket<'_>) {
        self.with_cx(ws, Source::Hook, None, |live, cx| live.drained(cx));
    }

    fn on_shutdown(&mut self, ws: &mut WebSocket<'_>) {
        self.with_cx(ws, Source::Hook, None, |live, cx| live.shutdown(cx));
    }

    fn on_close(&mut self, id: ConnId, info: &CloseInfo) {
        self.close(info);
        log::trace!("plezi: connection {id} ({}) closed", self.state.uuid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(event: &str, data: Value) -> Delivery {
        Delivery::new(event.into(), data, None, Target::Multicast)
    }

    #[test]
    fn the_argument_carries_the_event_name() {
        assert_eq!(
            delivery("chat", json!({"m": 1})).argument(),
            json!({"event": "chat", "m": 1})
        );
        assert_eq!(
            delivery("chat", json!({"event": "other"})).argument(),
            json!({"event": "other"})
        );
        assert_eq!(delivery("chat", json!([1])).argument(), json!([1]));
    }

    #[test]
    fn unchanged_answers_are_recognised() {
        for data in [
            json!({"m": 1}),
            json!({"event": "x", "m": [1]}),
            json!("s"),
            json!(null),
        ] {
            let d = delivery("chat", data);
            assert!(d.is_argument(&d.argument()), "{:?}", d.data);
            let framed = d.argument_frame().as_bytes().to_vec();
            assert!(framed.ends_with(d.argument().to_string().as_bytes()));
        }
        let d = delivery("chat", json!({"m": 1}));
        assert!(!d.is_argument(&json!({"event": "chat", "m": 2})));
        assert!(!d.is_argument(&json!({"event": "chat", "m": 1, "x": 0})));
        assert!(!d.is_argument(&json!({"event": "other", "m": 1})));
        assert!(!d.is_argument(&json!({"m": 1})));
    }
}
