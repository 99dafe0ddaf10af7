//! Typed payloads and replies (`docs/guide.md#typed-events`): [`Json`] parses a client's
//! message into a `serde::Deserialize` type (or serializes a reply), [`Call`] tells a client's
//! typed call from a server-side delivery, and [`Relay`] is a delivery shown as it came, with the
//! type it has.
//!
//! A client's message of the wrong shape never reaches the handler: it is answered `err` 400 whose
//! `result` names the field path (`docs/protocol.md#typed-payloads`). The payload type sees the
//! message without the protocol's keys (`event`, every key starting with `_` such as `_EID_`, and
//! over AJAJ the `id` naming the event), so `#[serde(deny_unknown_fields)]` refuses only the
//! fields a client added; without it (serde's default) extra fields are ignored.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::answer::Answer;
use crate::context::Source;
use crate::generated::{AJAJ_EVENT_PARAM, EVENT_KEY, RESERVED_PREFIX};
use crate::msg::Msg;

/// A typed payload or reply: as a handler's argument, the client's message parsed into `T` (a
/// message of another shape is answered `err` 400 naming the field, and the handler does not
/// run); as a handler's return, `T` serialized as the answer (an object gets `"event"` set to the
/// handler's event name unless it has one), typed in the generated TypeScript module.
///
/// `T` derives `serde::Deserialize` (argument) or `serde::Serialize` (reply), and `ts_rs::TS` so
/// the generated module (`crate::TypeScript`) knows its shape.
///
/// ```
/// use plezi_dispatch::{events, Ctx, Events, Json};
/// use serde::{Deserialize, Serialize};
/// use ts_rs::TS;
///
/// #[derive(Deserialize, TS)]
/// struct Add { a: i32, b: i32 }
/// #[derive(Serialize, TS)]
/// struct Sum { sum: i32 }
///
/// struct Calc;
/// impl Calc {
///     fn add(&mut self, _cx: &mut Ctx<'_>, Json(add): Json<Add>) -> Json<Sum> {
///         Json(Sum { sum: add.a + add.b }) // written as {"sum":5,"event":"add"}
///     }
/// }
/// let table: Events<Calc> = events![both add => Calc::add];
/// assert_eq!(table.names().len(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A handler's argument that tells a client's call, parsed into `T` like [`Json`], from a
/// server-side delivery of the same event, kept as it came ([`Relay`]): relayed unchanged, it is
/// written from one frame shared by every receiver, with no parsing and no copy per receiver.
/// `D` is the delivery's shape, for the generated TypeScript module (it is not checked: the
/// server made it).
///
/// ```
/// use plezi_dispatch::{events, Call, Ctx, Events, Relay, SendError};
/// use serde::{Deserialize, Serialize};
/// use serde_json::json;
/// use ts_rs::TS;
///
/// #[derive(Deserialize, TS)]
/// struct Say { text: String }
/// #[derive(Serialize, TS)]
/// struct Said { from: String, text: String }
///
/// struct Room;
/// impl Room {
///     fn say(&mut self, cx: &mut Ctx<'_>, call: Call<Say, Said>) -> Result<Option<Relay<Said>>, SendError> {
///         match call {
///             Call::Delivery(said) => Ok(Some(said)), // another member said it: show it
///             Call::Client(Say { text }) => {
///                 let from = cx.id().map(|id| id.to_string()).unwrap_or_default();
///                 let said = Said { from, text };
///                 cx.broadcast("say", json!(said))?;
///                 Ok(None)
///             }
///         }
///     }
/// }
/// let table: Events<Room> = events![ws say => Room::say];
/// assert_eq!(table.names().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Call<T, D = Value> {
    /// The connection's own client (WebSocket or AJAJ) called the event; its message fit `T`.
    Client(T),
    /// A server-side delivery (broadcast, unicast, channel, identity...) of the event.
    Delivery(Relay<D>),
}

