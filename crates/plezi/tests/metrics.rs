//! The metrics route (`App::metrics`): off by default; scraped over HTTP by the official
//! Prometheus Python client's parser, its values follow what happens: WebSockets opened, messages
//! in and out, fan-out deliveries, HTTP answers by status (never a label from the request), AJAJ
//! and handler latency histograms, a slow consumer cut, and the bus's state across a Redis outage.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use plezi::plezi_messaging::{Bus, BusConfig, Engine};
use plezi::plezi_server::ServerConfig;
use plezi::prelude::*;
use plezi_test_support::http::http;
use plezi_test_support::raw::Client;
use plezi_test_support::tools::{require_python_module, run_bounded};
use plezi_test_support::wait::eventually_within;
use plezi_test_support::{DEADLINE, eventually};
use serde_json::Value;
use support::{RedisServer, Ws};

#[derive(Default)]
struct Echo;

impl Controller for Echo {
    fn events() -> Events<Self> {
        events![both echo => |_: &mut Echo, _: &mut Ctx<'_>, m: Value| m]
    }
}

/// Fetches `url` and parses it with `prometheus_client.parser.text_string_to_metric_families`;
/// prints every sample as JSON. A text the parser refuses fails the script.
const SCRAPE: &str = r#"
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    text = r.read().decode("utf-8")
samples = []
for family in text_string_to_metric_families(text):
    for s in family.samples:
        samples.append({"type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(samples))
"#;

/// One scrape, as parsed by the Python client.
struct Scrape(Vec<Value>);

impl Scrape {
    fn of(addr: SocketAddr) -> Scrape {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", SCRAPE, &format!("http://{addr}/metrics")]);
        let out = run_bounded(cmd, Duration::from_secs(20));
        out.assert_success("the Prometheus parser reading /metrics");
        let samples: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("the scrape script printed no JSON ({e}): {out:?}"));
        Scrape(samples.as_array().cloned().unwrap_or_default())
    }

    /// The value of sample `name` with exactly these labels.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0.iter().find_map(|s| {
            let have = s["labels"].as_object()?;
            let same = s["name"] == name
                && have.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| have.get(*k) == Some(&Value::from(*v)));
            same.then(|| s["value"].as_f64()).flatten()
        })
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in the scrape"))
    }

    /// Every `(label name, label value)` of every sample.
    fn labels(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|s| s["labels"].as_object())
            .flat_map(|m| m.iter())
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    }
}

fn app(threads: usize) -> App {
    let config = Config {
        port: 0,
        threads: Some(threads),
        ..Config::default()
    };
    App::with_config(config)
        .route("/echo", Echo::default)
        .expect("the echo route")
}

#[test]
fn the_metrics_route_is_off_by_default() {
    let running = app(1)
        .bus(Bus::in_process(BusConfig::default()))
        .spawn()
        .expect("the app starts");
    let reply = http(running.local_addr(), "GET", "/metrics", &[], b"");
    assert_eq!(reply.status, 404, "{reply:?}");
    // Read from code all the same.
    let snapshot = running.dispatcher().metrics().snapshot();
    assert_eq!(snapshot.server.map(|s| s.responses_with(404)), Some(1));
    running.stop().expect("clean stop");
}

