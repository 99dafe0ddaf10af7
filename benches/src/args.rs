//! Command-line options, with every default in one place.

use std::time::Duration;

use crate::net::Target;
use crate::shootout::MIN_PAYLOAD;

/// Usage text.
pub const USAGE: &str = "\
plezi-load: drives a websocket-shootout server (text JSON at /ws) with many WebSocket clients.

usage:
  plezi-load broadcast [--clients 1000] [--senders 1] [--in-flight 1] [--payload 64] [--duration 10]
                       [--warmup 2] [--sample-every 16] [--batch-us 100] [--listener-read-ms 10] [COMMON]
  plezi-load echo      [--clients 500] [--payload 64] [--duration 10] [--warmup 2] [--sample-every 16]
                       [--batch-us 100] [COMMON]
  plezi-load idle      [--connections 10000] [--settle 3] [--hold 0] --server-pid PID [COMMON]

common options:
  --url ws://127.0.0.1:3000/ws   the server (IPv4 or localhost); broadcast, chat and socketio take it
                                 more than once: client i connects to the (i mod n)-th URL
  --server-pid PID               measure this process: CPU per delivery / round trip, RSS (idle);
                                 broadcast, chat and socketio take it more than once and add up the
                                 CPU time of every process named (servers and Redis, for instance)
  --label NAME                   name of the server in the output (default: server)
  --sources 8                    spread clients over this many source addresses 127.0.0.2...
  --connect-timeout 60           seconds to open all connections
  --drain 5                      seconds to wait for outstanding messages after the window
  --deflate off                  on: offer permessage-deflate (and require it accepted); sampled
                                 clients inflate what they read; reports count bytes on the wire

Each run prints one human line and one JSON line. Durations are seconds (fractions allowed).
Pin the server and the tool to different cores (taskset -c 0 SERVER; taskset -c 1 plezi-load ...).";

/// Options every scenario has.
#[derive(Clone, Debug)]
pub struct Common {
    /// The servers (at least one; only the fan-out scenarios take more than one).
    pub targets: Vec<Target>,
    /// The server's name in the output.
    pub label: String,
    /// The processes to measure (only the fan-out scenarios take more than one).
    pub server_pids: Vec<u32>,
    /// Number of 127.0.0.x source addresses.
    pub sources: usize,
    /// Time allowed to open all connections.
    pub connect_timeout: Duration,
}

/// `broadcast` options.
#[derive(Clone, Debug)]
pub struct BroadcastConfig {
    /// Connected clients (senders included).
    pub clients: usize,
    /// Clients that send broadcasts.
    pub senders: usize,
    /// Broadcasts each sender keeps in flight.
    pub in_flight: usize,
    /// Payload characters per message.
    pub payload: usize,
    /// Warm-up before the measurement window.
    pub warmup: Duration,
    /// Measurement window.
    pub duration: Duration,
    /// Time allowed after the window for outstanding deliveries.
    pub drain: Duration,
    /// Every n-th listener reads payloads for latency.
    pub sample_every: usize,
    /// Sleep after a poll that found work (see `pace.rs`).
    pub batch: Duration,
    /// Listeners (clients that only count) are not registered with the poll but read in a sweep this
    /// often, so each read takes several frames and the server's writes wake nobody; senders and sampled
    /// clients are polled and read at once, so latency is not affected. Zero: poll every client.
    pub listener_read: Duration,
}

/// `echo` options.
#[derive(Clone, Debug)]
pub struct EchoConfig {
    /// Connected clients, each with one echo in flight.
    pub clients: usize,
    /// Payload characters per message.
    pub payload: usize,
    /// Warm-up before the measurement window.
    pub warmup: Duration,
    /// Measurement window.
    pub duration: Duration,
    /// Time allowed after the window for outstanding answers.
    pub drain: Duration,
    /// Every n-th client checks its answers byte for byte.
    pub sample_every: usize,
    /// Sleep after a poll that found work (see `pace.rs`).
    pub batch: Duration,
}

