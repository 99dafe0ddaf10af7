//! [`Harness`]: a controller driven without sockets, for unit tests of your controllers and for
//! benchmarks of the dispatch path (parse → handler → reply).
//!
//! ```
//! use plezi_dispatch::testing::{Harness, Written};
//! use plezi_dispatch::{events, Controller, Ctx, Events};
//! use serde_json::Value;
//!
//! #[derive(Default)]
//! struct Echo;
//! impl Controller for Echo {
//!     fn events() -> Events<Self> {
//!         events![ws echo => |_: &mut Echo, _: &mut Ctx<'_>, m: Value| m]
//!     }
//! }
//!
//! let mut echo = Harness::new(Echo).unwrap();
//! echo.open();
//! assert_eq!(
//!     echo.text(r#"{"event":"echo","_EID_":1}"#),
//!     [
//!         Written::Text(r#"{"event":"_ack_","_EID_":1}"#.into()),
//!         Written::Text(r#"{"_EID_":1,"event":"echo"}"#.into()),
//!     ]
//! );
//! assert_eq!(echo.text("not json"), [Written::Close(1003, "auto-dispatch takes JSON objects; this is not JSON".into())]);
//! ```

use std::cell::OnceCell;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use plezi_messaging::{Bus, BusConfig, ConnectionUuid, Target};
use plezi_server::{CloseInfo, Message, ServerHandle, SharedFrame, WriteError};
use serde_json::{Map, Value};

use crate::app_state::{AppState, KindInfo};
use crate::connection::{Connection, Delivery};
use crate::context::WsPort;
use crate::controller::Controller;
use crate::error::RegisterError;
use crate::params::{Params, ParamsLimits};
use crate::session::{Session, SessionConfig, Sessions};

/// What a controller wrote to its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The connection was closed with this code and reason.
    Close(u16, String),
}

/// The pretend connection: records writes.
struct Recorder {
    written: Vec<Written>,
    open: bool,
}

impl WsPort for Recorder {
    fn write_text(&mut self, text: &str) -> Result<(), WriteError> {
        self.written.push(Written::Text(text.to_owned()));
        Ok(())
    }
    fn write_binary(&mut self, data: &[u8]) -> Result<(), WriteError> {
        self.written.push(Written::Binary(data.to_vec()));
        Ok(())
    }
    fn write_frame(&mut self, frame: &SharedFrame) -> Result<(), WriteError> {
        // A server frame: opcode byte, length (7, 7+16 or 7+64 bits), unmasked payload.
        let bytes = frame.as_bytes();
        let (opcode, len_byte) = (
            bytes.first().copied().unwrap_or(0) & 0x0f,
            bytes.get(1).copied().unwrap_or(0) & 0x7f,
        );
        let start = match len_byte {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        let payload = bytes.get(start..).unwrap_or_default();
        self.written.push(match opcode {
            1 => Written::Text(String::from_utf8_lossy(payload).into_owned()),
            _ => Written::Binary(payload.to_vec()),
        });
        Ok(())
    }
    fn close(&mut self, code: u16, reason: &str) {
        if self.open {
            self.open = false;
            self.written.push(Written::Close(code, reason.to_owned()));
        }
    }
    fn pending(&self) -> usize {
        0
    }
    fn is_open(&self) -> bool {
        self.open
    }
    fn server(&self) -> Option<&ServerHandle> {
        None
    }
    fn peer_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
    }
}

/// One controller instance as if it owned a WebSocket connection; every call returns what it wrote.
/// Bus calls (broadcast, notify...) go to the harness's bus, which delivers to no connection.
///
/// The harness drives the same connection type the server does (auto-dispatch, deliveries and
/// their shared frames, hooks); only the socket is replaced by a recorder.
pub struct Harness<C: Controller> {
    conn: Connection,
    port: Recorder,
    controller: PhantomData<fn() -> C>,
}

impl<C: Controller> Harness<C> {
    /// A harness for `controller` on a fresh in-process bus. Fails like adding its route would.
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// assert!(room.open().is_empty());
    /// ```
    pub fn new(controller: C) -> Result<Harness<C>, RegisterError> {
        Harness::with_bus(controller, Bus::in_process(BusConfig::default()))
    }

