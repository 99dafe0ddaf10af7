//! Server-side session data: where the data behind a session cookie lives.
//!
//! The dispatch layer signs the session id and keeps it in a cookie; the data (a JSON object, kept
//! here as its encoded bytes) lives in a [`SessionStore`]:
//!
//! - [`MemorySessionStore`]: this process only, bounded by [`SessionStoreConfig::max_sessions`]
//!   (the least recently used session is dropped when a new one would go over) and
//!   [`SessionStoreConfig::idle_expiry`] (a session not read or written for that long is gone).
//! - [`RedisSessionStore`]: shared by every server of the application; one key per session,
//!   `<app name>:session:<id>`, whose TTL is the idle expiry and is renewed on every read.
//!
//! ```
//! use plezi_messaging::{MemorySessionStore, SessionStore, SessionStoreConfig};
//! let store = MemorySessionStore::new(SessionStoreConfig::default());
//! store.save("abc", br#"{"user":"ann"}"#).unwrap();
//! assert_eq!(store.load("abc").unwrap().as_deref(), Some(&br#"{"user":"ann"}"#[..]));
//! store.remove("abc").unwrap();
//! assert_eq!(store.load("abc").unwrap(), None);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::RedisTls;
use crate::error::BusError;
use crate::redis::LazyConnection;

/// Limits of a session store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStoreConfig {
    /// Most sessions the in-memory store keeps; a new session beyond it drops the least recently
    /// used one. Default: 50,000 (with sessions of at most 4 KiB, about 200 MiB at worst).
    /// Not used by the Redis store (Redis has its own `maxmemory` policy).
    pub max_sessions: usize,
    /// A session neither read nor written for this long is gone (in memory: dropped at the next
    /// access; in Redis: the key's TTL). Default: 24 hours.
    pub idle_expiry: Duration,
}

impl SessionStoreConfig {
    /// Default for [`SessionStoreConfig::max_sessions`].
    pub const DEFAULT_MAX_SESSIONS: usize = 50_000;
    /// Default for [`SessionStoreConfig::idle_expiry`]: 24 hours.
    pub const DEFAULT_IDLE_EXPIRY: Duration = Duration::from_secs(24 * 3600);
}

impl Default for SessionStoreConfig {
    fn default() -> Self {
        SessionStoreConfig {
            max_sessions: Self::DEFAULT_MAX_SESSIONS,
            idle_expiry: Self::DEFAULT_IDLE_EXPIRY,
        }
    }
}

/// Where session data lives. Ids are opaque strings chosen (and signed) by the caller; data is
/// opaque bytes (the dispatch layer stores a JSON object).
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// The data of session `id`, or `None` if there is none (never created, removed or expired).
    /// A hit renews the session's idle expiry.
    fn load(&self, id: &str) -> Result<Option<Vec<u8>>, BusError>;
    /// Stores `data` as session `id` (created or replaced), with a fresh idle expiry.
    fn save(&self, id: &str, data: &[u8]) -> Result<(), BusError>;
    /// Forgets session `id` (nothing happens if there is none).
    fn remove(&self, id: &str) -> Result<(), BusError>;
}

struct Entry {
    data: Vec<u8>,
    /// Key of this entry in `Inner::order`.
    used: (Instant, u64),
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Last use → id, oldest first (the eviction order).
    order: BTreeMap<(Instant, u64), String>,
    seq: u64,
}

impl Inner {
    fn stamp(&mut self) -> (Instant, u64) {
        self.seq += 1;
        (Instant::now(), self.seq)
    }

    fn drop_entry(&mut self, id: &str) {
        if let Some(e) = self.map.remove(id) {
            self.order.remove(&e.used);
        }
    }

    /// Drops expired sessions (oldest first), then the oldest ones while more than `keep` remain.
    fn trim(&mut self, keep: usize, idle: Duration) {
        while let Some(entry) = self.order.first_entry() {
            let (at, _) = *entry.key();
            if self.map.len() <= keep && at.elapsed() < idle {
                break;
            }
            let id = entry.remove();
            self.map.remove(&id);
        }
    }
}

/// Sessions in this process's memory, bounded in count and idle time ([`SessionStoreConfig`]).
pub struct MemorySessionStore {
    config: SessionStoreConfig,
    inner: Mutex<Inner>,
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("config", &self.config)
            .field("sessions", &self.len())
            .finish()
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        MemorySessionStore::new(SessionStoreConfig::default())
    }
}

