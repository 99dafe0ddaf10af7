//! TLS to Redis (`rediss://`): a real `redis-server --tls-port` with a CA and certificates made by the
//! test. Two buses exchange every target and an identity's mailbox over TLS; the session store works
//! over TLS; a server that requires client certificates gets one; a wrong CA, a missing client
//! certificate, a bad file and a plain URL with TLS settings are refused at start with the documented
//! errors.

mod support;

use std::sync::Arc;

use plezi_messaging::{
    Bus, BusConfig, BusError, Message, Payload, RedisSessionStore, RedisTls, SessionStore,
    SessionStoreConfig, Target,
};
use plezi_test_support::tls::TestPki;
use serde_json::json;
use support::{Recorder, RedisServer, WAIT};

fn ev(n: i64) -> Payload {
    Payload::event("e", json!(n))
}

fn trusting(pki: &TestPki) -> RedisTls {
    RedisTls {
        ca_file: Some(pki.ca()),
        ..RedisTls::default()
    }
}

fn with_client_cert(pki: &TestPki) -> RedisTls {
    RedisTls {
        ca_file: Some(pki.ca()),
        cert_file: Some(pki.client_cert()),
        key_file: Some(pki.client_key()),
    }
}

fn tls_bus(url: &str, app: &str, tls: RedisTls) -> (Bus, Arc<Recorder>) {
    let config = BusConfig {
        redis_tls: tls,
        ..support::config(app)
    };
    let bus = Bus::redis(config, url).expect("bus over TLS");
    let rec = Recorder::attach(&bus);
    bus.flush(WAIT).expect("bus connects over TLS");
    (bus, rec)
}

/// The local ports of every client connection Redis has, but the `CLIENT LIST` one itself.
fn client_ports(redis: &RedisServer) -> Vec<u16> {
    let list = redis.command(&["CLIENT", "LIST"]).unwrap();
    list.lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .filter_map(|l| {
            let laddr = l.split(' ').find_map(|f| f.strip_prefix("laddr="))?;
            laddr.rsplit(':').next()?.parse().ok()
        })
        .collect()
}

#[test]
fn two_buses_exchange_every_target_and_mailboxes_over_tls() {
    support::init_log();
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, false);
    let url = redis.tls_url();
    let (a, rec_a) = tls_bus(&url, "tls1", trusting(&pki));
    let (b, rec_b) = tls_bus(&url, "tls1", trusting(&pki));
    support::exchange_every_target(&a, &b, &rec_b, true, true);
    redis.wait_numsub("tls1:ctl:Chat", 1);

    // A large envelope crosses many TLS records.
    let big = Payload::event("big", json!("x".repeat(200_000)));
    a.publish(Message::new(Target::Multicast, big.clone()))
        .unwrap();
    rec_b.wait("the large multicast on b", |s| {
        s.deliveries.iter().any(|d| d.payload == big).then_some(())
    });

    // And the other way round, while b's subscriber thread keeps reading.
    b.publish(Message::new(Target::Multicast, ev(20))).unwrap();
    rec_a.wait("b's multicast on a", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(20))
            .then_some(())
    });

    // The mailbox store (the `redis` crate's connection) over TLS: stored for an offline identity,
    // claimed by the server where it connects.
    for i in 0..20u64 {
        a.notify_event("dave", "mail", json!(i)).unwrap();
    }
    assert_eq!(
        redis.command(&["LLEN", "tls1:mbox:dave"]).unwrap(),
        ":20\r\n"
    );
    b.register_as("dave", b.connection_uuid(0, 9, 0), None)
        .unwrap();
    rec_b.wait_mailbox(20);
    let mail: Vec<u64> = rec_b
        .mailbox_events()
        .into_iter()
        .filter_map(|(_, d)| d.as_u64())
        .collect();
    assert_eq!(mail, (0..20).collect::<Vec<_>>());

    // Subscribing from another thread while the subscriber blocks in a TLS read.
    let c1 = b.connection_uuid(2, 7, 0);
    std::thread::scope(|s| {
        s.spawn(|| b.subscribe(c1, "late"));
    });
    b.flush(WAIT).unwrap();
    a.publish(Message::new(Target::Channel("late".into()), ev(21)))
        .unwrap();
    rec_b.wait("a publish on a channel subscribed late", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(21))
            .then_some(())
    });

    // Every connection of both buses and both stores is on the TLS port.
    let ports = client_ports(&redis);
    assert!(ports.len() >= 5, "{ports:?}");
    assert!(
        ports.iter().all(|p| *p == redis.tls_port()),
        "a connection on the plain port: {ports:?}"
    );
    assert_eq!(a.state().dropped + b.state().dropped, 0);
}

