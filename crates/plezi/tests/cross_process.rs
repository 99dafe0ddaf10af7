//! Two (or three) servers sharing one real `redis-server` behave as one application: the chat
//! example (`examples/chat.rs`) runs as separate processes with `PL_REDIS_URL` set and different
//! ports; tungstenite clients talk to them. Multicast, which the chat example never sends, comes
//! from a small app built here with the `plezi` facade (in this test process, on the same bus).
//!
//! Proving "exactly once" and "not to the sender": a message published on Redis before another
//! reaches every subscribed server before it, so each check reads the *next* message after a
//! later barrier message that travels the same way (Redis ordering, not timing).
//!
//! Needs `redis-server` (the tests fail with an install hint when it is missing) and the `chat`
//! example (`cargo test -p plezi` builds it; it is built here when missing or stale).

mod support;

use plezi::plezi_messaging::{BusConfig, Engine};
use plezi::prelude::*;
use serde_json::json;
use support::{ExampleProcess, RedisServer, Resp, Ws};

/// Presence events the chat example broadcasts when a logged-in connection opens and closes
/// (`joined`, `left`).
const PRESENCE: &[&str] = &["joined", "left"];

/// A Redis server and chat example processes sharing it under one app name.
struct Cluster {
    // Field order is drop order: the servers stop before Redis does.
    servers: Vec<ExampleProcess>,
    redis: RedisServer,
    app: String,
}

impl Cluster {
    /// `n` chat servers on one fresh Redis, each subscribed before this returns.
    fn chat(app: &str, n: usize) -> Cluster {
        let redis = RedisServer::start();
        let url = redis.url();
        // One session key for every server: a session started on one is valid on the others.
        let env = [
            ("PL_REDIS_URL", url.as_str()),
            ("PL_APP_NAME", app),
            ("PL_SESSION_KEY", "cross-process-test-key-0123456789abcdef"),
        ];
        let servers = (0..n)
            .map(|_| ExampleProcess::start("chat", &env))
            .collect::<Vec<_>>();
        let cluster = Cluster {
            redis,
            app: app.to_owned(),
            servers,
        };
        cluster.wait_subscribed(n as i64);
        cluster
    }

    /// Waits until `n` servers listen on the global channel. (A server subscribes to the chat
    /// controller's channel when its first chat connection opens, before that connection's
    /// `on_open` runs.)
    fn wait_subscribed(&self, n: i64) {
        self.redis.wait_numsub(&format!("{}:all", self.app), n);
    }

    /// Waits until the server owning connection `uuid` listens on its own channel (unicasts).
    fn wait_server_channel(&self, uuid: &str, n: i64) {
        self.redis
            .wait_numsub(&format!("{}:srv:{}", self.app, &uuid[..16]), n);
    }

    /// A chat client of server `i`, named for failure messages.
    fn client(&self, i: usize, name: &str) -> Ws {
        self.servers[i].ws("/chat").named(name)
    }

    /// A chat client of server `i` logged in as `user`: the session starts with `POST /login`
    /// on the *next* server (sessions live in Redis, signed with the shared key), and the
    /// connection's `on_open` registers it as `user`.
    fn client_as(&self, i: usize, name: &str, user: &str) -> Ws {
        let login_on = &self.servers[(i + 1) % self.servers.len()];
        let cookie = login_on.login(user);
        Ws::connect_with_cookie(self.servers[i].addr, "/chat", &cookie).named(name)
    }

    /// Publishes a multicast envelope straight on Redis, as any program may (docs/protocol.md):
    /// every chat connection runs its `chat` handler with `data`. Used as a barrier that travels
    /// through Redis after everything published before it.
    fn publish_multicast_chat(&self, message: &str) -> Value {
        let data = json!({"event": "chat", "from": null, "message": message});
        let envelope = json!({"v": 1, "origin": "00000000000000aa", "kind": "multicast",
                              "event": "chat", "data": data});
        let channel = format!("{}:all", self.app);
        match self
            .redis
            .query(&["PUBLISH", &channel, &envelope.to_string()])
        {
            Ok(Resp::Int(n)) if n > 0 => data,
            other => panic!("PUBLISH {channel}: {other:?}"),
        }
    }

