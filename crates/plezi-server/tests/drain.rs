//! Rolling restarts: `ServerHandle::drain` (what SIGTERM does) turns the readiness path to 503 at
//! once while the server keeps serving for the notice, then stops accepting and closes the
//! WebSockets with 1001 spread over the drain window, and stops.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Client, Options, STEP, TestServer, op, wait_until};

fn start(notice: Duration, window: Duration) -> TestServer {
    let mut o = Options::default();
    o.config.drain_notice = notice;
    o.config.drain_window = window;
    o.config.shutdown_grace = Duration::from_secs(5);
    TestServer::start_custom(o, |b| b.health("/healthz", "/readyz"))
}

fn status(s: &TestServer, path: &str) -> u16 {
    s.client()
        .request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"))
        .status
}

#[test]
fn health_paths_answer_live_and_ready() {
    let s = start(Duration::from_secs(5), Duration::ZERO);
    assert_eq!(status(&s, "/healthz"), 200);
    assert_eq!(status(&s, "/readyz"), 200);
    let r = s
        .client()
        .request("POST /readyz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_ne!(r.status, 503, "only GET/HEAD are health checks");
}

#[test]
fn a_drain_is_not_ready_at_once_and_keeps_serving_through_the_notice() {
    let mut s = start(Duration::from_millis(1500), Duration::ZERO);
    let mut ws = s.ws("/ws");
    let running = s.take_running();
    s.handle.drain();
    assert_eq!(
        status(&s, "/readyz"),
        503,
        "not ready from the first moment"
    );
    assert_eq!(status(&s, "/healthz"), 200, "still live");
    // During the notice: new connections are accepted and served, WebSockets work.
    assert_eq!(status(&s, "/"), 200);
    ws.send_text("still here");
    assert_eq!(ws.expect_text(), "still here");
    // Then: 1001, the listener closes, the server stops.
    let close = ws
        .read_until_close(Duration::from_secs(10))
        .expect("a close after the notice");
    assert_eq!(close.close_code(), Some(1001));
    assert!(wait_until(STEP, || TcpStream::connect(s.addr).is_err()));
    running.join().expect("stops cleanly");
}

#[test]
fn a_drain_spreads_the_websocket_closes_over_its_window() {
    let mut s = start(Duration::ZERO, Duration::from_secs(2));
    let clients: Vec<Client> = (0..20).map(|_| s.ws("/ws")).collect();
    let running = s.take_running();
    let began = Instant::now();
    s.handle.drain();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let close = c.read_until_close(Duration::from_secs(10)).expect("close");
                assert_eq!(close.opcode, op::CLOSE);
                assert_eq!(close.close_code(), Some(1001));
                Instant::now()
            })
        })
        .collect();
    let mut at: Vec<Duration> = readers
        .into_iter()
        .map(|r| r.join().expect("reader") - began)
        .collect();
    at.sort();
    let (first, last) = (at[0], at[at.len() - 1]);
    // All at once would take a few milliseconds; evenly over 2 s, 20 closes are 100 ms apart.
    assert!(
        last - first >= Duration::from_millis(1500),
        "closes not spread: first {first:?}, last {last:?}"
    );
    assert!(
        last <= Duration::from_secs(4),
        "the window is 2 s: last {last:?}"
    );
    let tightest_five = at.windows(5).map(|w| w[4] - w[0]).min().expect("20 closes");
    assert!(
        tightest_five >= Duration::from_millis(150),
        "five closes within {tightest_five:?}: not even"
    );
    running.join().expect("stops cleanly");
}
