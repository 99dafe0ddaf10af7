//! Graceful shutdown: through `ServerHandle::shutdown()` (on_shutdown runs, clients receive close
//! 1001, on_close runs, join returns Ok within the grace period) and through SIGTERM to a real child
//! process running `Server::run()` (which drains: not ready, the notice, then the closes).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use common::client::ReadErr;
use common::{Client, Event, EventLog, STEP, TestServer, TestService, op};
use plezi_server::{RunningServer, Server};

/// Joins in a helper thread; returns None when it did not finish within `timeout`.
fn join_within(running: RunningServer, timeout: Duration) -> Option<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = running.join().map(|_| ()).map_err(|e| format!("{e:?}"));
        let _ = tx.send(r);
    });
    rx.recv_timeout(timeout).ok()
}

/// Reads until the server's close; returns (texts seen before it, close code); answers the close.
fn await_shutdown_close(c: &mut Client) -> (Vec<String>, Option<u16>) {
    let mut texts = Vec::new();
    loop {
        let f = c.try_read_frame(STEP).unwrap_or_else(|e| {
            panic!("no close frame on shutdown: {e:?}; texts so far {texts:?}")
        });
        match f.opcode {
            op::TEXT => texts.push(f.text()),
            op::CLOSE => {
                let _ = c.try_send(common::client::encode_frame(
                    true,
                    op::CLOSE,
                    &f.payload[..f.payload.len().min(2)],
                    Some([4, 3, 2, 1]),
                ));
                return (texts, f.close_code());
            }
            _ => {}
        }
    }
}

#[test]
fn handle_shutdown_closes_websockets_with_1001_and_runs_hooks() {
    let mut s = TestServer::with_config(|c| c.shutdown_grace = Duration::from_secs(5));
    let mut clients: Vec<(Client, plezi_server::ConnId)> =
        (0..6).map(|_| s.ws_with_id(None)).collect();
    // An idle keep-alive HTTP connection too.
    let mut http = s.client();
    assert_eq!(
        http.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
    assert!(common::wait_until(STEP, || s.handle.websocket_count() == 6));

    let running = s.take_running();
    s.handle.shutdown();
    let readers: Vec<_> = clients
        .drain(..)
        .map(|(mut c, id)| {
            std::thread::spawn(move || {
                let (texts, code) = await_shutdown_close(&mut c);
                let eof = c.read_to_eof(STEP);
                (id, texts, code, eof.is_ok())
            })
        })
        .collect();
    for r in readers {
        let (id, texts, code, eof) = r.join().expect("reader thread");
        assert_eq!(code, Some(1001), "{id}: close code on shutdown");
        assert_eq!(
            texts,
            vec!["server shutting down".to_string()],
            "{id}: on_shutdown's message before 1001"
        );
        assert!(eof, "{id}: connection not closed after the close handshake");
    }
    http.expect_eof(STEP);
    let joined = join_within(running, Duration::from_secs(5 + 10))
        .expect("join() did not return within the grace period (+10 s margin)");
    assert_eq!(joined, Ok(()), "join() after a clean shutdown");

    let events = s.log.snapshot();
    let opened: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Open(id, _) = e {
                Some(*id)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(opened.len(), 6);
    for id in opened {
        let shut = events.iter().position(|e| *e == Event::Shutdown(id));
        let close = events
            .iter()
            .position(|e| matches!(e, Event::Close(i, _, _) if *i == id));
        assert!(
            shut.is_some(),
            "{id}: on_shutdown did not run; events {events:?}"
        );
        assert!(
            close.is_some(),
            "{id}: on_close did not run; events {events:?}"
        );
        assert!(shut < close, "{id}: on_shutdown must run before on_close");
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Close(i, _, _) if *i == id))
                .count(),
            1,
            "{id}: on_close more than once"
        );
    }
    assert_eq!(
        s.log.count(|e| matches!(e, Event::AfterClose(..))),
        0,
        "{events:?}"
    );

    // No longer accepting.
    match std::net::TcpStream::connect_timeout(&s.addr, Duration::from_secs(2)) {
        Err(_) => {}
        Ok(stream) => {
            let mut c = Client::from_stream(stream);
            let _ = c.try_send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
            match c.try_read_response(false, Duration::from_secs(5)) {
                Err(ReadErr::Eof) => {}
                other => panic!("a connection after shutdown was served: {other:?}"),
            }
        }
    }
}

