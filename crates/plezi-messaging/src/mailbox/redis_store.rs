//! The Redis mailbox store: every operation is one Lua script, so concurrent servers never race.
//!
//! Keys per identity (`{app}` is the app name):
//! - `{app}:mbox:{identity}` — a list, the messages in stored form, oldest at the head;
//! - `{app}:mbox-meta:{identity}` — a hash: `life` (lifespan in ms), `gen` (a counter of
//!   registrations) and one `s:{server id}` field per server holding live connections of the identity,
//!   whose value is the `gen` of its latest registration;
//! - `{app}:mbox-turn:{identity}` — the token of the claim holding the drain turn (expires after
//!   `mailbox_claim_ttl` unless its holder renews it).
//!
//! The list and the hash expire after the lifespan; every operation renews them.
//!
//! Store-wide accounting, kept by the same scripts so it cannot drift:
//! - `{app}:mbox-index` — a sorted set: every identity with stored messages, scored by when its mailbox
//!   expires (ms since the epoch, Redis `TIME`);
//! - `{app}:mbox-sizes` — a hash: identity → bytes of its stored messages (each its length + 64);
//! - `{app}:mbox-total` — bytes in the store: the sizes plus 256 + the identity's length per indexed mailbox.
//!
//! Every script first sweeps up to 64 index entries whose time has passed (their list expired with them, or
//! is deleted then), subtracting their recorded sizes; an entry leaves the index when its list is emptied by
//! a confirmed delivery. The count of identities is `ZCARD` of the index; the bytes are the counter. An
//! expired mailbox is counted until a script sweeps it — the counts err on the full side, never the empty
//! one.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::Script;

use super::store::{
    Claimed, Done, ENTRY_OVERHEAD, MESSAGE_OVERHEAD, MailboxStore, Quota, Signals, Turn, Usage,
};
use crate::config::RedisTls;
use crate::error::{BusError, MailboxLimit};
use crate::redis::LazyConnection;
use crate::redis::cluster::slot::key_slot;
use crate::uuid::ServerId;

/// Shared helpers. `signal_others` publishes ARGV[first..last] (or one envelope) to every other live
/// server and prunes servers nobody listens for; on a cluster (`INLINE` false) it only lists those
/// servers in `SIGNALS` instead, each as `{server id}/{registration}` (a script may not publish to a
/// shard channel of another slot), and the store publishes the signals through the bus.
const HELPERS: &str = r#"
local MSG_OVERHEAD = tonumber('@MSG@')
local ENTRY_OVERHEAD = tonumber('@ENTRY@')
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local INLINE = @INLINE@
local SIGNALS = {}
local function signal_others(meta, me, prefix, first, last)
  for _, f in ipairs(redis.call('HKEYS', meta)) do
    if string.sub(f, 1, 2) == 's:' and string.sub(f, 3) ~= me and not INLINE then
      table.insert(SIGNALS, string.sub(f, 3) .. '/' .. redis.call('HGET', meta, f))
    elseif string.sub(f, 1, 2) == 's:' and string.sub(f, 3) ~= me then
      local heard = 0
      for i = first, last do
        heard = redis.call('PUBLISH', prefix .. string.sub(f, 3), ARGV[i])
      end
      if first <= last and heard == 0 then redis.call('HDEL', meta, f) end
    end
  end
