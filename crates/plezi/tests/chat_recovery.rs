//! The chat example's room keeps a history: a page that reconnects with the last position it saw
//! gets the messages sent while it was away, in order, then the `_recovered_` report — in one
//! process, and with Redis on another process than the one it left (the history lives in Redis).

mod support;

use plezi_test_support::http::encode_query;
use serde_json::{Value, json};
use support::{ExampleProcess, RedisServer, Ws};

/// The query string of a reconnect naming `position`.
fn recover_query(position: &Value) -> String {
    format!(
        "/chat?_recover_={}",
        encode_query(&json!([position]).to_string())
    )
}

#[test]
fn a_reconnecting_page_gets_the_chat_it_missed() {
    let chat = ExampleProcess::start("chat", &[]);
    missed_chat_is_recovered(&chat, &chat);
}

#[test]
fn with_redis_a_page_recovers_on_another_process() {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [("PL_REDIS_URL", url.as_str()), ("PL_APP_NAME", "chatrec")];
    let first = ExampleProcess::start("chat", &env);
    let second = ExampleProcess::start("chat", &env);
    redis.wait_numsub("chatrec:all", 2);
    missed_chat_is_recovered(&first, &second);
}

/// A reader on `left` sees a line, leaves; two more lines are said on `left`; the reader comes
/// back on `back_on` naming its last position and gets the two, in order, then the report.
fn missed_chat_is_recovered(left: &ExampleProcess, back_on: &ExampleProcess) {
    // A member on `back_on` first, so it hears the room (and the lines below) already.
    let mut bystander = back_on.ws("/chat");
    bystander.nothing_before_echo("ready");
    let mut talker = left.ws("/chat");
    let mut reader = left.ws("/chat");
    reader.nothing_before_echo("ready");
    talker.send(&json!({"event": "chat", "message": "first"}));
    let first = reader.json_skipping(&["joined", "left"]);
    assert_eq!(first["message"], "first", "{first}");
    let position = first["_pos_"].clone();
    assert!(
        position["o"].is_u64(),
        "chat messages carry their position: {first}"
    );
    reader.close();
    for text in ["second", "third"] {
        talker.send(&json!({"event": "chat", "message": text}));
    }
    talker.nothing_before_echo("sent");
    for text in ["first", "second", "third"] {
        let m = bystander.json_skipping(&["joined", "left"]);
        assert_eq!(m["message"], text, "{m}");
    }
    let mut back = Ws::connect(back_on.addr, &recover_query(&position));
    let mut got = Vec::new();
    loop {
        let m = back.json_skipping(&["joined", "left"]);
        if m["event"] == "_recovered_" {
            assert_eq!(
                m["streams"]
                    .as_object()
                    .map(|s| s.values().all(|v| v == true)),
                Some(true),
                "{m}"
            );
            break;
        }
        got.push(m["message"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(got, ["second", "third"]);
}
