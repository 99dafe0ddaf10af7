//! The bus configuration: one struct, every default in [`BusConfig::default`].

use std::path::PathBuf;
use std::time::Duration;

/// The default mailbox lifespan: 21 days (1,814,400 s), as in the original Plezi.
pub const DEFAULT_MAILBOX_LIFESPAN: Duration = Duration::from_secs(21 * 24 * 3600);

/// The longest identity (user id) a mailbox accepts, in bytes: `register_as` and `notify` refuse longer
/// ones with [`crate::BusError::IdentityTooLong`] (an identity is a key, not a payload).
pub const MAX_IDENTITY_BYTES: usize = 1024;

/// A token-bucket rate: `burst` calls at once, then `per_second` on average.
///
/// ```
/// use plezi_messaging::RateLimit;
/// let r = RateLimit::default();
/// assert_eq!((r.per_second, r.burst), (20.0, 100));
/// ```
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct RateLimit {
    /// Calls per second, on average (the bucket refills at this rate). Default: 20.
    pub per_second: f64,
    /// Calls allowed at once (the bucket's size). Default: 100.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 20 per second with bursts of 100: far above what a person types or a page's script sends, far
    /// below what a flood needs.
    fn default() -> RateLimit {
        RateLimit {
            per_second: 20.0,
            burst: 100,
        }
    }
}

/// Which engine carries messages between servers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Engine {
    /// Everything stays in this process (the default). Mailboxes live in memory and are lost at exit.
    InProcess,
    /// Fan-out through Redis pub/sub; mailboxes in Redis.
    Redis {
        /// `redis://[user:pass@]host:port/db`, or `rediss://` for TLS (see [`BusConfig::redis_tls`]);
        /// for a Redis Cluster, any one node's URL or several separated by commas (the server says
        /// whether it is a cluster).
        url: String,
    },
}

/// TLS client settings for a `rediss://` URL: whom to trust and who this client is. Every file is PEM.
///
/// The server's certificate is always verified, for the host name or IP address in the URL: against
/// `ca_file` when set, else against the system's root certificates. A `redis://` URL with any of these
/// set is refused (the settings would be silently ignored).
///
/// ```
/// use plezi_messaging::RedisTls;
/// let tls = RedisTls { ca_file: Some("/etc/plezi/redis-ca.pem".into()), ..RedisTls::default() };
/// assert!(tls.is_set());
/// assert!(!RedisTls::default().is_set());
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RedisTls {
    /// The CA certificate(s) the server's certificate must chain to, instead of the system roots
    /// (`PL_REDIS_CA_FILE`). Default: none (the system roots).
    pub ca_file: Option<PathBuf>,
    /// This client's certificate chain, for a Redis that requires client certificates
    /// (`tls-auth-clients yes`; `PL_REDIS_CERT_FILE`). Needs `key_file`. Default: none.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (`PL_REDIS_KEY_FILE`). Default: none.
    pub key_file: Option<PathBuf>,
}

impl RedisTls {
    /// Whether any TLS setting is given.
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// The settings from `PL_REDIS_CA_FILE`, `PL_REDIS_CERT_FILE` and `PL_REDIS_KEY_FILE` (unset or
    /// empty: none).
    pub fn from_env() -> RedisTls {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        RedisTls {
            ca_file: path("PL_REDIS_CA_FILE"),
            cert_file: path("PL_REDIS_CERT_FILE"),
            key_file: path("PL_REDIS_KEY_FILE"),
        }
    }
}