end
-- removes an identity's accounting (index entry, size, its share of the total)
local function forget_entry(idx, sizes, total, id)
  local size = tonumber(redis.call('HGET', sizes, id))
  if size then
    redis.call('DECRBY', total, size + ENTRY_OVERHEAD + #id)
    redis.call('HDEL', sizes, id)
  end
  redis.call('ZREM', idx, id)
end
-- forgets up to 64 mailboxes whose lifespan ended (their lists go with them)
local function sweep(idx, sizes, total, list_prefix, now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', idx, '-inf', now, 'LIMIT', 0, 64)) do
    forget_entry(idx, sizes, total, id)
    redis.call('DEL', list_prefix .. id)
  end
end
local function renew(list, meta, idx, id, life, now)
  if life then
    redis.call('PEXPIRE', list, life)
    redis.call('PEXPIRE', meta, life)
    redis.call('ZADD', idx, 'XX', now + life, id)
  end
end
-- reads a batch under `token` (the caller checked the turn is free or its own)
local function take(list, meta, turn, idx, id, token, max, ttl, now)
  local msgs = redis.call('LRANGE', list, 0, max - 1)
  if #msgs == 0 then
    redis.call('DEL', turn)
  else
    redis.call('SET', turn, token, 'PX', ttl)
  end
  renew(list, meta, idx, id, tonumber(redis.call('HGET', meta, 'life')), now)
  return msgs
end
local function busy(turn)
  local left = redis.call('PTTL', turn)
  if left < 0 then left = 0 end
  return left
end
"#;

/// KEYS: list, meta, index, sizes, total. ARGV: message, default life ms, max messages, max bytes,
/// store max identities, store max bytes, me, server channel prefix, drain envelope, identity, list prefix.
/// Returns 1/0 (whether `me` holds live connections), or -1..-4 for the cap it hit.
const NOTIFY: &str = r#"
local now = now_ms()
sweep(KEYS[3], KEYS[4], KEYS[5], ARGV[11], now)
local id = ARGV[10]
local life = tonumber(redis.call('HGET', KEYS[2], 'life')) or tonumber(ARGV[2])
local charge = #ARGV[1] + MSG_OVERHEAD
local size = tonumber(redis.call('HGET', KEYS[4], id))
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
if (size or 0) + charge > tonumber(ARGV[4]) then return -2 end
local add = charge
if not size then
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return -3 end
  add = add + ENTRY_OVERHEAD + #id
end
if (tonumber(redis.call('GET', KEYS[5])) or 0) + add > tonumber(ARGV[6]) then return -4 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[4], id, charge)
redis.call('INCRBY', KEYS[5], add)
redis.call('ZADD', KEYS[3], now + life, id)
local mine = 0
if redis.call('HEXISTS', KEYS[2], 's:' .. ARGV[7]) == 1 then mine = 1 end
signal_others(KEYS[2], ARGV[7], ARGV[8], 9, 9)
renew(KEYS[1], KEYS[2], KEYS[3], id, life, now)
return mine
"#;

/// KEYS: list, meta, index. ARGV: me, life ms, identity. Every registration gets a new `gen`, so a
/// prune decided before it (`FORGET`) cannot undo it.
const REGISTER: &str = r#"
local gen = redis.call('HINCRBY', KEYS[2], 'gen', 1)
redis.call('HSET', KEYS[2], 's:' .. ARGV[1], gen, 'life', ARGV[2])
renew(KEYS[1], KEYS[2], KEYS[3], ARGV[3], tonumber(ARGV[2]), now_ms())
return 1
"#;

/// KEYS: meta. ARGV: me.
const UNREGISTER: &str = r#"
redis.call('HDEL', KEYS[1], 's:' .. ARGV[1])
return 1
"#;

/// KEYS: meta. ARGV: server, registration. Forgets the server only if its registration is still the
/// one the signal that reached nobody was sent for.
const FORGET: &str = r#"
if redis.call('HGET', KEYS[1], 's:' .. ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], 's:' .. ARGV[1])
end
return 1
"#;

/// KEYS: list, meta, turn, index, sizes, total. ARGV: token, max, turn ttl ms, identity, list prefix.
/// Returns the messages, or the time left on another server's turn (an integer). A turn held by
/// an earlier claim of the same server is taken over (see [`MailboxStore::claim`]).
const CLAIM: &str = r#"
local now = now_ms()
sweep(KEYS[4], KEYS[5], KEYS[6], ARGV[5], now)
local holder = redis.call('GET', KEYS[3])
if holder and string.match(holder, '^[^:]*') ~= string.match(ARGV[1], '^[^:]*') then
  return busy(KEYS[3])
