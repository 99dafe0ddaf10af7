//! One Redis master with a replica: a stored notification counts once the replica has it (`WAIT`),
//! and one the replica does not confirm in time is reported, not silently taken as safe.

mod support;

use std::time::Duration;

use plezi_messaging::{Bus, BusConfig, BusError, Payload};
use plezi_test_support::redis::RedisServer;
use serde_json::json;
use support::{Recorder, WAIT, config};

#[test]
fn a_notification_waits_for_the_replica_and_is_refused_without_it() {
    support::init_log();
    let master = RedisServer::start();
    let replica = RedisServer::start_replica_of(&master);
    let bus = Bus::redis(
        BusConfig {
            replica_ack_timeout: Duration::from_secs(1),
            ..config("rp1")
        },
        &master.url(),
    )
    .unwrap();
    let _rec = Recorder::attach(&bus);
    bus.flush(WAIT).unwrap();
    bus.notify("ivy", Payload::event("e", json!(1))).unwrap();
    // The replica holds what the master acknowledged.
    assert_eq!(replica.int(&["LLEN", "rp1:mbox:ivy"]), 1);

    replica.pause(true);
    let refused = bus.notify("ivy", Payload::event("e", json!(2)));
    replica.pause(false);
    assert!(
        matches!(&refused, Err(BusError::NotReplicated { identity, .. }) if identity == "ivy"),
        "{refused:?}"
    );
    let text = refused.unwrap_err().to_string();
    assert!(
        text.contains("no replica confirmed") && text.contains("replica_ack_timeout"),
        "{text}"
    );
    bus.notify("ivy", Payload::event("e", json!(3))).unwrap();
    assert_eq!(replica.int(&["LLEN", "rp1:mbox:ivy"]), 3);
}
