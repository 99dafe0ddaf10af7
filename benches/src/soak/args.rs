//! `plezi-load soak` options, with every default in one place.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::Server;

/// Usage text.
pub const USAGE: &str = "\
plezi-load soak: the chat example (examples/chat.rs) under churn, chat, notifications and abuse at once.

usage:
  plezi-load soak --url http://127.0.0.1:3000 --server-pid PID [options]

options (defaults in brackets):
  --minutes 30            length of the run (fractions allowed); a drain follows
  --connections 5000      legitimate WebSocket clients on /chat, closing and reconnecting all the time
  --users 500             of them logged in (POST /login, then the session cookie), offline between connections
  --notifiers 10          logged-in senders of numbered notifications to random users
  --notify-rate 40        legitimate notifications per second, all notifiers together
  --chat-rate 2           chat messages per second, all clients together (each reaches every other client)
  --lifetime 5-60         seconds a connection stays open (random in the range)
  --offline 1-10          seconds a logged-in user stays offline between connections
  --no-abuse              legitimate traffic only
  --flood 2000            idle connections opened at once by the connection flood (every 30 s, held 10 s)
  --trickle 200           connections trickling a body one byte every 5 s
  --drain 60              seconds after the run for offline users to collect their mail
  --sources 8             spread client addresses over 127.0.0.2... (ephemeral ports)
  --max-p99-ms 50         the GET / p99 the run must stay within (each minute)

Prints a progress line a minute and a report at the end; exits 1 when a check failed (RSS not flat
after warm-up, a notification lost or duplicated, GET / p99 over the limit).";

/// The options.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// The server.
    pub target: Server,
    /// Its process, for RSS.
    pub server_pid: Option<u32>,
    /// Run length in minutes.
    pub minutes: f64,
    /// Legitimate connections.
    pub connections: usize,
    /// Logged-in users among them.
    pub users: usize,
    /// Notification senders.
    pub notifiers: usize,
    /// Notifications per second.
    pub notify_rate: f64,
    /// Chat messages per second.
    pub chat_rate: f64,
    /// Connection lifetime range.
    pub lifetime: (Duration, Duration),
    /// Offline range of a user.
    pub offline: (Duration, Duration),
    /// Whether the abusive clients run.
    pub abuse: bool,
    /// Idle connections per flood.
    pub flood: usize,
    /// Trickling connections.
    pub trickle: usize,
    /// Drain time.
    pub drain: Duration,
    /// Source addresses.
    pub sources: usize,
    /// GET / p99 limit.
    pub max_p99: Duration,
}

fn range(flag: &str, v: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = v
        .split_once('-')
        .ok_or_else(|| format!("{flag} {v}: expected LOW-HIGH seconds"))?;
    let a: f64 = a.parse().map_err(|_| format!("{flag} {v}: bad number"))?;
    let b: f64 = b.parse().map_err(|_| format!("{flag} {v}: bad number"))?;
    if !(a >= 0.0 && b >= a) {
        return Err(format!("{flag} {v}: LOW must be <= HIGH"));
    }
    Ok((Duration::from_secs_f64(a), Duration::from_secs_f64(b)))
}

fn server(url: &str) -> Result<Server, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or_else(|| format!("--url {url}: expected http://HOST:PORT"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("--url {url}: a port is needed"))?;
    let port: u16 = port.parse().map_err(|_| format!("--url {url}: bad port"))?;
    let ip = if host == "localhost" {
        Ipv4Addr::LOCALHOST
    } else {
        host.parse::<Ipv4Addr>()
            .map_err(|_| format!("--url {url}: the host must be an IPv4 address or localhost"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "--url {url}: the soak only drives a server on this machine (127.0.0.0/8)"
        ));
    }
    Ok(Server {
        addr: SocketAddrV4::new(ip, port),
        host: host.to_owned(),
    })
}

/// Parses the arguments after `soak`; `None` for `--help`.
pub fn parse(args: &[String]) -> Result<Option<SoakConfig>, String> {
    let mut cfg = SoakConfig {
        target: server("http://127.0.0.1:3000")?,
        server_pid: None,
        minutes: 30.0,
        connections: 5000,
        users: 500,
        notifiers: 10,
        notify_rate: 40.0,
        chat_rate: 2.0,
        lifetime: (Duration::from_secs(5), Duration::from_secs(60)),
        offline: (Duration::from_secs(1), Duration::from_secs(10)),
        abuse: true,
        flood: 2000,
        trickle: 200,
        drain: Duration::from_secs(60),
        sources: 8,
        max_p99: Duration::from_millis(50),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if matches!(flag.as_str(), "-h" | "--help") {
            return Ok(None);
        }
        if flag == "--no-abuse" {
            cfg.abuse = false;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        let num = |what: &str| -> Result<f64, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{what} {value}: expected a number >= 0"))
        };
        match flag.as_str() {
            "--url" => cfg.target = server(value)?,
            "--server-pid" => {
                cfg.server_pid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--server-pid {value}: not a process id"))?,
                )
            }
            "--minutes" => cfg.minutes = num(flag)?,
            "--connections" => cfg.connections = num(flag)? as usize,
            "--users" => cfg.users = num(flag)? as usize,
            "--notifiers" => cfg.notifiers = num(flag)? as usize,
            "--notify-rate" => cfg.notify_rate = num(flag)?,
            "--chat-rate" => cfg.chat_rate = num(flag)?,
            "--lifetime" => cfg.lifetime = range(flag, value)?,
            "--offline" => cfg.offline = range(flag, value)?,
            "--flood" => cfg.flood = num(flag)? as usize,
            "--trickle" => cfg.trickle = num(flag)? as usize,
            "--drain" => cfg.drain = Duration::from_secs_f64(num(flag)?),
            "--sources" => cfg.sources = (num(flag)? as usize).max(1),
            "--max-p99-ms" => cfg.max_p99 = Duration::from_secs_f64(num(flag)? / 1000.0),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if cfg.users > cfg.connections {
        return Err(format!(
            "--users {} is more than --connections {}",
            cfg.users, cfg.connections
        ));
    }
    if cfg.minutes <= 0.0 {
        return Err("--minutes must be more than 0".into());
    }
    Ok(Some(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let cfg = parse(&[]).expect("ok").expect("a config");
        assert_eq!(cfg.connections, 5000);
        assert_eq!(cfg.minutes, 30.0);
        let cfg = parse(&args(
            "--url http://127.0.0.1:4000 --minutes 2.5 --connections 100 --users 10 --no-abuse --lifetime 1-2",
        ))
        .expect("ok")
        .expect("a config");
        assert_eq!(cfg.target.addr.port(), 4000);
        assert_eq!(cfg.minutes, 2.5);
        assert!(!cfg.abuse);
        assert_eq!(cfg.lifetime.1, Duration::from_secs(2));
    }

    #[test]
    fn refuses_other_hosts_and_bad_values() {
        assert!(parse(&args("--url http://10.0.0.1:3000")).is_err());
        assert!(parse(&args("--users 10 --connections 5")).is_err());
        assert!(parse(&args("--lifetime 5")).is_err());
        assert!(parse(&args("--bogus 1")).is_err());
        assert!(parse(&args("--help")).expect("ok").is_none());
    }
}