end
return take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[4], ARGV[1], tonumber(ARGV[2]), ARGV[3], now)
"#;

/// KEYS: turn. ARGV: token, turn ttl ms.
const RENEW: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// KEYS: list, meta, turn, index, sizes, total. ARGV: token, count, next token, max, turn ttl ms, me,
/// identity, list prefix, server channel prefix, forward envelopes...
/// A token that no longer holds the turn changes nothing: the answer is the time left on the turn.
const DELIVERED: &str = r#"
local now = now_ms()
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return busy(KEYS[3]) end
signal_others(KEYS[2], ARGV[6], ARGV[9], 10, #ARGV)
local id = ARGV[7]
local n = tonumber(ARGV[2])
if n > 0 then
  local removed = 0
  for _, m in ipairs(redis.call('LRANGE', KEYS[1], 0, n - 1)) do removed = removed + #m + MSG_OVERHEAD end
  redis.call('LTRIM', KEYS[1], n, -1)
  if redis.call('LLEN', KEYS[1]) == 0 then
    forget_entry(KEYS[4], KEYS[5], KEYS[6], id)
  elseif redis.call('HEXISTS', KEYS[5], id) == 1 then
    redis.call('HINCRBY', KEYS[5], id, -removed)
    redis.call('DECRBY', KEYS[6], removed)
  end
end
sweep(KEYS[4], KEYS[5], KEYS[6], ARGV[8], now)
return take(KEYS[1], KEYS[2], KEYS[3], KEYS[4], id, ARGV[3], tonumber(ARGV[4]), ARGV[5], now)
"#;

/// KEYS: list, meta, turn, index. ARGV: token, me, server channel prefix, drain envelope, identity.
const GIVE_BACK: &str = r#"
if redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
  renew(KEYS[1], KEYS[2], KEYS[4], ARGV[5], tonumber(redis.call('HGET', KEYS[2], 'life')), now_ms())
  signal_others(KEYS[2], ARGV[2], ARGV[3], 4, 4)
end
return 1
"#;

/// KEYS: index, sizes, total. ARGV: list prefix. Returns {identities, bytes}.
const USAGE: &str = r#"
sweep(KEYS[1], KEYS[2], KEYS[3], ARGV[1], now_ms())
return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[3])) or 0}
"#;

struct Scripts {
    notify: Script,
    register: Script,
    unregister: Script,
    forget: Script,
    claim: Script,
    renew: Script,
    delivered: Script,
    give_back: Script,
    usage: Script,
}

impl Scripts {
    /// The scripts for one Redis (`cluster` false: they publish signals themselves) or a cluster
    /// (they return `{answer, servers to signal}`).
    fn new(cluster: bool) -> Scripts {
        let helpers = HELPERS
            .replace("@MSG@", &MESSAGE_OVERHEAD.to_string())
            .replace("@ENTRY@", &ENTRY_OVERHEAD.to_string())
            .replace("@INLINE@", if cluster { "false" } else { "true" });
        let with_helpers = |body: &str| {
            if cluster {
                Script::new(&format!(
                    "{helpers}\nlocal function body()\n{body}\nend\nlocal answer = body()\nreturn {{answer, SIGNALS}}"
                ))
            } else {
                Script::new(&format!("{helpers}\n{body}"))
            }
        };
        Scripts {
            notify: with_helpers(NOTIFY),
            register: with_helpers(REGISTER),
            unregister: with_helpers(UNREGISTER),
            forget: with_helpers(FORGET),
            claim: with_helpers(CLAIM),
            renew: with_helpers(RENEW),
            delivered: with_helpers(DELIVERED),
            give_back: with_helpers(GIVE_BACK),
            usage: with_helpers(USAGE),
        }
    }
}

