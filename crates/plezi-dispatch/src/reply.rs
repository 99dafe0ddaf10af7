//! [`EventReply`]: what an event handler may return, turned into an [`Answer`] and described for
//! the generated TypeScript module.

use serde::Serialize;
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::answer::Answer;
use crate::error::{RenderError, SendError};
use crate::msg::Msg;
use crate::typed::{self, Json, Relay};
use crate::typescript::TypeScript;

/// What a handler's return tells the client, for the generated TypeScript module.
///
/// ```
/// use plezi_dispatch::{EventReply, Json, ReplyType, TypeScript};
/// let mut ts = TypeScript::new();
/// assert_eq!(<()>::reply_type(&mut ts), ReplyType::Nothing);
/// assert_eq!(<serde_json::Value>::reply_type(&mut ts), ReplyType::Untyped);
/// assert_eq!(<Option<Json<String>>>::reply_type(&mut ts), ReplyType::Typed("string".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyType {
    /// The handler never writes a reply of its own (an `err` answer aside).
    Nothing,
    /// A reply of no declared shape (JSON or text).
    Untyped,
    /// A reply of this TypeScript type.
    Typed(String),
}

/// What an event handler may return: `()`, a JSON [`Value`] (or object [`Map`]), a [`Msg`], a
/// `String`/`&str` (written as is), an [`Answer`], a typed [`Json<T>`] or [`Relay<T>`], and
/// `Option`s and `Result`s of those (the error being anything that converts into an `Answer`,
/// such as [`SendError`] or [`RenderError`]).
///
/// ```
/// use plezi_dispatch::{Answer, EventReply, Json};
/// use serde_json::json;
/// assert_eq!(Json(json!({"n": 1})).into_answer("count"), Answer::Json(json!({"n": 1, "event": "count"})));
/// assert_eq!("as is".into_answer("say"), Answer::Text("as is".into()));
/// ```
///
/// [`Json<T>`]: crate::Json
/// [`Relay<T>`]: crate::Relay
pub trait EventReply {
    /// The answer written back for the handler of `event`.
    fn into_answer(self, event: &str) -> Answer;

    /// What the client receives, for the generated TypeScript module (types declared in `ts`).
    fn reply_type(ts: &mut TypeScript) -> ReplyType;
}

/// Replies that convert into an [`Answer`] and have no declared shape.
macro_rules! untyped {
    ($($ty:ty => $reply:expr),+ $(,)?) => {$(
        impl EventReply for $ty {
            fn into_answer(self, _event: &str) -> Answer {
                self.into()
            }

            fn reply_type(_: &mut TypeScript) -> ReplyType {
                $reply
            }
        }
    )+};
}

untyped! {
    () => ReplyType::Nothing,
    SendError => ReplyType::Nothing,
    RenderError => ReplyType::Nothing,
    Answer => ReplyType::Untyped,
    Value => ReplyType::Untyped,
    Map<String, Value> => ReplyType::Untyped,
    Msg => ReplyType::Untyped,
    String => ReplyType::Untyped,
}

impl EventReply for &str {
    fn into_answer(self, _event: &str) -> Answer {
        self.into()
    }

    fn reply_type(_: &mut TypeScript) -> ReplyType {
        ReplyType::Untyped
    }
}

impl<T: EventReply> EventReply for Option<T> {
    fn into_answer(self, event: &str) -> Answer {
        self.map_or(Answer::Nothing, |t| t.into_answer(event))
    }

    fn reply_type(ts: &mut TypeScript) -> ReplyType {
        T::reply_type(ts)
    }
}

impl<T: EventReply, E: Into<Answer>> EventReply for Result<T, E> {
    fn into_answer(self, event: &str) -> Answer {
        match self {
            Ok(t) => t.into_answer(event),
            Err(e) => e.into(),
        }
    }

    fn reply_type(ts: &mut TypeScript) -> ReplyType {
        T::reply_type(ts)
    }
}

impl<T: Serialize + TS + 'static> EventReply for Json<T> {
    fn into_answer(self, event: &str) -> Answer {
        typed::reply(&self.0, event)
    }

    fn reply_type(ts: &mut TypeScript) -> ReplyType {
        ReplyType::Typed(ts.declare::<T>())
    }
}

impl<T: TS + 'static> EventReply for Relay<T> {
    fn into_answer(self, _event: &str) -> Answer {
        Answer::Msg(self.into_msg())
    }

    fn reply_type(ts: &mut TypeScript) -> ReplyType {
        ReplyType::Typed(ts.declare::<T>())
    }
}