impl MemorySessionStore {
    /// An empty store with these limits (a `max_sessions` of 0 counts as 1).
    pub fn new(config: SessionStoreConfig) -> MemorySessionStore {
        MemorySessionStore {
            config: SessionStoreConfig {
                max_sessions: config.max_sessions.max(1),
                ..config
            },
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Sessions held now (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemorySessionStore {
    fn load(&self, id: &str) -> Result<Option<Vec<u8>>, BusError> {
        let mut inner = self.inner.lock();
        let Some(old) = inner.map.get(id).map(|e| e.used) else {
            return Ok(None);
        };
        if old.0.elapsed() >= self.config.idle_expiry {
            inner.drop_entry(id);
            return Ok(None);
        }
        let used = inner.stamp();
        inner.order.remove(&old);
        inner.order.insert(used, id.to_owned());
        let Some(entry) = inner.map.get_mut(id) else {
            return Ok(None);
        };
        entry.used = used;
        Ok(Some(entry.data.clone()))
    }

    fn save(&self, id: &str, data: &[u8]) -> Result<(), BusError> {
        let mut inner = self.inner.lock();
        inner.drop_entry(id);
        inner.trim(self.config.max_sessions - 1, self.config.idle_expiry);
        let used = inner.stamp();
        inner.order.insert(used, id.to_owned());
        inner.map.insert(
            id.to_owned(),
            Entry {
                data: data.to_vec(),
                used,
            },
        );
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<(), BusError> {
        self.inner.lock().drop_entry(id);
        Ok(())
    }
}

/// Sessions in Redis, shared by every server of one application: key
/// `<app name>:session:<id>`, TTL = the idle expiry, renewed by every read (`GETEX`, Redis 6.2
/// or later). Calls are synchronous, on one connection with short I/O timeouts: a session read
/// costs the caller one Redis round trip.
pub struct RedisSessionStore {
    conn: LazyConnection,
    prefix: String,
    idle_expiry: Duration,
}

impl fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .field("idle_expiry", &self.idle_expiry)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// How long one Redis call may take before it fails (and the session reads as absent).
    pub const IO_TIMEOUT: Duration = Duration::from_millis(500);

    /// A store on the Redis at `url` (`redis://host:port/db`, or `rediss://` trusting the system
    /// roots; or several nodes of one Redis Cluster, separated by commas), keys prefixed with
    /// `app_name`. Connects lazily, at the first call.
    pub fn new(
        url: &str,
        app_name: &str,
        config: SessionStoreConfig,
    ) -> Result<RedisSessionStore, BusError> {
        RedisSessionStore::with_tls(url, &RedisTls::default(), app_name, config)
    }

    /// Like [`RedisSessionStore::new`] with TLS settings for a `rediss://` URL (the bus's
    /// [`crate::BusConfig::redis_tls`]). The files are read and checked here: a missing or invalid
    /// file, or TLS settings with a `redis://` URL, fail with [`BusError::Tls`] or
    /// [`BusError::Config`].
    pub fn with_tls(
        url: &str,
        tls: &RedisTls,
        app_name: &str,
        config: SessionStoreConfig,
    ) -> Result<RedisSessionStore, BusError> {
        Ok(RedisSessionStore {
            conn: LazyConnection::new(url, tls, Self::IO_TIMEOUT)?,
            prefix: format!("{app_name}:session:"),
            idle_expiry: config.idle_expiry,
        })
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    fn ttl_ms(&self) -> u64 {
        (self.idle_expiry.as_millis() as u64).max(1)
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut dyn redis::ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, BusError> {
        self.conn.with(|link| f(link.conn()))
    }
}

impl SessionStore for RedisSessionStore {
    fn load(&self, id: &str) -> Result<Option<Vec<u8>>, BusError> {
        let key = self.key(id);
        let ttl = self.ttl_ms();
        self.with_conn(|c| {
            redis::cmd("GETEX")
                .arg(&key)
                .arg("PX")
                .arg(ttl)
                .query::<Option<Vec<u8>>>(c)
        })
    }

    fn save(&self, id: &str, data: &[u8]) -> Result<(), BusError> {
        let key = self.key(id);
        let ttl = self.ttl_ms();
        self.with_conn(|c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(data)
                .arg("PX")
                .arg(ttl)
                .query::<()>(c)
        })
    }

    fn remove(&self, id: &str) -> Result<(), BusError> {
        let key = self.key(id);
        self.with_conn(|c| redis::cmd("DEL").arg(&key).query::<()>(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let s = MemorySessionStore::default();
        assert_eq!(s.load("a").unwrap(), None);
        s.save("a", b"1").unwrap();
        s.save("a", b"2").unwrap();
        assert_eq!(s.load("a").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.len(), 1);
        s.remove("a").unwrap();
        s.remove("a").unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn the_count_is_capped_least_recently_used_first() {
        let s = MemorySessionStore::new(SessionStoreConfig {
            max_sessions: 3,
            ..SessionStoreConfig::default()
        });
        for id in ["a", "b", "c"] {
            s.save(id, id.as_bytes()).unwrap();
        }
        assert!(s.load("a").unwrap().is_some()); // a is now the most recent
        s.save("d", b"d").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.load("b").unwrap(), None, "the least recently used went");
        for id in ["a", "c", "d"] {
            assert!(s.load(id).unwrap().is_some(), "{id}");
        }
        for i in 0..1000 {
            s.save(&format!("x{i}"), b"x").unwrap();
        }
        assert_eq!(s.len(), 3);
        let inner = s.inner.lock();
        assert_eq!(inner.order.len(), inner.map.len());
    }

    #[test]
    fn idle_sessions_expire() {
        let s = MemorySessionStore::new(SessionStoreConfig {
            idle_expiry: Duration::ZERO,
            ..SessionStoreConfig::default()
        });
        s.save("a", b"1").unwrap();
        assert_eq!(s.load("a").unwrap(), None);
        assert!(s.is_empty());
        s.save("b", b"1").unwrap();
        s.save("c", b"1").unwrap();
        assert_eq!(
            s.len(),
            1,
            "expired sessions are dropped when a new one is saved"
        );
    }
}
