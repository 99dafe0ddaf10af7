//! The chat example (`examples/chat.rs`) on `rediss://`, configured only through the environment
//! (`PL_REDIS_URL`, `PL_REDIS_CA_FILE`, `PL_REDIS_CERT_FILE`, `PL_REDIS_KEY_FILE`): two processes on
//! one `redis-server --tls-port` whose CA and certificates the test makes. A session started on one
//! server opens a WebSocket on the other (the session store over TLS), chat crosses the bus over TLS,
//! and settings that cannot work stop the start with a message that says what to set.

mod support;

use std::process::Command;

use plezi_test_support::tls::TestPki;
use serde_json::json;
use support::{ExampleProcess, RedisServer, Ws, example_path};

fn path(p: std::path::PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs the chat example with `env` and returns its stderr; it must fail to start.
fn refused(env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(example_path("chat"));
    cmd.env("PORT", "0")
        .env_remove("REDIS_URL")
        .env_remove("PL_REDIS_CA_FILE")
        .env_remove("PL_REDIS_CERT_FILE")
        .env_remove("PL_REDIS_KEY_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the chat example");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{env:?} should stop the start: {stderr}"
    );
    stderr
}

#[test]
fn two_chat_servers_share_sessions_and_chat_over_tls_with_client_certificates() {
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, true);
    let url = redis.tls_url();
    let (ca, cert, key) = (
        path(pki.ca()),
        path(pki.client_cert()),
        path(pki.client_key()),
    );
    let env = [
        ("PL_REDIS_URL", url.as_str()),
        ("PL_REDIS_CA_FILE", ca.as_str()),
        ("PL_REDIS_CERT_FILE", cert.as_str()),
        ("PL_REDIS_KEY_FILE", key.as_str()),
        ("PL_APP_NAME", "xp-tls"),
        (
            "PL_SESSION_KEY",
            "cross-process-tls-test-key-0123456789abcdef",
        ),
    ];
    let a = ExampleProcess::start("chat", &env);
    let b = ExampleProcess::start("chat", &env);
    redis.wait_numsub("xp-tls:all", 2);

    // Logged in on a, connected on b: b reads the session a stored, over TLS.
    let cookie = a.login("ann");
    let mut ann = Ws::connect_with_cookie(b.addr, "/chat", &cookie).named("ann@b");
    ann.send(&json!({"event": "whoami"}));
    let me = ann.json_skipping(&["joined", "left"]);
    assert_eq!(me["user"], "ann", "whoami: {me}");

    let mut bob = a.ws("/chat").named("bob@a");
    // Ann's `joined` may reach bob first (it travels through Redis, as does every room message).
    bob.send(&json!({"event": "whoami"}));
    let bob_id = bob.json_skipping(&["joined", "left"])["id"]
        .as_str()
        .expect("whoami answers the id")
        .to_owned();
    let mut ann_plain = b.ws("/chat").named("guest@b");
    ann_plain.whoami();
    bob.send(&json!({"event": "chat", "message": "over tls"}));
    let expected = json!({"event": "chat", "from": bob_id, "message": "over tls"});
    ann_plain.expect(&["joined", "left"], &expected, "chat from a over TLS");
}

#[test]
fn tls_settings_that_cannot_work_stop_the_start() {
    let pki = TestPki::new();
    let redis = RedisServer::start_tls(&pki, false);
    let tls_url = redis.tls_url();
    let plain_url = redis.url();
    let (ca, other) = (path(pki.ca()), path(pki.other_ca()));

    let stderr = refused(&[
        ("PL_REDIS_URL", tls_url.as_str()),
        ("PL_REDIS_CA_FILE", other.as_str()),
    ]);
    assert!(
        stderr.contains("does not verify") && stderr.contains("PL_REDIS_CA_FILE"),
        "{stderr}"
    );
    let stderr = refused(&[
        ("PL_REDIS_URL", plain_url.as_str()),
        ("PL_REDIS_CA_FILE", ca.as_str()),
    ]);
    assert!(stderr.contains("rediss://"), "{stderr}");
    let missing = path(pki.dir().join("missing.pem"));
    let stderr = refused(&[
        ("PL_REDIS_URL", tls_url.as_str()),
        ("PL_REDIS_CA_FILE", missing.as_str()),
    ]);
    assert!(stderr.contains("cannot read"), "{stderr}");
}