/// Mailboxes per cluster are spread over this many hash tags (`{app:mb:N}`), each with its own
/// accounting keys, so a script's keys share one slot. The store-wide caps are split evenly between
/// them.
pub(crate) const CLUSTER_BUCKETS: usize = 16;

/// Publishes one signal (channel, envelope) through the bus, for a cluster's scripts; the callback
/// runs when it reached nobody.
pub(crate) type SignalFn = Box<dyn Fn(String, Vec<u8>, Box<dyn FnOnce() + Send>) + Send + Sync>;

/// Forgets that a server holds live connections of an identity (`identity`, `server`, the
/// registration the signal was sent for): queued for the mailbox thread when a signal to that server
/// reached nobody.
pub(crate) type PruneFn = Arc<dyn Fn(&str, ServerId, String) + Send + Sync>;

/// The keys of one script call.
struct Keys {
    /// On a cluster (the keys carry the bucket's hash tag).
    cluster: bool,
    list: String,
    meta: String,
    turn: String,
    index: String,
    sizes: String,
    total: String,
    list_prefix: String,
}

pub(crate) struct RedisStore {
    conn: LazyConnection,
    app: String,
    single: Scripts,
    cluster: Scripts,
    replica_ack_timeout: Duration,
    signal: OnceLock<SignalFn>,
    prune: OnceLock<PruneFn>,
}

impl RedisStore {
    pub fn new(
        url: &str,
        tls: &RedisTls,
        app_name: &str,
        io_timeout: Duration,
        replica_ack_timeout: Duration,
    ) -> Result<RedisStore, BusError> {
        Ok(RedisStore {
            conn: LazyConnection::new(url, tls, io_timeout)?,
            app: app_name.to_owned(),
            single: Scripts::new(false),
            cluster: Scripts::new(true),
            replica_ack_timeout,
            signal: OnceLock::new(),
            prune: OnceLock::new(),
        })
    }

    /// Sets how the store publishes signals on a cluster (through the bus's publisher), and how it
    /// forgets a server a signal did not reach (through the mailbox thread).
    pub fn set_signal(&self, signal: SignalFn, prune: PruneFn) {
        let _ = self.signal.set(signal);
        let _ = self.prune.set(prune);
    }

    /// The key prefix: the app name on one Redis; on a cluster the identity's bucket hash tag.
    fn prefix(&self, identity: Option<&str>, bucket: usize, cluster: bool) -> String {
        if !cluster {
            return self.app.clone();
        }
        let bucket = identity.map_or(bucket, |id| {
            usize::from(key_slot(id.as_bytes())) % CLUSTER_BUCKETS
        });
        format!("{{{}:mb:{bucket}}}", self.app)
    }

    fn keys(&self, identity: &str, cluster: bool) -> Keys {
        self.keys_with(&self.prefix(Some(identity), 0, cluster), identity, cluster)
    }

    fn keys_with(&self, p: &str, identity: &str, cluster: bool) -> Keys {
        Keys {
            cluster,
            list: format!("{p}:mbox:{identity}"),
            meta: format!("{p}:mbox-meta:{identity}"),
            turn: format!("{p}:mbox-turn:{identity}"),
            index: format!("{p}:mbox-index"),
            sizes: format!("{p}:mbox-sizes"),
            total: format!("{p}:mbox-total"),
            list_prefix: format!("{p}:mbox:"),
        }
    }

    fn scripts(&self, cluster: bool) -> &Scripts {
        if cluster { &self.cluster } else { &self.single }
    }

