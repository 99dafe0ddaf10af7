//! Redis killed and restarted mid-stream: nothing queued or in flight is lost, subscriptions come back.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use plezi_messaging::{Message, Payload, Target};
use serde_json::json;
use support::{RedisServer, WAIT, redis_bus};

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    plezi_test_support::eventually(what, || f().then_some(()));
}

#[test]
fn redis_restart_mid_stream_loses_nothing_queued_and_resubscribes() {
    support::init_log();
    let mut redis = RedisServer::start();
    let (a, rec_a) = redis_bus(&redis, "fault");
    let (b, rec_b) = redis_bus(&redis, "fault");
    let a1 = a.connection_uuid(0, 1, 0);
    let b1 = b.connection_uuid(0, 1, 0);
    b.subscribe(b1, "stream");
    b.psubscribe(b1, "pat.*");
    a.subscribe(a1, "back");
    a.flush(WAIT).unwrap();
    b.flush(WAIT).unwrap();
    // A's publisher learns how many servers listen (it waits for as many after an outage).
    wait_until("a to see both servers", || a.state().peers >= 2);

    const N: usize = 3000;
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (a, published) = (a.clone(), published.clone());
        std::thread::spawn(move || {
            for i in 0..N {
                a.publish(Message::new(
                    Target::Channel("stream".into()),
                    Payload::event("n", json!(i)),
                ))
                .expect("the queue has room for every message");
                published.store(i + 1, Ordering::SeqCst);
                if i % 8 == 0 {
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
        })
    };
    wait_until("a third of the stream", || {
        published.load(Ordering::SeqCst) >= N / 3
    });
    // A crash also loses what Redis acknowledged but had not yet written to a subscriber (pub/sub is
    // at-most-once there, see docs/scaling.md); that is Redis's part, not measured here. So Redis
    // first stops running publishes (those sent from now on stay unanswered: in flight when it
    // dies), writes out what it owes its subscribers, and only then dies.
    redis
        .command(&["CLIENT", "PAUSE", "60000", "WRITE"])
        .unwrap();
    wait_until("Redis to write out what it owes its subscribers", || {
        let clients = redis.command(&["CLIENT", "LIST"]).unwrap();
        let subscribers: Vec<&str> = clients
            .lines()
            .filter(|l| l.contains("name=fault:sub:"))
            .collect();
        subscribers.len() == 2
            && subscribers
                .iter()
                .all(|l| l.contains(" obl=0 ") && l.contains(" oll=0 "))
    });
    redis.kill();
    wait_until("a to notice the outage", || !a.state().connected);
    wait_until("two thirds of the stream", || {
        published.load(Ordering::SeqCst) >= 2 * N / 3
    });
    let queued_while_down = a.state().queued;
    assert!(
        queued_while_down > 0,
        "publishes made during the outage must wait in the queue"
    );
    redis.restart();
    publisher.join().unwrap();
    a.flush(WAIT)
        .expect("everything queued reaches Redis after the restart");

    let last = json!(N - 1);
    rec_b.wait("the whole stream on b", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == Payload::event("n", last.clone()))
            .then_some(())
    });
    let got: Vec<usize> = rec_b
        .events()
        .into_iter()
        .map(|(_, d)| d.as_u64().expect("number") as usize)
        .collect();
    assert_eq!(
        got.len(),
        N,
        "lost or repeated messages (first gap at {:?})",
        first_gap(&got)
    );
    assert!(
        got.iter().enumerate().all(|(i, &n)| i == n),
        "out of order (first gap at {:?})",
        first_gap(&got)
    );

    // Subscriptions came back on both sides, patterns too.
    b.flush(WAIT).unwrap();
    a.publish(Message::new(
        Target::Channel("pat.x".into()),
        Payload::raw("p"),
    ))
    .unwrap();
    b.publish(Message::new(
        Target::Channel("back".into()),
        Payload::raw("q"),
    ))
    .unwrap();
    rec_b.wait("the pattern publish", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == Payload::raw("p"))
            .then_some(())
    });
    rec_a.wait("b's publish on a", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == Payload::raw("q"))
            .then_some(())
    });

    // b can receive a's publish before a has read Redis's reply to it, which is when it leaves
    // a's queue.
    wait_until("a's publish queue to empty", || a.state().queued == 0);
    let (sa, sb) = (a.state(), b.state());
    assert!(sa.connected && sb.connected);
    assert!(sa.reconnects >= 1 && sb.reconnects >= 1, "{sa:?} {sb:?}");
    assert_eq!((sa.rejected, sa.dropped, sb.dropped), (0, 0, 0));
}

fn first_gap(got: &[usize]) -> Option<(usize, usize)> {
    got.iter()
        .enumerate()
        .find(|(i, n)| i != *n)
        .map(|(i, &n)| (i, n))
}

#[test]
fn a_bus_started_while_redis_is_down_queues_and_connects_later() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    let a = plezi_messaging::Bus::redis(support::config("late"), &url)
        .expect("starting does not need Redis");
    let rec = support::Recorder::attach(&a);
    a.publish(Message::new(Target::Multicast, Payload::raw("early")))
        .unwrap();
    assert!(!a.state().connected);
    // Local receivers were served at once anyway.
    assert_eq!(rec.seen.lock().unwrap().deliveries.len(), 1);
    redis.restart();
    a.flush(WAIT).unwrap();
    let s = a.state();
    assert!(s.connected && s.queued == 0 && s.published >= 1, "{s:?}");
}
