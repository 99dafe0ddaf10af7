//! Deferred answers (`Reply::later`): the answer comes from another thread; the connection keeps
//! the order of pipelined requests, answers 500 for a dropped responder (or a panicking closure),
//! 504 past the reply timeout (discarding the late answer), and the graceful shutdown waits for it.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Options, STEP, TestServer, wait_until};
use plezi_server::{Reply, Request, Responder, Response};

/// Responders kept unanswered by `/hold`, answered by the test later.
static HELD: Mutex<Vec<Responder>> = Mutex::new(Vec::new());
/// Deferred requests the service has seen.
static CALLS: AtomicUsize = AtomicUsize::new(0);

fn service(req: &mut Request) -> Reply {
    let ms: u64 = req
        .query()
        .and_then(|q| q.strip_prefix("ms="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match req.path() {
        "/later" => Reply::later(move |responder| {
            CALLS.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                responder.respond(Response::text(200, format!("later {ms}")));
            });
        }),
        "/drop" => Reply::later(drop),
        "/panic" => Reply::later(|_responder| panic!("the closure fails")),
        "/hold" => Reply::later(|responder| HELD.lock().unwrap().push(responder)),
        _ => Reply::Response(Response::text(200, "now")),
    }
}

fn start(f: impl FnOnce(&mut Options)) -> TestServer {
    let mut o = Options::default();
    f(&mut o);
    TestServer::start_custom(o, |b| b.service(service))
}

#[test]
fn a_deferred_answer_arrives_and_the_connection_goes_on() {
    let s = start(|_| {});
    let mut c = s.client();
    let r = c.request("GET /later?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "later 50"));
    let r = c.request("GET /now HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "now"));
}

#[test]
fn pipelined_requests_behind_a_deferred_one_are_answered_in_order() {
    let s = start(|_| {});
    let mut c = s.client();
    c.send(
        "GET /later?ms=150 HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /now HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /later?ms=10 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let texts: Vec<String> = (0..3).map(|_| c.read_response().text()).collect();
    assert_eq!(texts, ["later 150", "now", "later 10"]);
}

#[test]
fn a_dropped_responder_or_a_panicking_closure_answers_500() {
    let s = start(|_| {});
    for path in ["/drop", "/panic"] {
        let mut c = s.client();
        let r = c.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"));
        assert_eq!(r.status, 500, "{path}");
    }
    // The server still answers.
    let r = s.client().request("GET /now HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn an_overdue_answer_is_504_and_the_late_one_is_discarded() {
    let s = start(|o| o.config.reply_timeout = Duration::from_millis(300));
    let mut c = s.client();
    let r = c.request("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 504);
    assert!(r.connection_has("close"), "a timed-out request closes");
    c.expect_eof(STEP);
    let late: Vec<Responder> = HELD.lock().unwrap().drain(..).collect();
    assert_eq!(late.len(), 1);
    for responder in late {
        responder.respond(Response::text(200, "too late"));
    }
    let mut c = s.client();
    let r = c.request("GET /now HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "now"));
}

#[test]
fn a_half_closed_client_still_gets_the_deferred_answer() {
    let s = start(|_| {});
    let mut c = s.client();
    c.send("GET /later?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n");
    c.shutdown_write();
    let r = c.read_response();
    assert_eq!((r.status, r.text().as_str()), (200, "later 100"));
}

#[test]
fn the_graceful_shutdown_waits_for_a_deferred_answer() {
    let mut s = start(|o| o.config.shutdown_grace = Duration::from_secs(5));
    let before = CALLS.load(Ordering::SeqCst);
    let mut c = s.client();
    c.send("GET /later?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(wait_until(STEP, || CALLS.load(Ordering::SeqCst) > before));
    let running = s.take_running();
    s.handle.shutdown();
    let r = c.read_response();
    assert_eq!((r.status, r.text().as_str()), (200, "later 300"));
    assert!(r.connection_has("close"), "answers close while stopping");
    running.join().expect("the server stops cleanly");
}
