//! The Redis subscriber thread only reads and routes: handlers run on the event loops, so a handler
//! that blocks its loop does not stop the subscriber from reading (Redis would otherwise cut it once
//! its output buffer for the subscriber passed its limit). Needs `redis-server`.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use plezi::plezi_messaging::{Bus, BusConfig, Engine, Target};
use plezi::prelude::*;
use serde_json::json;
use support::{DEADLINE, RedisServer, Ws};

/// Opened once the test has seen the subscriber read every envelope.
static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());
/// `work` handlers started.
static STARTED: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct Slow;

impl Slow {
    /// The first call blocks its loop (the only one) until the gate opens, or the deadline.
    fn work(&mut self, _: &mut Ctx<'_>, _: Value) {
        if STARTED.fetch_add(1, Ordering::SeqCst) == 0 {
            let (open, changed) = &GATE;
            let guard = open.lock().unwrap();
            let _ = changed
                .wait_timeout_while(guard, DEADLINE, |open| !*open)
                .unwrap();
        }
    }
}

impl Controller for Slow {
    fn bus_name() -> String {
        "slow".to_owned()
    }

    fn events() -> Events<Self> {
        events![
            both echo => |_: &mut Slow, _: &mut Ctx<'_>, m: Value| m,
            bus work => Slow::work,
        ]
    }
}

#[test]
fn a_blocked_handler_does_not_stop_the_subscriber_reading() {
    plezi_test_support::init_log();
    let redis = RedisServer::start();
    let bus_config = BusConfig {
        engine: Engine::Redis { url: redis.url() },
        app_name: "handoff".into(),
        ..BusConfig::default()
    };
    let config = Config {
        port: 0,
        threads: Some(1),
        bus: bus_config.clone(),
        ..Config::default()
    };
    let running = App::with_config(config)
        .route("/slow", Slow::default)
        .expect("the route")
        .spawn()
        .expect("the app starts");
    let mut ws = Ws::connect(running.local_addr(), "/slow");
    ws.nothing_before_echo("joined"); // on_open returned: the connection joined `slow`

    let publisher = Bus::new(bus_config).expect("the publishing bus");
    publisher.flush(DEADLINE).expect("Redis is up");
    const N: u64 = 2_000;
    for i in 0..N {
        let target = Target::Broadcast {
            controller: "slow".into(),
        };
        publisher.publish_event(target, "work", json!(i)).unwrap();
    }
    let bus = running.dispatcher().bus().clone();
    assert!(
        plezi_test_support::wait_until(DEADLINE, || bus.state().received >= N),
        "the subscriber read {} of {N} envelopes while a handler blocked the loop",
        bus.state().received
    );
    assert_eq!(
        STARTED.load(Ordering::SeqCst),
        1,
        "the first handler still blocks the only loop"
    );
    *GATE.0.lock().unwrap() = true;
    GATE.1.notify_all();
    assert!(
        plezi_test_support::wait_until(DEADLINE, || STARTED.load(Ordering::SeqCst) == N),
        "every delivery ran on the loop: {} of {N}",
        STARTED.load(Ordering::SeqCst)
    );
    ws.nothing_before_echo("after the deliveries");
    running.stop().expect("clean stop");
}
