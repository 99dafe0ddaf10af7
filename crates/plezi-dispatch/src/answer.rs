//! What an event handler gives back: an [`Answer`], written to the WebSocket client (or sent as the
//! AJAJ reply). Handlers may return anything that converts into one: `()`, a JSON [`Value`], a
//! [`Msg`], a `String`, an `Option` of those, or a `Result` whose error is a [`SendError`].

use crate::error::RenderError;
use plezi_messaging::BusError;
use serde_json::{Map, Value};

use crate::error::SendError;
use crate::generated::{NOT_FOUND_RESULT, NOT_FOUND_STATUS};
use crate::msg::Msg;
use crate::wire;

/// A handler's reply.
///
/// | variant | over WebSocket | over AJAJ (HTTP) |
/// |---|---|---|
/// | `Nothing` | nothing is written | `200`, empty body |
/// | `Json(v)` | `v` as JSON text | `200`, `application/json` |
/// | `Text(s)` | `s` as is | `200`, `text/plain; charset=utf-8` |
/// | `Msg(m)` | `m` as JSON text (a delivery's unchanged message: its one shared frame) | `200`, `application/json` |
/// | `Error{..}` | `{"event":"err","status":S,"result":R,"request":Q}` | status `S`, the same object as `application/json` |
///
/// ```
/// use plezi_dispatch::Answer;
/// use serde_json::json;
/// assert_eq!(Answer::from(json!({"event": "pong"})).encode().as_deref(), Some(r#"{"event":"pong"}"#));
/// assert_eq!(Answer::from("as is").encode().as_deref(), Some("as is"));
/// assert_eq!(Answer::from(()).encode(), None);
/// assert_eq!(Answer::from(None::<String>).encode(), None);
/// assert_eq!(
///     Answer::not_found(json!({"event": "nope"})).encode().as_deref(),
///     Some(r#"{"event":"err","status":404,"result":"not found","request":{"event":"nope"}}"#)
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Nothing to write.
    Nothing,
    /// A JSON value, written as JSON text.
    Json(Value),
    /// Text written exactly as given.
    Text(String),
    /// A handler's [`Msg`], written as JSON text. When it is a delivery's message, unchanged, it
    /// is written from the frame encoded once for every receiver.
    Msg(Msg),
    /// The protocol's `err` event (over AJAJ: this HTTP status with the same object).
    Error {
        /// An HTTP-like status code (404: not found, 400: bad request...).
        status: u16,
        /// A short human-readable result ("not found").
        result: String,
        /// The message that caused it.
        request: Value,
    },
}

impl Answer {
    /// The `err` 404 answer to an unknown event: `{"event":"err","status":404,"result":"not
    /// found","request":request}`.
    ///
    /// ```
    /// use plezi_dispatch::Answer;
    /// use serde_json::json;
    /// let answer = Answer::not_found(json!({"event": "nope", "_EID_": 3}));
    /// assert_eq!(
    ///     answer.encode().as_deref(),
    ///     Some(r#"{"event":"err","status":404,"result":"not found","request":{"_EID_":3,"event":"nope"}}"#)
    /// );
    /// ```
    pub fn not_found(request: impl Into<Value>) -> Answer {
        Answer::Error {
            status: NOT_FOUND_STATUS,
            result: NOT_FOUND_RESULT.to_owned(),
            request: request.into(),
        }
    }

    /// An `err` answer with any status and result text.
    ///
    /// ```
    /// use plezi_dispatch::{Answer, Ctx};
    /// use serde_json::Value;
    ///
    /// fn withdraw(cx: &mut Ctx<'_>, msg: Value) -> Answer {
    ///     if cx.session().get_str("user").is_none() {
    ///         return Answer::error(401, "log in first", msg); // over AJAJ: HTTP 401
    ///     }
    ///     Answer::Nothing
    /// }
    /// ```
    pub fn error(status: u16, result: impl Into<String>, request: impl Into<Value>) -> Answer {
        Answer::Error {
            status,
            result: result.into(),
            request: request.into(),
        }
    }

