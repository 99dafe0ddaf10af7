//! Identity mailboxes on Redis: store-then-signal, order, exactly-once claims across servers, expiry,
//! returned claims, and surviving a process (and Redis) restart.

mod support;

use std::time::Duration;

use plezi_messaging::{Payload, Recipients, Target};
use serde_json::json;
use support::{RedisServer, WAIT, redis_bus};

fn numbers(events: Vec<(String, serde_json::Value)>) -> Vec<u64> {
    events.into_iter().filter_map(|(_, d)| d.as_u64()).collect()
}

/// Everything a server handed to connections of `identity`: claimed batches, then forwarded deliveries.
fn handed_in(seen: &support::Seen, identity: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for (id, _, payloads) in &seen.mailbox {
        assert_eq!(id, identity);
        out.extend(
            payloads
                .iter()
                .filter_map(support::event_of)
                .filter_map(|(_, d)| d.as_u64()),
        );
    }
    for d in &seen.deliveries {
        if d.target == Target::Identity(identity.into())
            && let Some((_, data)) = support::event_of(&d.payload)
        {
            out.extend(data.as_u64());
        }
    }
    out
}

fn llen(redis: &RedisServer, key: &str) -> String {
    redis.command(&["LLEN", key]).unwrap()
}

#[test]
fn offline_notifications_wait_and_arrive_in_order_on_register() {
    let redis = RedisServer::start();
    let (a, _) = redis_bus(&redis, "mb1");
    let (b, rec_b) = redis_bus(&redis, "mb1");
    for i in 0..600u64 {
        a.notify_event("dave", "mail", json!(i)).unwrap();
    }
    assert_eq!(llen(&redis, "mb1:mbox:dave"), ":600\r\n");
    let conn = b.connection_uuid(0, 4, 2);
    b.register_as("dave", conn, None).unwrap();
    rec_b.wait_mailbox(600);
    assert_eq!(
        numbers(rec_b.mailbox_events()),
        (0..600).collect::<Vec<_>>()
    );
    // Claimed in batches (mailbox_claim_batch = 256), each for the live connection.
    let seen = rec_b.seen.lock().unwrap();
    assert!(seen.mailbox.len() >= 3);
    assert!(
        seen.mailbox
            .iter()
            .all(|(_, conns, _)| conns == &vec![conn])
    );
    drop(seen);
    b.flush(WAIT).unwrap();
    assert_eq!(llen(&redis, "mb1:mbox:dave"), ":0\r\n");
    // Live now: a notification from another server is signalled and drained at once.
    a.notify_event("dave", "mail", json!(600)).unwrap();
    rec_b.wait_mailbox(601);
    assert_eq!(numbers(rec_b.mailbox_events()).len(), 601);
}

