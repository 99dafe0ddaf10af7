//! The Redis mailbox store: every operation is one Lua script, so concurrent servers never race.
//!
//! Keys per identity (`{app}` is the app name):
//! - `{app}:mbox:{identity}` — a list, the messages in stored form, oldest at the head;
//! - `{app}:mbox-meta:{identity}` — a hash: `life` (lifespan in ms) and one `s:{server id}` field per
//!   server holding live connections of the identity;
//! - `{app}:mbox-turn:{identity}` — the server whose drain turn it is (expires after `mailbox_claim_ttl`).
//!
//! The list and the hash expire after the lifespan; every operation renews them.

use std::time::Duration;

use parking_lot::Mutex;
use redis::Script;

use super::store::{Claimed, MailboxStore, Signals};
use crate::error::BusError;
use crate::uuid::ServerId;

/// Publishes ARGV[first..] (or one envelope) to every other live server; prunes servers nobody listens for.
const SIGNAL_OTHERS: &str = r#"
local function signal_others(meta, me, prefix, first, last)
  for _, f in ipairs(redis.call('HKEYS', meta)) do
    if string.sub(f, 1, 2) == 's:' and string.sub(f, 3) ~= me then
      local heard = 0
      for i = first, last do
        heard = redis.call('PUBLISH', prefix .. string.sub(f, 3), ARGV[i])
      end
      if first <= last and heard == 0 then redis.call('HDEL', meta, f) end
    end
  end
end
local function renew(list, meta, life)
  if life then
    redis.call('PEXPIRE', list, life)
    redis.call('PEXPIRE', meta, life)
  end
end
local function take(list, meta, turn, me, max, ttl)
  local owner = redis.call('GET', turn)
  if owner and owner ~= me then return false end
  local msgs = redis.call('LRANGE', list, 0, max - 1)
  if #msgs == 0 then
    if owner then redis.call('DEL', turn) end
  else
    redis.call('LTRIM', list, #msgs, -1)
    redis.call('SET', turn, me, 'PX', ttl)
  end
  renew(list, meta, tonumber(redis.call('HGET', meta, 'life')))
  return msgs
end
"#;

/// KEYS: list, meta. ARGV: message, default life ms, max messages, me, server channel prefix, drain envelope.
const NOTIFY: &str = r#"
local life = tonumber(redis.call('HGET', KEYS[2], 'life')) or tonumber(ARGV[2])
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('RPUSH', KEYS[1], ARGV[1])
local mine = 0
if redis.call('HEXISTS', KEYS[2], 's:' .. ARGV[4]) == 1 then mine = 1 end
signal_others(KEYS[2], ARGV[4], ARGV[5], 6, 6)
renew(KEYS[1], KEYS[2], life)
return mine
"#;

/// KEYS: list, meta. ARGV: me, life ms.
const REGISTER: &str = r#"
redis.call('HSET', KEYS[2], 's:' .. ARGV[1], '1', 'life', ARGV[2])
renew(KEYS[1], KEYS[2], ARGV[2])
return 1
"#;

/// KEYS: meta. ARGV: me.
const UNREGISTER: &str = r#"
redis.call('HDEL', KEYS[1], 's:' .. ARGV[1])
return 1
"#;

/// KEYS: list, meta, turn. ARGV: me, max, turn ttl ms.
const CLAIM: &str = r#"
return take(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), ARGV[3])
"#;

/// KEYS: list, meta, turn. ARGV: me, max, turn ttl ms, server channel prefix, forward envelopes...
const DELIVERED: &str = r#"
signal_others(KEYS[2], ARGV[1], ARGV[4], 5, #ARGV)
return take(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), ARGV[3])
"#;

/// KEYS: list, meta, turn. ARGV: me, server channel prefix, drain envelope, messages (oldest first)...
const GIVE_BACK: &str = r#"
for i = #ARGV, 4, -1 do redis.call('LPUSH', KEYS[1], ARGV[i]) end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
renew(KEYS[1], KEYS[2], tonumber(redis.call('HGET', KEYS[2], 'life')))
signal_others(KEYS[2], ARGV[1], ARGV[2], 3, 3)
return 1
"#;

struct Scripts {
    notify: Script,
    register: Script,
    unregister: Script,
    claim: Script,
    delivered: Script,
    give_back: Script,
}

pub(crate) struct RedisStore {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
    prefix: String,
    io_timeout: Duration,
    scripts: Scripts,
}

impl RedisStore {
    pub fn new(url: &str, app_name: &str, io_timeout: Duration) -> Result<RedisStore, BusError> {
        let client =
            redis::Client::open(url).map_err(|e| BusError::Config(format!("Redis URL: {e}")))?;
        let with_helpers = |body: &str| Script::new(&format!("{SIGNAL_OTHERS}\n{body}"));
        Ok(RedisStore {
            client,
            conn: Mutex::new(None),
            prefix: app_name.to_owned(),
            io_timeout,
            scripts: Scripts {
                notify: with_helpers(NOTIFY),
                register: with_helpers(REGISTER),
                unregister: Script::new(UNREGISTER),
                claim: with_helpers(CLAIM),
                delivered: with_helpers(DELIVERED),
                give_back: with_helpers(GIVE_BACK),
            },
        })
    }

