//! [`Msg`], the message an event handler receives, and [`EventArg`], the argument types a handler
//! may take (typed ones in `typed.rs`).
//!
//! One server-side delivery (a broadcast, a channel message...) reaches many local receivers. They
//! all get the same `Msg`: a reference-counted JSON value with, beside it, its encoding as one
//! WebSocket frame, made the first time a receiver writes it. A handler that relays the message
//! unchanged (`-> Msg`, the common case: show the chat line to the client) thus costs no JSON work
//! and no copy per receiver: every receiver's connection queues the same frame bytes.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use plezi_server::SharedFrame;
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::Value;
use ts_rs::TS;

use crate::context::Source;
use crate::typed::{self, BadPayload, Call, Json, Relay};
use crate::typescript::TypeScript;

/// The message an event handler receives: a JSON value (an object with `event`, for every source
/// but a few deliveries of non-object data), shared by every local receiver of one delivery.
///
/// It derefs to [`Value`]: `msg["message"]`, `msg.get("to")` and `msg.as_object()` read it
/// without a copy. Returned unchanged (as `Msg`, or inside `Some`/`Ok`/[`Answer`]), it is written
/// from one frame encoded once for all the delivery's receivers. [`Msg::to_mut`] changes it
/// (copying the value first when other receivers share it) and [`Msg::into_value`] takes it
/// (copying only when shared).
///
/// A handler may take `serde_json::Value` instead ([`EventArg`]); it then gets its own copy, which
/// for a delivery means one deep copy per receiver.
///
/// ```
/// use plezi_dispatch::{events, Ctx, Events, Msg};
/// use serde_json::json;
///
/// struct Chat;
/// impl Chat {
///     /// A delivery shown to the client as it came: no copy, no encoding per receiver.
///     fn shown(&mut self, _cx: &mut Ctx<'_>, msg: Msg) -> Msg {
///         msg
///     }
///     /// A changed copy for this receiver only.
///     fn stamped(&mut self, _cx: &mut Ctx<'_>, mut msg: Msg) -> Msg {
///         msg.to_mut()["seen"] = json!(true);
///         msg
///     }
/// }
/// let table: Events<Chat> = events![bus shown => Chat::shown, bus stamped => Chat::stamped];
/// assert_eq!(table.names().len(), 2);
///
/// let msg = Msg::new(json!({"event": "chat", "message": "hi"}));
/// assert_eq!(msg["message"], "hi");
/// ```
///
/// [`Answer`]: crate::Answer
#[derive(Clone)]
pub struct Msg {
    inner: Arc<Inner>,
}

struct Inner {
    value: Value,
    /// `value` as one text frame, encoded on first use.
    frame: OnceLock<SharedFrame>,
}

/// A copy made to be changed: without the frame, which would no longer match.
impl Clone for Inner {
    fn clone(&self) -> Inner {
        Inner {
            value: self.value.clone(),
            frame: OnceLock::new(),
        }
    }
}

impl Msg {
    /// A message holding `value`.
    ///
    /// ```
    /// # use plezi_dispatch::Msg;
    /// # use serde_json::json;
    /// let msg = Msg::new(json!({"event": "chat", "message": "hi"}));
    /// assert_eq!(msg.get("event").and_then(|e| e.as_str()), Some("chat"));
    /// ```
    pub fn new(value: Value) -> Msg {
        Msg {
            inner: Arc::new(Inner {
                value,
                frame: OnceLock::new(),
            }),
        }
    }

    /// The JSON value (also reachable through `Deref`: `msg["key"]`).
    ///
    /// ```
    /// # use plezi_dispatch::Msg;
    /// # use serde_json::json;
    /// let msg = Msg::new(json!({"n": 1}));
    /// assert_eq!(msg.value(), &json!({"n": 1}));
    /// ```
    pub fn value(&self) -> &Value {
        &self.inner.value
    }

