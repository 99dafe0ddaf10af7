//! [`Config`]: where the application listens and how it reaches other servers, from the
//! environment. Every default is in [`Config::default`].
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HOST` | address to listen on | `127.0.0.1` |
//! | `PORT` | port to listen on (`0`: any free port) | `3000` |
//! | `PL_THREADS` | event-loop threads | the available cores |
//! | `PL_REDIS_URL`, else `REDIS_URL` | Redis for fan-out across servers (`redis://[user:pass@]host:port/db`) | unset: in-process |
//! | `PL_APP_NAME` | prefix of the Redis channels and keys (servers of one app must agree) | the executable's name |
//! | `PL_ENV` | `production` makes a missing or short `PL_SESSION_KEY` a start-up error | unset: development |
//! | `PL_SESSION_KEY` | the secret that signs session cookies, 32 bytes or more | unset: a random key per process (one warning) |
//! | `PL_SESSION_IDLE` | seconds a session may go unused before it is forgotten | `86400` (24 hours) |
//! | `PL_SESSION_MAX` | most sessions the in-memory store keeps (least recently used dropped) | `50000` |
//! | `PL_PUBLIC_ORIGIN` | the origin users see (behind a proxy); `https://…` makes cookies `Secure` | unset |
//! | `PL_ALLOWED_ORIGINS` | other origins allowed to open WebSockets and send non-safe requests (comma-separated, or `*`) | unset: same-origin only |
//! | `PL_DRAIN_NOTICE_S` | on SIGTERM, seconds of serving as not-ready before the server stops accepting | `5` |
//! | `PL_DRAIN_S` | seconds over which the WebSocket closes of a drain are spread | `10` |
//! | `PL_WS_DEFLATE` | WebSocket permessage-deflate: `off`, or the smallest message (bytes) to compress | on, `256` |

use std::time::Duration;

use plezi_dispatch::SessionKey;
use plezi_messaging::{BusConfig, SessionStoreConfig};

use crate::error::Error;

/// The application's configuration.
///
/// ```no_run
/// use plezi::{App, Config};
/// let mut config = Config::from_env()?; // the defaults, then HOST, PORT, PL_THREADS...
/// config.threads = Some(2);
/// let app = App::with_config(config);
/// # Ok::<(), plezi::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`HOST`). Default `127.0.0.1`.
    pub host: String,
    /// Port to listen on (`PORT`). Default 3000.
    pub port: u16,
    /// Event-loop threads (`PL_THREADS`). Default: `None`, the available cores.
    pub threads: Option<usize>,
    /// The bus: in-process, or Redis (`PL_REDIS_URL`/`REDIS_URL`), app name (`PL_APP_NAME`).
    pub bus: BusConfig,
    /// Production mode (`PL_ENV=production`): sessions need a configured key. Default: false.
    pub production: bool,
    /// The key that signs session cookies (`PL_SESSION_KEY`, at least 32 bytes). Default:
    /// `None`: in production a start-up error, otherwise a random key per process and a warning.
    pub session_key: Option<SessionKey>,
    /// Session store limits (`PL_SESSION_IDLE`, `PL_SESSION_MAX`); sessions live in Redis when
    /// the bus does. Default: `SessionStoreConfig::default()` (24 h idle, 50,000 sessions).
    pub sessions: SessionStoreConfig,
    /// The origin users see, e.g. `https://chat.example` behind a TLS proxy
    /// (`PL_PUBLIC_ORIGIN`). When it is https, cookies are `Secure` and the session cookie is
    /// named `__Host-plezi_session`. Default: `None`.
    pub public_origin: Option<String>,
    /// Other origins whose pages may open WebSockets and send non-safe requests
    /// (`PL_ALLOWED_ORIGINS`: comma-separated origins, or `*`). Default: `None`, same-origin only.
    pub allowed_origins: Option<String>,
    /// On SIGTERM, how long the server keeps serving as not-ready before it stops accepting
    /// (`PL_DRAIN_NOTICE_S`, whole seconds). Default: `None`, `ServerConfig::drain_notice` (5 s).
    pub drain_notice: Option<Duration>,
    /// The window over which a drain spreads its WebSocket closes (`PL_DRAIN_S`, whole
    /// seconds). Default: `None`, `ServerConfig::drain_window` (10 s).
    pub drain_window: Option<Duration>,
    /// WebSocket permessage-deflate (`PL_WS_DEFLATE`: `off`, or the smallest message in bytes that
    /// is compressed): `Some(None)` never negotiates it, `Some(Some(n))` compresses messages of `n`
    /// bytes or more. Default: `None`, `ServerConfig::ws_deflate_threshold` (on, 256 bytes).
    pub ws_deflate: Option<Option<usize>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            host: "127.0.0.1".to_owned(),
            port: 3000,
            threads: None,
            bus: BusConfig::default(),
            production: false,
            session_key: None,
            sessions: SessionStoreConfig::default(),
            public_origin: None,
            allowed_origins: None,
            drain_notice: None,
            drain_window: None,
            ws_deflate: None,
        }
    }
}