    /// Whether there is nothing to write.
    ///
    /// ```
    /// use plezi_dispatch::Answer;
    /// assert!(Answer::from(()).is_nothing());
    /// assert!(!Answer::from("ok").is_nothing());
    /// ```
    pub fn is_nothing(&self) -> bool {
        matches!(self, Answer::Nothing)
    }

    /// The text written to a WebSocket client, if any.
    ///
    /// ```
    /// use plezi_dispatch::Answer;
    /// use serde_json::json;
    /// assert_eq!(Answer::from(json!([1, 2])).encode().as_deref(), Some("[1,2]"));
    /// assert_eq!(Answer::Nothing.encode(), None);
    /// ```
    pub fn encode(&self) -> Option<String> {
        match self {
            Answer::Nothing => None,
            Answer::Json(v) => Some(v.to_string()),
            Answer::Text(s) => Some(s.clone()),
            Answer::Msg(m) => Some(m.to_string()),
            Answer::Error {
                status,
                result,
                request,
            } => Some(wire::error_event(*status, result, request)),
        }
    }
}

impl From<()> for Answer {
    fn from((): ()) -> Answer {
        Answer::Nothing
    }
}

impl From<Value> for Answer {
    fn from(v: Value) -> Answer {
        Answer::Json(v)
    }
}

impl From<Msg> for Answer {
    fn from(m: Msg) -> Answer {
        Answer::Msg(m)
    }
}

impl From<Map<String, Value>> for Answer {
    fn from(m: Map<String, Value>) -> Answer {
        Answer::Json(Value::Object(m))
    }
}

impl From<String> for Answer {
    fn from(s: String) -> Answer {
        Answer::Text(s)
    }
}

impl From<&str> for Answer {
    fn from(s: &str) -> Answer {
        Answer::Text(s.to_owned())
    }
}

impl<T: Into<Answer>> From<Option<T>> for Answer {
    fn from(o: Option<T>) -> Answer {
        o.map_or(Answer::Nothing, Into::into)
    }
}

/// The `err` status for a bus error: 507 (Insufficient Storage) for a full mailbox or store, 400
/// for an identity that is too long, 503 for the rest (Redis unreachable, a full queue...).
pub(crate) fn bus_error_status(e: &BusError) -> u16 {
    match e {
        BusError::MailboxFull { .. } | BusError::StoreFull { .. } => 507,
        BusError::IdentityTooLong { .. } => 400,
        _ => 503,
    }
}

/// The `err` status for a failed call: 429 for [`SendError::RateLimited`], the
/// [`bus_error_status`] for bus errors, 503 for the rest.
pub(crate) fn error_status(e: &SendError) -> u16 {
    match e {
        SendError::RateLimited { .. } => 429,
        SendError::Bus(e) => bus_error_status(e),
        _ => 503,
    }
}

/// A failed bus or write call answers `err` with the error's message (the original message is
/// not at hand here, so `request` is `null`) and a status: 429 when the client notifies too
/// often, 507 when a mailbox or the mailbox store is full, 400 for an identity that is too long,
/// 503 otherwise. 503s are logged as warnings; the others are the client's doing (debug level,
/// so a flood cannot flood the log).
impl From<SendError> for Answer {
    fn from(e: SendError) -> Answer {
        let status = error_status(&e);
        if status == 503 {
            log::warn!("plezi: a handler failed: {e}");
        } else {
            log::debug!("plezi: a handler refused a client's call ({status}): {e}");
        }
        Answer::error(status, e.to_string(), Value::Null)
    }
}

/// A template that failed answers `err` 500; the details are logged, not sent.
impl From<RenderError> for Answer {
    fn from(e: RenderError) -> Answer {
        log::error!("plezi: {e}");
        Answer::error(500, "the answer could not be rendered", Value::Null)
    }
}

impl<T: Into<Answer>, E: Into<Answer>> From<Result<T, E>> for Answer {
    fn from(r: Result<T, E>) -> Answer {
        match r {
            Ok(t) => t.into(),
            Err(e) => e.into(),
        }
    }
}