#[test]
fn scraped_values_follow_connections_messages_answers_and_latencies() {
    require_python_module("prometheus_client");
    let running = app(2)
        .bus(Bus::in_process(BusConfig::default()))
        .metrics("/metrics")
        .expect("the metrics route")
        .limits(ServerConfig {
            max_pending_bytes: 64 * 1024,
            ..ServerConfig::default()
        })
        .spawn()
        .expect("the app starts");
    let addr = running.local_addr();

    let reply = http(addr, "GET", "/metrics", &[], b"");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let before = Scrape::of(addr);
    assert_eq!(
        before.value("plezi_connections", &[("kind", "websocket")]),
        0.0
    );
    assert_eq!(before.value("plezi_bus_connected", &[]), 1.0);

    // N WebSockets → the gauge says N, from the scrape and from code.
    let mut clients: Vec<Ws> = (0..3).map(|_| Ws::connect(addr, "/echo")).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.nothing_before_echo(&format!("client {i}"));
    }
    let now = Scrape::of(addr);
    assert_eq!(
        now.value("plezi_connections", &[("kind", "websocket")]),
        3.0
    );
    assert_eq!(
        running
            .dispatcher()
            .metrics()
            .snapshot()
            .server
            .map(|s| s.websockets),
        Some(3)
    );
    // Messages in, out, and the handler latency histogram.
    assert!(now.value("plezi_websocket_messages_received_total", &[]) >= 3.0);
    assert!(now.value("plezi_websocket_messages_sent_total", &[]) >= 3.0);
    assert!(now.value("plezi_handler_duration_seconds_count", &[]) >= 3.0);
    assert_eq!(
        now.value("plezi_handler_duration_seconds_bucket", &[("le", "+Inf")]),
        now.value("plezi_handler_duration_seconds_count", &[])
    );
    assert_eq!(now.value("plezi_websocket_upgrades_total", &[]), 3.0);
    assert_eq!(
        now.value("plezi_http_responses_total", &[("code", "101")]),
        3.0
    );

    // A fan-out: counted with its receivers.
    running
        .dispatcher()
        .broadcast::<Echo>("echo", json!({"n": 1}))
        .expect("broadcast");
    for c in &mut clients {
        c.json();
    }
    let now = Scrape::of(addr);
    assert!(now.value("plezi_fanout_deliveries_total", &[]) >= 3.0);
    assert!(now.value("plezi_fanouts_total", &[]) >= 1.0);

    // 404s for odd paths and queries: counted by status; nothing from the request becomes a label.
    let reply = http(addr, "GET", "/nope?a=b", &[], b"");
    assert_eq!(reply.status, 404, "{reply:?}");
    for target in [
        "/%2e%2e/etc/passwd",
        "/x%22%7D%0A_evil",
        "/echo/../../y",
        "/%ff",
    ] {
        let reply = http(addr, "GET", target, &[], b"");
        assert!(matches!(reply.status, 400 | 404), "{target}: {reply:?}");
    }
    // AJAJ: the latency histogram counts it.
    let ajaj_before = now.value("plezi_ajaj_duration_seconds_count", &[]);
    let reply = http(
        addr,
        "POST",
        "/echo",
        &[("Content-Type", "application/json")],
        br#"{"id":"echo","x":1}"#,
    );
    assert_eq!(reply.status, 200, "AJAJ echo: {reply:?}");
    let now = Scrape::of(addr);
    assert!(now.value("plezi_http_responses_total", &[("code", "404")]) >= 1.0);
    assert_eq!(
        now.value("plezi_ajaj_duration_seconds_count", &[]),
        ajaj_before + 1.0
    );
    for (name, value) in now.labels() {
        let fixed = match name.as_str() {
            "code" => value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit()),
            "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
            "kind" => [
                "http",
                "websocket",
                "multicast",
                "broadcast",
                "unicast",
                "channel",
                "identity",
                "drain",
            ]
            .contains(&value.as_str()),
            _ => false,
        };
        assert!(fixed, "label {name}={value:?} is not from the fixed sets");
    }

    // A slow consumer: a client that never reads, flooded until the policy cuts it.
    drop(clients);
    eventually("the readers' connections are gone", || {
        (running.handle().websocket_count() == 0).then_some(())
    });
    let mut slow = Client::ws_connect(addr, "/echo");
    slow.send_text(r#"{"event":"echo"}"#);
    let big = format!("\"{}\"", "x".repeat(256 * 1024));
    eventually_within("the slow consumer is cut", Duration::from_secs(60), || {
        let cut = running
            .dispatcher()
            .metrics()
            .snapshot()
            .server
            .is_some_and(|s| s.slow_consumers_closed > 0);
        if !cut {
            let _ = running.dispatcher().broadcast_raw::<Echo>(&big);
        }
        cut.then_some(())
    });
    assert_eq!(
        Scrape::of(addr).value("plezi_slow_consumers_closed_total", &[]),
        1.0
    );
    drop(slow);
    running.stop().expect("clean stop");
}

#[test]
fn bus_state_follows_a_redis_outage() {
    require_python_module("prometheus_client");
    let mut redis = RedisServer::start();
    let bus = Bus::new(BusConfig {
        engine: Engine::Redis { url: redis.url() },
        app_name: "metrics-outage".to_owned(),
        ..BusConfig::default()
    })
    .expect("the Redis bus");
    let running = app(1)
        .bus(bus)
        .metrics("/metrics")
        .expect("the metrics route")
        .spawn()
        .expect("the app starts");
    let addr = running.local_addr();
    let connected = |s: &Scrape| s.value("plezi_bus_connected", &[]);
    let up = eventually("the bus connects", || {
        let s = Scrape::of(addr);
        (connected(&s) == 1.0).then_some(s)
    });
    // The Redis mailbox store answers its usage.
    assert_eq!(up.value("plezi_mailbox_identities", &[]), 0.0);
    let reconnects = up.value("plezi_bus_reconnects_total", &[]);

    redis.kill();
    let down = eventually("the bus notices the outage", || {
        let s = Scrape::of(addr);
        (connected(&s) == 0.0).then_some(s)
    });
    // Without Redis, the mailbox usage is left out rather than failing the scrape.
    assert_eq!(down.get("plezi_mailbox_identities", &[]), None);

    redis.restart();
    let back = eventually_within("the bus reconnects", DEADLINE * 2, || {
        let s = Scrape::of(addr);
        (connected(&s) == 1.0).then_some(s)
    });
    assert!(back.value("plezi_bus_reconnects_total", &[]) > reconnects);
    running.stop().expect("clean stop");
}