#[test]
fn shutdown_gives_up_on_unresponsive_clients_after_the_grace_period() {
    let mut s = TestServer::with_config(|c| c.shutdown_grace = Duration::from_millis(500));
    // This client never reads and never answers the close.
    let (_silent, id) = s.ws_with_id(None);
    let running = s.take_running();
    s.handle.shutdown();
    let joined = join_within(running, Duration::from_secs(15))
        .expect("join() hung on a client that never answers the close");
    assert_eq!(joined, Ok(()));
    let (code, by_server) = s.log.wait_close(id, STEP);
    assert!(by_server, "close at shutdown is server-initiated");
    assert!(
        matches!(code, Some(1001) | Some(1006) | None),
        "close code {code:?}"
    );
}

#[test]
fn shutdown_with_no_connections_returns_promptly() {
    let mut s = TestServer::start();
    let running = s.take_running();
    s.handle.shutdown();
    s.handle.shutdown(); // twice is harmless
    let joined =
        join_within(running, Duration::from_secs(15)).expect("join() hung with no connections");
    assert_eq!(joined, Ok(()));
}

const CHILD_ENV: &str = "PLEZI_TEST_SIGTERM_CHILD";

/// Not a test on its own: the body of the child process for `sigterm_stops_a_running_server`
/// (runs only when that test starts this binary with the env var set).
#[test]
fn sigterm_child_helper() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let log = Arc::new(EventLog::default());
    let config = plezi_server::ServerConfig {
        drain_notice: Duration::from_millis(1000),
        drain_window: Duration::from_millis(200),
        ..Default::default()
    };
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .threads(1)
        .config(config)
        .health("/healthz", "/readyz")
        .service(TestService::new(log.clone()))
        .build()
        .expect("child server build");
    println!("READY {}", server.local_addr());
    let result = server.run();
    let shutdowns = log.count(|e| matches!(e, Event::Shutdown(_)));
    let closes = log.count(|e| matches!(e, Event::Close(..)));
    println!("EXITED {result:?} shutdowns={shutdowns} closes={closes}");
    assert!(result.is_ok());
}

#[test]
fn sigterm_stops_a_running_server() {
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "sigterm_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child server");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("child server never printed READY")
            });
        // libtest prints "test sigterm_child_helper ... " before the helper's own output.
        if let Some(pos) = line.find("READY ") {
            let a = line[pos + 6..].trim();
            break a.parse::<std::net::SocketAddr>().expect("READY addr");
        }
    };
    let mut ws = Client::ws_connect(addr, "/ws");
    ws.send_text("before signal");
    assert_eq!(ws.expect_text(), "before signal");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    // SIGTERM drains: not ready at once, still serving during the notice.
    let ready = |addr| {
        Client::connect(addr)
            .request("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
            .status
    };
    assert!(common::wait_until(Duration::from_millis(800), || ready(
        addr
    ) == 503));
    ws.send_text("during the notice");
    assert_eq!(ws.expect_text(), "during the notice");

    let (texts, code) = await_shutdown_close(&mut ws);
    assert_eq!(code, Some(1001), "close code after SIGTERM");
    assert_eq!(texts, vec!["server shutting down".to_string()]);
    let _ = ws.read_to_eof(STEP);

    let exited = common::wait_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
        panic!("child server did not exit after SIGTERM");
    }
    let status = child.wait().expect("child status");
    let lines: Vec<String> = rx.try_iter().collect();
    assert!(
        status.success(),
        "child exit status {status:?}; output {lines:?}"
    );
    let exited_line = lines
        .iter()
        .find_map(|l| l.find("EXITED ").map(|p| &l[p..]))
        .unwrap_or_else(|| panic!("Server::run() did not return after SIGTERM; output {lines:?}"));
    assert_eq!(
        exited_line, "EXITED Ok(()) shutdowns=1 closes=1",
        "{lines:?}"
    );
}
