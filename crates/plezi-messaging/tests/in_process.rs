//! The in-process engine: every target kind, `except`, failed unicasts, and mailbox semantics.

mod support;

use plezi_messaging::{
    Bus, BusConfig, BusError, ConnectionUuid, MailboxLimit, Message, Payload, Recipients, ServerId,
    Target,
};
use serde_json::json;
use support::{Recorder, WAIT};

fn bus() -> (Bus, std::sync::Arc<Recorder>) {
    let bus = Bus::in_process(BusConfig {
        app_name: "t".into(),
        ..BusConfig::default()
    });
    let rec = Recorder::attach(&bus);
    (bus, rec)
}

#[test]
fn every_target_kind_reaches_the_right_local_connections() {
    let (bus, rec) = bus();
    let a = bus.connection_uuid(0, 1, 0);
    let b = bus.connection_uuid(1, 2, 0);
    let c = bus.connection_uuid(1, 3, 7);
    bus.subscribe(a, "news.sport");
    bus.psubscribe(b, "news.*");
    bus.psubscribe(c, "other.*");
    bus.register_as("u1", c, None).unwrap();
    let ev = || Payload::event("e", json!(1));

    bus.publish(Message::new(Target::Multicast, ev()).from_except(a))
        .unwrap();
    bus.publish(
        Message::new(
            Target::Broadcast {
                controller: "Chat".into(),
            },
            ev(),
        )
        .except(b),
    )
    .unwrap();
    bus.publish(Message::new(Target::Unicast(c), ev()).from(a))
        .unwrap();
    bus.publish(Message::new(Target::Channel("news.sport".into()), ev()))
        .unwrap();
    bus.publish(Message::new(Target::Channel("news.sport".into()), ev()).except(a))
        .unwrap();
    bus.publish(Message::new(Target::Channel("nobody".into()), ev()))
        .unwrap();
    bus.publish(Message::new(Target::Identity("u1".into()), ev()))
        .unwrap();
    bus.publish(Message::new(Target::Identity("u1".into()), ev()).except(c))
        .unwrap();

    let seen = rec.seen.lock().unwrap();
    let got: Vec<_> = seen
        .deliveries
        .iter()
        .map(|d| (d.target.clone(), d.recipients.clone(), d.from))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Target::Multicast,
                Recipients::All { except: Some(a) },
                Some(a)
            ),
            (
                Target::Broadcast {
                    controller: "Chat".into()
                },
                Recipients::Controller {
                    name: "Chat".into(),
                    except: Some(b)
                },
                None
            ),
            (Target::Unicast(c), Recipients::Listed(vec![c]), Some(a)),
            (
                Target::Channel("news.sport".into()),
                Recipients::Listed(vec![a, b]),
                None
            ),
            (
                Target::Channel("news.sport".into()),
                Recipients::Listed(vec![b]),
                None
            ),
            (
                Target::Identity("u1".into()),
                Recipients::Listed(vec![c]),
                None
            ),
        ]
    );
}

#[test]
fn unsubscribe_and_forget_stop_deliveries() {
    let (bus, rec) = bus();
    let a = bus.connection_uuid(0, 1, 0);
    bus.subscribe(a, "x");
    bus.psubscribe(a, "y*");
    bus.unsubscribe(a, "x");
    bus.publish(Message::new(Target::Channel("x".into()), Payload::raw("1")))
        .unwrap();
    bus.publish(Message::new(
        Target::Channel("yz".into()),
        Payload::raw("2"),
    ))
    .unwrap();
    bus.forget(a);
    bus.publish(Message::new(
        Target::Channel("yz".into()),
        Payload::raw("3"),
    ))
    .unwrap();
    let seen = rec.seen.lock().unwrap();
    assert_eq!(seen.deliveries.len(), 1);
    assert_eq!(seen.deliveries[0].payload, Payload::raw("2"));
}

#[test]
fn unicast_to_another_server_fails_and_to_self_except_is_skipped() {
    let (bus, rec) = bus();
    let me = bus.connection_uuid(0, 1, 0);
    let elsewhere = ConnectionUuid::new(ServerId::from_u64(1), 0, 1, 0);
    bus.publish(Message::new(Target::Unicast(elsewhere), Payload::raw("x")).from(me))
        .unwrap();
    bus.publish(Message::new(Target::Unicast(me), Payload::raw("y")).except(me))
        .unwrap();
    let seen = rec.seen.lock().unwrap();
    assert_eq!(seen.failed, vec![(Some(me), elsewhere, Payload::raw("x"))]);
    assert!(seen.deliveries.is_empty());
    assert_eq!(bus.state().failed_unicasts, 1);
}