/// Configuration of a [`crate::Bus`].
///
/// ```
/// use plezi_messaging::{BusConfig, Engine};
/// let config = BusConfig { app_name: "chat".into(), ..BusConfig::default() };
/// assert_eq!(config.engine, Engine::InProcess);
/// assert_eq!(config.mailbox_lifespan.as_secs(), 1_814_400);
/// ```
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// The engine. Default: [`Engine::InProcess`]; [`BusConfig::from_env`] picks Redis when a URL is set.
    pub engine: Engine,
    /// TLS settings for a `rediss://` URL (used by the bus, the mailbox store and the Redis session
    /// store). Default: none (a `rediss://` URL then trusts the system roots and sends no client
    /// certificate); [`BusConfig::from_env`] reads them from `PL_REDIS_CA_FILE`, `PL_REDIS_CERT_FILE`
    /// and `PL_REDIS_KEY_FILE`.
    pub redis_tls: RedisTls,
    /// Prefix of every Redis channel and key (`PL_APP_NAME`). Default: the executable's file name.
    pub app_name: String,
    /// Default lifespan of an identity's mailbox when no registration set one. Default: 21 days.
    pub mailbox_lifespan: Duration,
    /// Most messages one mailbox holds; `notify` beyond it fails with [`crate::BusError::MailboxFull`].
    /// Default: 10,000.
    pub mailbox_max_messages: usize,
    /// Most bytes one mailbox holds (each message counts its stored size plus 64 bytes of bookkeeping);
    /// `notify` beyond it fails with [`crate::BusError::MailboxFull`]. Default: 1 MiB (as Socket.IO's
    /// `maxHttpBufferSize`: one large notification or thousands of small ones).
    pub mailbox_max_bytes: usize,
    /// Most identities with stored messages in the whole store (memory or Redis); a `notify` that would
    /// add one more fails with [`crate::BusError::StoreFull`]. Default: 100,000.
    pub mailbox_store_max_identities: usize,
    /// Most bytes in the whole store: messages (stored size + 64 bytes each) and mailboxes (identity +
    /// 256 bytes each); a `notify` beyond it fails with [`crate::BusError::StoreFull`]. Default: 64 MiB,
    /// which keeps the in-memory store's real footprint near 100 MiB at worst.
    pub mailbox_store_max_bytes: usize,
    /// Bytes of notifications that may wait for the Redis store (each counts its stored size, its
    /// identity and 64 bytes); beyond it `notify` fails with [`crate::BusError::NotifyQueueFull`].
    /// Default: 16 MiB.
    pub notify_queue_max_bytes: usize,
    /// How often one WebSocket connection may call `notify` (and, over HTTP, one peer address: an IPv4
    /// address or an IPv6 /64); over it the client gets `err` 429. `None`: no limit. Used by the dispatch
    /// layer. Default: `Some(RateLimit::default())`, 20 per second with bursts of 100.
    pub notify_rate: Option<RateLimit>,
    /// Most peer addresses whose HTTP notify rate is tracked at once (the map is bounded; when full, idle
    /// entries go first). Default: 10,000.
    pub notify_rate_peers: usize,
    /// Most messages handed to the sink in one mailbox claim. Default: 256.
    pub mailbox_claim_batch: usize,
    /// How long one server may hold an identity's drain turn before another may take it. Default: 30 s.
    pub mailbox_claim_ttl: Duration,
    /// How long a connection whose client acknowledges its mailbox messages may leave a batch
    /// unacknowledged; past it the dispatch layer closes the connection (1008) and the batch goes to the
    /// identity's next connection. Default: 10 s.
    pub mailbox_ack_timeout: Duration,
    /// Publishes that may wait for Redis (queued while it is down); beyond this `publish` fails with
    /// [`crate::BusError::QueueFull`]. Default: 65,536.
    pub publish_queue_capacity: usize,
    /// Most publishes written to Redis in one pipelined round trip. Default: 1,024.
    pub publish_batch: usize,
    /// Largest envelope accepted from Redis; bigger ones are dropped with a log line. Default: 4 MiB.
    pub max_envelope_bytes: usize,
    /// First reconnect delay; doubles per failed attempt (with jitter) up to `reconnect_max`. Default: 50 ms.
    pub reconnect_min: Duration,
    /// Cap of the reconnect delay. Default: 5 s.
    pub reconnect_max: Duration,
    /// An idle Redis connection is PINGed this often; no answer within another interval means it is dead.
    /// Default: 2 s.
    pub health_interval: Duration,
    /// TCP connect timeout, and the longest wait for a Redis reply. Default: 3 s.
    pub io_timeout: Duration,
    /// With replicas (a Redis Cluster, or one Redis with replicas), how long a stored notification
    /// waits for a replica to confirm it (`WAIT 1`); with none in time, `notify` fails with
    /// [`crate::BusError::NotReplicated`]. A master without replicas is not waited for. Default: 1 s.
    pub replica_ack_timeout: Duration,
    /// After Redis came back, how long the publisher waits for the other servers to resubscribe before it
    /// flushes what was queued (it waits until as many subscribers as before the outage are back).
    /// Default: 2 s.
    pub rejoin_grace: Duration,
    /// How long this server stays subscribed to a controller type's, a named channel's, a pattern's or
    /// an identity's Redis channel after its last local member left, so members that come and go do not
    /// make it subscribe and unsubscribe over and over. Default: 30 s.
    pub unsubscribe_grace: Duration,
    /// The longest a join (a controller connection's open, `subscribe`, `psubscribe`, `register_as`)
    /// waits for Redis to confirm a subscription this server did not have yet; after it the join
    /// completes anyway, and the subscription is confirmed later. Default: 1 s.
    pub join_timeout: Duration,
}

impl Default for BusConfig {
    fn default() -> BusConfig {
        BusConfig {
            engine: Engine::InProcess,
            redis_tls: RedisTls::default(),
            app_name: default_app_name(),
            mailbox_lifespan: DEFAULT_MAILBOX_LIFESPAN,
            mailbox_max_messages: 10_000,
            mailbox_max_bytes: 1 << 20,
            mailbox_store_max_identities: 100_000,
            mailbox_store_max_bytes: 64 << 20,
            notify_queue_max_bytes: 16 << 20,
            notify_rate: Some(RateLimit::default()),
            notify_rate_peers: 10_000,
            mailbox_claim_batch: 256,
            mailbox_claim_ttl: Duration::from_secs(30),
            mailbox_ack_timeout: Duration::from_secs(10),
            publish_queue_capacity: 65_536,
            publish_batch: 1_024,
            max_envelope_bytes: 4 << 20,
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            health_interval: Duration::from_secs(2),
            io_timeout: Duration::from_secs(3),
            rejoin_grace: Duration::from_secs(2),
            replica_ack_timeout: Duration::from_secs(1),
            unsubscribe_grace: Duration::from_secs(30),
            join_timeout: Duration::from_secs(1),
        }
    }
}

impl BusConfig {
    /// The default configuration with the engine and app name taken from the environment:
    /// `PL_REDIS_URL`, else `REDIS_URL` (unset or empty: in-process), the TLS files
    /// ([`RedisTls::from_env`]) and `PL_APP_NAME`.
    pub fn from_env() -> BusConfig {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = BusConfig::default();
        if let Some(url) = var("PL_REDIS_URL").or_else(|| var("REDIS_URL")) {
            config.engine = Engine::Redis {
                url: url.trim().to_owned(),
            };
        }
        config.redis_tls = RedisTls::from_env();
        if let Some(name) = var("PL_APP_NAME") {
            config.app_name = name.trim().to_owned();
        }
        config
    }

    /// The default configuration with the Redis engine at `url`.
    pub fn redis(url: impl Into<String>) -> BusConfig {
        BusConfig {
            engine: Engine::Redis { url: url.into() },
            ..BusConfig::default()
        }
    }
}

fn default_app_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "plezi".to_owned())
}