/// `idle` options.
#[derive(Clone, Debug)]
pub struct IdleConfig {
    /// Connections to open.
    pub connections: usize,
    /// Wait after the last connection opened before reading RSS.
    pub settle: Duration,
    /// Extra time to keep the connections open after the reading.
    pub hold: Duration,
}

/// What to run.
#[derive(Debug)]
pub enum Command {
    /// Broadcast fan-out.
    Broadcast(Common, BroadcastConfig),
    /// Echo round trips.
    Echo(Common, EchoConfig),
    /// Idle memory.
    Idle(Common, IdleConfig),
    /// Print usage.
    Help,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let Some((scenario, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    if matches!(scenario.as_str(), "-h" | "--help" | "help") {
        return Ok(Command::Help);
    }
    let mut o = Options::new(rest)?;
    let mut targets = o
        .all("--url")
        .iter()
        .map(|u| Target::parse(u))
        .collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        targets.push(Target::parse("ws://127.0.0.1:3000/ws")?);
    }
    let deflate = match o.string("--deflate", "off").as_str() {
        "on" => true,
        "off" => false,
        other => return Err(format!("--deflate {other:?}: expected on or off")),
    };
    for t in &mut targets {
        t.deflate = deflate;
    }
    let server_pids = o
        .all("--server-pid")
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|_| format!("--server-pid: cannot read {p:?}"))
        })
        .collect::<Result<Vec<u32>, _>>()?;
    let common = Common {
        targets,
        label: o.string("--label", "server"),
        server_pids,
        sources: o.number("--sources", 8)?,
        connect_timeout: o.seconds("--connect-timeout", 60.0)?,
    };
    if scenario != "broadcast" && (common.targets.len() > 1 || common.server_pids.len() > 1) {
        return Err(format!(
            "{scenario} takes one --url and one --server-pid (only the fan-out scenarios take more)"
        ));
    }
    let drain = o.seconds("--drain", 5.0)?;
    let command = match scenario.as_str() {
        "broadcast" => {
            let cfg = BroadcastConfig {
                clients: o.number("--clients", 1000)?,
                senders: o.number("--senders", 1)?,
                in_flight: o.number("--in-flight", 1)?,
                payload: o.number("--payload", 64)?,
                warmup: o.seconds("--warmup", 2.0)?,
                duration: o.seconds("--duration", 10.0)?,
                drain,
                sample_every: o.number("--sample-every", 16)?,
                batch: o.micros("--batch-us", 100)?,
                listener_read: o.seconds("--listener-read-ms", 10.0)? / 1000,
            };
            if cfg.senders == 0
                || cfg.senders > cfg.clients
                || cfg.in_flight == 0
                || cfg.sample_every == 0
            {
                return Err(
                    "need 1 <= --senders <= --clients, --in-flight >= 1, --sample-every >= 1"
                        .into(),
                );
            }
            check_payload(cfg.payload)?;
            Command::Broadcast(common, cfg)
        }
        "echo" => {
            let cfg = EchoConfig {
                clients: o.number("--clients", 500)?,
                payload: o.number("--payload", 64)?,
                warmup: o.seconds("--warmup", 2.0)?,
                duration: o.seconds("--duration", 10.0)?,
                drain,
                sample_every: o.number("--sample-every", 16)?,
                batch: o.micros("--batch-us", 100)?,
            };
            if cfg.clients == 0 || cfg.sample_every == 0 {
                return Err("need --clients >= 1 and --sample-every >= 1".into());
            }
            check_payload(cfg.payload)?;
            Command::Echo(common, cfg)
        }
        "idle" => {
            let cfg = IdleConfig {
                connections: o.number("--connections", 10_000)?,
                settle: o.seconds("--settle", 3.0)?,
                hold: o.seconds("--hold", 0.0)?,
            };
            if cfg.connections == 0 {
                return Err("need --connections >= 1".into());
            }
            Command::Idle(common, cfg)
        }
        other => {
            return Err(format!(
                "unknown scenario {other:?}: use broadcast, echo or idle"
            ));
        }
    };

    o.finish()?;
    Ok(command)
}

