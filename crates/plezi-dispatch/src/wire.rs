//! The auto-dispatch wire format (spec §4): reading a client message, writing `_ack_` and `err`.
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

/// `{"event":"err","status":<status>,"result":<result>,"request":<request>}`.
pub(crate) fn error_event(status: u16, result: &str, request: &Value) -> String {
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
}