    /// The value, to change: copied first when other receivers share this message, so the change
    /// is this handler's own.
    ///
    /// ```
    /// # use plezi_dispatch::Msg;
    /// # use serde_json::json;
    /// let shared = Msg::new(json!({"n": 1}));
    /// let mut mine = shared.clone();
    /// mine.to_mut()["n"] = json!(2);
    /// assert_eq!((shared["n"].as_i64(), mine["n"].as_i64()), (Some(1), Some(2)));
    /// ```
    pub fn to_mut(&mut self) -> &mut Value {
        let inner = Arc::make_mut(&mut self.inner);
        inner.frame.take();
        &mut inner.value
    }

    /// The value itself: moved out when this is the message's only holder, copied otherwise.
    ///
    /// ```
    /// # use plezi_dispatch::Msg;
    /// # use serde_json::json;
    /// let shared = Msg::new(json!({"n": 1}));
    /// let copy = shared.clone().into_value(); // shared: a copy
    /// assert_eq!(copy, *shared);
    /// assert_eq!(shared.into_value(), json!({"n": 1})); // the last holder: moved out
    /// ```
    pub fn into_value(self) -> Value {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner.value,
            Err(shared) => shared.value.clone(),
        }
    }

    /// Whether `self` and `other` are the same shared message (not merely equal values).
    pub(crate) fn is(&self, other: &Msg) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether other holders share this message (so its frame is worth keeping).
    pub(crate) fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1 || self.inner.frame.get().is_some()
    }

    /// The value as one text frame, encoded on the first call and shared by every later one.
    pub(crate) fn frame(&self) -> &SharedFrame {
        self.inner
            .frame
            .get_or_init(|| SharedFrame::text(&self.inner.value.to_string()))
    }
}

impl Deref for Msg {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.inner.value
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Msg").field(&self.inner.value).finish()
    }
}

/// The value as JSON text.
impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.value, f)
    }
}

/// Equal values (shared or not).
impl PartialEq for Msg {
    fn eq(&self, other: &Msg) -> bool {
        self.is(other) || self.inner.value == other.inner.value
    }
}

impl PartialEq<Value> for Msg {
    fn eq(&self, other: &Value) -> bool {
        self.inner.value == *other
    }
}

impl From<Value> for Msg {
    fn from(value: Value) -> Msg {
        Msg::new(value)
    }
}

impl From<Msg> for Value {
    fn from(msg: Msg) -> Value {
        msg.into_value()
    }
}

impl Serialize for Msg {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.inner.value.serialize(serializer)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Msg {}
    impl Sealed for serde_json::Value {}
    impl<T> Sealed for crate::typed::Json<T> {}
    impl<T, D> Sealed for crate::typed::Call<T, D> {}
    impl<T> Sealed for crate::typed::Relay<T> {}
}

/// What an event handler may take as its message:
///
/// | argument | a client's message (WebSocket, AJAJ) | a server-side delivery |
/// |---|---|---|
/// | [`Msg`] | as it came | shared with the other receivers, no copy |
/// | [`Value`] | as it came (its own copy) | one deep copy per receiver |
/// | [`Json<T>`] | parsed into `T` (`err` 400 naming the field when it does not fit) | parsed too (dropped, with a log line, when it does not fit) |
/// | [`Call<T, D>`] | `Call::Client(T)`, parsed like `Json<T>` | `Call::Delivery`, as it came, no copy |
/// | [`Relay<T>`] | checked against `T`, kept as it came | as it came, no copy |
///
/// A handler whose argument does not fit is not run. The typed ones (`Json`, `Call`, `Relay`)
/// give the generated TypeScript module ([`TypeScript`]) the payload's type.
///
/// ```
/// use plezi_dispatch::{events, Ctx, Events, Msg};
/// use serde_json::Value;
///
/// struct Room;
/// impl Room {
///     fn relay(&mut self, _cx: &mut Ctx<'_>, msg: Msg) -> Msg {
///         msg // shared: no copy
///     }
///     fn count(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
///         Value::from(msg.as_object().map_or(0, |m| m.len())) // its own copy
///     }
/// }
/// let table: Events<Room> = events![ws relay => Room::relay, ws count => Room::count];
/// assert_eq!(table.names().len(), 2);
/// ```
///
/// [`Json<T>`]: crate::Json
/// [`Call<T, D>`]: crate::Call
/// [`Relay<T>`]: crate::Relay
/// [`TypeScript`]: crate::TypeScript
pub trait EventArg: sealed::Sealed + Sized {
    /// The argument for a handler, from the message and where it came from; a [`BadPayload`]
    /// when it does not fit.
    fn from_msg(msg: Msg, source: Source) -> Result<Self, BadPayload>;