    /// The number of notifications stored for `user`.
    fn mailbox_len(&self, user: &str) -> i64 {
        match self
            .redis
            .query(&["LLEN", &format!("{}:mbox:{user}", self.app)])
        {
            Ok(Resp::Int(n)) => n,
            other => panic!("LLEN: {other:?}"),
        }
    }

    /// Waits until `user`'s mailbox holds `n` notifications.
    fn wait_mailbox_len(&self, user: &str, n: i64) {
        let started = std::time::Instant::now();
        loop {
            let now = self.mailbox_len(user);
            if now == n {
                return;
            }
            assert!(
                started.elapsed() < support::DEADLINE,
                "{user}'s mailbox holds {now} notifications, expected {n}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10)); // polling with a deadline
        }
    }
}

fn chat(from: &str, message: &str) -> Value {
    json!({"event": "chat", "from": from, "message": message})
}

fn notice(message: &str) -> Value {
    json!({"event": "notice", "message": message})
}

/// Checks that `ws` is registered as `user` (its `whoami`), when no stored notice is due.
fn assert_user(ws: &mut Ws, user: &str) {
    ws.send(&json!({"event": "whoami"}));
    let got = ws.json_skipping(PRESENCE);
    assert_eq!(got["user"], user, "whoami: {got}");
}

#[test]
fn chat_reaches_every_other_client_on_both_servers_once() {
    let cluster = Cluster::chat("xp-broadcast", 2);
    let mut clients = [
        cluster.client(0, "a1"),
        cluster.client(0, "a2"),
        cluster.client(1, "b1"),
        cluster.client(1, "b2"),
    ];
    let ids: Vec<String> = clients.iter_mut().map(Ws::whoami).collect();
    assert_ne!(
        ids[0][..16],
        ids[2][..16],
        "the two processes must have different server ids"
    );
    assert_eq!(ids[0][..16], ids[1][..16], "a1 and a2 share a server");

    // Rounds alternate between the servers; each round must be the very next message of every
    // other client. A copy to the sender or a duplicate would be read instead of a later round
    // (it travels before it, on the same Redis subscription or the same local queue).
    let rounds = [0, 2, 1, 3, 0, 2];
    for (round, &sender) in rounds.iter().enumerate() {
        let text = format!("round {round} from {}", ["a1", "a2", "b1", "b2"][sender]);
        clients[sender].send(&json!({"event": "chat", "message": text}));
        let expected = chat(&ids[sender], &text);
        for (i, ws) in clients.iter_mut().enumerate() {
            if i != sender {
                ws.expect(&[], &expected, &format!("round {round}"));
            }
        }
    }
    // The last round's sender (b1) must not have received it: a later round from the other
    // server arrives after any copy.
    clients[0].send(&json!({"event": "chat", "message": "last"}));
    clients[2].expect(&[], &chat(&ids[0], "last"), "b1 got its own chat back");
}

/// A controller of another type, in this process: `shout` multicasts a `chat` to every
/// WebSocket connection of the application on every server; `shout_raw` does it with the fast
/// path (pre-encoded text, no handler runs); `chat` deliveries are shown to the client.
#[derive(Default)]
struct Shout;

impl Shout {
    fn shout(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
        cx.multicast(
            "chat",
            json!({"event": "chat", "from": cx.id(), "message": msg["message"]}),
        )
    }

    fn shout_raw(&mut self, cx: &mut Ctx<'_>, msg: Value) -> Result<(), SendError> {
        cx.multicast_raw(msg["text"].as_str().unwrap_or_default())
    }

