//! The chat example as two processes sharing a real `redis-server`: broadcast, unicast (dm),
//! failed_unicast when the target's server is gone, notify (live and stored), across servers.
//! Needs `redis-server` (fails with a message when it is missing) and the built `chat` example
//! (`cargo test -p plezi` builds it).

mod support;

use serde_json::json;
use support::{ExampleProcess, RedisServer};

fn two_servers(redis: &RedisServer, app: &str) -> (ExampleProcess, ExampleProcess) {
    let env = [
        ("PL_REDIS_URL", redis.url()),
        ("PL_APP_NAME", app.to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (
        ExampleProcess::start("chat", &env),
        ExampleProcess::start("chat", &env),
    )
}

#[test]
fn two_chat_servers_behave_as_one_chat() {
    let redis = RedisServer::start();
    let (one, two) = two_servers(&redis, "chat-xp-one");
    let (mut a, mut b, mut c) = (one.ws("/chat"), two.ws("/chat"), two.ws("/chat"));
    let a_id = a.whoami();
    let b_id = b.whoami();
    assert_ne!(
        a_id[..16],
        b_id[..16],
        "the two processes have different server ids"
    );

    // chat: every other connection on every server.
    a.send(&json!({"event": "chat", "message": "hello all"}));
    let expected = json!({"event": "chat", "from": a_id, "message": "hello all"});
    assert_eq!(b.json(), expected);
    assert_eq!(c.json(), expected);
    a.nothing_before_echo("not-to-sender");

    // dm: only the target, on the other server.
    c.send(&json!({"event": "dm", "to": a_id, "message": "psst"}));
    let c_id = c.whoami();
    assert_eq!(
        a.json(),
        json!({"event": "dm", "from": c_id, "message": "psst"})
    );
    b.nothing_before_echo("dm-not-for-b");

    // notify, live: ann is on server one; the notice comes from server two.
    a.send(&json!({"event": "login", "user": "ann"}));
    assert_eq!(a.json(), json!({"event": "login", "user": "ann"}));
    for ws in [&mut b, &mut c] {
        assert_eq!(ws.json()["event"], "joined"); // presence broadcast
    }
    b.send(&json!({"event": "notify", "user": "ann", "message": "live"}));
    assert_eq!(a.json(), json!({"event": "notice", "message": "live"}));

    // notify, stored: bob is offline; he logs in on server one later.
    c.send(&json!({"event": "notify", "user": "bob", "message": "while away"}));
    c.nothing_before_echo("stored");
    let mut bob = one.ws("/chat");
    bob.send(&json!({"event": "login", "user": "bob"}));
    assert_eq!(bob.json(), json!({"event": "login", "user": "bob"}));
    assert_eq!(
        bob.json(),
        json!({"event": "notice", "message": "while away"})
    );
}

#[test]
fn a_dm_to_a_gone_server_answers_err_404() {
    let redis = RedisServer::start();
    let (mut one, two) = two_servers(&redis, "chat-xp-two");
    let mut a = one.ws("/chat");
    let a_id = a.whoami();
    let mut b = two.ws("/chat");
    b.nothing_before_echo("ready");
    one.kill();
    b.send(&json!({"event": "dm", "to": a_id, "message": "anyone?"}));
    assert_eq!(
        b.json_skipping(&["left"]),
        json!({"event": "err", "status": 404, "result": "not found",
               "request": {"event": "dm", "to": a_id, "message": "anyone?"}})
    );
}
