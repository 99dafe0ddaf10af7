//! Message history in Redis (`docs/protocol.md#recovery`), so a client can recover on any server.
//!
//! A stream that keeps a history (`ctl:<controller>` or `ch:<channel>`) has two keys, hash-tagged
//! with its pub/sub channel so that on a cluster they live on the shard that publishes it:
//! - `{<channel>}:hist`, a Redis stream: entry id `0-<offset>`, fields `t` (milliseconds, Redis's
//!   clock) and `m` (the envelope, without its `pos`);
//! - `{<channel>}:epoch`, the stream's epoch (a random hex string).
//!
//! A publish to such a stream is one Lua script ([`APPEND`]): it appends the message (its offset is
//! one more than the stream's last), trims the stream by count and by age, and publishes the envelope with `"pos":{"e":EPOCH,"o":OFFSET}` on the channel — so every
//! subscriber sees the stream's order, the publishing server included (it serves its own receivers
//! from that echo). When the stream key is missing (never written, deleted, flushed, lost with a
//! Redis that restarted without persistence) or its epoch key is, the script starts a new epoch at
//! offset 1: a client holding a position of the old epoch is told that recovery failed.
//!
//! Recovery ([`RedisHistories::since`]) is another script ([`READ`]), a blocking round trip on a
//! connection of its own (never on an event loop).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::cluster::slot::key_slot;
use super::resp;
use super::{LazyConnection, Names, Outgoing};
use crate::envelope::{Envelope, EnvelopeBody};
use crate::error::BusError;
use crate::history::{HistoryLimits, Position, RecoveryGap, stream_of};
use crate::message::{Message, Target};
use crate::uuid::ServerId;

/// Appends an envelope to a history stream and publishes it with its position.
///
/// KEYS: stream, epoch. ARGV: channel, envelope (starting `{"v":1,`), a fresh epoch candidate,
/// max messages, max age (ms), `1` to publish on a shard channel (`SPUBLISH`). Returns the number of
/// receivers, as `PUBLISH` does.
///
/// Entry ids are `0-<offset>`: `XADD 0-*` numbers them (one more than the stream's last id, which
/// Redis keeps even when the entries are trimmed). Trimming by count is `MAXLEN ~` (whole nodes, so
/// up to ~100 entries more are kept; [`READ`] applies the exact window); by age, every 64th append
/// drops the entries older than `max_age` ([`READ`] applies the exact age).
pub(crate) const APPEND: &str = r#"
local epoch = redis.call('GET', KEYS[2])
if not epoch or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], epoch)
end
local body = ARGV[2]
if string.sub(body, 1, 7) ~= '{"v":1,' then return redis.error_reply('not an envelope') end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '0-*', 't', now, 'm', body)
local o = string.sub(id, 3)
local offset = tonumber(o)
if offset % 64 == 0 then
  local cutoff = now - tonumber(ARGV[5])
  for _ = 1, 64 do
    local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 16)
    local keep = nil
    for i, e in ipairs(head) do
      if tonumber(string.sub(e[1], 3)) >= offset or tonumber(e[2][2]) >= cutoff then
        keep = i
        break
      end
    end
    if keep == 1 then break end
    local expired = head[(keep or (#head + 1)) - 1]
    local next = tonumber(string.sub(expired[1], 3)) + 1
    redis.call('XTRIM', KEYS[1], 'MINID', '0-' .. string.format('%d', next))
    if keep then break end
  end
end
body = '{"v":1,"pos":{"e":"' .. epoch .. '","o":' .. o .. '},' .. string.sub(body, 8)
if ARGV[6] == '1' then return redis.call('SPUBLISH', ARGV[1], body) end
return redis.call('PUBLISH', ARGV[1], body)
"#;

/// What a history holds after a position.
///
/// KEYS: stream, epoch. ARGV: epoch, offset, max age (ms), max messages. Returns `{'gap'}` when
/// the history does not cover what came after the offset, else `{'ok', id, envelope, ...}`: the
/// entries from the offset's own (when still kept, so a retried append can be told from a new
/// message) to the last, each as its id (`0-<offset>`) and its envelope (without `pos`).
const READ: &str = r#"
local epoch = redis.call('GET', KEYS[2])
if epoch ~= ARGV[1] then return {'gap'} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not last then return {'gap'} end
local from = tonumber(ARGV[2])
local lastoff = tonumber(string.sub(last[1], 3))
if from > lastoff then return {'gap'} end
if from == lastoff then return {'ok'} end
if lastoff - from > tonumber(ARGV[4]) then return {'gap'} end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
local out = {'ok'}
local first = true
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '0-' .. ARGV[2], '+')) do
  local off = tonumber(string.sub(e[1], 3))
  if first and off > from then
    first = false
    if off > from + 1 or tonumber(e[2][2]) < cutoff then return {'gap'} end
  end
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][4]
end
return out
"#;

