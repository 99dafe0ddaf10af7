//! Drain turns on a real Redis: a holder that stops (crashes) is taken over when its turn ends, without
//! waiting for another notify or registration; a claim returned or confirmed after its turn moved on
//! cannot reorder the identity's mail or deliver it twice to the other servers.

mod support;

use std::time::Duration;

use plezi_messaging::{Bus, BusConfig};
use serde_json::json;
use support::{Recorder, RedisServer, WAIT, config};

fn numbers(events: Vec<(String, serde_json::Value)>) -> Vec<u64> {
    events.into_iter().filter_map(|(_, d)| d.as_u64()).collect()
}

fn bus(redis: &RedisServer, config: BusConfig) -> (Bus, std::sync::Arc<Recorder>) {
    let bus = Bus::redis(config, &redis.url()).expect("bus");
    let rec = Recorder::attach(&bus);
    bus.flush(WAIT).expect("bus connects");
    (bus, rec)
}

fn turns_of(app: &str, ttl: Duration) -> BusConfig {
    BusConfig {
        mailbox_claim_ttl: ttl,
        ..config(app)
    }
}

/// a claims jo's three messages and holds the claim; b gets a live connection of jo meanwhile.
fn a_holds_jo(
    redis: &RedisServer,
    config: impl Fn() -> BusConfig,
) -> (Bus, Bus, std::sync::Arc<Recorder>, std::sync::Arc<Recorder>) {
    let (a, rec_a) = bus(redis, config());
    let (b, rec_b) = bus(redis, config());
    rec_a.hold_claims(true);
    a.register_as("jo", a.connection_uuid(0, 1, 0), None)
        .unwrap();
    a.flush(WAIT).unwrap();
    for i in 0..3 {
        a.notify_event("jo", "m", json!(i)).unwrap();
    }
    rec_a.wait("a's claim", |s| (!s.held.is_empty()).then_some(()));
    b.register_as("jo", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    b.flush(WAIT).unwrap();
    assert!(rec_b.mailbox_events().is_empty(), "b took a held turn");
    (a, b, rec_a, rec_b)
}

#[test]
fn a_live_holder_keeps_its_turn_past_the_ttl() {
    let redis = RedisServer::start();
    let ttl = Duration::from_secs(1);
    let (a, _b, _rec_a, rec_b) = a_holds_jo(&redis, || turns_of("t0", ttl));
    let token = redis.command(&["GET", "t0:mbox-turn:jo"]).unwrap();
    assert!(token.contains(&a.server_id().to_string()), "{token}");
    // Nothing to await here: the point is that nothing happens for well over one turn.
    std::thread::sleep(ttl * 5 / 2);
    assert_eq!(redis.command(&["GET", "t0:mbox-turn:jo"]).unwrap(), token);
    assert!(redis.int(&["PTTL", "t0:mbox-turn:jo"]) > 0);
    assert!(rec_b.mailbox_events().is_empty(), "b took a live turn");
}

#[test]
fn a_crashed_holder_is_taken_over_when_its_turn_ends() {
    let redis = RedisServer::start();
    let (a, b, rec_a, rec_b) = a_holds_jo(&redis, || turns_of("t1", Duration::from_millis(500)));
    // a dies holding the turn: its worker stops, nothing is confirmed or returned, nobody renews.
    drop(a);
    // No notify, no registration: b takes over once the turn ends, with the same messages, in order.
    rec_b.wait_mailbox(3);
    assert_eq!(numbers(rec_b.mailbox_events()), vec![0, 1, 2]);
    b.flush(WAIT).unwrap();
    assert_eq!(redis.int(&["LLEN", "t1:mbox:jo"]), 0);
    drop(rec_a);
}

#[test]
fn a_turn_that_is_never_released_ends_by_itself() {
    let redis = RedisServer::start();
    let (b, rec_b) = bus(&redis, turns_of("t2", Duration::from_millis(400)));
    for i in 0..2 {
        b.notify_event("kim", "m", json!(i)).unwrap();
    }
    // Some server took the turn and vanished.
    assert!(
        redis
            .command(&["SET", "t2:mbox-turn:kim", "gone:1", "PX", "300"])
            .unwrap()
            .starts_with("+OK")
    );
    b.register_as("kim", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    rec_b.wait_mailbox(2);
    assert_eq!(numbers(rec_b.mailbox_events()), vec![0, 1]);
}

/// a holds a claim of 0, 1, 2; its turn ends while it is stalled (the test deletes the turn key, as its
/// expiry would); 3 arrives and b drains 0..=3. Returns the held claim.
fn turn_moves_on_while_a_holds_a_claim(
    redis: &RedisServer,
    app: &str,
) -> (Bus, Bus, std::sync::Arc<Recorder>, plezi_messaging::Claim) {
    let (a, rec_a) = bus(redis, config(app));
    let (b, rec_b) = bus(redis, config(app));
    let ca = a.connection_uuid(0, 1, 0);
    rec_a.hold_claims(true);
    a.register_as("lu", ca, None).unwrap();
    a.flush(WAIT).unwrap();
    for i in 0..3 {
        a.notify_event("lu", "m", json!(i)).unwrap();
    }
    rec_a.wait("a's claim", |s| (!s.held.is_empty()).then_some(()));
    b.register_as("lu", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    b.flush(WAIT).unwrap();
    assert!(rec_b.mailbox_events().is_empty());
    assert_eq!(redis.int(&["DEL", &format!("{app}:mbox-turn:lu")]), 1);
    a.notify_event("lu", "m", json!(3)).unwrap();
    rec_b.wait_mailbox(4);
    assert_eq!(numbers(rec_b.mailbox_events()), vec![0, 1, 2, 3]);
    b.flush(WAIT).unwrap();
    a.forget(ca);
    let mut held = rec_a.take_held();
    assert_eq!(held.len(), 1);
    (a, b, rec_b, held.remove(0))
}

#[test]
fn a_claim_returned_after_its_turn_moved_on_cannot_reorder() {
    let redis = RedisServer::start();
    let (a, b, rec_b, claim) = turn_moves_on_while_a_holds_a_claim(&redis, "t3");
    // a's connection closed before it wrote the messages: the claim comes back, late.
    drop(claim);
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();
    // Nothing was put back in front of 3, and nothing is delivered again.
    assert_eq!(redis.int(&["LLEN", "t3:mbox:lu"]), 0);
    a.notify_event("lu", "m", json!(4)).unwrap();
    rec_b.wait_mailbox(5);
    b.flush(WAIT).unwrap();
    assert_eq!(numbers(rec_b.mailbox_events()), vec![0, 1, 2, 3, 4]);
    assert!(rec_b.events().is_empty(), "{:?}", rec_b.events());
}

#[test]
fn a_claim_confirmed_after_its_turn_moved_on_is_not_forwarded_again() {
    let redis = RedisServer::start();
    let (a, b, rec_b, claim) = turn_moves_on_while_a_holds_a_claim(&redis, "t4");
    // a's connection did get the messages, late: the confirmation must not forward 0..=2 to b after 3.
    claim.delivered();
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();
    a.notify_event("lu", "m", json!(4)).unwrap();
    rec_b.wait_mailbox(5);
    b.flush(WAIT).unwrap();
    assert!(
        rec_b.events().is_empty(),
        "forwarded late: {:?}",
        rec_b.events()
    );
    assert_eq!(numbers(rec_b.mailbox_events()), vec![0, 1, 2, 3, 4]);
    assert_eq!(redis.int(&["LLEN", "t4:mbox:lu"]), 0);
}