/// A message with the shape `T`, kept as it came: a server-side delivery shown to the client
/// unchanged (returned as the reply, it is written from the frame encoded once for every
/// receiver). As a handler's argument it checks a client's message against `T` (`err` 400
/// otherwise) and trusts deliveries (the server made them); as a reply it is typed `T` in the
/// generated TypeScript module.
///
/// ```
/// use plezi_dispatch::{events, Ctx, Events, Relay};
/// use serde::{Deserialize, Serialize};
/// use ts_rs::TS;
///
/// #[derive(Serialize, Deserialize, TS)] // Deserialize: a client's message is checked
/// struct Notice { message: String }
///
/// struct Inbox;
/// impl Inbox {
///     fn notice(&mut self, _cx: &mut Ctx<'_>, notice: Relay<Notice>) -> Relay<Notice> {
///         notice // no copy, no encoding per receiver
///     }
/// }
/// let table: Events<Inbox> = events![bus notice => Inbox::notice];
/// assert_eq!(table.names().len(), 1);
/// ```
pub struct Relay<T> {
    msg: Msg,
    shape: PhantomData<fn() -> T>,
}

impl<T> Relay<T> {
    /// A message declared to have the shape `T` (not checked).
    ///
    /// ```
    /// # use plezi_dispatch::{Msg, Relay};
    /// # use serde_json::json;
    /// struct Notice;
    /// let relay: Relay<Notice> = Relay::new(Msg::new(json!({"event": "notice", "message": "hi"})));
    /// assert_eq!(relay["message"], "hi");
    /// ```
    pub fn new(msg: Msg) -> Relay<T> {
        Relay {
            msg,
            shape: PhantomData,
        }
    }

    /// The message.
    ///
    /// ```
    /// # use plezi_dispatch::{Msg, Relay};
    /// # use serde_json::json;
    /// let relay: Relay<()> = Relay::new(Msg::new(json!({"n": 1})));
    /// assert_eq!(relay.into_msg(), json!({"n": 1}));
    /// ```
    pub fn into_msg(self) -> Msg {
        self.msg
    }
}

impl<T> Deref for Relay<T> {
    type Target = Msg;

    fn deref(&self) -> &Msg {
        &self.msg
    }
}

impl<T> Clone for Relay<T> {
    fn clone(&self) -> Relay<T> {
        Relay::new(self.msg.clone())
    }
}

impl<T> fmt::Debug for Relay<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Relay").field(&self.msg).finish()
    }
}

impl<T> PartialEq for Relay<T> {
    fn eq(&self, other: &Relay<T>) -> bool {
        self.msg == other.msg
    }
}

/// A message that does not fit a handler's payload type: where (the field path, e.g.
/// `message` or `items[2].name`) and why. A client's is answered `err` 400 with
/// `result` = this error's text and `request` = the message; a server-side delivery's is logged
/// and dropped.
///
/// ```
/// use plezi_dispatch::{BadPayload, Json};
/// let err = BadPayload::parse::<Vec<u8>>(&serde_json::json!([1, "x"])).unwrap_err();
/// assert_eq!(err.path(), "[1]");
/// assert!(err.to_string().starts_with("bad payload at `[1]`: invalid type: string"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BadPayload {
    path: String,
    reason: String,
    request: Value,
}