#[test]
fn the_session_store_works_over_tls() {
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, false);
    let store = RedisSessionStore::with_tls(
        &redis.tls_url(),
        &trusting(&pki),
        "tls2",
        SessionStoreConfig::default(),
    )
    .unwrap();
    store.save("s1", br#"{"user":1}"#).unwrap();
    assert_eq!(
        store.load("s1").unwrap().as_deref(),
        Some(&br#"{"user":1}"#[..])
    );
    assert!(redis.command(&["EXISTS", "tls2:session:s1"]).unwrap() == ":1\r\n");
    store.remove("s1").unwrap();
    assert_eq!(store.load("s1").unwrap(), None);
    assert!(client_ports(&redis).iter().all(|p| *p == redis.tls_port()));

    // Trusting the wrong CA, every call fails (the session reads as absent upstream).
    let wrong = RedisSessionStore::with_tls(
        &redis.tls_url(),
        &RedisTls {
            ca_file: Some(pki.other_ca()),
            ..RedisTls::default()
        },
        "tls2",
        SessionStoreConfig::default(),
    )
    .unwrap();
    assert!(matches!(wrong.load("s1"), Err(BusError::Redis(_))));
}

#[test]
fn a_server_that_requires_client_certificates_accepts_ours_and_refuses_none() {
    support::init_log();
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, true);
    let url = redis.tls_url();

    let err = Bus::redis(
        BusConfig {
            redis_tls: trusting(&pki),
            ..support::config("tls3")
        },
        &url,
    )
    .err()
    .unwrap_or_else(|| panic!("no client certificate is refused at start"));
    let text = err.to_string();
    assert!(matches!(err, BusError::Tls(_)), "{err:?}");
    assert!(text.contains("PL_REDIS_CERT_FILE"), "{text}");

    let (a, _) = tls_bus(&url, "tls3", with_client_cert(&pki));
    let (b, rec_b) = tls_bus(&url, "tls3", with_client_cert(&pki));
    a.publish(Message::new(Target::Multicast, ev(1))).unwrap();
    rec_b.wait("a multicast with client certificates", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(1))
            .then_some(())
    });
    a.notify_event("erin", "mail", json!(1)).unwrap();
    b.register_as("erin", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    rec_b.wait_mailbox(1);

    let store = RedisSessionStore::with_tls(
        &url,
        &with_client_cert(&pki),
        "tls3",
        SessionStoreConfig::default(),
    )
    .unwrap();
    store.save("s", b"1").unwrap();
    assert_eq!(store.load("s").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn a_wrong_ca_or_a_bad_setting_is_refused_at_start() {
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, false);
    let start = |url: &str, tls: RedisTls| {
        Bus::redis(
            BusConfig {
                redis_tls: tls,
                ..support::config("tls4")
            },
            url,
        )
        .err()
        .unwrap_or_else(|| panic!("refused at start"))
    };

    // A server certificate the trusted CA did not sign.
    let err = start(
        &redis.tls_url(),
        RedisTls {
            ca_file: Some(pki.other_ca()),
            ..RedisTls::default()
        },
    );
    assert!(matches!(err, BusError::Tls(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("does not verify"), "{text}");
    assert!(text.contains("PL_REDIS_CA_FILE"), "{text}");

    // The system roots do not know the test CA either.
    let err = start(&redis.tls_url(), RedisTls::default());
    assert!(matches!(err, BusError::Tls(_)), "{err:?}");

    // A plain URL with TLS settings.
    let err = start(&redis.url(), trusting(&pki));
    assert!(
        matches!(&err, BusError::Config(m) if m.contains("rediss://")),
        "{err:?}"
    );

    // A missing file, a file that is not PEM, half a client certificate.
    let err = start(
        &redis.tls_url(),
        RedisTls {
            ca_file: Some(pki.dir().join("missing.pem")),
            ..RedisTls::default()
        },
    );
    assert!(
        matches!(&err, BusError::Tls(m) if m.contains("cannot read")),
        "{err:?}"
    );
    let err = start(
        &redis.tls_url(),
        RedisTls {
            ca_file: Some(pki.server_key()),
            ..RedisTls::default()
        },
    );
    assert!(
        matches!(&err, BusError::Tls(m) if m.contains("no PEM certificate")),
        "{err:?}"
    );
    let err = start(
        &redis.tls_url(),
        RedisTls {
            cert_file: Some(pki.client_cert()),
            ..trusting(&pki)
        },
    );
    assert!(
        matches!(&err, BusError::Config(m) if m.contains("PL_REDIS_KEY_FILE")),
        "{err:?}"
    );
    // A key that is not the certificate's.
    let err = start(
        &redis.tls_url(),
        RedisTls {
            cert_file: Some(pki.client_cert()),
            key_file: Some(pki.server_key()),
            ..trusting(&pki)
        },
    );
    assert!(
        matches!(&err, BusError::Tls(m) if m.contains("do not go together")),
        "{err:?}"
    );

    // Nothing was left connected by the refused starts.
    assert!(
        plezi_test_support::wait_until(WAIT, || client_ports(&redis).is_empty()),
        "{:?}",
        client_ports(&redis)
    );
}

#[test]
fn tls_buses_keep_alive_and_ride_out_a_redis_restart() {
    support::init_log();
    let pki = TestPki::new();
    let mut redis = RedisServer::start_tls(&pki, true);
    let url = redis.tls_url();
    let quick = |app: &str| {
        let config = BusConfig {
            redis_tls: with_client_cert(&pki),
            health_interval: std::time::Duration::from_millis(100),
            ..support::config(app)
        };
        let bus = Bus::redis(config, &url).expect("bus over TLS");
        let rec = Recorder::attach(&bus);
        bus.flush(WAIT).expect("bus connects over TLS");
        (bus, rec)
    };
    let (a, _) = quick("tls5");
    let (b, rec_b) = quick("tls5");
    b.join_controller("Chat");
    b.flush(WAIT).unwrap();

    // An idle subscriber PINGs through its writer and reads the answer, over TLS.
    let pinged = plezi_test_support::wait_until(WAIT, || {
        let list = redis.command(&["CLIENT", "LIST"]).unwrap();
        list.lines()
            .any(|l| l.contains("name=tls5:sub:") && l.contains("cmd=ping"))
    });
    assert!(pinged, "no subscriber PING seen");

    redis.restart();
    let back = plezi_test_support::wait_until(WAIT, || {
        [&a, &b]
            .iter()
            .all(|bus| bus.state().reconnects >= 2 && bus.state().connected)
    });
    assert!(back, "{:?} {:?}", a.state(), b.state());
    redis.wait_numsub("tls5:ctl:Chat", 1);
    a.flush(WAIT).unwrap();
    let chat = Target::Broadcast {
        controller: "Chat".into(),
    };
    a.publish(Message::new(chat, ev(1))).unwrap();
    rec_b.wait("a broadcast after the restart", |s| {
        s.deliveries
            .iter()
            .any(|d| d.payload == ev(1))
            .then_some(())
    });
    a.notify_event("fay", "mail", json!(1)).unwrap();
    b.register_as("fay", b.connection_uuid(0, 1, 0), None)
        .unwrap();
    rec_b.wait_mailbox(1);
}