    fn show(&mut self, _cx: &mut Ctx<'_>, msg: Value) -> Value {
        msg
    }
}

impl Controller for Shout {
    fn events() -> Events<Self> {
        events![
            ws shout => Shout::shout,
            ws shout_raw => Shout::shout_raw,
            both echo => Shout::show,
            bus chat => Shout::show,
        ]
    }
}

#[test]
fn multicast_reaches_every_controller_type_on_every_server() {
    let cluster = Cluster::chat("xp-multicast", 2);
    let config = Config {
        host: "127.0.0.1".to_owned(),
        port: 0,
        threads: Some(2),
        bus: BusConfig {
            engine: Engine::Redis {
                url: cluster.redis.url(),
            },
            app_name: cluster.app.clone(),
            ..BusConfig::default()
        },
        ..Config::default()
    };
    let app = App::with_config(config)
        .route("/shout", Shout::default)
        .expect("the Shout route")
        .spawn()
        .expect("the in-process app starts");
    cluster
        .redis
        .wait_numsub(&format!("{}:all", cluster.app), 3);
    let shout_client = |name: &str| Ws::connect(app.local_addr(), "/shout").named(name);
    let (mut t1, mut t2) = (shout_client("t1"), shout_client("t2"));
    let (mut a1, mut b1) = (cluster.client(0, "a1"), cluster.client(1, "b1"));
    let a1_id = a1.whoami();

    // From the in-process app: chat clients on both example servers and the other Shout client.
    t1.send(&json!({"event": "shout", "message": "hello everyone"}));
    let t1_echo = {
        t1.send(&json!({"event": "echo", "marker": "t1"}));
        t1.json()
    };
    assert_eq!(t1_echo["marker"], "t1", "t1 got something before its echo");
    let shouted = a1.json();
    assert_eq!(shouted["event"], "chat");
    assert_eq!(shouted["message"], "hello everyone");
    let t1_id = shouted["from"]
        .as_str()
        .expect("from: t1's UUID")
        .to_owned();
    let expected = chat(&t1_id, "hello everyone");
    assert_eq!(shouted, expected, "a1 (chat server one)");
    b1.expect(&[], &expected, "b1 (chat server two)");
    t2.expect(&[], &expected, "t2 (same app, same process)");

    // The fast path: the same text, written as it is.
    let raw = r#"{"event":"chat","raw":true}"#;
    t2.send(&json!({"event": "shout_raw", "text": raw}));
    for ws in [&mut a1, &mut b1, &mut t1] {
        assert_eq!(ws.text(), raw, "multicast_raw writes the text as is");
    }

    // A chat broadcast reaches chat connections only, not the Shout controller.
    a1.send(&json!({"event": "chat", "message": "chat only"}));
    b1.expect(&[], &chat(&a1_id, "chat only"), "b1");
    // A barrier through Redis: anything published before it reaches the app first. Neither
    // shout sender saw its own multicast, and no Shout client saw the chat broadcast.
    let barrier = cluster.publish_multicast_chat("barrier");
    for ws in [&mut t1, &mut t2, &mut a1, &mut b1] {
        ws.expect(&[], &barrier, "the barrier comes next");
    }
    app.stop().expect("the in-process app stops");
}

#[test]
fn dm_goes_to_the_target_server_channel_only() {
    let cluster = Cluster::chat("xp-unicast", 2);
    let (mut a1, mut a2) = (cluster.client(0, "a1"), cluster.client(0, "a2"));
    let (mut b1, mut b2) = (cluster.client(1, "b1"), cluster.client(1, "b2"));
    let (a1_id, a2_id, b1_id) = (a1.whoami(), a2.whoami(), b1.whoami());
    cluster.wait_server_channel(&a1_id, 1);
    cluster.wait_server_channel(&b1_id, 1);
    let mut watch = cluster.redis.watch(&format!("{}:*", cluster.app));

    // Across servers: b1 -> a1.
    b1.send(&json!({"event": "dm", "to": a1_id, "message": "psst"}));
    a1.expect(
        &[],
        &json!({"event": "dm", "from": b1_id, "message": "psst"}),
        "a1",
    );
    // The other way: a1 -> b1, and on one server: a1 -> a2 (no Redis needed).
    a1.send(&json!({"event": "dm", "to": b1_id, "message": "back"}));
    b1.expect(
        &[],
        &json!({"event": "dm", "from": a1_id, "message": "back"}),
        "b1",
    );
    a1.send(&json!({"event": "dm", "to": a2_id, "message": "local"}));
    a2.expect(
        &[],
        &json!({"event": "dm", "from": a1_id, "message": "local"}),
        "a2",
    );
    // Bystanders got none of them.
    a2.nothing_before_echo("a2 saw only its dm");
    b2.nothing_before_echo("b2 saw no dm");

    // On Redis: each remote dm was published once, on the target server's channel only; the
    // local one not at all. (A marker published last bounds what is read.)
    let marker_channel = format!("{}:test-marker", cluster.app);
    assert!(matches!(
        cluster.redis.query(&["PUBLISH", &marker_channel, "end"]),
        Ok(Resp::Int(1))
    ));
    let published = watch.until(|channel, _| channel == marker_channel);
    let dms: Vec<(String, String)> = published
        .iter()
        .filter(|(_, payload)| payload.contains("\"dm\""))
        .map(|(channel, payload)| {
            let envelope: Value = serde_json::from_str(payload).expect("a JSON envelope");
            (channel.clone(), envelope["data"]["message"].to_string())
        })
        .collect();
    let srv = |id: &str| format!("{}:srv:{}", cluster.app, &id[..16]);
    assert_eq!(
        dms,
        vec![
            (srv(&a1_id), "\"psst\"".to_owned()),
            (srv(&b1_id), "\"back\"".to_owned())
        ],
        "dm envelopes on Redis (channel, message): {published:#?}"
    );
}

#[test]
fn dm_to_a_killed_server_answers_err_404() {
    let mut cluster = Cluster::chat("xp-failed-unicast", 2);
    let mut a1 = cluster.client(0, "a1");
    let a1_id = a1.whoami();
    let mut b1 = cluster.client(1, "b1");
    let b1_id = b1.whoami();
    cluster.wait_server_channel(&a1_id, 1);

    // While server one lives, the dm arrives.
    b1.send(&json!({"event": "dm", "to": a1_id, "message": "still there?"}));
    a1.expect(
        &[],
        &json!({"event": "dm", "from": b1_id, "message": "still there?"}),
        "a1",
    );

    // SIGKILL: no goodbye; Redis notices the closed connections.
    cluster.servers[0].kill();
    cluster.wait_server_channel(&a1_id, 0);
    b1.send(&json!({"event": "dm", "to": a1_id, "message": "anyone?"}));
    b1.expect(
        PRESENCE,
        &json!({"event": "err", "status": 404, "result": "not found",
                "request": {"event": "dm", "to": a1_id, "message": "anyone?"}}),
        "b1: failed_unicast after the target's server was killed",
    );

    // A server that never existed: the same answer.
    let nobody = "0123456789abcdef-0001-00000001-00000001";
    b1.send(&json!({"event": "dm", "to": nobody, "message": "hello?"}));
    b1.expect(
        PRESENCE,
        &json!({"event": "err", "status": 404, "result": "not found",
                "request": {"event": "dm", "to": nobody, "message": "hello?"}}),
        "b1: failed_unicast to an unknown server",
    );
    b1.nothing_before_echo("one err each");
}

#[test]
fn notify_waits_for_an_offline_user_and_arrives_once_in_order_at_login_elsewhere() {
    let cluster = Cluster::chat("xp-notify-offline", 2);
    let mut sender = cluster.client(1, "sender on two");
    let notes: Vec<String> = (1..=5).map(|i| format!("note {i}")).collect();
    for note in &notes {
        sender.send(&json!({"event": "notify", "user": "carol", "message": note}));
    }
    // Stored in Redis while carol is offline.
    cluster.wait_mailbox_len("carol", 5);

    // carol logs in and connects on the other server: every notice once, in order.
    let mut carol = cluster.client_as(0, "carol on one", "carol");
    for note in &notes {
        carol.expect(PRESENCE, &notice(note), "stored notices in order");
    }
    cluster.wait_mailbox_len("carol", 0);
    // Live now: the next notice comes next (no duplicate of the stored ones before it).
    sender.send(&json!({"event": "notify", "user": "carol", "message": "live"}));
    carol.expect(
        PRESENCE,
        &notice("live"),
        "a live notice after the stored ones",
    );
    cluster.wait_mailbox_len("carol", 0);

    // Logging in again (on server two) finds an empty mailbox.
    carol.close();
    let mut again = cluster.client_as(1, "carol again on two", "carol");
    assert_user(&mut again, "carol");
    again.only_echo(PRESENCE, "nothing was left in the mailbox");
    assert_eq!(cluster.mailbox_len("carol"), 0);
}

#[test]
fn notify_reaches_a_live_user_on_both_servers() {
    let cluster = Cluster::chat("xp-notify-live", 2);
    let mut dave_one = cluster.client_as(0, "dave on one", "dave");
    let mut dave_two = cluster.client_as(1, "dave on two", "dave");
    assert_user(&mut dave_one, "dave");
    assert_user(&mut dave_two, "dave");
    let mut sender = cluster.client(1, "sender on two");
    let mut other = cluster.client(0, "someone else on one");

    // From either server; each notice reaches both connections before the next is sent (notices
    // sent at once from two servers have no order).
    for i in 0..4 {
        let (ws, text) = match i % 2 {
            0 => (&mut sender, format!("n{i} from two")),
            _ => (&mut other, format!("n{i} from one")),
        };
        ws.send(&json!({"event": "notify", "user": "dave", "message": text}));
        for dave in [&mut dave_one, &mut dave_two] {
            dave.expect(PRESENCE, &notice(&text), "each notice once");
        }
    }
    // Several from one sender arrive in order.
    let burst: Vec<String> = (0..5).map(|i| format!("burst {i}")).collect();
    for text in &burst {
        sender.send(&json!({"event": "notify", "user": "dave", "message": text}));
    }
    for dave in [&mut dave_one, &mut dave_two] {
        for text in &burst {
            dave.expect(PRESENCE, &notice(text), "one sender's notices in order");
        }
    }
    cluster.wait_mailbox_len("dave", 0);
    // A later notice comes next: no duplicates were queued.
    other.send(&json!({"event": "notify", "user": "dave", "message": "last"}));
    for dave in [&mut dave_one, &mut dave_two] {
        dave.expect(
            PRESENCE,
            &notice("last"),
            "no duplicate before the last notice",
        );
    }
    // Nobody else got them.
    sender.only_echo(PRESENCE, "notices are for dave only");
    other.only_echo(PRESENCE, "notices are for dave only");
}

#[test]
fn ajaj_echo_and_notify_over_http_post() {
    let cluster = Cluster::chat("xp-ajaj", 2);
    let (one, two) = (&cluster.servers[0], &cluster.servers[1]);

    // echo: the same JSON object shape as over WebSocket, as application/json.
    let reply = one.post_json("/chat", &json!({"id": "echo", "text": "over http", "n": 1}));
    assert_eq!(reply.status, 200, "echo over AJAJ: {reply:?}");
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "content type: {reply:?}"
    );
    assert_eq!(
        reply.json(),
        json!({"event": "echo", "id": "echo", "text": "over http", "n": 1})
    );