    /// A harness on `bus` (share one bus between many harnesses in a benchmark).
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// use plezi_messaging::{Bus, BusConfig};
    /// let bus = Bus::in_process(BusConfig::default());
    /// let a = Harness::with_bus(Room::default(), bus.clone()).unwrap();
    /// let b = Harness::with_bus(Room::default(), bus).unwrap();
    /// # let _ = (a, b);
    /// ```
    pub fn with_bus(controller: C, bus: Bus) -> Result<Harness<C>, RegisterError> {
        let name = C::bus_name();
        let events = C::events();
        events.check(&name)?;
        let kind = KindInfo {
            name,
            tag: 1,
            lifespan: C::message_store_lifespan(),
            mode: events.mode(),
            history: None,
        };
        let uuid = bus.connection_uuid(0, 1, 0);
        let app = Arc::new(AppState::new(
            bus,
            ParamsLimits::default(),
            Sessions::new(SessionConfig::default(), false),
            false,
            &[],
        ));
        let mut conn = Connection::new(
            app,
            Arc::new(kind),
            Arc::new(events),
            controller,
            Params::new(),
            None,
            OnceCell::new(),
        );
        conn.state_mut().uuid = uuid;
        Ok(Harness {
            conn,
            port: Recorder {
                written: Vec::new(),
                open: true,
            },
            controller: PhantomData,
        })
    }

    /// Gives the pretend connection a session with `data`, as if its upgrade request had
    /// carried a valid session cookie (`cx.session()` in `on_open` and handlers reads it).
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// room.set_session(json!({"user": "ann"}).as_object().unwrap().clone());
    /// room.open();
    /// assert_eq!(room.controller().user.as_deref(), Some("ann"));
    /// ```
    pub fn set_session(&mut self, data: Map<String, Value>) {
        self.conn.state_mut().session =
            OnceCell::from(Session::with_data("harness".to_owned(), data));
    }

    /// The pretend connection's UUID.
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let room = Harness::new(Room::default()).unwrap();
    /// assert_eq!(room.id().to_string().len(), plezi_messaging::UUID_TEXT_LEN);
    /// ```
    pub fn id(&self) -> ConnectionUuid {
        self.conn.uuid()
    }

    /// The controller instance.
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// room.open();
    /// assert!(room.controller().opened);
    /// ```
    pub fn controller(&mut self) -> &mut C {
        self.conn
            .controller()
            .downcast_mut::<C>()
            .expect("a harness's connection holds its own controller type")
    }

    /// Whether the controller has not closed the connection.
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// room.open();
    /// room.text("not json"); // auto-dispatch closes with 1003
    /// assert!(!room.is_open());
    /// ```
    pub fn is_open(&self) -> bool {
        self.port.open
    }

    fn written(&mut self) -> Vec<Written> {
        std::mem::take(&mut self.port.written)
    }

    /// Runs `on_open`.
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// assert_eq!(room.open(), Vec::<Written>::new()); // on_open writes nothing here
    /// ```
    pub fn open(&mut self) -> Vec<Written> {
        let uuid = self.conn.uuid();
        self.conn.open(&mut self.port, uuid);
        self.written()
    }

    fn message(&mut self, message: Message<'_>) -> Vec<Written> {
        if !self.port.open {
            return Vec::new();
        }
        self.conn.message(&mut self.port, message);
        self.written()
    }

    /// A text message from the client (auto-dispatch or `on_message`, by the mode).
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// room.open();
    /// assert_eq!(room.text(r#"{"event":"echo","n":1}"#), [Written::Text(r#"{"event":"echo","n":1}"#.into())]);
    /// ```
    pub fn text(&mut self, text: &str) -> Vec<Written> {
        self.message(Message::Text(text))
    }

    /// A binary message from the client.
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// room.open();
    /// let written = room.binary(&[1, 2, 3]); // auto-dispatch takes JSON text only
    /// assert!(matches!(written.as_slice(), [Written::Close(1003, _)]));
    /// ```
    pub fn binary(&mut self, data: &[u8]) -> Vec<Written> {
        self.message(Message::Binary(data))
    }

    /// A server-side delivery of `event` with `data` (as a broadcast without a sender would be).
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// room.open();
    /// let written = room.deliver("shown", json!({"line": "hi"}));
    /// assert_eq!(written, [Written::Text(r#"{"event":"shown","line":"hi"}"#.into())]);
    /// ```
    pub fn deliver(&mut self, event: &str, data: Value) -> Vec<Written> {
        if !self.port.open {
            return Vec::new();
        }
        let delivery = Delivery::new(event.to_owned(), data, None, Target::Multicast, None, None);
        self.conn.deliver(&mut self.port, &delivery);
        self.written()
    }

