//! Mailbox batches that wait for the client's acknowledgement
//! (`docs/protocol.md#acknowledged-mailboxes`).
//!
//! A client that asks for it (`_ack_=1` on the upgrade request) gets `{"event":"_mail_","_mid_":LAST}`
//! after each mailbox batch and answers `{"event":"_ack_","_mid_":LAST}`. Until then its connection
//! holds the batch's [`Claim`]: the messages stay first in the mailbox, so a connection that is reset
//! before its client read them loses nothing (dropping the claim gives them to the identity's next
//! connection). The first connection to acknowledge confirms the claim for all of them.

use std::sync::Arc;

use plezi_messaging::Claim;
use plezi_server::TimerId;
use serde_json::{Map, Value};

use crate::generated::{ACK_EVENT, ACK_PARAM, EVENT_KEY, MAIL_EVENT, MESSAGE_ID_KEY};
use crate::params::Params;

/// One batch written and not yet acknowledged.
struct Waiting {
    /// The id of the batch's last message (what the client acknowledges).
    last: Arc<str>,
    claim: Claim,
    /// The acknowledgement deadline's timer.
    timer: Option<TimerId>,
}

/// The batches a connection holds for its client's acknowledgement (see the module docs).
#[derive(Default)]
pub(crate) struct MailAcks {
    waiting: Vec<Waiting>,
}

impl MailAcks {
    /// Whether the upgrade request asked for acknowledged mailboxes (`_ack_=1`).
    pub(crate) fn requested(params: &Params) -> bool {
        params.get_str(ACK_PARAM) == Some("1")
    }

    /// The frame written after a batch whose last message is `last`.
    pub(crate) fn mail_frame(last: &str) -> String {
        let mut map = Map::new();
        map.insert(EVENT_KEY.to_owned(), Value::from(MAIL_EVENT));
        map.insert(MESSAGE_ID_KEY.to_owned(), Value::from(last));
        Value::Object(map).to_string()
    }

    /// Holds `claim` until the client acknowledges `last` (or the connection closes).
    pub(crate) fn wait(&mut self, last: Arc<str>, claim: Claim, timer: Option<TimerId>) {
        // Batches another connection confirmed meanwhile need no acknowledgement any more.
        self.waiting.retain(|w| !w.claim.is_delivered());
        self.waiting.push(Waiting { last, claim, timer });
    }

    /// The client acknowledged `mid`: confirms the batch it ended. Returns that batch's timer, to
    /// cancel; `None` for an id no batch ends with (late, repeated, or foreign: ignored).
    pub(crate) fn ack(&mut self, mid: &str) -> Option<TimerId> {
        let i = self.waiting.iter().position(|w| &*w.last == mid)?;
        let w = self.waiting.remove(i);
        w.claim.delivered();
        w.timer
    }

    /// The acknowledgement deadline of the batch ending with `last` passed: whether it is still
    /// unconfirmed (then every claim is dropped, the caller closes the connection).
    pub(crate) fn overdue(&mut self, last: &str) -> bool {
        self.waiting.retain(|w| !w.claim.is_delivered());
        let late = self.waiting.iter().any(|w| &*w.last == last);
        if late {
            self.waiting.clear(); // given back: the batches go to the identity's next connection
        }
        late
    }

    /// The timers still running (to cancel when the connection closes).
    pub(crate) fn timers(&self) -> impl Iterator<Item = TimerId> + '_ {
        self.waiting.iter().filter_map(|w| w.timer)
    }
}

/// The id a client's `_ack_` message acknowledges, when `text` is one (`{"event":"_ack_","_mid_":ID}`).
pub(crate) fn acknowledged(text: &str) -> Option<String> {
    // Cheap test first: every other message of the connection goes on to its controller unparsed here.
    if !text.contains(ACK_EVENT) {
        return None;
    }
    let Value::Object(mut map) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    if map.get(EVENT_KEY).and_then(Value::as_str) != Some(ACK_EVENT) {
        return None;
    }
    match map.remove(MESSAGE_ID_KEY)? {
        Value::String(mid) => Some(mid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ack_with_a_string_id_is_one() {
        assert_eq!(
            acknowledged(r#"{"event":"_ack_","_mid_":"a.1"}"#),
            Some("a.1".into())
        );
        assert_eq!(acknowledged(r#"{"event":"_ack_","_mid_":1}"#), None);
        assert_eq!(acknowledged(r#"{"event":"_ack_"}"#), None);
        assert_eq!(acknowledged(r#"{"event":"chat","text":"_ack_"}"#), None);
        assert_eq!(acknowledged(r#"["_ack_"]"#), None);
        assert_eq!(acknowledged("_ack_ not json"), None);
    }

    #[test]
    fn the_mail_frame_names_the_last_id() {
        let v: Value = serde_json::from_str(&MailAcks::mail_frame("a.\"2")).unwrap();
        assert_eq!(v, serde_json::json!({"event": "_mail_", "_mid_": "a.\"2"}));
    }
}