#[test]
fn mailbox_keeps_offline_notifications_in_order_until_register() {
    let (bus, rec) = bus();
    for i in 0..50 {
        bus.notify_event("u", "n", json!(i)).unwrap();
    }
    bus.flush(WAIT).unwrap();
    assert!(rec.mailbox_events().is_empty());
    let conn = bus.connection_uuid(0, 1, 0);
    bus.register_as("u", conn, None).unwrap();
    rec.wait_mailbox(50);
    let events = rec.mailbox_events();
    assert_eq!(
        events,
        (0..50)
            .map(|i| ("n".to_string(), json!(i)))
            .collect::<Vec<_>>()
    );
    assert!(
        rec.seen
            .lock()
            .unwrap()
            .mailbox
            .iter()
            .all(|(id, conns, _)| id == "u" && conns == &vec![conn])
    );
    // Live now: new notifications arrive at once, and nothing repeats.
    bus.notify_event("u", "n", json!(50)).unwrap();
    rec.wait("message 50", |s| {
        (s.mailbox.iter().map(|(_, _, p)| p.len()).sum::<usize>() == 51).then_some(())
    });
    bus.flush(WAIT).unwrap();
    assert_eq!(rec.mailbox_events().len(), 51);
}

#[test]
fn a_dropped_claim_returns_messages_to_the_head_in_order() {
    let (bus, rec) = bus();
    let conn = bus.connection_uuid(0, 1, 0);
    rec.hold_claims(true);
    // Both wait before the connection registers, so its one claim holds both.
    bus.notify_event("u", "n", json!(1)).unwrap();
    bus.notify_event("u", "n", json!(2)).unwrap();
    bus.register_as("u", conn, None).unwrap();
    rec.wait("a held claim", |s| (!s.held.is_empty()).then_some(()));
    // The connection "closed" before the messages were written: drop the claim.
    bus.forget(conn);
    drop(rec.take_held());
    bus.notify_event("u", "n", json!(3)).unwrap();
    bus.flush(WAIT).unwrap();
    assert!(rec.mailbox_events().is_empty());
    rec.hold_claims(false);
    let conn2 = bus.connection_uuid(0, 1, 1);
    bus.register_as("u", conn2, None).unwrap();
    rec.wait("3 messages", |s| {
        (s.mailbox.iter().map(|(_, _, p)| p.len()).sum::<usize>() == 3).then_some(())
    });
    let nums: Vec<_> = rec.mailbox_events().into_iter().map(|(_, d)| d).collect();
    assert_eq!(nums, vec![json!(1), json!(2), json!(3)]);
    // The redelivery carries the ids the messages were stored with; every id is unique.
    let ids = rec.seen.lock().unwrap().mail_ids.clone();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(ids[..2], ids[2..4], "redelivered with the same ids");
    assert_ne!(ids[0], ids[1]);
    assert!(!ids[..2].contains(&ids[4]));
}

// Lifespans (expiry, renewal on access) are deadlines: they are tested on a hand-driven clock in
// src/mailbox/memory.rs, not here with sleeps.

#[test]
fn a_full_mailbox_refuses_with_an_error() {
    let bus = Bus::in_process(BusConfig {
        mailbox_max_messages: 3,
        ..BusConfig::default()
    });
    for i in 0..3 {
        bus.notify_event("u", "n", json!(i)).unwrap();
    }
    assert!(matches!(
        bus.notify_event("u", "n", json!(3)),
        Err(BusError::MailboxFull {
            limit: MailboxLimit::Messages(3),
            ..
        })
    ));
}

#[test]
fn register_as_refuses_foreign_connections() {
    let (bus, _) = bus();
    let foreign = ConnectionUuid::new(ServerId::from_u64(5), 0, 0, 0);
    assert!(matches!(
        bus.register_as("u", foreign, None),
        Err(BusError::Config(_))
    ));
}