    /// Runs `on_close` (the client went away); later calls write nothing.
    ///
    /// ```
    /// # use plezi_dispatch::testing::{Harness, Written};
    /// # use plezi_dispatch::{events, Controller, Ctx, Events, Msg};
    /// # use serde_json::{json, Value};
    /// # #[derive(Default)]
    /// # struct Room { opened: bool, user: Option<String> }
    /// # impl Controller for Room {
    /// #     fn events() -> Events<Self> {
    /// #         events![ws echo => |_: &mut Room, _: &mut Ctx<'_>, m: Value| m,
    /// #                 bus shown => |_: &mut Room, _: &mut Ctx<'_>, m: Msg| m]
    /// #     }
    /// #     fn on_open(&mut self, cx: &mut Ctx<'_>) {
    /// #         self.opened = true;
    /// #         self.user = cx.session().get_str("user").map(str::to_owned);
    /// #     }
    /// # }
    /// let mut room = Harness::new(Room::default()).unwrap();
    /// room.open();
    /// room.close();
    /// assert!(room.text(r#"{"event":"echo"}"#).is_empty());
    /// ```
    pub fn close(&mut self) {
        self.port.open = false;
        self.conn.close(&CloseInfo {
            code: Some(1000),
            reason: String::new(),
            initiated_by_server: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ctx, Events, events};
    use serde_json::json;

    #[derive(Default)]
    struct Both {
        opened: bool,
    }

    impl Controller for Both {
        fn events() -> Events<Self> {
            events![
                ws frame => |_: &mut Both, cx: &mut Ctx<'_>, m: Value| {
                    let text = "x".repeat(m["n"].as_u64().unwrap_or(0) as usize);
                    let _ = cx.write_frame(&SharedFrame::text(&text));
                },
                bus shown => |_: &mut Both, _: &mut Ctx<'_>, m: Value| m,
            ]
        }
        fn on_open(&mut self, _: &mut Ctx<'_>) {
            self.opened = true;
        }
    }

    #[test]
    fn frames_deliveries_and_hooks() {
        let mut h = Harness::new(Both::default()).unwrap();
        assert!(h.open().is_empty());
        assert!(h.controller().opened);
        for n in [0, 5, 125, 126, 300, 70_000] {
            let got = h.text(&json!({"event": "frame", "n": n}).to_string());
            assert_eq!(got, [Written::Text("x".repeat(n))], "n = {n}");
        }
        assert_eq!(
            h.deliver("shown", json!({"a": 1})),
            [Written::Text(r#"{"a":1,"event":"shown"}"#.into())]
        );
        assert!(h.deliver("missing", json!(1)).is_empty());
        // A bus-only event is unknown to the client.
        let err = h.text(r#"{"event":"shown"}"#);
        assert!(matches!(&err[..], [Written::Text(t)] if t.contains("\"status\":404")));
        assert_eq!(
            h.binary(b"x"),
            [Written::Close(
                1003,
                "auto-dispatch takes JSON text, not binary".into()
            )]
        );
        assert!(!h.is_open());
        assert!(h.text("{}").is_empty(), "nothing after the close");
        h.close();
    }

    /// Greets the session's user; drops deliveries of `spam`.
    #[derive(Default)]
    struct Greeter;

    impl Controller for Greeter {
        fn events() -> Events<Self> {
            events![
                bus spam => |_: &mut Greeter, _: &mut Ctx<'_>, m: Value| m,
                bus news => |_: &mut Greeter, _: &mut Ctx<'_>, m: Value| m,
            ]
        }
        fn on_open(&mut self, cx: &mut Ctx<'_>) {
            let user = cx.session().get_str("user").unwrap_or("guest").to_owned();
            let _ = cx.write(&format!("hello {user}"));
            let writable = cx.session_mut().is_ok();
            let _ = cx.write(&format!("writable {writable}"));
        }
        fn accept_delivery(&mut self, _: &mut Ctx<'_>, event: &str) -> bool {
            event != "spam"
        }
    }

    #[test]
    fn sessions_and_accept_delivery_in_the_harness() {
        let mut guest = Harness::new(Greeter).unwrap();
        assert_eq!(
            guest.open(),
            [
                Written::Text("hello guest".into()),
                Written::Text("writable false".into())
            ]
        );
        let mut ann = Harness::new(Greeter).unwrap();
        let mut data = Map::new();
        data.insert("user".into(), json!("ann"));
        ann.set_session(data);
        assert_eq!(ann.open()[0], Written::Text("hello ann".into()));
        assert!(ann.deliver("spam", json!({"x": 1})).is_empty());
        assert_eq!(ann.deliver("news", json!({"x": 1})).len(), 1);
    }

    struct Reserved;
    impl Controller for Reserved {
        fn events() -> Events<Self> {
            events![ws update => |_: &mut Reserved, _: &mut Ctx<'_>, _: Value| ()]
        }
    }

    #[test]
    fn a_bad_table_is_refused() {
        assert!(matches!(
            Harness::new(Reserved),
            Err(RegisterError::ReservedEvent { .. })
        ));
    }
}