    /// Runs one script call on the store's connection (see [`LazyConnection::with`]): `f` gets the
    /// keys, the scripts and the connection; on a cluster the answer is split from the servers to
    /// signal.
    fn call(
        &self,
        identity: &str,
        f: impl FnOnce(
            &Keys,
            &Scripts,
            &mut dyn redis::ConnectionLike,
        ) -> redis::RedisResult<redis::Value>,
    ) -> Result<(redis::Value, Vec<String>), BusError> {
        self.conn.with(|link| {
            let cluster = link.is_cluster();
            let keys = self.keys(identity, cluster);
            let v = f(&keys, self.scripts(cluster), link.conn())?;
            Ok(if cluster {
                split_signals(v)
            } else {
                (v, Vec::new())
            })
        })
    }

    /// Publishes `bodies` to each server in `servers` (a cluster's scripts return them); a server
    /// that nobody listens for any more is forgotten for `identity` (as the scripts do on one Redis).
    fn signal(&self, identity: &str, servers: &[String], prefix: &str, bodies: &[&[u8]]) {
        if servers.is_empty() || bodies.is_empty() {
            return;
        }
        let Some(signal) = self.signal.get() else {
            log::warn!(
                "mailbox signals for {} servers have no bus to go through",
                servers.len()
            );
            return;
        };
        for server in servers {
            let (server, registration) = server.split_once('/').unwrap_or((server, ""));
            let Ok(id) = server.parse::<ServerId>() else {
                continue;
            };
            for (i, body) in bodies.iter().enumerate() {
                // Only the last envelope to a server decides whether it is gone, as in the scripts.
                let gone: Box<dyn FnOnce() + Send> = match self.prune.get() {
                    Some(prune) if i + 1 == bodies.len() => {
                        let (prune, identity) = (prune.clone(), identity.to_owned());
                        let registration = registration.to_owned();
                        Box::new(move || prune(&identity, id, registration))
                    }
                    _ => Box::new(|| {}),
                };
                signal(format!("{prefix}{server}"), body.to_vec(), gone);
            }
        }
    }