#[test]
fn two_servers_draining_at_once_deliver_each_message_once_per_connection() {
    let redis = RedisServer::start();
    let (notifier, _) = redis_bus(&redis, "mb2");
    let (a, rec_a) = redis_bus(&redis, "mb2");
    let (b, rec_b) = redis_bus(&redis, "mb2");
    const N: u64 = 300;
    for i in 0..N {
        notifier.notify_event("erin", "m", json!(i)).unwrap();
    }
    // Both servers get a live connection of erin at the same moment and drain concurrently.
    let (ca, cb) = (a.connection_uuid(0, 1, 0), b.connection_uuid(0, 1, 0));
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            a.register_as("erin", ca, None).unwrap();
        });
        s.spawn(|| {
            barrier.wait();
            b.register_as("erin", cb, None).unwrap();
        });
    });
    // Then more notifications while both are live.
    for i in N..N + 100 {
        notifier.notify_event("erin", "m", json!(i)).unwrap();
    }
    let all: Vec<u64> = (0..N + 100).collect();
    for (name, rec) in [("a", &rec_a), ("b", &rec_b)] {
        rec.wait(&format!("every message on {name}"), |s| {
            (handed_in(s, "erin").len() >= all.len()).then_some(())
        });
    }
    // Settle, so a late duplicate would show.
    for bus in [&notifier, &a, &b] {
        bus.flush(WAIT).unwrap();
    }
    let got_a = handed_in(&rec_a.seen.lock().unwrap(), "erin");
    let got_b = handed_in(&rec_b.seen.lock().unwrap(), "erin");
    let mut sorted_a = got_a.clone();
    sorted_a.sort_unstable();
    let mut sorted_b = got_b.clone();
    sorted_b.sort_unstable();
    assert_eq!(sorted_a, all, "server a: every message exactly once");
    assert_eq!(sorted_b, all, "server b: every message exactly once");
    // Claims (the hand-offs that empty the mailbox) happened exactly once per message across servers.
    let mut claimed = numbers(rec_a.mailbox_events());
    claimed.extend(numbers(rec_b.mailbox_events()));
    claimed.sort_unstable();
    assert_eq!(claimed, all, "each message claimed by exactly one server");
    // A forward carries the id of the message its claim confirmed.
    let mut claimed_ids = rec_a.seen.lock().unwrap().mail_ids.clone();
    claimed_ids.extend(rec_b.seen.lock().unwrap().mail_ids.clone());
    claimed_ids.sort_unstable();
    let mut forwarded_ids: Vec<String> = [&rec_a, &rec_b]
        .iter()
        .flat_map(|rec| {
            let seen = rec.seen.lock().unwrap();
            seen.deliveries
                .iter()
                .map(|d| {
                    d.mailbox_id
                        .as_deref()
                        .expect("a forward has its id")
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    forwarded_ids.sort_unstable();
    assert_eq!(
        forwarded_ids, claimed_ids,
        "each forward names its claimed message"
    );
    // Per connection, claims arrive in order and forwards arrive in order.
    for rec in [&rec_a, &rec_b] {
        let c = numbers(rec.mailbox_events());
        assert!(
            c.windows(2).all(|w| w[0] < w[1]),
            "claims out of order: {c:?}"
        );
        let f: Vec<u64> = rec
            .seen
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .filter_map(|d| support::event_of(&d.payload))
            .filter_map(|(_, d)| d.as_u64())
            .collect();
        assert!(
            f.windows(2).all(|w| w[0] < w[1]),
            "forwards out of order: {f:?}"
        );
        assert!(
            rec.seen
                .lock()
                .unwrap()
                .deliveries
                .iter()
                .all(|d| matches!(&d.recipients, Recipients::Listed(l) if l.len() == 1)),
        );
    }
    assert_eq!(llen(&redis, "mb2:mbox:erin"), ":0\r\n");
}

#[test]
fn a_dropped_claim_goes_back_and_another_server_takes_it() {
    let redis = RedisServer::start();
    let (a, rec_a) = redis_bus(&redis, "mb3");
    let (b, rec_b) = redis_bus(&redis, "mb3");
    let ca = a.connection_uuid(0, 1, 0);
    rec_a.hold_claims(true);
    a.register_as("fay", ca, None).unwrap();
    a.flush(WAIT).unwrap();
    for i in 0..3 {
        a.notify_event("fay", "m", json!(i)).unwrap();
    }
    rec_a.wait("a's held claim", |s| (!s.held.is_empty()).then_some(()));
    a.flush(WAIT).unwrap();
    // b gets a live connection while a holds the drain turn: b must not take the messages twice.
    b.register_as("fay", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    b.flush(WAIT).unwrap();
    assert!(rec_b.mailbox_events().is_empty());
    // a's connection closed before the messages were written: the claim is dropped, the messages go
    // back (in order), and b is told to drain.
    a.forget(ca);
    let held = rec_a.take_held();
    let claimed: usize = held.len();
    assert!(claimed >= 1);
    drop(held);
    rec_b.wait_mailbox(3);
    assert_eq!(numbers(rec_b.mailbox_events()), vec![0, 1, 2]);
    assert!(rec_a.mailbox_events().is_empty());
    // b's batch carries the ids a's claim had: they were stored with the messages.
    let ids_a = rec_a.seen.lock().unwrap().mail_ids.clone();
    let ids_b = rec_b.seen.lock().unwrap().mail_ids.clone();
    assert_eq!(ids_b.len(), 3);
    assert_eq!(ids_a[..], ids_b[..ids_a.len()]);
}

#[test]
fn a_mailbox_expires_after_its_lifespan() {
    let redis = RedisServer::start();
    let (a, rec) = redis_bus(&redis, "mb4");
    let conn = a.connection_uuid(0, 1, 0);
    a.register_as("gus", conn, Some(Duration::from_millis(300)))
        .unwrap();
    a.flush(WAIT).unwrap();
    a.forget(conn);
    a.flush(WAIT).unwrap();
    a.notify_event("gus", "m", json!(1)).unwrap();
    let ttl: i64 = redis
        .command(&["PTTL", "mb4:mbox:gus"])
        .unwrap()
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 300,
        "the registration's lifespan applies: {ttl}"
    );
    // Expiry is a deadline: poll Redis until the key is gone.
    plezi_test_support::eventually("the mailbox to expire", || {
        (redis.int(&["EXISTS", "mb4:mbox:gus"]) == 0).then_some(())
    });
    a.register_as("gus", a.connection_uuid(0, 1, 1), None)
        .unwrap();
    a.flush(WAIT).unwrap();
    assert!(rec.mailbox_events().is_empty());
    // The default lifespan is 21 days.
    a.notify_event("nobody-yet", "m", json!(1)).unwrap();
    let ttl: i64 = redis
        .command(&["PTTL", "mb4:mbox:nobody-yet"])
        .unwrap()
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 1_814_000_000 && ttl <= 1_814_400_000, "{ttl}");
}

#[test]
fn mailboxes_survive_a_new_process_and_a_redis_restart() {
    let mut redis = RedisServer::start_persistent();
    {
        let (old, _) = redis_bus(&redis, "mb5");
        for i in 0..3 {
            old.notify(
                "hal",
                if i == 1 {
                    Payload::raw([0xffu8, 0])
                } else {
                    Payload::event("m", json!(i))
                },
            )
            .unwrap();
        }
    } // the old process is gone
    redis.restart(); // and Redis restarted from its append-only file
    let (new, rec) = redis_bus(&redis, "mb5");
    new.register_as("hal", new.connection_uuid(0, 1, 0), None)
        .unwrap();
    rec.wait_mailbox(3);
    let seen = rec.seen.lock().unwrap();
    let payloads: Vec<Payload> = seen
        .mailbox
        .iter()
        .flat_map(|(_, _, p)| p.clone())
        .collect();
    assert_eq!(
        payloads,
        vec![
            Payload::event("m", json!(0)),
            Payload::raw([0xffu8, 0]),
            Payload::event("m", json!(2))
        ]
    );
}

#[test]
fn real_time_identity_messages_reach_every_live_connection_and_are_not_stored() {
    let redis = RedisServer::start();
    let (a, rec_a) = redis_bus(&redis, "mb6");
    let (b, rec_b) = redis_bus(&redis, "mb6");
    let (a1, b1, b2) = (
        a.connection_uuid(0, 1, 0),
        b.connection_uuid(0, 1, 0),
        b.connection_uuid(0, 2, 0),
    );
    a.register_as("ivy", a1, None).unwrap();
    b.register_as("ivy", b1, None).unwrap();
    b.register_as("ivy", b2, None).unwrap();
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();
    a.publish(
        plezi_messaging::Message::new(Target::Identity("ivy".into()), Payload::raw("rt"))
            .except(b2),
    )
    .unwrap();
    rec_b.wait("the real-time message", |s| {
        (!s.deliveries.is_empty()).then_some(())
    });
    assert_eq!(
        rec_b.seen.lock().unwrap().deliveries[0].recipients,
        Recipients::Listed(vec![b1])
    );
    assert_eq!(
        rec_a.seen.lock().unwrap().deliveries[0].recipients,
        Recipients::Listed(vec![a1])
    );
    assert_eq!(
        redis.command(&["EXISTS", "mb6:mbox:ivy"]).unwrap(),
        ":0\r\n"
    );
}

/// One list of what a server handed to `dave`'s connections, forwarded or claimed; a multicast named
/// `stall` holds the subscriber thread that routes it until `release`.
#[derive(Default)]
struct OrderSink {
    handed: std::sync::Mutex<Vec<u64>>,
    stalled: std::sync::Mutex<bool>,
    release: std::sync::Condvar,
}

impl OrderSink {
    fn release(&self) {
        *self.stalled.lock().unwrap() = false;
        self.release.notify_all();
    }

    fn handed(&self) -> Vec<u64> {
        self.handed.lock().unwrap().clone()
    }
}

impl plezi_messaging::Sink for OrderSink {
    fn deliver(&self, d: plezi_messaging::LocalDelivery) {
        let event = support::event_of(&d.payload);
        if event.as_ref().is_some_and(|(name, _)| name == "stall") {
            let mut stalled = self.stalled.lock().unwrap();
            *stalled = true;
            while *stalled {
                stalled = self.release.wait(stalled).unwrap();
            }
            return;
        }
        if d.target == Target::Identity("dave".into())
            && let Some((_, data)) = event
        {
            self.handed.lock().unwrap().extend(data.as_u64());
        }
    }

    fn deliver_mailbox(&self, batch: plezi_messaging::MailboxBatch) {
        let mut handed = self.handed.lock().unwrap();
        for m in &batch.messages {
            if let Some((_, data)) = support::event_of(&m.payload) {
                handed.extend(data.as_u64());
            }
        }
        drop(handed);
        batch.claim.delivered();
    }

    fn failed_unicast(
        &self,
        _: Option<plezi_messaging::ConnectionUuid>,
        _: plezi_messaging::ConnectionUuid,
        _: &Payload,
    ) {
    }

    fn notify_refused(
        &self,
        _: plezi_messaging::ConnectionUuid,
        _: &str,
        _: Option<&str>,
        _: &plezi_messaging::BusError,
    ) {
    }
}

/// A user with connections on two servers gets one sender's notifications in order on both, even
/// when the messages another server forwarded (by pub/sub) are still on their way as this server
/// claims the next ones: the claimed batch waits for the forwards published before it.
#[test]
fn a_claimed_batch_waits_for_the_forwards_published_before_it() {
    support::init_log();
    let redis = RedisServer::start();
    let (a, _rec_a) = redis_bus(&redis, "ord");
    let (b, _rec_b) = redis_bus(&redis, "ord");
    let sink = std::sync::Arc::new(OrderSink::default());
    b.set_sink(sink.clone());
    a.register_as("dave", a.connection_uuid(0, 1, 0), None)
        .unwrap();
    b.register_as("dave", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();

    // b's subscriber thread is held: what Redis publishes to b waits in its socket.
    a.publish(plezi_messaging::Message::new(
        Target::Multicast,
        Payload::event("stall", json!(0)),
    ))
    .unwrap();
    assert!(plezi_test_support::wait_until(WAIT, || *sink
        .stalled
        .lock()
        .unwrap()));
    // a drains 1 and forwards it to b; then b claims 2 itself.
    a.notify("dave", Payload::event("n", json!(1))).unwrap();
    a.flush(WAIT).unwrap();
    assert!(plezi_test_support::wait_until(WAIT, || {
        llen(&redis, "ord:mbox:dave") == ":0\r\n"
            && redis.int(&["EXISTS", "ord:mbox-turn:dave"]) == 0
    }));
    b.notify("dave", Payload::event("n", json!(2))).unwrap();
    b.flush(WAIT).unwrap(); // b's worker has claimed 2 and handed it over
    sink.release();
    assert!(plezi_test_support::wait_until(WAIT, || sink.handed().len() >= 2));
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();
    assert_eq!(sink.handed(), [1, 2]);
}

/// A claim Redis ran but whose answer never came back (the connection broke) leaves the turn held by
/// the server's own token. That server has no claim out, so its next claim takes the turn over at
/// once instead of waiting out `mailbox_claim_ttl`; another server's turn still waits.
#[test]
fn a_turn_left_by_the_servers_own_lost_claim_is_taken_over_at_once() {
    support::init_log();
    let redis = RedisServer::start();
    let (b, rec_b) = redis_bus(&redis, "own");
    b.notify("eve", Payload::event("n", json!(1))).unwrap(); // nobody live: it waits
    let turn = "own:mbox-turn:eve";
    let other = "00000000000000ff:7";
    assert!(
        redis
            .command(&["SET", turn, other, "PX", "60000"])
            .unwrap()
            .starts_with("+OK")
    );
    b.register_as("eve", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    b.flush(WAIT).unwrap();
    assert!(
        rec_b.mailbox_events().is_empty(),
        "another server's turn was taken"
    );

    let lost = format!("{}:999", b.server_id());
    assert!(
        redis
            .command(&["SET", turn, &lost, "PX", "60000"])
            .unwrap()
            .starts_with("+OK")
    );
    b.notify("eve", Payload::event("n", json!(2))).unwrap();
    rec_b.wait_mailbox(2);
    assert_eq!(numbers(rec_b.mailbox_events()), [1, 2]);
}
