//! A rolling restart of the chat example (a real process, a real `redis-server`): SIGTERM makes
//! `/readyz` answer 503 at once while `/healthz` stays 200 and the process keeps serving through
//! the drain notice; then its WebSockets get 1001, it stores what it queued (a notification sent
//! during the notice reaches its user through a process started afterwards) and exits 0.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{ExampleProcess, RedisServer, http};

fn status(chat: &ExampleProcess, path: &str) -> u16 {
    http(chat.addr, "GET", path, &[], b"").status
}

#[test]
fn sigterm_drains_the_chat_example_and_loses_no_notification() {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("PL_REDIS_URL", url.as_str()),
        ("PL_APP_NAME", "rolling1"),
        ("PL_DRAIN_NOTICE_S", "1"),
        ("PL_DRAIN_S", "1"),
    ];
    let mut old = ExampleProcess::start("chat", &env);
    assert_eq!(status(&old, "/healthz"), 200);
    assert_eq!(status(&old, "/readyz"), 200);
    let mut guest = old.ws("/chat");

    let term = Command::new("kill")
        .args(["-TERM", &old.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    assert!(
        plezi_test_support::wait_until(Duration::from_millis(800), || status(&old, "/readyz")
            == 503),
        "/readyz still ready after SIGTERM"
    );
    assert_eq!(status(&old, "/healthz"), 200, "live while draining");

    // During the notice the process still serves: a notification to an offline user.
    guest.send(&json!({"event": "notify", "user": "zoe", "message": "while draining"}));
    guest.send(&json!({"event": "echo", "n": 1}));
    assert_eq!(guest.json_skipping(&["joined", "left"])["n"], 1);
    let (code, _) = guest.closed();
    assert_eq!(code, Some(1001), "a drain closes with 1001");
    let exit = old
        .wait_exit(Duration::from_secs(20))
        .expect("exits by itself");
    assert!(exit.success(), "exit status {exit:?}");

    // The next process of the fleet delivers it.
    let new = ExampleProcess::start("chat", &env);
    let mut zoe = new.ws_as("/chat", "zoe");
    let notice = zoe.json_skipping(&["joined", "left", "here"]);
    assert_eq!(
        notice,
        json!({"event": "notice", "message": "while draining"}),
        "the notification sent during the drain"
    );
}
