//! Buses on a real Redis Cluster (three masters, one replica each, spawned by the test): every target
//! kind over sharded pub/sub, URLs naming one node or several, and a master killed mid-stream whose
//! replica takes over while identity notifications keep flowing.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plezi_messaging::{Bus, BusConfig, BusError, Message, Payload, Recipients, Target};
use plezi_test_support::redis::Resp;
use plezi_test_support::redis_cluster::RedisCluster;
use serde_json::json;
use support::{Recorder, WAIT, config};

fn ev(n: i64) -> Payload {
    Payload::event("e", json!(n))
}

fn bus_on(url: &str, app: &str) -> (Bus, Arc<Recorder>) {
    let bus = Bus::redis(
        BusConfig {
            // Channels left by their last member are unsubscribed soon after (checked below).
            unsubscribe_grace: Duration::from_millis(200),
            ..config(app)
        },
        url,
    )
    .expect("bus");
    let rec = Recorder::attach(&bus);
    bus.flush(WAIT).expect("bus connects to the cluster");
    (bus, rec)
}

/// `CLUSTER KEYSLOT key`.
fn slot(cluster: &RedisCluster, key: &str) -> u16 {
    cluster.any().int(&["CLUSTER", "KEYSLOT", key]) as u16
}

/// Subscribers of a channel: `(classic on every node, sharded on its owner)`.
fn subscribers(cluster: &RedisCluster, channel: &str) -> (i64, i64) {
    let count = |port: u16, sub: &str| {
        let node = cluster
            .nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.server.as_ref())
            .expect("the owner is live");
        match node.query(&["PUBSUB", sub, channel]) {
            Ok(Resp::Array(items)) => match items.get(1) {
                Some(Resp::Int(n)) => *n,
                other => panic!("PUBSUB {sub}: {other:?}"),
            },
            other => panic!("PUBSUB {sub}: {other:?}"),
        }
    };
    let owner = cluster.master_of_slot(slot(cluster, channel));
    let classic: i64 = cluster.nodes.iter().map(|n| count(n.port, "NUMSUB")).sum();
    (classic, count(owner, "SHARDNUMSUB"))
}