impl BadPayload {
    /// Parses `value` into `T`, naming the field path when it does not fit.
    ///
    /// ```
    /// use plezi_dispatch::BadPayload;
    /// let n: u8 = BadPayload::parse(&serde_json::json!(7))?;
    /// assert_eq!(n, 7);
    /// # Ok::<(), BadPayload>(())
    /// ```
    pub fn parse<T: DeserializeOwned>(value: &Value) -> Result<T, BadPayload> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            BadPayload {
                path: bounded(path),
                reason: bounded(e.into_inner().to_string()),
                request: Value::Null,
            }
        })
    }

    /// The path of the field that does not fit (`message`, `meta.tags[0]`); empty when the
    /// message as a whole does not (a missing field is named in [`BadPayload::reason`]).
    ///
    /// ```
    /// # use plezi_dispatch::BadPayload;
    /// let err = BadPayload::parse::<(u8,)>(&serde_json::json!({})).unwrap_err();
    /// assert_eq!(err.path(), "");
    /// ```
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What was wrong, as serde says it (`invalid type: integer `5`, expected a string`, `missing
    /// field `message``).
    ///
    /// ```
    /// # use plezi_dispatch::BadPayload;
    /// let err = BadPayload::parse::<String>(&serde_json::json!(5)).unwrap_err();
    /// assert_eq!(err.reason(), "invalid type: integer `5`, expected a string");
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The message that did not fit (`null` when built by [`BadPayload::parse`]).
    ///
    /// ```
    /// # use plezi_dispatch::BadPayload;
    /// let err = BadPayload::parse::<String>(&serde_json::json!(5)).unwrap_err();
    /// assert!(err.request().is_null());
    /// ```
    pub fn request(&self) -> &Value {
        &self.request
    }

    /// The answer to the message: `err` 400 for a client's, nothing (and a log line) for a
    /// server-side delivery's.
    pub(crate) fn into_answer(self, event: &str, source: Source) -> Answer {
        if matches!(source, Source::Delivery { .. }) {
            // Debug, not warn: a client that may publish to a channel could otherwise make every
            // receiver write a log line.
            log::debug!(
                "plezi: a delivery of {event:?} does not fit its handler's payload type and was dropped: {self}"
            );
            return Answer::Nothing;
        }
        log::debug!("plezi: refused a client's {event:?}: {self}");
        let result = self.to_string();
        Answer::error(400, result, self.request)
    }
}