/// A variable holding whole seconds (0 or more).
fn seconds(name: &'static str) -> Result<Option<Duration>, Error> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(secs) => Ok(Some(Duration::from_secs(secs))),
        Err(_) => Err(Error::Config {
            variable: name,
            value,
            expected: "a number of seconds, 0 or more",
        }),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// The defaults, overridden by the environment variables above. A variable that does not
    /// parse is an error naming it.
    ///
    /// ```no_run
    /// let config = plezi::Config::from_env()?; // fails naming a variable that does not parse
    /// println!("listening on {}", config.address());
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn from_env() -> Result<Config, Error> {
        let mut config = Config {
            bus: BusConfig::from_env(),
            ..Config::default()
        };
        if let Some(host) = var("HOST") {
            config.host = host;
        }
        if let Some(port) = var("PORT") {
            config.port = port.parse().map_err(|_| Error::Config {
                variable: "PORT",
                value: port.clone(),
                expected: "a port number from 0 to 65535",
            })?;
        }
        if let Some(threads) = var("PL_THREADS") {
            let n: usize = threads.parse().map_err(|_| Error::Config {
                variable: "PL_THREADS",
                value: threads.clone(),
                expected: "a number of threads, 1 or more",
            })?;
            if n == 0 {
                return Err(Error::Config {
                    variable: "PL_THREADS",
                    value: threads,
                    expected: "a number of threads, 1 or more",
                });
            }
            config.threads = Some(n);
        }
        config.production = var("PL_ENV").is_some_and(|v| v.eq_ignore_ascii_case("production"));
        if let Some(key) = std::env::var("PL_SESSION_KEY")
            .ok()
            .filter(|k| !k.is_empty())
        {
            match SessionKey::new(key.as_bytes()) {
                Ok(key) => config.session_key = Some(key),
                Err(e) if config.production => {
                    return Err(Error::Session(format!("PL_SESSION_KEY: {e}")));
                }
                Err(e) => log::warn!(
                    "plezi: PL_SESSION_KEY ignored ({e}); sessions use a random key until it is fixed"
                ),
            }
        }
        if let Some(idle) = var("PL_SESSION_IDLE") {
            let secs: u64 = idle.parse().ok().filter(|s| *s > 0).ok_or(Error::Config {
                variable: "PL_SESSION_IDLE",
                value: idle.clone(),
                expected: "a number of seconds, 1 or more",
            })?;
            config.sessions.idle_expiry = Duration::from_secs(secs);
        }
        if let Some(max) = var("PL_SESSION_MAX") {
            config.sessions.max_sessions =
                max.parse().ok().filter(|n| *n > 0).ok_or(Error::Config {
                    variable: "PL_SESSION_MAX",
                    value: max.clone(),
                    expected: "a number of sessions, 1 or more",
                })?;
        }
        config.public_origin = var("PL_PUBLIC_ORIGIN");
        config.allowed_origins = var("PL_ALLOWED_ORIGINS");
        config.drain_notice = seconds("PL_DRAIN_NOTICE_S")?;
        config.drain_window = seconds("PL_DRAIN_S")?;
        if let Some(value) = var("PL_WS_DEFLATE") {
            config.ws_deflate = Some(if value.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(value.parse().map_err(|_| Error::Config {
                    variable: "PL_WS_DEFLATE",
                    value: value.clone(),
                    expected: "off, or the smallest message in bytes to compress (0 or more)",
                })?)
            });
        }
        Ok(config)
    }

    /// Whether cookies default to `Secure`: the public origin is https.
    ///
    /// ```
    /// let config = plezi::Config {
    ///     public_origin: Some("https://chat.example".into()),
    ///     ..plezi::Config::default()
    /// };
    /// assert!(config.secure_cookies());
    /// assert!(!plezi::Config::default().secure_cookies());
    /// ```
    pub fn secure_cookies(&self) -> bool {
        self.public_origin.as_deref().is_some_and(|o| {
            o.get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        })
    }

    /// The server's origin policy: `PL_ALLOWED_ORIGINS` and `PL_PUBLIC_ORIGIN`.
    ///
    /// ```
    /// let config = plezi::Config {
    ///     allowed_origins: Some("https://app.example, https://admin.example".into()),
    ///     ..plezi::Config::default()
    /// };
    /// let policy = config.origin_policy()?; // what the server checks `Origin` against
    /// # drop(policy);
    /// # Ok::<(), plezi::Error>(())
    /// ```
    pub fn origin_policy(&self) -> Result<plezi_server::OriginPolicy, Error> {
        let mut policy = match &self.allowed_origins {
            Some(list) => {
                plezi_server::OriginPolicy::from_list(list).map_err(|_| Error::Config {
                    variable: "PL_ALLOWED_ORIGINS",
                    value: list.clone(),
                    expected: "comma-separated origins such as https://app.example, or *",
                })?
            }
            None => plezi_server::OriginPolicy::default(),
        };
        if let Some(public) = &self.public_origin {
            let origin = plezi_server::Origin::parse(public).map_err(|_| Error::Config {
                variable: "PL_PUBLIC_ORIGIN",
                value: public.clone(),
                expected: "an origin such as https://chat.example",
            })?;
            policy = policy.public_origin(origin);
        }
        Ok(policy)
    }

    /// `host:port`, bracketing an IPv6 host.
    ///
    /// ```
    /// let config = plezi::Config { host: "::1".into(), port: 8080, ..plezi::Config::default() };
    /// assert_eq!(config.address(), "[::1]:8080");
    /// ```
    pub fn address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