#[test]
fn three_buses_exchange_every_target_over_sharded_pubsub() {
    support::init_log();
    let cluster = RedisCluster::start();
    // One node's URL, several, and another single node: each finds the whole cluster.
    let (a, rec_a) = bus_on(&cluster.url(0), "cl1");
    let (b, rec_b) = bus_on(&cluster.urls(), "cl1");
    let (c, rec_c) = bus_on(&cluster.url(4), "cl1");
    let a1 = a.connection_uuid(0, 1, 0);
    let b1 = b.connection_uuid(0, 1, 0);
    let c1 = c.connection_uuid(0, 1, 0);
    c.join_controller("Chat");
    c.subscribe(c1, "room.1");
    c.flush(WAIT).unwrap();
    // Channels on different shards keep no order between them (each channel's own order holds).
    support::exchange_every_target(&a, &b, &rec_b, false, false);

    // Every channel is a shard channel on its owner; none is a classic subscription.
    for (channel, n) in [
        ("cl1:all", 3),
        ("cl1:ctl:Chat", 2),
        ("cl1:ch:room.1", 2),
        (&format!("cl1:srv:{}", b.server_id()), 1),
        ("cl1:id:carol", 1),
    ] {
        assert_eq!(subscribers(&cluster, channel), (0, n), "{channel}");
    }

    // c, a member of Chat and room.1 only, got the multicasts, the broadcast and both room
    // publishes (the second was except b's member).
    let expected_c = vec![
        (Recipients::All { except: Some(a1) }, ev(1)),
        (
            Recipients::Controller {
                name: "Chat".into(),
                except: Some(a1),
            },
            ev(2),
        ),
        (Recipients::Listed(vec![c1]), ev(5)),
        (Recipients::Listed(vec![c1]), ev(6)),
        (Recipients::All { except: None }, support::raw_payload()),
        (Recipients::All { except: None }, ev(8)),
    ];
    let mut got_c = rec_c.wait("every target on c", |s| {
        (s.deliveries.len() >= expected_c.len()).then(|| {
            s.deliveries
                .iter()
                .map(|d| (d.recipients.clone(), d.payload.clone()))
                .collect::<Vec<_>>()
        })
    });
    got_c.sort_by_key(|(_, p)| expected_c.iter().position(|e| e.1 == *p));
    assert_eq!(got_c, expected_c);

    // A stored notification reaches the identity's server.
    a.notify("carol", ev(30)).unwrap();
    rec_b.wait_mailbox(1);
    assert_eq!(rec_b.mailbox_events(), vec![("e".to_owned(), json!(30))]);
    // A unicast to a connection of a server that is gone reaches nobody, and the sender hears so.
    let orphan = {
        let d = Bus::redis(config("cl1"), &cluster.url(2)).unwrap();
        d.connection_uuid(0, 1, 0)
    };
    a.publish(Message::new(Target::Unicast(orphan), ev(31)).from(a1))
        .unwrap();
    rec_a.wait("the failed unicast", |s| {
        (s.failed.len() == 1 && s.failed[0].1 == orphan).then_some(())
    });
    assert!(a.state().connected && b.state().connected && c.state().connected);
    // Three servers on the global channel (as last checked: the short-lived fourth bus leaves it).
    let peers = || [a.state().peers, b.state().peers, c.state().peers];
    assert!(
        plezi_test_support::wait_until(WAIT, || peers() == [3, 3, 3]),
        "peers {:?}",
        peers()
    );
    // Unsubscribing the last member leaves the shard channel.
    b.unsubscribe(b1, "room.1");
    c.unsubscribe(c1, "room.1");
    // After the grace period (as on one Redis).
    assert!(
        plezi_test_support::wait_until(WAIT, || subscribers(&cluster, "cl1:ch:room.1") == (0, 0)),
        "room.1 still has subscribers: {:?}",
        subscribers(&cluster, "cl1:ch:room.1")
    );
    // A join returns once the owner of its shard channel confirmed it: a publish right after it
    // from another server reaches the new member, with no flush in between.
    for n in 0..8 {
        let room = format!("late.{n}");
        c.subscribe(c1, &room);
        a.publish(Message::new(Target::Channel(room.clone()), ev(100 + n)))
            .unwrap();
        rec_c.wait("a publish right after a join", |s| {
            s.deliveries
                .iter()
                .any(|d| d.payload == ev(100 + n))
                .then_some(())
        });
    }
    // The session store works on the cluster through any node.
    let sessions =
        plezi_messaging::RedisSessionStore::new(&cluster.url(1), "cl1", Default::default())
            .unwrap();
    use plezi_messaging::SessionStore;
    for i in 0..20 {
        sessions.save(&format!("s{i}"), b"data").unwrap();
    }
    for i in 0..20 {
        assert_eq!(
            sessions.load(&format!("s{i}")).unwrap().as_deref(),
            Some(&b"data"[..])
        );
    }
}