impl fmt::Display for BadPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "bad payload: {}", self.reason)
        } else {
            write!(f, "bad payload at `{}`: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for BadPayload {}

/// Longest path or reason kept, in bytes: serde quotes the offending value (`invalid type: string
/// "…"`), and an `err` answer must stay small whatever the client sent (`docs/protocol.md#err-echo`).
pub(crate) const MAX_DETAIL_BYTES: usize = 256;

/// `text` cut to [`MAX_DETAIL_BYTES`] (on a character boundary), marked with `…` when cut.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_DETAIL_BYTES {
        let mut end = MAX_DETAIL_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Whether `key` is one of the protocol's keys, left out of a typed payload: `event`, the keys
/// starting with `_` (`_EID_`, `_pos_`...), and over AJAJ `id` (the event's name).
fn protocol_key(key: &str, source: Source) -> bool {
    key == EVENT_KEY
        || key.starts_with(RESERVED_PREFIX)
        || (key == AJAJ_EVENT_PARAM && matches!(source, Source::Ajaj))
}

/// Parses a handler's message into `T`, without the protocol's keys. The message is copied only
/// when other receivers share it (a delivery), as a `Value` argument is.
pub(crate) fn parse<T: DeserializeOwned>(msg: Msg, source: Source) -> Result<T, BadPayload> {
    let mut value = msg.into_value();
    let Value::Object(map) = &mut value else {
        return BadPayload::parse(&value).map_err(|e| BadPayload {
            request: value,
            ..e
        });
    };
    let keys: Vec<String> = map
        .keys()
        .filter(|k| protocol_key(k, source))
        .cloned()
        .collect();
    let mut removed = Map::new();
    for key in keys {
        if let Some(v) = map.remove(&key) {
            removed.insert(key, v);
        }
    }
    BadPayload::parse(&value).map_err(|e| {
        if let Value::Object(map) = &mut value {
            map.extend(removed);
        }
        BadPayload {
            request: value,
            ..e
        }
    })
}

/// Checks a client's message against `T` (deliveries pass unchecked) and keeps it as it came.
pub(crate) fn check<T: DeserializeOwned>(msg: Msg, source: Source) -> Result<Msg, BadPayload> {
    if matches!(source, Source::Delivery { .. }) {
        return Ok(msg);
    }
    parse::<T>(msg.clone(), source).map(|_| msg)
}

/// `reply` serialized, with `"event": event` added to an object that has no `event`.
pub(crate) fn reply<T: Serialize>(reply: &T, event: &str) -> Answer {
    match serde_json::to_value(reply) {
        Ok(Value::Object(mut map)) => {
            if !map.contains_key(EVENT_KEY) {
                map.insert(EVENT_KEY.to_owned(), Value::from(event));
            }
            Answer::Json(Value::Object(map))
        }
        Ok(value) => Answer::Json(value),
        Err(e) => {
            log::error!("plezi: the reply to {event:?} cannot be serialized: {e}");
            Answer::error(500, "the reply could not be serialized", Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        message: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only the parse is tested")]
    struct Nested {
        meta: Meta,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only the parse is tested")]
    struct Meta {
        tags: Vec<String>,
    }

    #[test]
    fn protocol_keys_never_count_as_extra_fields() {
        let msg = Msg::new(json!({"event": "chat", "_EID_": 3, "_pos_": {}, "message": "hi"}));
        let strict: Strict = parse(msg, Source::WebSocket).unwrap();
        assert_eq!(strict.message, "hi");
        let msg = Msg::new(json!({"event": "chat", "id": "chat", "message": "hi"}));
        assert!(parse::<Strict>(msg.clone(), Source::Ajaj).is_ok());
        let err = parse::<Strict>(msg, Source::WebSocket).unwrap_err();
        assert!(err.reason().contains("unknown field `id`"), "{err}");
    }

    #[test]
    fn errors_name_the_path_and_keep_the_whole_request() {
        let request = json!({"event": "chat", "_EID_": 1, "message": 5});
        let err = parse::<Strict>(Msg::new(request.clone()), Source::WebSocket).unwrap_err();
        assert_eq!(err.path(), "message");
        assert_eq!(err.request(), &request);
        assert_eq!(
            err.to_string(),
            "bad payload at `message`: invalid type: integer `5`, expected a string"
        );
        let err = parse::<Nested>(
            Msg::new(json!({"meta": {"tags": ["a", 2]}})),
            Source::WebSocket,
        )
        .unwrap_err();
        assert_eq!(err.path(), "meta.tags[1]");
        let err =
            parse::<Strict>(Msg::new(json!({"event": "chat"})), Source::WebSocket).unwrap_err();
        assert_eq!(err.to_string(), "bad payload: missing field `message`");
        let err = parse::<Strict>(Msg::new(json!("hi")), Source::WebSocket).unwrap_err();
        assert!(err.reason().contains("expected struct Strict"), "{err}");
    }

    #[test]
    fn a_huge_wrong_value_is_not_echoed_in_the_reason() {
        let huge = "é".repeat(100_000);
        let key = "k".repeat(10_000);
        let err = BadPayload::parse::<std::collections::HashMap<String, u8>>(
            &json!({ key.clone(): huge.clone() }),
        )
        .unwrap_err();
        assert!(
            err.reason().len() <= MAX_DETAIL_BYTES + 3,
            "{}",
            err.reason()
        );
        assert!(err.path().len() <= MAX_DETAIL_BYTES + 3);
        assert!(err.reason().ends_with('…') && err.path().ends_with('…'));
    }

    #[test]
    fn a_bad_delivery_is_dropped_and_a_bad_call_answered_400() {
        let err = BadPayload::parse::<Strict>(&json!({})).unwrap_err();
        assert_eq!(
            err.clone()
                .into_answer("chat", Source::Delivery { from: None }),
            Answer::Nothing
        );
        assert!(matches!(
            err.into_answer("chat", Source::WebSocket),
            Answer::Error { status: 400, .. }
        ));
    }

    #[test]
    fn object_replies_carry_the_event_name() {
        #[derive(Serialize)]
        struct Line {
            text: &'static str,
        }
        assert_eq!(
            reply(&Line { text: "hi" }, "say"),
            Answer::Json(json!({"text": "hi", "event": "say"}))
        );
        assert_eq!(
            reply(&json!({"event": "other"}), "say"),
            Answer::Json(json!({"event": "other"}))
        );
        assert_eq!(reply(&5, "n"), Answer::Json(json!(5)));
    }
}
