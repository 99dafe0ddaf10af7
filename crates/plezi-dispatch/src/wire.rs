//! The auto-dispatch wire format (`docs/protocol.md#auto-dispatch`): reading a client message,
//! writing `_ack_` and `err`.
//!
//! `_ack_` and `err` are formatted by hand so their keys come in the documented order
//! (`{"event":"_ack_","_EID_":...}`); JSON objects are otherwise written in key order.

use serde_json::{Map, Value};

use crate::generated::{
    ACK_EVENT, CLOSE_UNSUPPORTED_DATA, EID_KEY, ERROR_EVENT, ERROR_REQUEST_KEY, ERROR_RESULT_KEY,
    ERROR_STATUS_KEY, EVENT_KEY,
};

/// Why a WebSocket message cannot be an auto-dispatch event (the connection closes with 1003).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// A binary message.
    Binary,
    /// Text that is not JSON.
    NotJson,
    /// JSON that is not an object.
    NotObject,
}

impl Rejected {
    /// The close code: 1003 (unsupported data).
    pub(crate) const CODE: u16 = CLOSE_UNSUPPORTED_DATA;

    /// The short close reason.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Rejected::Binary => "auto-dispatch takes JSON text, not binary",
            Rejected::NotJson => "auto-dispatch takes JSON objects; this is not JSON",
            Rejected::NotObject => "auto-dispatch takes JSON objects, not other JSON values",
        }
    }
}

/// Parses a text message into the event object.
pub(crate) fn parse_event(text: &str) -> Result<Map<String, Value>, Rejected> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejected::NotObject),
        Err(_) => Err(Rejected::NotJson),
    }
}

/// The event name of a message, if it has a string `event`.
pub(crate) fn event_name(message: &Map<String, Value>) -> Option<&str> {
    message.get(EVENT_KEY).and_then(Value::as_str)
}

/// `{"event":"_ack_","_EID_":<eid>}`.
pub(crate) fn ack(eid: &Value) -> String {
    let eid = eid.to_string();
    let mut out = String::with_capacity(32 + eid.len());
    out.push_str("{\"");
    out.push_str(EVENT_KEY);
    out.push_str("\":\"");
    out.push_str(ACK_EVENT);
    out.push_str("\",\"");
    out.push_str(EID_KEY);
    out.push_str("\":");
    out.push_str(&eid);
    out.push('}');
    out
}

/// The most bytes of a request's JSON an `err` answer echoes whole.
pub(crate) const MAX_ECHO_BYTES: usize = 1024;
/// The most bytes of `event` or `_EID_` (as JSON) kept when the request is too big to echo.
pub(crate) const MAX_ECHO_KEY_BYTES: usize = 256;
/// The key set to `true` in an echo that is not the whole request.
pub(crate) const TRUNCATED_KEY: &str = "_truncated";

/// Counts JSON bytes and stops the encoder past a limit.
struct Bounded {
    len: usize,
    limit: usize,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.len += buf.len();
        if self.len > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `value` as JSON text fits in `limit` bytes (stops encoding past it).
fn fits(value: &Value, limit: usize) -> bool {
    serde_json::to_writer(&mut Bounded { len: 0, limit }, value).is_ok()
}

/// What an `err` answer echoes of `request` (see `docs/protocol.md`, "Errors"): the request
/// itself when its JSON is at most [`MAX_ECHO_BYTES`]; otherwise an object with only its
/// `event` and `_EID_` (each when its JSON is at most [`MAX_ECHO_KEY_BYTES`]) and
/// `"_truncated": true`, so a client can still match the error to what it sent.
pub(crate) fn bounded_echo(request: &Value) -> std::borrow::Cow<'_, Value> {
    if fits(request, MAX_ECHO_BYTES) {
        return std::borrow::Cow::Borrowed(request);
    }
    let mut echo = Map::new();
    if let Value::Object(map) = request {
        for key in [EVENT_KEY, EID_KEY] {
            if let Some(v) = map.get(key).filter(|v| fits(v, MAX_ECHO_KEY_BYTES)) {
                echo.insert(key.to_owned(), v.clone());
            }
        }
    }
    echo.insert(TRUNCATED_KEY.to_owned(), Value::Bool(true));
    std::borrow::Cow::Owned(Value::Object(echo))
}

/// `{"event":"err","status":<status>,"result":<result>,"request":<request>}`, with `request`
/// bounded by [`bounded_echo`].
pub(crate) fn error_event(status: u16, result: &str, request: &Value) -> String {
    let request = bounded_echo(request);
    format!(
        "{{\"{EVENT_KEY}\":\"{ERROR_EVENT}\",\"{ERROR_STATUS_KEY}\":{status},\"{ERROR_RESULT_KEY}\":{},\"{ERROR_REQUEST_KEY}\":{request}}}",
        Value::from(result)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_objects_only() {
        assert!(parse_event(r#"{"event":"x","n":1}"#).is_ok());
        assert_eq!(parse_event("hello"), Err(Rejected::NotJson));
        assert_eq!(parse_event("[1,2]"), Err(Rejected::NotObject));
        assert_eq!(parse_event("\"text\""), Err(Rejected::NotObject));
        assert_eq!(parse_event("null"), Err(Rejected::NotObject));
        assert_eq!(parse_event(""), Err(Rejected::NotJson));
        assert!(Rejected::Binary.reason().len() <= 123);
    }

    #[test]
    fn event_names() {
        let m = parse_event(r#"{"event":"chat"}"#).unwrap();
        assert_eq!(event_name(&m), Some("chat"));
        let m = parse_event(r#"{"event":7}"#).unwrap();
        assert_eq!(event_name(&m), None);
        let m = parse_event(r#"{"no":"event"}"#).unwrap();
        assert_eq!(event_name(&m), None);
    }

    #[test]
    fn ack_and_error_have_the_documented_shape() {
        assert_eq!(ack(&json!(7)), r#"{"event":"_ack_","_EID_":7}"#);
        assert_eq!(
            ack(&json!({"a":[1]})),
            r#"{"event":"_ack_","_EID_":{"a":[1]}}"#
        );
        let e = error_event(404, "not \"found\"", &json!({"event":"x"}));
        assert_eq!(
            e,
            r#"{"event":"err","status":404,"result":"not \"found\"","request":{"event":"x"}}"#
        );
        let back: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(back["request"]["event"], "x");
    }

    #[test]
    fn the_echo_is_bounded() {
        // At the limit: echoed whole.
        let pad = MAX_ECHO_BYTES - r#"{"event":"x","p":""}"#.len();
        let exact = json!({"event": "x", "p": "a".repeat(pad)});
        assert_eq!(exact.to_string().len(), MAX_ECHO_BYTES);
        assert_eq!(*bounded_echo(&exact), exact);
        // One byte over: event and _EID_ only.
        let over = json!({"event": "x", "_EID_": 7, "p": "a".repeat(pad + 1)});
        assert_eq!(
            *bounded_echo(&over),
            json!({"event": "x", "_EID_": 7, "_truncated": true})
        );
        // Huge keys are dropped too; non-objects become the marker alone.
        let huge = json!({"event": "e".repeat(5000), "_EID_": [1, 2], "p": "a".repeat(1 << 20)});
        assert_eq!(
            *bounded_echo(&huge),
            json!({"_EID_": [1, 2], "_truncated": true})
        );
        assert_eq!(
            *bounded_echo(&json!("s".repeat(2000))),
            json!({"_truncated": true})
        );
        let e = error_event(404, "not found", &huge);
        assert!(e.len() < 200, "{e}");
    }
}
