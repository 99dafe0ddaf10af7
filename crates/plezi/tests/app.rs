//! The facade: `App` wiring (routes, public folder, client route, threads), configuration from
//! the environment (through the chat example process), and the chat example's page.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use plezi::plezi_messaging::{Bus, BusConfig};
use plezi::prelude::*;
use support::{ExampleProcess, Ws, example_path};

#[derive(Default)]
struct Echo;

impl Controller for Echo {
    fn events() -> Events<Self> {
        events![both echo => |_: &mut Echo, _: &mut Ctx<'_>, m: Value| m]
    }
}

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(support::DEADLINE))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn an_app_serves_files_the_client_and_controllers() {
    let dir = std::env::temp_dir().join(format!("plezi-app-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello file").unwrap();
    let config = Config {
        port: 0,
        threads: Some(2),
        ..Config::default()
    };
    let running = App::with_config(config)
        .bus(Bus::in_process(BusConfig::default()))
        .public_folder(&dir)
        .client("/client.js")
        .unwrap()
        .route("/echo", Echo::default)
        .unwrap()
        .not_found(|_| Response::text(404, "custom 404"))
        .spawn()
        .expect("the app starts");
    let addr = running.local_addr();
    assert_eq!(get(addr, "/hello.txt"), (200, "hello file".to_owned()));
    let (status, body) = get(addr, "/client.js");
    assert_eq!(status, 200);
    assert_eq!(body, plezi::plezi_dispatch::CLIENT_JS);
    assert_eq!(get(addr, "/missing"), (404, "custom 404".to_owned()));
    let mut ws = Ws::connect(addr, "/echo");
    ws.nothing_before_echo("through the facade");
    assert_eq!(running.handle().loops(), 2);
    drop(ws);
    running.stop().expect("clean stop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_route_is_an_error_before_anything_runs() {
    let err = App::new().route("/(:a)/b", Echo::default).unwrap_err();
    assert!(matches!(err, plezi::Error::Register(_)), "{err}");
}

#[test]
fn environment_variables_that_do_not_parse_stop_the_start() {
    for (var, value) in [("PORT", "eighty"), ("PL_THREADS", "0"), ("PORT", "70000")] {
        let out = Command::new(example_path("chat"))
            .env(var, value)
            .env_remove("PL_REDIS_URL")
            .env_remove("REDIS_URL")
            .output()
            .expect("run the chat example");
        assert!(!out.status.success(), "{var}={value} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(var) && stderr.contains("does not parse"),
            "{var}: {stderr}"
        );
    }
}

#[test]
fn production_needs_a_long_session_key_and_never_prints_it() {
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(example_path("chat"));
        cmd.env_remove("PL_REDIS_URL")
            .env_remove("REDIS_URL")
            .env_remove("PL_SESSION_KEY")
            .env("PORT", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    };
    let short = "s3cret-but-short";
    for env in [
        vec![("PL_ENV", "production")],
        vec![("PL_ENV", "production"), ("PL_SESSION_KEY", short)],
    ] {
        let out = run(&env).output().expect("run the chat example");
        assert!(!out.status.success(), "{env:?} should stop the start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("PL_SESSION_KEY") && stderr.contains("32"),
            "{env:?}: {stderr}"
        );
        assert!(
            !stderr.contains(short),
            "the key is never printed: {stderr}"
        );
    }
    // Outside production a missing key is one warning and the app starts.
    let example = ExampleProcess::start("chat", &[("PLEZI_LOG", "warn")]);
    assert_eq!(get(example.addr, "/").0, 200);
    // With a good key in production it starts too.
    let example = ExampleProcess::start(
        "chat",
        &[
            ("PL_ENV", "production"),
            ("PL_SESSION_KEY", "0123456789abcdef0123456789abcdef"),
        ],
    );
    assert_eq!(get(example.addr, "/").0, 200);
}

#[test]
fn a_public_https_origin_makes_cookies_secure() {
    let config = Config {
        public_origin: Some("https://chat.example".into()),
        ..Config::default()
    };
    assert!(config.secure_cookies());
    for origin in [None, Some("http://chat.example"), Some("httpsx")] {
        let config = Config {
            public_origin: origin.map(str::to_owned),
            ..Config::default()
        };
        assert!(!config.secure_cookies(), "{origin:?}");
    }
    let chat = ExampleProcess::start("chat", &[("PL_PUBLIC_ORIGIN", "https://chat.example")]);
    let reply = support::http(
        chat.addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"user=ann",
    );
    let cookie = reply.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.starts_with("__Host-plezi_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
}

#[test]
fn the_chat_example_serves_its_page_and_the_client() {
    let chat = ExampleProcess::start("chat", &[]);
    let (status, page) = get(chat.addr, "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<script src=\"/client.js\"></script>"),
        "{page}"
    );
    assert!(page.contains("/chat.js"));
    let (status, script) = get(chat.addr, "/chat.js");
    assert_eq!(status, 200);
    assert!(script.contains("new PleziClient(PleziClient.origin + '/chat', true)"));
    assert_eq!(get(chat.addr, "/client.js").0, 200);
    // Unknown events get the err 404 answer (the chat has no `unknown` handler).
    let mut ws = chat.ws("/chat");
    ws.send(&json!({"event": "no_such_event"}));
    assert_eq!(ws.json()["status"], 404);
}
