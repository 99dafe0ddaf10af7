//! Recovery of missed messages (`docs/protocol.md#recovery`): a reconnecting client names, in its
//! upgrade request's `_recover_` parameter, the last position it saw in each stream; the connection
//! delivers what came after, through the same handlers and in order, before any new message of that
//! stream, and reports per stream whether the history covered the gap.
//!
//! When the history lives in Redis the read runs on the server's blocking pool, never on the event
//! loop; meanwhile the connection holds the stream's live deliveries, and once the read is back it
//! writes the missed messages, the report, then the held ones the missed ones did not include (by
//! offset): in order, no duplicate, no gap. A read that fails (Redis unreachable) reports the
//! stream as not recovered.
//!
//! A stream is recovered only when the connection is entitled to it: its own controller type's
//! broadcasts when it opens, a named channel when it subscribes to it (so a client cannot read a
//! channel it was never let into by naming it).

use std::collections::HashMap;

use plezi_messaging::{Message, Position, RecoveryGap};
use serde_json::{Map, Value};

use crate::connection::Delivery;
use crate::generated::{EVENT_KEY, RECOVERED_EVENT};

/// What a reconnecting connection asked to recover and how far it got.
#[derive(Default, Debug)]
pub(crate) struct Recovery {
    /// Streams asked for and not handled yet: stream → (epoch, last offset seen).
    asked: HashMap<String, (String, u64)>,
    /// Streams recovered: stream → the last offset written (later deliveries at or below it are
    /// duplicates).
    upto: HashMap<String, u64>,
    /// Streams handled since the last report, and whether the history covered them.
    unreported: Map<String, Value>,
    /// Streams the connection became entitled to (it subscribed) and that wait to be recovered.
    entitled: Vec<String>,
    /// Streams being read (off the event loop), with the live deliveries held meanwhile.
    reading: HashMap<String, Vec<Delivery>>,
}

impl Recovery {
    /// The request in a `_recover_` parameter: a JSON array of `{"s":STREAM,"e":EPOCH,"o":OFFSET}`.
    /// Anything else asks for nothing (a client that does not recover).
    pub(crate) fn parse(param: &str) -> Option<Box<Recovery>> {
        let list: Vec<Value> = serde_json::from_str(param).ok()?;
        let asked: HashMap<String, (String, u64)> = list
            .iter()
            .filter_map(|p| {
                Some((
                    p.get("s")?.as_str()?.to_owned(),
                    (p.get("e")?.as_str()?.to_owned(), p.get("o")?.as_u64()?),
                ))
            })
            .take(64)
            .collect();
        (!asked.is_empty()).then(|| {
            Box::new(Recovery {
                asked,
                ..Recovery::default()
            })
        })
    }

    /// The position the client named in `stream` if it asked for it (once): (epoch, offset).
    pub(crate) fn take(&mut self, stream: &str) -> Option<(String, u64)> {
        self.asked.remove(stream)
    }

    /// `stream` is being read: hold its live deliveries until [`Recovery::finish`].
    pub(crate) fn start_reading(&mut self, stream: &str) {
        self.reading.insert(stream.to_owned(), Vec::new());
    }

    /// Holds `delivery` when its stream is being read (true: do not write it now).
    pub(crate) fn hold(&mut self, delivery: &Delivery, position: &Position) -> bool {
        match self.reading.get_mut(&*position.stream) {
            Some(held) => {
                held.push(delivery.clone());
                true
            }
            None => false,
        }
    }

    /// The read of `stream` after `offset` answered `result`: records how far it got and whether
    /// it covered the gap, and returns the live deliveries held meanwhile (in arrival order).
    pub(crate) fn finish(
        &mut self,
        stream: &str,
        offset: u64,
        result: &Result<Vec<Message>, RecoveryGap>,
    ) -> Vec<Delivery> {
        if let Ok(messages) = result {
            let last = messages
                .last()
                .and_then(|m| m.position.as_ref())
                .map_or(offset, |p| p.offset);
            self.upto.insert(stream.to_owned(), last);
        }
        self.unreported
            .insert(stream.to_owned(), Value::Bool(result.is_ok()));
        self.reading.remove(stream).unwrap_or_default()
    }

    /// The connection may now read `stream` (it subscribed to the channel): recover it next.
    pub(crate) fn entitle(&mut self, stream: String) {
        if self.asked.contains_key(&stream) {
            self.entitled.push(stream);
        }
    }

    /// The streams entitled since the last call.
    pub(crate) fn take_entitled(&mut self) -> Vec<String> {
        std::mem::take(&mut self.entitled)
    }

    /// Whether a delivery at `position` was already written by the recovery.
    pub(crate) fn already_written(&self, position: &Position) -> bool {
        self.upto
            .get(&*position.stream)
            .is_some_and(|upto| position.offset <= *upto)
    }

    /// The `_recovered_` report of the streams handled since the last one, if any.
    pub(crate) fn report(&mut self) -> Option<String> {
        if self.unreported.is_empty() {
            return None;
        }
        let streams = std::mem::take(&mut self.unreported);
        let mut report = Map::new();
        report.insert(EVENT_KEY.to_owned(), Value::from(RECOVERED_EVENT));
        report.insert("streams".to_owned(), Value::Object(streams));
        Some(Value::Object(report).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_a_list_of_positions_and_anything_else_is_none() {
        let r = Recovery::parse(r#"[{"s":"ctl:Chat","e":"ab","o":4},{"s":"ch:x"}]"#).unwrap();
        assert_eq!(r.asked.len(), 1);
        assert_eq!(r.asked["ctl:Chat"], ("ab".to_owned(), 4));
        for bad in ["", "null", "{}", "[]", "[1,2]", "not json"] {
            assert!(Recovery::parse(bad).is_none(), "{bad:?}");
        }
    }
}