#[test]
fn a_master_failover_loses_no_notification_and_traffic_resumes() {
    support::init_log();
    let mut cluster = RedisCluster::start();
    let (b, rec_b) = bus_on(&cluster.urls(), "fo1");
    // The master carrying b's server channel (its drain signals) dies mid-stream; it is the only
    // node a's URL names, so a must find the promoted replica through what the cluster told it.
    let victim = slot(&cluster, &format!("fo1:srv:{}", b.server_id()));
    let old = cluster.master_of_slot(victim);
    let (a, _rec_a) = bus_on(&format!("redis://127.0.0.1:{old}"), "fo1");
    let users: Vec<String> = (0..8).map(|i| format!("user-{i}")).collect();
    for (i, u) in users.iter().enumerate() {
        b.register_as(u, b.connection_uuid(0, i as u32 + 1, 0), None)
            .unwrap();
    }
    b.flush(WAIT).unwrap();

    // b's subscriber connections on the masters the failover leaves alone (by client id).
    let ssub = format!("name=fo1:ssub:{}", b.server_id());
    let untouched: Vec<u16> = cluster
        .masters()
        .into_iter()
        .filter(|p| *p != old)
        .collect();
    let b_subscribers = |cluster: &RedisCluster| -> Vec<String> {
        untouched
            .iter()
            .flat_map(|port| {
                let list = cluster.node(*port).command(&["CLIENT", "LIST"]).unwrap();
                list.lines()
                    .filter(|l| l.contains(&ssub))
                    .filter_map(|l| l.split(' ').next().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    // One channel of b on every master the failover leaves alone, so each has a connection to keep.
    for port in &untouched {
        let room = (0..)
            .map(|i| format!("room.{i}"))
            .find(|r| cluster.master_of_slot(slot(&cluster, &format!("fo1:ch:{r}"))) == *port)
            .unwrap();
        b.subscribe(b.connection_uuid(0, 100 + *port as u32, 0), &room);
    }
    b.flush(WAIT).unwrap();
    let before = b_subscribers(&cluster);
    assert_eq!(before.len(), untouched.len(), "{before:?}");

    let total = 400;
    let mut retried = 0;
    let started = Instant::now();
    let mut killed = false;
    for n in 0..total {
        if n == total / 4 {
            cluster.kill_master_of_slot(victim);
            killed = true;
        }
        let user = &users[n % users.len()];
        // A refused notification (the cluster is failing over) is retried until it is stored.
        loop {
            match a.notify(user, ev(n as i64)) {
                Ok(()) => break,
                Err(BusError::MailboxFull { .. } | BusError::StoreFull { .. }) => {
                    panic!("unexpected cap")
                }
                Err(e) => {
                    retried += 1;
                    assert!(
                        started.elapsed() < Duration::from_secs(40),
                        "notifications still refused after the failover: {e}"
                    );
                    std::thread::sleep(Duration::from_millis(20)); // the cluster is electing
                }
            }
        }
    }
    assert!(killed);
    cluster.wait_promoted(victim, old);
    // Traffic resumes: once b has resubscribed on the promoted master (a server hears nothing
    // published while it is not subscribed), a multicast after the failover arrives.
    b.flush(WAIT).unwrap();
    assert_eq!(
        b_subscribers(&cluster),
        before,
        "the failover of one shard broke b's subscriptions on the others"
    );
    a.publish(Message::new(Target::Multicast, ev(-1))).unwrap();
    rec_b.wait("a multicast after the failover", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(-1))
            .then_some(())
    });
    // Every notification arrives exactly once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let counts = loop {
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for (_, data) in rec_b.mailbox_events() {
            *counts.entry(data.as_i64().unwrap_or(-2)).or_default() += 1;
        }
        if counts.len() >= total || Instant::now() >= deadline {
            break counts;
        }
        std::thread::sleep(Duration::from_millis(50)); // polling with a deadline
    };
    let missing: Vec<usize> = (0..total)
        .filter(|n| !counts.contains_key(&(*n as i64)))
        .collect();
    let twice: Vec<(&i64, &usize)> = counts.iter().filter(|(_, c)| **c > 1).collect();
    eprintln!(
        "failover: {retried} notify calls refused during the election, {} delivered",
        counts.len()
    );
    assert!(missing.is_empty(), "lost notifications: {missing:?}");
    assert!(twice.is_empty(), "duplicated notifications: {twice:?}");
}

#[test]
fn a_notification_no_replica_confirms_is_reported_not_replicated() {
    support::init_log();
    let cluster = RedisCluster::start();
    let bus = Bus::redis(
        plezi_messaging::BusConfig {
            replica_ack_timeout: Duration::from_secs(2),
            ..config("nr1")
        },
        &cluster.url(0),
    )
    .unwrap();
    let _rec = Recorder::attach(&bus);
    bus.flush(WAIT).unwrap();
    bus.notify("dana", ev(1)).unwrap();
    // The mailbox of "dana" lives in the slot of its bucket's hash tag.
    let bucket = slot(&cluster, "dana") % 16;
    let master = cluster.master_of_slot(slot(&cluster, &format!("{{nr1:mb:{bucket}}}")));
    let replicas = cluster.replicas_of(master);
    assert_eq!(replicas.len(), 1, "one replica per master");
    let replica = cluster.nodes[replicas[0]].server.as_ref().unwrap();
    replica.pause(true);
    let refused = bus.notify("dana", ev(2));
    replica.pause(false);
    match refused {
        Err(BusError::NotReplicated { identity, waited }) => {
            assert_eq!(
                (identity.as_str(), waited),
                ("dana", Duration::from_secs(2))
            );
        }
        other => panic!("expected NotReplicated, got {other:?}"),
    }
    // Stored on the master all the same (the caller was told it may not survive a failover), and
    // confirmed again once the replica answers.
    let list = format!("{{nr1:mb:{bucket}}}:mbox:dana");
    let owner = cluster
        .nodes
        .iter()
        .find(|n| n.port == master)
        .and_then(|n| n.server.as_ref())
        .unwrap();
    assert_eq!(owner.int(&["LLEN", &list]), 2);
    bus.notify("dana", ev(3)).unwrap();
    assert_eq!(bus.mailbox_usage().unwrap().identities, 1);
}

#[test]
fn a_channel_whose_slot_moves_is_followed_to_its_new_owner() {
    support::init_log();
    let cluster = RedisCluster::start();
    let (a, _rec_a) = bus_on(&cluster.url(0), "mv1");
    let (b, rec_b) = bus_on(&cluster.url(1), "mv1");
    b.join_controller("Chat");
    b.flush(WAIT).unwrap();
    let chat = |n| {
        Message::new(
            Target::Broadcast {
                controller: "Chat".into(),
            },
            ev(n),
        )
    };
    a.publish(chat(1)).unwrap();
    rec_b.wait("the broadcast before the move", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(1))
            .then_some(())
    });

    // Reshard: the slot of the controller's channel moves to another master. Redis unsubscribes b
    // there (`sunsubscribe`) and answers a's next SPUBLISH with MOVED.
    let channel_slot = slot(&cluster, "mv1:ctl:Chat");
    let from = cluster.master_of_slot(channel_slot);
    let to = *cluster.masters().iter().find(|p| **p != from).unwrap();
    cluster.move_slot(channel_slot, to);
    assert!(
        plezi_test_support::wait_until(WAIT, || subscribers(&cluster, "mv1:ctl:Chat") == (0, 1)),
        "b resubscribes on the new owner: {:?}",
        subscribers(&cluster, "mv1:ctl:Chat")
    );
    a.publish(chat(2)).unwrap();
    rec_b.wait("the broadcast after the move", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(2))
            .then_some(())
    });
    let old = cluster.node(from);
    assert_eq!(
        old.query(&["PUBSUB", "SHARDNUMSUB", "mv1:ctl:Chat"])
            .ok()
            .map(|r| format!("{r:?}")),
        Some(format!(
            "{:?}",
            Resp::Array(vec![Resp::Bulk("mv1:ctl:Chat".into()), Resp::Int(0)])
        ))
    );
}