    /// The payload's TypeScript type (without `event`), declared in `ts`; `None` when untyped.
    fn payload_type(ts: &mut TypeScript) -> Option<String>;
}

impl EventArg for Msg {
    fn from_msg(msg: Msg, _: Source) -> Result<Msg, BadPayload> {
        Ok(msg)
    }

    fn payload_type(_: &mut TypeScript) -> Option<String> {
        None
    }
}

impl EventArg for Value {
    fn from_msg(msg: Msg, _: Source) -> Result<Value, BadPayload> {
        Ok(msg.into_value())
    }

    fn payload_type(_: &mut TypeScript) -> Option<String> {
        None
    }
}

impl<T: DeserializeOwned + TS + 'static> EventArg for Json<T> {
    fn from_msg(msg: Msg, source: Source) -> Result<Json<T>, BadPayload> {
        typed::parse(msg, source).map(Json)
    }

    fn payload_type(ts: &mut TypeScript) -> Option<String> {
        Some(ts.declare::<T>())
    }
}

impl<T: DeserializeOwned + TS + 'static, D: TS + 'static> EventArg for Call<T, D> {
    fn from_msg(msg: Msg, source: Source) -> Result<Call<T, D>, BadPayload> {
        match source {
            Source::Delivery { .. } => Ok(Call::Delivery(Relay::new(msg))),
            _ => typed::parse(msg, source).map(Call::Client),
        }
    }

    fn payload_type(ts: &mut TypeScript) -> Option<String> {
        Some(ts.declare::<T>())
    }
}

impl<T: DeserializeOwned + TS + 'static> EventArg for Relay<T> {
    fn from_msg(msg: Msg, source: Source) -> Result<Relay<T>, BadPayload> {
        typed::check::<T>(msg, source).map(Relay::new)
    }

    fn payload_type(ts: &mut TypeScript) -> Option<String> {
        Some(ts.declare::<T>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_frame_is_encoded_once_and_shared() {
        let a = Msg::new(json!({"event": "chat", "m": 1}));
        let b = a.clone();
        assert!(a.is(&b) && a.is_shared());
        let fa = a.frame().as_bytes().as_ptr();
        assert_eq!(fa, b.frame().as_bytes().as_ptr());
        assert!(a.frame().as_bytes().ends_with(br#"{"event":"chat","m":1}"#));
    }

    #[test]
    fn changing_a_shared_message_copies_it_and_drops_the_frame() {
        let a = Msg::new(json!({"m": 1}));
        let _ = a.frame();
        let mut b = a.clone();
        b.to_mut()["m"] = json!(2);
        assert!(!a.is(&b));
        assert_eq!(a["m"], 1);
        assert!(b.frame().as_bytes().ends_with(br#"{"m":2}"#));
        assert!(a.frame().as_bytes().ends_with(br#"{"m":1}"#));
    }

    #[test]
    fn into_value_moves_when_alone_and_copies_when_shared() {
        let a = Msg::new(json!([1, 2]));
        let b = a.clone();
        assert_eq!(b.into_value(), json!([1, 2]));
        assert!(!a.is_shared(), "the copy was the only other holder");
        assert_eq!(Value::from(a), json!([1, 2]));
    }
}