fn check_payload(payload: usize) -> Result<(), String> {
    if payload < MIN_PAYLOAD {
        return Err(format!(
            "--payload must be at least {MIN_PAYLOAD} (the send-time digits)"
        ));
    }
    Ok(())
}

/// `--name value` pairs, each taken once.
struct Options {
    pairs: Vec<(String, Option<String>)>,
}

impl Options {
    fn new(args: &[String]) -> Result<Options, String> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(name) = it.next() {
            if !name.starts_with("--") {
                return Err(format!(
                    "unexpected argument {name:?} (options look like --name value)"
                ));
            }
            let value = it.next().ok_or_else(|| format!("{name} needs a value"))?;
            pairs.push((name.clone(), Some(value.clone())));
        }
        Ok(Options { pairs })
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.pairs
            .iter_mut()
            .find(|(n, v)| n == name && v.is_some())
            .and_then(|(_, v)| v.take())
    }

    /// Every value of an option that may be given more than once, in order.
    fn all(&mut self, name: &str) -> Vec<String> {
        std::iter::from_fn(|| self.take(name)).collect()
    }

    fn string(&mut self, name: &str, default: &str) -> String {
        self.take(name).unwrap_or_else(|| default.to_string())
    }

    fn optional<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.take(name)
            .map(|v| v.parse().map_err(|_| format!("{name}: cannot read {v:?}")))
            .transpose()
    }

    fn number(&mut self, name: &str, default: usize) -> Result<usize, String> {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    fn seconds(&mut self, name: &str, default: f64) -> Result<Duration, String> {
        let s: f64 = self.optional(name)?.unwrap_or(default);
        Duration::try_from_secs_f64(s)
            .map_err(|_| format!("{name}: {s} is not a duration in seconds"))
    }

    fn micros(&mut self, name: &str, default: u64) -> Result<Duration, String> {
        Ok(Duration::from_micros(
            self.optional(name)?.unwrap_or(default),
        ))
    }

    fn finish(self) -> Result<(), String> {
        match self.pairs.iter().find(|(_, v)| v.is_some()) {
            Some((name, _)) => Err(format!(
                "unknown or repeated option {name} for this scenario"
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let Command::Broadcast(c, b) =
            parse(&args("broadcast --clients 5000 --server-pid 42")).expect("ok")
        else {
            panic!("broadcast")
        };
        assert_eq!(
            (b.clients, b.senders, b.in_flight, b.payload),
            (5000, 1, 1, 64)
        );
        assert_eq!(c.server_pids, [42]);
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.targets[0].path, "/ws");
        assert!(matches!(
            parse(&args("idle")),
            Ok(Command::Idle(
                _,
                IdleConfig {
                    connections: 10_000,
                    ..
                }
            ))
        ));
        assert!(matches!(parse(&[]), Ok(Command::Help)));
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(parse(&args("broadcast --clinets 5")).is_err());
        assert!(
            parse(&args("echo --connections 5")).is_err(),
            "idle-only option"
        );
        assert!(parse(&args("broadcast --payload 5")).is_err());
        assert!(parse(&args("broadcast --clients")).is_err());
        assert!(parse(&args("flood")).is_err());
        assert!(
            parse(&args(
                "echo --url ws://127.0.0.1:1/ --url ws://127.0.0.1:2/"
            ))
            .is_err(),
            "one server only"
        );
        assert!(parse(&args("idle --server-pid 1 --server-pid 2")).is_err());
    }

    #[test]
    fn fan_out_takes_several_servers_and_processes() {
        let Command::Broadcast(c, _) = parse(&args(
            "broadcast --url ws://127.0.0.1:3001/chat --server-pid 7 --url ws://127.0.0.1:3002/chat \
             --server-pid 8 --server-pid 9",
        ))
        .expect("ok") else {
            panic!("broadcast")
        };
        let ports: Vec<u16> = c.targets.iter().map(|t| t.addr.port()).collect();
        assert_eq!(ports, [3001, 3002]);
        assert_eq!(c.server_pids, [7, 8, 9]);
    }
}