#[test]
fn a_server_that_is_gone_is_forgotten_when_a_signal_reaches_nobody() {
    support::init_log();
    let cluster = RedisCluster::start();
    let (a, _rec_a) = bus_on(&cluster.url(0), "pr1");
    let b_id = {
        let (b, _rec_b) = bus_on(&cluster.url(1), "pr1");
        b.register_as("pat", b.connection_uuid(0, 1, 0), None)
            .unwrap();
        b.flush(WAIT).unwrap();
        b.server_id()
        // b stops here without unregistering, as a crashed server would.
    };
    let bucket = slot(&cluster, "pat") % 16;
    let meta = format!("{{pr1:mb:{bucket}}}:mbox-meta:pat");
    let owner = cluster.node(cluster.master_of_slot(slot(&cluster, &meta)));
    let field = format!("s:{b_id}");
    assert_eq!(owner.int(&["HEXISTS", &meta, &field]), 1);
    a.notify("pat", ev(1)).unwrap();
    assert!(
        plezi_test_support::wait_until(WAIT, || owner.int(&["HEXISTS", &meta, &field]) == 0),
        "the gone server is still listed"
    );
}

/// A `rediss://` cluster URL: the bus (its own node connections through rustls), the mailbox store
/// and the session store (the `redis` crate's cluster client with the same certificates) all work
/// over TLS, through a master's or a replica's URL; a wrong CA is refused at start.
#[test]
fn a_tls_cluster_carries_the_bus_the_mailboxes_and_the_sessions() {
    use plezi_messaging::{RedisSessionStore, RedisTls, SessionStore, SessionStoreConfig};
    use plezi_test_support::tls::TestPki;
    support::init_log();
    let pki = TestPki::new();
    let cluster = RedisCluster::start_tls(&pki);
    let trusting = RedisTls {
        ca_file: Some(pki.ca()),
        ..RedisTls::default()
    };
    let tls_bus = |url: &str| {
        let bus = Bus::redis(
            BusConfig {
                redis_tls: trusting.clone(),
                ..config("cltls")
            },
            url,
        )
        .expect("bus on a TLS cluster");
        let rec = Recorder::attach(&bus);
        bus.flush(WAIT).expect("bus connects to the TLS cluster");
        (bus, rec)
    };
    let (a, _rec_a) = tls_bus(&cluster.tls_url(0));
    let (b, rec_b) = tls_bus(&cluster.tls_url(4));
    let b1 = b.connection_uuid(0, 1, 0);
    let b2 = b.connection_uuid(0, 2, 0);
    b.join_controller("Chat");
    b.subscribe(b1, "room.1");
    b.register_as("dave", b2, None).unwrap();
    a.publish(Message::new(Target::Multicast, ev(1))).unwrap();
    a.publish(Message::new(
        Target::Broadcast {
            controller: "Chat".into(),
        },
        ev(2),
    ))
    .unwrap();
    a.publish(Message::new(Target::Channel("room.1".into()), ev(3)))
        .unwrap();
    a.publish(Message::new(Target::Unicast(b2), ev(4))).unwrap();
    a.publish(Message::new(Target::Identity("dave".into()), ev(5)))
        .unwrap();
    a.notify("dave", ev(6)).unwrap();
    for n in 1..=5 {
        rec_b.wait("every target over the TLS cluster", |s| {
            s.deliveries
                .iter()
                .any(|d| d.payload == ev(n))
                .then_some(())
        });
    }
    rec_b.wait_mailbox(1);
    assert_eq!(rec_b.mailbox_events(), vec![("e".to_owned(), json!(6))]);
    assert_eq!(subscribers(&cluster, "cltls:id:dave"), (0, 1));

    // The session store, through a replica's URL: the cluster client finds the masters over TLS.
    let sessions = RedisSessionStore::with_tls(
        &cluster.tls_url(3),
        &trusting,
        "cltls",
        SessionStoreConfig::default(),
    )
    .unwrap();
    for i in 0..20 {
        sessions.save(&format!("s{i}"), b"data").unwrap();
    }
    for i in 0..20 {
        assert_eq!(
            sessions.load(&format!("s{i}")).unwrap().as_deref(),
            Some(&b"data"[..])
        );
    }

    // Trusting another CA: the bus refuses to start.
    let wrong = Bus::redis(
        BusConfig {
            redis_tls: RedisTls {
                ca_file: Some(pki.other_ca()),
                ..RedisTls::default()
            },
            ..config("cltls")
        },
        &cluster.tls_url(1),
    );
    assert!(matches!(wrong, Err(BusError::Tls(_))), "{:?}", wrong.err());
}