/// The SHA1 of [`APPEND`], for `EVALSHA`.
static APPEND_SHA: LazyLock<String> =
    LazyLock::new(|| redis::Script::new(APPEND).get_hash().to_owned());

/// One stream's keys and limits.
pub(crate) struct HistoryStream {
    stream_key: String,
    epoch_key: String,
    limits: HistoryLimits,
}

/// The streams that keep a history in Redis, and the connection recovery reads them on.
pub(crate) struct RedisHistories {
    /// Whether any stream keeps a history (so a publish to none costs one atomic load).
    any: AtomicBool,
    streams: RwLock<HashMap<String, Arc<HistoryStream>>>,
    conn: LazyConnection,
    read: redis::Script,
    max_envelope_bytes: usize,
    io_timeout: Duration,
    /// When a read last failed: for `io_timeout` after it, reads fail at once (a Redis that is down
    /// or silent fails every recovery quickly, not one `io_timeout` after another).
    failed_at: Mutex<Option<Instant>>,
}

impl RedisHistories {
    /// Histories read through `conn` (opened at the first recovery, each call bounded by
    /// `io_timeout`).
    pub fn new(
        conn: LazyConnection,
        max_envelope_bytes: usize,
        io_timeout: Duration,
    ) -> RedisHistories {
        RedisHistories {
            any: AtomicBool::new(false),
            streams: RwLock::new(HashMap::new()),
            conn,
            read: redis::Script::new(READ),
            max_envelope_bytes,
            io_timeout,
            failed_at: Mutex::new(None),
        }
    }

    /// Keeps a history for `target` (its keys named after its channel in `names`). Fails for a
    /// channel whose name holds a `}` in a way that no key can share its cluster slot.
    pub fn keep(
        &self,
        names: &Names,
        target: &Target,
        limits: HistoryLimits,
    ) -> Result<(), BusError> {
        let Some(stream) = stream_of(target) else {
            return Err(BusError::Config(format!(
                "{target:?} cannot keep a history: only a controller type's broadcasts or a named channel can"
            )));
        };
        let channel = names.route(target);
        let (stream_key, epoch_key) = keys_of(&channel).ok_or_else(|| {
            BusError::Config(format!(
                "no Redis key can share the cluster slot of channel {channel:?} (a '}}' outside a \
                 hash tag); rename the channel to keep its history"
            ))
        })?;
        let limits = HistoryLimits {
            max_messages: limits.max_messages.max(1),
            ..limits
        };
        self.streams.write().insert(
            stream,
            Arc::new(HistoryStream {
                stream_key,
                epoch_key,
                limits,
            }),
        );
        self.any.store(true, Ordering::Release);
        Ok(())
    }

    /// The history `target`'s messages are appended to, if it keeps one.
    pub fn of(&self, target: &Target) -> Option<Arc<HistoryStream>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let stream = stream_of(target)?;
        self.streams.read().get(&stream).cloned()
    }

    /// The messages of `stream` after `offset` of `epoch`, oldest first (one round trip; waits up
    /// to `io_timeout` for the connection, then up to `io_timeout` for Redis). A [`RecoveryGap`]
    /// when the history does not cover them, when this server keeps no history for `stream`, and
    /// when Redis cannot be asked (logged; and at once for `io_timeout` after such a failure): the
    /// client must reload its state either way.
    pub fn since(
        &self,
        stream: &str,
        epoch: &str,
        offset: u64,
    ) -> Result<Vec<Message>, RecoveryGap> {
        let Some(keys) = self.streams.read().get(stream).cloned() else {
            return Err(RecoveryGap);
        };
        let now = Instant::now();
        if self
            .failed_at
            .lock()
            .is_some_and(|at| now.duration_since(at) < self.io_timeout)
        {
            log::debug!("history of {stream:?} not read: Redis failed a read just before");
            return Err(RecoveryGap);
        }
        let age_ms = u64::try_from(keys.limits.max_age.as_millis()).unwrap_or(u64::MAX);
        let deadline = now + self.io_timeout;
        let answer: Result<Vec<Vec<u8>>, BusError> = self.conn.with_until(Some(deadline), |link| {
            self.read
                .key(&keys.stream_key)
                .key(&keys.epoch_key)
                .arg(epoch)
                .arg(offset)
                .arg(age_ms)
                .arg(keys.limits.max_messages)
                .invoke(link.conn())
        });
        let entries = match answer {
            Ok(entries) => entries,
            Err(e) => {
                *self.failed_at.lock() = Some(Instant::now());
                log::warn!("history of {stream:?} not read from Redis (recovery fails): {e}");
                return Err(RecoveryGap);
            }
        };
        let mut entries = entries.into_iter();
        if entries.next().as_deref() != Some(b"ok") {
            return Err(RecoveryGap);
        }
        Ok(self.decode(stream, epoch, entries, offset))
    }

    /// The messages after `offset` among `entries` (id, envelope, id, envelope... in stream
    /// order), with their positions in `stream` and `epoch`, without a retried append's second
    /// copy (an origin's `seq` not above one already seen).
    fn decode(
        &self,
        stream: &str,
        epoch: &str,
        mut entries: impl Iterator<Item = Vec<u8>>,
        offset: u64,
    ) -> Vec<Message> {
        let (stream, epoch): (Arc<str>, Arc<str>) = (stream.into(), epoch.into());
        let mut last_seq: HashMap<ServerId, u64> = HashMap::new();
        let mut out = Vec::new();
        while let (Some(id), Some(bytes)) = (entries.next(), entries.next()) {
            let Some(at) = std::str::from_utf8(&id)
                .ok()
                .and_then(|id| id.strip_prefix("0-")?.parse::<u64>().ok())
            else {
                log::warn!("a history entry has an id plezi does not write, skipped");
                continue;
            };
            let envelope = match Envelope::decode(&bytes, self.max_envelope_bytes) {
                Ok(e) => e,
                Err(e) => {
                    log::warn!("a history entry is not a valid envelope, skipped: {e}");
                    continue;
                }
            };
            if let Some(seq) = envelope.seq {
                let last = last_seq.entry(envelope.origin).or_default();
                if seq <= *last {
                    continue;
                }
                *last = seq;
            }
            if let EnvelopeBody::Message(mut m) = envelope.body
                && at > offset
            {
                m.position = Some(Position {
                    stream: stream.clone(),
                    epoch: epoch.clone(),
                    offset: at,
                });
                out.push(m);
            }
        }
        out
    }
}