    /// A claim script's answer: the messages, or the time left on another claim's turn.
    fn claimed(value: redis::Value) -> Result<Claimed, BusError> {
        match value {
            redis::Value::Int(ms) => Ok(Claimed::Busy {
                retry_in: Duration::from_millis(ms.max(0) as u64),
            }),
            redis::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    redis::Value::BulkString(bytes) => Ok(bytes),
                    other => Err(BusError::Redis(format!(
                        "unexpected mailbox message {other:?}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Claimed::Messages),
            redis::Value::Nil => Ok(Claimed::Messages(Vec::new())),
            other => Err(BusError::Redis(format!(
                "unexpected claim answer {other:?}"
            ))),
        }
    }
}

/// A cluster script's `{answer, servers}`.
fn split_signals(v: redis::Value) -> (redis::Value, Vec<String>) {
    match v {
        redis::Value::Array(mut items) if items.len() == 2 => {
            let servers = match items.pop() {
                Some(redis::Value::Array(ids)) => ids
                    .into_iter()
                    .filter_map(|id| match id {
                        redis::Value::BulkString(b) => String::from_utf8(b).ok(),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (items.pop().unwrap_or(redis::Value::Nil), servers)
        }
        other => (other, Vec::new()),
    }
}

fn int(v: &redis::Value) -> Result<i64, BusError> {
    match v {
        redis::Value::Int(n) => Ok(*n),
        other => Err(BusError::Redis(format!(
            "unexpected mailbox answer {other:?}"
        ))),
    }
}

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl MailboxStore for RedisStore {
    fn is_local(&self) -> bool {
        false
    }

    fn notify(
        &self,
        identity: &str,
        message: &[u8],
        me: ServerId,
        default_lifespan: Duration,
        quota: &Quota,
        signals: &Signals<'_>,
    ) -> Result<bool, BusError> {
        let mut list = String::new();
        let (answer, servers) = self.call(identity, |k, scripts, c| {
            // On a cluster each bucket holds its share of the store-wide caps.
            let split = if k.cluster { CLUSTER_BUCKETS } else { 1 };
            list.clone_from(&k.list);
            scripts
                .notify
                .key(&k.list)
                .key(&k.meta)
                .key(&k.index)
                .key(&k.sizes)
                .key(&k.total)
                .arg(message)
                .arg(ms(default_lifespan))
                .arg(quota.max_messages)
                .arg(quota.max_bytes)
                .arg(quota.store_max_identities.div_ceil(split))
                .arg(quota.store_max_bytes.div_ceil(split))
                .arg(me.to_string())
                .arg(signals.server_channel_prefix)
                .arg(signals.drain)
                .arg(identity)
                .arg(&k.list_prefix)
                .invoke(c)
        })?;
        let answer = int(&answer)?;
        let mailbox = |limit| BusError::MailboxFull {
            identity: identity.to_owned(),
            limit,
        };
        match answer {
            -1 => Err(mailbox(MailboxLimit::Messages(quota.max_messages))),
            -2 => Err(mailbox(MailboxLimit::Bytes(quota.max_bytes))),
            -3 => Err(BusError::StoreFull {
                limit: MailboxLimit::Identities(quota.store_max_identities),
            }),
            -4 => Err(BusError::StoreFull {
                limit: MailboxLimit::StoreBytes(quota.store_max_bytes),
            }),
            n => {
                // Stored counts once a replica has it (a lone master is not waited for).
                if !self.conn.wait_replicated(&list, self.replica_ack_timeout)? {
                    return Err(BusError::NotReplicated {
                        identity: identity.to_owned(),
                        waited: self.replica_ack_timeout,
                    });
                }
                self.signal(
                    identity,
                    &servers,
                    signals.server_channel_prefix,
                    &[signals.drain],
                );
                Ok(n == 1)
            }
        }
    }

    fn register(&self, identity: &str, me: ServerId, lifespan: Duration) -> Result<(), BusError> {
        self.call(identity, |k, scripts, c| {
            scripts
                .register
                .key(&k.list)
                .key(&k.meta)
                .key(&k.index)
                .arg(me.to_string())
                .arg(ms(lifespan))
                .arg(identity)
                .invoke(c)
        })?;
        Ok(())
    }

    fn unregister(&self, identity: &str, me: ServerId) -> Result<(), BusError> {
        self.call(identity, |k, scripts, c| {
            scripts
                .unregister
                .key(&k.meta)
                .arg(me.to_string())
                .invoke(c)
        })?;
        Ok(())
    }

    fn forget(&self, identity: &str, server: ServerId, registration: &str) -> Result<(), BusError> {
        self.call(identity, |k, scripts, c| {
            scripts
                .forget
                .key(&k.meta)
                .arg(server.to_string())
                .arg(registration)
                .invoke(c)
        })?;
        Ok(())
    }

    fn claim(&self, identity: &str, turn: &Turn<'_>) -> Result<Claimed, BusError> {
        let (v, _) = self.call(identity, |k, scripts, c| {
            scripts
                .claim
                .key(&k.list)
                .key(&k.meta)
                .key(&k.turn)
                .key(&k.index)
                .key(&k.sizes)
                .key(&k.total)
                .arg(turn.token)
                .arg(turn.max)
                .arg(ms(turn.ttl))
                .arg(identity)
                .arg(&k.list_prefix)
                .invoke(c)
        })?;
        Self::claimed(v)
    }

    fn renew(&self, identity: &str, token: &str, ttl: Duration) -> Result<bool, BusError> {
        let (held, _) = self.call(identity, |k, scripts, c| {
            scripts.renew.key(&k.turn).arg(token).arg(ms(ttl)).invoke(c)
        })?;
        Ok(int(&held)? == 1)
    }

    fn delivered(
        &self,
        identity: &str,
        me: ServerId,
        done: &Done<'_>,
        next: &Turn<'_>,
        signals: &Signals<'_>,
    ) -> Result<Claimed, BusError> {
        let (v, servers) = self.call(identity, |k, scripts, c| {
            let mut inv = scripts.delivered.key(&k.list);
            inv.key(&k.meta)
                .key(&k.turn)
                .key(&k.index)
                .key(&k.sizes)
                .key(&k.total)
                .arg(done.token)
                .arg(done.count)
                .arg(next.token)
                .arg(next.max)
                .arg(ms(next.ttl))
                .arg(me.to_string())
                .arg(identity)
                .arg(&k.list_prefix)
                .arg(signals.server_channel_prefix);
            for f in done.forwards {
                inv.arg(f.as_slice());
            }
            inv.invoke(c)
        })?;
        let claimed = Self::claimed(v)?;
        if !matches!(claimed, Claimed::Busy { .. }) {
            let forwards: Vec<&[u8]> = done.forwards.iter().map(Vec::as_slice).collect();
            self.signal(identity, &servers, signals.server_channel_prefix, &forwards);
        }
        Ok(claimed)
    }

    fn give_back(
        &self,
        identity: &str,
        me: ServerId,
        token: &str,
        signals: &Signals<'_>,
    ) -> Result<(), BusError> {
        let (_, servers) = self.call(identity, |k, scripts, c| {
            scripts
                .give_back
                .key(&k.list)
                .key(&k.meta)
                .key(&k.turn)
                .key(&k.index)
                .arg(token)
                .arg(me.to_string())
                .arg(signals.server_channel_prefix)
                .arg(signals.drain)
                .arg(identity)
                .invoke(c)
        })?;
        self.signal(
            identity,
            &servers,
            signals.server_channel_prefix,
            &[signals.drain],
        );
        Ok(())
    }

    fn usage(&self) -> Result<Usage, BusError> {
        self.conn.with(|link| {
            let cluster = link.is_cluster();
            let buckets = if cluster { CLUSTER_BUCKETS } else { 1 };
            let mut usage = Usage::default();
            for bucket in 0..buckets {
                let k = self.keys_with(&self.prefix(None, bucket, cluster), "", cluster);
                let v = self
                    .scripts(cluster)
                    .usage
                    .key(&k.index)
                    .key(&k.sizes)
                    .key(&k.total)
                    .arg(&k.list_prefix)
                    .invoke(link.conn())?;
                let v = if cluster { split_signals(v).0 } else { v };
                let (identities, bytes): (usize, usize) = redis::from_redis_value(v)?;
                usage.identities += identities;
                usage.bytes += bytes;
            }
            Ok(usage)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plezi_test_support::redis::{RedisServer, Resp};

    /// A prune decided for a registration must not undo a later one: a signal that reached nobody
    /// while its server was resubscribing is pruned after the server registered again.
    #[test]
    fn a_prune_only_forgets_the_registration_it_was_decided_for() {
        let redis = RedisServer::start();
        let store = RedisStore::new(
            &redis.url(),
            &RedisTls::default(),
            "fg",
            Duration::from_secs(5),
            Duration::from_secs(1),
        )
        .unwrap();
        let server = ServerId::from_u64(0xfeed);
        let field = format!("s:{server}");
        let listed = || redis.int(&["HEXISTS", "fg:mbox-meta:ann", &field]) == 1;
        let registration = || match redis.query(&["HGET", "fg:mbox-meta:ann", &field]) {
            Ok(Resp::Bulk(value)) => value,
            other => panic!("no registration: {other:?}"),
        };
        let hour = Duration::from_secs(3600);
        store.register("ann", server, hour).unwrap();
        let first = registration();
        store.register("ann", server, hour).unwrap();
        store.forget("ann", server, &first).unwrap();
        assert!(listed(), "a stale prune removed a newer registration");
        let second = registration();
        assert_ne!(first, second);
        store.forget("ann", server, &second).unwrap();
        assert!(!listed(), "the prune of the current registration kept it");
    }
}
