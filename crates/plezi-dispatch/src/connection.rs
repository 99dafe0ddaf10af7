//! A WebSocket connection owned by a controller instance: the server's [`WebSocketHandler`] that
//! builds a [`Ctx`] for every hook, runs auto-dispatch, and receives bus deliveries.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use plezi_messaging::{
    Claim, ConnectionUuid, Message as BusMessage, Payload, Position, RecoveryGap, Target,
};
use plezi_server::{CloseInfo, ConnId, Message, WebSocket, WebSocketHandler};
use serde_json::{Value, json};

use crate::answer::Answer;
use crate::app_state::{AppState, KindInfo};
use crate::auto;
use crate::context::{ConnState, Ctx, Source, WsPort};
use crate::controller::Controller;
use crate::events::{Events, Mode};
use crate::generated::{
    CLOSE_POLICY_VIOLATION, EVENT_KEY, MESSAGE_ID_KEY, POSITION_KEY, RECOVER_PARAM,
};
use crate::mail_ack::{self, MailAcks};
use crate::msg::Msg;
use crate::params::Params;
use crate::recovery::Recovery;

/// One server-side delivery, shared by all its local receivers.
///
/// Its handler message is built once and shared ([`Msg`]): most receivers show it to their client
/// unchanged (the chat line), and then it is encoded and framed once, the frame shared by every
/// such receiver.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    event: String,
    msg: Msg,
    from: Option<ConnectionUuid>,
    target: Target,
    /// Its place in its stream's history, if the stream keeps one.
    position: Option<Position>,
    /// The same delivery with its mailbox message id (`_mid_`), as connections that acknowledge
    /// their mail see it (an identity notification whose data is an object).
    marked: Option<Box<Delivery>>,
}

impl Delivery {
    pub(crate) fn new(
        event: String,
        data: Value,
        from: Option<ConnectionUuid>,
        target: Target,
        position: Option<Position>,
        mailbox_id: Option<&str>,
    ) -> Delivery {
        let value = argument(&event, data, position.as_ref());
        let marked = mailbox_id.and_then(|id| match &value {
            Value::Object(map) => {
                let mut map = map.clone();
                map.insert(MESSAGE_ID_KEY.to_owned(), Value::from(id));
                Some(Box::new(Delivery {
                    msg: Msg::new(Value::Object(map)),
                    event: event.clone(),
                    from,
                    target: target.clone(),
                    position: position.clone(),
                    marked: None,
                }))
            }
            _ => None,
        });
        Delivery {
            msg: Msg::new(value),
            event,
            from,
            target,
            position,
            marked,
        }
    }

    /// The delivery as a connection sees it: with its mailbox message id (`_mid_`) when the
    /// connection acknowledges its mail (`acks`), else as it was sent (what the original Plezi
    /// client has always received).
    pub(crate) fn seen_by(&self, acks: bool) -> &Delivery {
        match (&self.marked, acks) {
            (Some(marked), true) => marked,
            _ => self,
        }
    }

    /// A message recovered from a stream's history.
    pub(crate) fn recovered(message: BusMessage) -> Option<Delivery> {
        match message.payload {
            Payload::Event { event, data } => Some(Delivery::new(
                event,
                data,
                message.from,
                message.target,
                message.position,
                None,
            )),
            Payload::Raw(_) => None,
        }
    }

    /// The handler's message (shared: no copy).
    pub(crate) fn msg(&self) -> Msg {
        self.msg.clone()
    }

    /// Writes a receiver's answer. A [`Msg`] returned unchanged is the shared frame (see
    /// [`Ctx::write_answer`]); so is a `Value` equal to the message, from a handler that took its
    /// own copy (`Value`) and gave it back.
    pub(crate) fn write_answer(&self, cx: &mut Ctx<'_>, answer: &Answer) {
        match answer {
            Answer::Json(v) if self.msg == *v => {
                if let Err(e) = cx.write_frame(self.msg.frame()) {
                    log::debug!("plezi: answer not written: {e}");
                }
            }
            _ => cx.write_answer(answer),
        }
    }
}