/// The stream and epoch keys of `channel`: `{<channel>}:hist` and `{<channel>}:epoch`, or, when
/// the channel's name has a hash tag of its own, `<channel>:hist` and `<channel>:epoch` (either
/// way on the channel's cluster slot). `None` when neither form is on that slot.
fn keys_of(channel: &str) -> Option<(String, String)> {
    let slot = key_slot(channel.as_bytes());
    [format!("{{{channel}}}"), channel.to_owned()]
        .into_iter()
        .map(|base| (format!("{base}:hist"), format!("{base}:epoch")))
        .find(|(s, e)| key_slot(s.as_bytes()) == slot && key_slot(e.as_bytes()) == slot)
}

/// Writes the command that publishes `item` (its envelope numbered: `body`): `PUBLISH` (or
/// `SPUBLISH` on a cluster), or the history script when its stream keeps a history.
pub(crate) fn publish_command(out: &mut Vec<u8>, item: &Outgoing, body: &[u8], cluster: bool) {
    let Some(h) = &item.history else {
        let verb: &[u8] = if cluster { b"SPUBLISH" } else { b"PUBLISH" };
        return resp::command(out, &[verb, item.channel.as_bytes(), body]);
    };
    let candidate = format!("{:016x}", rand::random::<u64>());
    let mut max = Vec::new();
    resp::push_decimal(&mut max, h.limits.max_messages as u64);
    let mut age = Vec::new();
    resp::push_decimal(
        &mut age,
        u64::try_from(h.limits.max_age.as_millis()).unwrap_or(u64::MAX),
    );
    let flag: &[u8] = if cluster { b"1" } else { b"0" };
    resp::command(
        out,
        &[
            b"EVALSHA",
            APPEND_SHA.as_bytes(),
            b"2",
            h.stream_key.as_bytes(),
            h.epoch_key.as_bytes(),
            item.channel.as_bytes(),
            body,
            candidate.as_bytes(),
            &max,
            &age,
            flag,
        ],
    );
}

/// Writes `SCRIPT LOAD` of the history script (its reply is the script's SHA1), so that the
/// connection's later `EVALSHA`s find it.
pub(crate) fn load_command(out: &mut Vec<u8>) {
    resp::command(out, &[b"SCRIPT", b"LOAD", APPEND.as_bytes()]);
}

/// Whether an error reply says the history script is not loaded (`SCRIPT FLUSH`, a restarted
/// node): the connection is dropped and the publish sent again after loading it anew.
pub(crate) fn is_noscript(error: &[u8]) -> bool {
    error.starts_with(b"NOSCRIPT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_channel_slot() {
        for channel in ["app:ch:room", "app:ctl:Chat", "a{b}c", "{x}", "a{b"] {
            let (s, e) = keys_of(channel).expect(channel);
            let slot = key_slot(channel.as_bytes());
            assert_eq!(key_slot(s.as_bytes()), slot, "{channel} {s}");
            assert_eq!(key_slot(e.as_bytes()), slot, "{channel} {e}");
        }
        assert_eq!(
            keys_of("app:ch:room"),
            Some(("{app:ch:room}:hist".into(), "{app:ch:room}:epoch".into()))
        );
        assert_eq!(keys_of("a}b"), None);
    }

    #[test]
    fn the_sha_is_redis_s() {
        // `redis-cli SCRIPT LOAD` answers the SHA1 of the script's text.
        assert_eq!(APPEND_SHA.len(), 40);
    }
}
