//! Message history for recovery (`docs/protocol.md#recovery`): a controller type or a named channel
//! may keep its last messages, bounded by count and age. Every message published to it then carries
//! its [`Position`] (the stream's epoch and an offset that grows by one), and a client that lost its
//! connection asks for what came after the last position it saw: it gets the missed messages in
//! order, or learns that the history no longer covers the gap (older than the window, or another
//! epoch: the history was reset), so the application can reload its state.
//!
//! The history lives in this process's memory: with the in-process bus it is the application's
//! whole history.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::message::{Message, Target};

/// How much of a stream's past is kept.
///
/// ```
/// use plezi_messaging::HistoryLimits;
/// use std::time::Duration;
/// let limits = HistoryLimits { max_messages: 1_000, max_age: Duration::from_secs(300) };
/// assert_eq!(limits, HistoryLimits::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most messages kept (the oldest go first). Default 1,000.
    pub max_messages: usize,
    /// Messages older than this are forgotten. Default 5 minutes.
    pub max_age: Duration,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            max_messages: 1_000,
            max_age: Duration::from_secs(300),
        }
    }
}

/// Where a message sits in its stream: the stream's epoch (a new one each time the history starts
/// over) and its offset (1 for the first message of an epoch, then one more for each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The stream: `ctl:<controller>` or `ch:<channel>`.
    pub stream: Arc<str>,
    /// The history's epoch.
    pub epoch: Arc<str>,
    /// The message's offset in the epoch.
    pub offset: u64,
}

/// The history does not cover what a client asked for: its epoch is gone or its messages aged out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryGap;

/// The stream name of a target that can keep a history (a controller type or a named channel).
pub(crate) fn stream_of(target: &Target) -> Option<String> {
    match target {
        Target::Broadcast { controller } => Some(format!("ctl:{controller}")),
        Target::Channel(name) => Some(format!("ch:{name}")),
        _ => None,
    }
}

/// One stream's kept messages.
struct Ring {
    stream: Arc<str>,
    epoch: Arc<str>,
    limits: HistoryLimits,
    /// The offset the next message gets.
    next: u64,
    kept: VecDeque<(Instant, Message)>,
}

impl Ring {
    fn prune(&mut self, now: Instant) {
        while self.kept.len() > self.limits.max_messages
            || self
                .kept
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > self.limits.max_age)
        {
            self.kept.pop_front();
        }
    }
}

/// Every stream with a history on this server.
#[derive(Default)]
pub(crate) struct Histories {
    /// Whether any stream keeps a history (so a publish to none costs one atomic load).
    any: AtomicBool,
    streams: Mutex<HashMap<String, Ring>>,
}

impl Histories {
    /// Keeps a history for `stream` (a new epoch when it had none).
    pub fn keep(&self, stream: String, limits: HistoryLimits) {
        let mut streams = self.streams.lock();
        self.any.store(true, Ordering::Release);
        if let Some(ring) = streams.get_mut(&stream) {
            ring.limits = limits;
            return;
        }
        let epoch: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
        streams.insert(
            stream.clone(),
            Ring {
                stream: stream.into(),
                epoch,
                limits,
                next: 1,
                kept: VecDeque::new(),
            },
        );
    }

    /// Gives `message` its position in its stream and keeps a copy, then runs `deliver` with it
    /// while no other message of the stream can take a position (so deliveries leave in position
    /// order). A message whose stream keeps no history is delivered as it is.
    pub fn record(&self, mut message: Message, deliver: impl FnOnce(Message)) {
        if !self.any.load(Ordering::Acquire) {
            return deliver(message);
        }
        let Some(stream) = stream_of(&message.target) else {
            return deliver(message);
        };
        let mut streams = self.streams.lock();
        let Some(ring) = streams.get_mut(&stream) else {
            drop(streams);
            return deliver(message);
        };
        let now = Instant::now();
        message.position = Some(Position {
            stream: ring.stream.clone(),
            epoch: ring.epoch.clone(),
            offset: ring.next,
        });
        ring.next += 1;
        ring.kept.push_back((now, message.clone()));
        ring.prune(now);
        deliver(message);
    }

    /// The messages of `stream` after `offset` in `epoch`, oldest first; a [`RecoveryGap`] when the
    /// epoch is not this history's, or when messages after `offset` were already forgotten.
    pub fn since(
        &self,
        stream: &str,
        epoch: &str,
        offset: u64,
    ) -> Result<Vec<Message>, RecoveryGap> {
        let mut streams = self.streams.lock();
        let ring = streams.get_mut(stream).ok_or(RecoveryGap)?;
        if &*ring.epoch != epoch || offset >= ring.next {
            return Err(RecoveryGap);
        }
        ring.prune(Instant::now());
        let first_kept = ring.next - ring.kept.len() as u64;
        if offset + 1 < first_kept {
            return Err(RecoveryGap);
        }
        let skip = (offset + 1 - first_kept) as usize;
        Ok(ring
            .kept
            .iter()
            .skip(skip)
            .map(|(_, m)| m.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Payload;

    fn histories(limits: HistoryLimits) -> Histories {
        let h = Histories::default();
        h.keep("ch:room".into(), limits);
        h
    }

    fn publish(h: &Histories, n: u64) -> Position {
        let m = Message::new(
            Target::Channel("room".into()),
            Payload::event("m", serde_json::json!(n)),
        );
        let mut got = None;
        h.record(m, |m| got = m.position);
        got.expect("a position")
    }

    #[test]
    fn positions_grow_by_one_and_recovery_returns_what_came_after() {
        let h = histories(HistoryLimits::default());
        let first = publish(&h, 1);
        assert_eq!(first.offset, 1);
        for n in 2..=5 {
            assert_eq!(publish(&h, n).offset, n);
        }
        let missed = h.since("ch:room", &first.epoch, 2).expect("covered");
        let offsets: Vec<u64> = missed
            .iter()
            .map(|m| m.position.as_ref().unwrap().offset)
            .collect();
        assert_eq!(offsets, [3, 4, 5]);
        assert_eq!(h.since("ch:room", &first.epoch, 5), Ok(vec![]));
    }

    #[test]
    fn another_epoch_a_future_offset_or_a_forgotten_gap_is_a_gap() {
        let h = histories(HistoryLimits {
            max_messages: 3,
            max_age: Duration::from_secs(60),
        });
        let first = publish(&h, 1);
        for n in 2..=6 {
            publish(&h, n);
        }
        assert_eq!(h.since("ch:room", "other", 5), Err(RecoveryGap));
        assert_eq!(h.since("ch:room", &first.epoch, 7), Err(RecoveryGap));
        // Kept: 4, 5, 6. After 3 is covered; after 2 is not (3 was forgotten).
        assert_eq!(h.since("ch:room", &first.epoch, 3).map(|v| v.len()), Ok(3));
        assert_eq!(h.since("ch:room", &first.epoch, 2), Err(RecoveryGap));
        assert_eq!(h.since("ch:none", &first.epoch, 0), Err(RecoveryGap));
    }

    #[test]
    fn old_messages_age_out() {
        let h = histories(HistoryLimits {
            max_messages: 100,
            max_age: Duration::ZERO,
        });
        let first = publish(&h, 1);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(h.since("ch:room", &first.epoch, 0), Err(RecoveryGap));
    }
}
