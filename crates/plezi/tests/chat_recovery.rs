//! The chat example's room keeps a history: a page that reconnects with the last position it saw
//! gets the messages sent while it was away, in order, then the `_recovered_` report.

mod support;

use plezi_test_support::http::encode_query;
use serde_json::{Value, json};
use support::{ExampleProcess, Ws};

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
    let mut talker = chat.ws("/chat");
    let mut reader = chat.ws("/chat");
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
    let mut back = Ws::connect(chat.addr, &recover_query(&position));
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
