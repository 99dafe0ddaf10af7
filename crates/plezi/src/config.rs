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

use plezi_messaging::BusConfig;

use crate::error::Error;

/// The application's configuration.
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
}

impl Default for Config {
    fn default() -> Config {
        Config {
            host: "127.0.0.1".to_owned(),
            port: 3000,
            threads: None,
            bus: BusConfig::default(),
        }
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
        Ok(config)
    }

    /// `host:port`, bracketing an IPv6 host.
    pub fn address(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