/// The handler's message for a delivery of `event` with `data`: `data`, with `"event": <event>`
/// added when it is an object without an `event` key, so every source hands handlers the same
/// shape; with its stream position (`_pos_`) when it has one.
fn argument(event: &str, mut data: Value, position: Option<&Position>) -> Value {
    if let Value::Object(map) = &mut data {
        if !map.contains_key(EVENT_KEY) {
            map.insert(EVENT_KEY.to_owned(), Value::from(event));
        }
        if let Some(p) = position {
            let at = json!({"s": &*p.stream, "e": &*p.epoch, "o": p.offset});
            map.insert(POSITION_KEY.to_owned(), at);
        }
    }
    data
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
    fn deliver(&mut self, cx: &mut Ctx<'_>, event: &str, msg: Msg) -> Option<Answer>;
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

    fn deliver(&mut self, cx: &mut Ctx<'_>, event: &str, msg: Msg) -> Option<Answer> {
        let handler = self.events.for_delivery(event)?;
        if !self.controller.accept_delivery(cx, event) {
            return None;
        }
        Some((handler.call)(&mut self.controller, cx, msg))
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
    /// It counts as a member of its controller type on the bus (from its open to its close).
    joined: bool,
    /// The mailbox batches waiting for the client's acknowledgement, when it acknowledges them
    /// (`_ack_=1`).
    mail: Option<MailAcks>,
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
        let recovery = params.get_str(RECOVER_PARAM).and_then(Recovery::parse);
        let mail = MailAcks::requested(&params).then(MailAcks::default);
        Connection {
            app,
            kind,
            state: ConnState {
                uuid,
                params,
                on_bus: false,
                notify_bucket: Default::default(),
                recovery,
                session_id,
                session,
            },
            live: Box::new(Typed { controller, events }),
            joined: false,
            mail,
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
        let delivery = delivery.seen_by(self.mail.is_some());
        if let (Some(recovery), Some(position)) = (&mut self.state.recovery, &delivery.position)
            && (recovery.already_written(position) || recovery.hold(delivery, position))
        {
            return;
        }
        self.run_delivery(port, delivery);
        self.recover_entitled(port);
    }

    /// Runs the delivery's handler and writes its answer.
    fn run_delivery(&mut self, port: &mut dyn WsPort, delivery: &Delivery) {
        let source = Source::Delivery {
            from: delivery.from,
        };
        self.with_cx(port, source, Some(&delivery.target), |live, cx| {
            if let Some(answer) = live.deliver(cx, &delivery.event, delivery.msg()) {
                delivery.write_answer(cx, &answer);
            }
        });
    }

    /// Delivers what `stream`'s history holds after the position the client named (when it named
    /// one), through the handlers, in order. When the history lives in Redis it is read on the
    /// server's blocking pool and delivered when the answer is back ([`Connection::recovered`]).
    fn recover(&mut self, port: &mut dyn WsPort, stream: &str) {
        let Some(recovery) = self.state.recovery.as_mut() else {
            return;
        };
        let Some((epoch, offset)) = recovery.take(stream) else {
            return;
        };
        let bus = &self.app.bus;
        if bus.recovery_blocks()
            && let (Some(server), Some(id)) = (port.server(), self.app.conn_of(self.state.uuid))
        {
            recovery.start_reading(stream);
            let (bus, server, stream) = (bus.clone(), server.clone(), stream.to_owned());
            let back = server.clone();
            server.run_blocking(move || {
                let result = bus.recover(&stream, &epoch, offset);
                drop(bus);
                back.run(id, move |h, ws| {
                    if let Some(conn) = Connection::downcast(h) {
                        conn.recovered(ws, &stream, offset, result);
                    }
                });
            });
            return;
        }
        let result = bus.recover(stream, &epoch, offset);
        // Read at once: nothing was held.
        self.write_recovered(port, stream, offset, result);
    }

    /// A history read of `stream` came back from the blocking pool: writes the missed messages,
    /// the report, then the live deliveries held meanwhile that the missed ones did not include.
    fn recovered(
        &mut self,
        port: &mut dyn WsPort,
        stream: &str,
        offset: u64,
        result: Result<Vec<BusMessage>, RecoveryGap>,
    ) {
        let held = self.write_recovered(port, stream, offset, result);
        self.write_report(port);
        for delivery in held {
            self.deliver(port, &delivery);
        }
    }

    /// Writes the missed messages of `stream` (if the history covered the gap); returns the live
    /// deliveries held while it was read.
    fn write_recovered(
        &mut self,
        port: &mut dyn WsPort,
        stream: &str,
        offset: u64,
        result: Result<Vec<BusMessage>, RecoveryGap>,
    ) -> Vec<Delivery> {
        let Some(recovery) = self.state.recovery.as_mut() else {
            return Vec::new();
        };
        let held = recovery.finish(stream, offset, &result);
        for delivery in result
            .unwrap_or_default()
            .into_iter()
            .filter_map(Delivery::recovered)
        {
            self.run_delivery(port, &delivery);
        }
        held
    }

    /// Recovers the channels the connection subscribed to since the last call, then reports what
    /// was recovered (`_recovered_`).
    fn recover_entitled(&mut self, port: &mut dyn WsPort) {
        let Some(recovery) = self.state.recovery.as_mut() else {
            return;
        };
        for stream in recovery.take_entitled() {
            self.recover(port, &stream);
        }
        self.write_report(port);
    }

    /// Writes the `_recovered_` report of the streams handled since the last one, if any.
    fn write_report(&mut self, port: &mut dyn WsPort) {
        if let Some(report) = self.state.recovery.as_mut().and_then(|r| r.report())
            && let Err(e) = port.write_text(&report)
        {
            log::debug!("plezi: recovery report not written: {e}");
        }
    }

    /// A mailbox batch ending with message `last` was written to this connection. A client that
    /// acknowledges gets `_mail_` and the connection holds `claim` until its `_ack_` (closing the
    /// connection with 1008 when none comes within `BusConfig::mailbox_ack_timeout`); for any other
    /// the claim is confirmed now.
    pub(crate) fn mail_written(
        &mut self,
        ws: &mut WebSocket<'_>,
        last: Option<&Arc<str>>,
        claim: &Claim,
    ) {
        let (Some(mail), Some(last)) = (self.mail.as_mut(), last) else {
            claim.delivered();
            return;
        };
        if claim.is_delivered() {
            return; // another connection acknowledged it first
        }
        if let Err(e) = ws.write_text(&MailAcks::mail_frame(last)) {
            log::debug!("plezi: _mail_ not written: {e}");
            return; // closing: the claim is given back with the others
        }
        let (server, id) = (ws.server().clone(), ws.id());
        let timeout = self.app.bus.config().mailbox_ack_timeout;
        let overdue = last.clone();
        let timer = ws.server().run_after(timeout, move || {
            server.run(id, move |h, ws| {
                if let Some(conn) = Connection::downcast(h) {
                    conn.ack_overdue(ws, &overdue);
                }
            });
        });
        mail.wait(last.clone(), claim.clone(), Some(timer));
    }

    /// The acknowledgement deadline of the batch ending with `last` passed.
    fn ack_overdue(&mut self, ws: &mut WebSocket<'_>, last: &str) {
        if self.mail.as_mut().is_some_and(|m| m.overdue(last)) {
            log::debug!(
                "plezi: connection {} did not acknowledge its mailbox messages in time; closing it",
                self.state.uuid
            );
            ws.close(
                CLOSE_POLICY_VIOLATION,
                "mailbox messages not acknowledged in time",
            );
        }
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

    /// The connection opened as `uuid`: joins its controller type on the bus (with Redis, confirmed
    /// before `on_open` runs, so every broadcast published after it reaches this connection), then runs
    /// `on_open`.
    pub(crate) fn open(&mut self, port: &mut dyn WsPort, uuid: ConnectionUuid) {
        self.state.uuid = uuid;
        if !self.joined {
            self.app.bus.join_controller(&self.kind.name);
            self.joined = true;
        }
        self.recover(port, &format!("ctl:{}", self.kind.name));
        self.with_cx(port, Source::Hook, None, |live, cx| live.open(cx));
        self.recover_entitled(port);
    }

    /// A message from the client: auto-dispatch or `on_message`, by the controller's mode, timed
    /// for the handler latency metric.
    pub(crate) fn message(&mut self, port: &mut dyn WsPort, msg: Message<'_>) {
        if let (Some(mail), Message::Text(text)) = (self.mail.as_mut(), &msg)
            && let Some(mid) = mail_ack::acknowledged(text)
        {
            if let (Some(timer), Some(server)) = (mail.ack(&mid), port.server()) {
                server.cancel_timer(timer);
            }
            return;
        }
        let started = Instant::now();
        self.with_cx(port, Source::WebSocket, None, |live, cx| {
            live.message(cx, msg)
        });
        self.app.timings.handler.observe(started.elapsed());
        self.recover_entitled(port);
    }

    /// The connection closed: runs `on_close` and leaves the bus.
    pub(crate) fn close(&mut self, info: &CloseInfo) {
        // Unacknowledged mailbox batches go back (first in line for the identity's next connection).
        if let Some(mail) = self.mail.take()
            && let Some(server) = self.app.handle()
        {
            mail.timers().for_each(|t| server.cancel_timer(t));
        }
        let mut cx =
            Ctx::for_connection(&self.app, &self.kind, Source::Hook, &mut self.state, None);
        self.live.close(&mut cx, info);
        if self.state.on_bus {
            self.app.bus.forget(self.state.uuid);
        }
        if std::mem::take(&mut self.joined) {
            self.app.bus.leave_controller(&self.kind.name);
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
    use std::net::{Ipv4Addr, SocketAddr};

    use plezi_messaging::{Bus, BusConfig};
    use plezi_server::{ServerHandle, SharedFrame, WriteError};
    use serde_json::json;

    use crate::params::ParamsLimits;
    use crate::session::{SessionConfig, Sessions};

    fn delivery(event: &str, data: Value) -> Delivery {
        Delivery::new(event.into(), data, None, Target::Multicast, None, None)
    }

    #[test]
    fn the_message_carries_the_event_name() {
        assert_eq!(
            *delivery("chat", json!({"m": 1})).msg(),
            json!({"event": "chat", "m": 1})
        );
        assert_eq!(
            *delivery("chat", json!({"event": "other"})).msg(),
            json!({"event": "other"})
        );
        assert_eq!(*delivery("chat", json!([1])).msg(), json!([1]));
    }

    /// Records where each written frame's bytes live, and every other write.
    #[derive(Default)]
    struct Port {
        frames: Vec<(*const u8, Vec<u8>)>,
        texts: Vec<String>,
    }

    impl WsPort for Port {
        fn write_text(&mut self, text: &str) -> Result<(), WriteError> {
            self.texts.push(text.to_owned());
            Ok(())
        }
        fn write_binary(&mut self, _: &[u8]) -> Result<(), WriteError> {
            Ok(())
        }
        fn write_frame(&mut self, frame: &SharedFrame) -> Result<(), WriteError> {
            let bytes = frame.as_bytes();
            self.frames.push((bytes.as_ptr(), bytes.to_vec()));
            Ok(())
        }
        fn close(&mut self, _: u16, _: &str) {}
        fn pending(&self) -> usize {
            0
        }
        fn is_open(&self) -> bool {
            true
        }
        fn server(&self) -> Option<&ServerHandle> {
            None
        }
        fn peer_addr(&self) -> SocketAddr {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
        }
    }

    /// Runs `answer_of` as three receivers' handler for one delivery; returns what each wrote.
    fn three_receivers(d: &Delivery, answer_of: impl Fn(Msg) -> Answer) -> Vec<Port> {
        let bus = Bus::in_process(BusConfig::default());
        let app = AppState::new(
            bus.clone(),
            ParamsLimits::default(),
            Sessions::new(SessionConfig::default(), false),
            false,
            &[],
        );
        let kind = KindInfo {
            name: "T".into(),
            tag: 1,
            lifespan: std::time::Duration::ZERO,
            mode: Mode::AutoDispatch,
            history: None,
        };
        (0..3)
            .map(|i| {
                let mut port = Port::default();
                let mut state = ConnState {
                    uuid: bus.connection_uuid(0, i, 0),
                    params: Params::new(),
                    on_bus: false,
                    notify_bucket: Default::default(),
                    session_id: None,
                    session: Default::default(),
                    recovery: None,
                };
                let p: &mut dyn WsPort = &mut port;
                let source = Source::Delivery { from: None };
                {
                    let mut cx = Ctx::for_connection(&app, &kind, source, &mut state, Some(p));
                    let answer = answer_of(d.msg());
                    d.write_answer(&mut cx, &answer);
                }
                port
            })
            .collect()
    }

    #[test]
    fn an_unchanged_msg_is_one_frame_for_every_receiver() {
        let d = delivery("chat", json!({"m": "hi"}));
        let ports = three_receivers(&d, Answer::from);
        let first = ports[0].frames[0].0;
        for p in &ports {
            assert!(p.texts.is_empty());
            assert_eq!(p.frames.len(), 1);
            assert_eq!(p.frames[0].0, first, "the same bytes, not a copy");
            assert!(p.frames[0].1.ends_with(br#"{"event":"chat","m":"hi"}"#));
        }
    }

    #[test]
    fn an_unchanged_value_is_the_shared_frame_too() {
        let d = delivery("chat", json!({"m": [1, 2]}));
        let ports = three_receivers(&d, |m| Answer::from(m.into_value()));
        let first = ports[0].frames[0].0;
        assert!(ports.iter().all(|p| p.frames[0].0 == first));
    }

    #[test]
    fn a_changed_message_is_written_for_its_receiver_only() {
        let d = delivery("chat", json!({"m": 1}));
        let ports = three_receivers(&d, |mut m| {
            m.to_mut()["m"] = json!(2);
            Answer::from(m)
        });
        for p in &ports {
            let written: Vec<&[u8]> = p
                .frames
                .iter()
                .map(|f| f.1.as_slice())
                .chain(p.texts.iter().map(|t| t.as_bytes()))
                .collect();
            assert_eq!(written.len(), 1);
            assert!(written[0].ends_with(br#"{"event":"chat","m":2}"#));
        }
        assert_eq!(d.msg()["m"], 1, "the shared message is unchanged");
        let other = three_receivers(&d, |m| Answer::from(json!({"seen": m["m"]})));
        assert_eq!(other[0].texts, [r#"{"seen":1}"#]);
    }
}