    fn keys(&self, identity: &str) -> [String; 3] {
        [
            format!("{}:mbox:{identity}", self.prefix),
            format!("{}:mbox-meta:{identity}", self.prefix),
            format!("{}:mbox-turn:{identity}", self.prefix),
        ]
    }

    /// Runs `f` on the store's connection, connecting first if needed; a failed connection is dropped so
    /// the next call reconnects.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, BusError> {
        let mut slot = self.conn.lock();
        if slot.is_none() {
            let conn = self.client.get_connection_with_timeout(self.io_timeout)?;
            conn.set_read_timeout(Some(self.io_timeout))?;
            conn.set_write_timeout(Some(self.io_timeout))?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(BusError::Redis("no connection".into()));
        };
        let result = f(conn);
        if let Err(e) = &result
            && (e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || !redis::ConnectionLike::is_open(conn))
        {
            *slot = None;
        }
        result.map_err(BusError::from)
    }

    fn claimed(value: Option<Vec<Vec<u8>>>) -> Claimed {
        match value {
            None => Claimed::Busy,
            Some(list) => Claimed::Messages(list),
        }
    }
}

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl MailboxStore for RedisStore {
    fn notify(
        &self,
        identity: &str,
        message: &[u8],
        me: ServerId,
        default_lifespan: Duration,
        max_messages: usize,
        signals: &Signals<'_>,
    ) -> Result<bool, BusError> {
        let [list, meta, _] = self.keys(identity);
        let answer: i64 = self.with_conn(|c| {
            self.scripts
                .notify
                .key(&list)
                .key(&meta)
                .arg(message)
                .arg(ms(default_lifespan))
                .arg(max_messages)
                .arg(me.to_string())
                .arg(signals.server_channel_prefix)
                .arg(signals.drain)
                .invoke(c)
        })?;
        if answer < 0 {
            return Err(BusError::MailboxFull {
                identity: identity.to_owned(),
                limit: max_messages,
            });
        }
        Ok(answer == 1)
    }

    fn register(&self, identity: &str, me: ServerId, lifespan: Duration) -> Result<(), BusError> {
        let [list, meta, _] = self.keys(identity);
        self.with_conn(|c| {
            self.scripts
                .register
                .key(&list)
                .key(&meta)
                .arg(me.to_string())
                .arg(ms(lifespan))
                .invoke::<i64>(c)
        })?;
        Ok(())
    }

    fn unregister(&self, identity: &str, me: ServerId) -> Result<(), BusError> {
        let [_, meta, _] = self.keys(identity);
        self.with_conn(|c| {
            self.scripts
                .unregister
                .key(&meta)
                .arg(me.to_string())
                .invoke::<i64>(c)
        })?;
        Ok(())
    }

    fn claim(
        &self,
        identity: &str,
        me: ServerId,
        max: usize,
        turn_ttl: Duration,
    ) -> Result<Claimed, BusError> {
        let [list, meta, turn] = self.keys(identity);
        let v: Option<Vec<Vec<u8>>> = self.with_conn(|c| {
            self.scripts
                .claim
                .key(&list)
                .key(&meta)
                .key(&turn)
                .arg(me.to_string())
                .arg(max)
                .arg(ms(turn_ttl))
                .invoke(c)
        })?;
        Ok(Self::claimed(v))
    }

    fn delivered(
        &self,
        identity: &str,
        me: ServerId,
        forwards: &[Vec<u8>],
        max: usize,
        turn_ttl: Duration,
        signals: &Signals<'_>,
    ) -> Result<Claimed, BusError> {
        let [list, meta, turn] = self.keys(identity);
        let v: Option<Vec<Vec<u8>>> = self.with_conn(|c| {
            let mut inv = self.scripts.delivered.key(&list);
            inv.key(&meta)
                .key(&turn)
                .arg(me.to_string())
                .arg(max)
                .arg(ms(turn_ttl))
                .arg(signals.server_channel_prefix);
            for f in forwards {
                inv.arg(f.as_slice());
            }
            inv.invoke(c)
        })?;
        Ok(Self::claimed(v))
    }

    fn give_back(
        &self,
        identity: &str,
        me: ServerId,
        messages: &[Vec<u8>],
        signals: &Signals<'_>,
    ) -> Result<(), BusError> {
        let [list, meta, turn] = self.keys(identity);
        self.with_conn(|c| {
            let mut inv = self.scripts.give_back.key(&list);
            inv.key(&meta)
                .key(&turn)
                .arg(me.to_string())
                .arg(signals.server_channel_prefix)
                .arg(signals.drain);
            for m in messages {
                inv.arg(m.as_slice());
            }
            inv.invoke::<i64>(c)
        })?;
        Ok(())
    }
}