    // notify from server two's HTTP side: erin is live on server one.
    let mut erin = cluster.client_as(0, "erin on one", "erin");
    assert_user(&mut erin, "erin");
    let reply = two.post_json(
        "/chat",
        &json!({"id": "notify", "user": "erin", "message": "by post"}),
    );
    assert_eq!(reply.status, 200, "notify over AJAJ: {reply:?}");
    assert!(reply.body.is_empty(), "notify answers nothing: {reply:?}");
    erin.expect(PRESENCE, &notice("by post"), "a notice sent over AJAJ");

    // ...and frank is offline: he gets it when he next connects logged in, on server two.
    let reply = one.post_json(
        "/chat",
        &json!({"id": "notify", "user": "frank", "message": "stored by post"}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    cluster.wait_mailbox_len("frank", 1);
    let mut frank = cluster.client_as(1, "frank on two", "frank");
    frank.expect(PRESENCE, &notice("stored by post"), "a stored AJAJ notice");

    // Unknown and WebSocket-only events: 404 with the err object.
    for id in ["no_such_event", "whoami", "chat"] {
        let body = json!({"id": id, "x": 1});
        let reply = two.post_json("/chat", &body);
        assert_eq!(reply.status, 404, "{id} over AJAJ: {reply:?}");
        let err = reply.json();
        assert_eq!(
            (&err["event"], &err["status"], &err["result"]),
            (&json!("err"), &json!(404), &json!("not found")),
            "{err}"
        );
        assert_eq!(err["request"]["id"], id, "{err}");
    }
}
