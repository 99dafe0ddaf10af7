//! Fan-out and cross-thread delivery through `ServerHandle`: broadcast to every client exactly once,
//! `except` and `tag` filters, write/close/run/for_each by id from other threads, stale ids after
//! slot reuse, and the slow-consumer policy (close 1008) leaving the server healthy.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, EchoHandler, Options, STEP, TestServer, op, wait_until};
use plezi_server::{ConnId, Filter, SharedFrame};

fn connect_many(s: &TestServer, n: usize, tag: Option<u64>) -> Vec<(Client, ConnId)> {
    (0..n).map(|_| s.ws_with_id(tag)).collect()
}

fn wait_count(s: &TestServer, n: usize) {
    assert!(
        wait_until(STEP, || s.handle.websocket_count() == n),
        "websocket_count {} != {n}",
        s.handle.websocket_count()
    );
}

#[test]
fn broadcast_reaches_each_of_50_clients_exactly_once() {
    let s = TestServer::start();
    let mut clients = connect_many(&s, 50, None);
    wait_count(&s, 50);
    let loops: std::collections::HashSet<u16> =
        clients.iter().map(|(_, id)| id.loop_index()).collect();
    assert_eq!(
        loops.len(),
        2,
        "connections should spread over both loops: {loops:?}"
    );
    s.handle
        .broadcast(SharedFrame::text("hello everyone"), Filter::default());
    s.handle
        .broadcast(SharedFrame::binary(&[1, 2, 3]), Filter::default());
    s.handle
        .broadcast(SharedFrame::text("marker"), Filter::default());
    for (i, (c, _)) in clients.iter_mut().enumerate() {
        assert_eq!(c.expect_text(), "hello everyone", "client {i}");
        let f = c.read_data_frame();
        assert_eq!(
            (f.opcode, f.payload.as_slice()),
            (op::BINARY, &[1u8, 2, 3][..]),
            "client {i}"
        );
        assert_eq!(
            c.expect_text(),
            "marker",
            "client {i}: a duplicate arrived before the marker"
        );
    }
    // Nothing else is queued: an echo comes back next.
    for (c, _) in clients.iter_mut() {
        c.send_text("echo");
        assert_eq!(c.expect_text(), "echo");
    }
}

#[test]
fn shared_frame_bytes_are_a_valid_server_frame() {
    let f = SharedFrame::text("abc");
    assert_eq!(f.as_bytes(), &[0x81, 3, b'a', b'b', b'c']);
    let long = vec![9u8; 70_000];
    let f = SharedFrame::binary(&long);
    let (frame, used) = common::client::parse_frame(f.as_bytes())
        .expect("parse")
        .expect("complete");
    assert_eq!(used, f.as_bytes().len());
    assert!(frame.fin && !frame.masked && frame.opcode == op::BINARY && frame.payload == long);
}

#[test]
fn except_filter_skips_one_client() {
    let s = TestServer::start();
    let mut clients = connect_many(&s, 10, None);
    wait_count(&s, 10);
    let skipped = clients[3].1;
    s.handle.broadcast(
        SharedFrame::text("not for 3"),
        Filter {
            except: Some(skipped),
            ..Filter::default()
        },
    );
    s.handle
        .broadcast(SharedFrame::text("marker"), Filter::default());
    for (i, (c, _)) in clients.iter_mut().enumerate() {
        if i != 3 {
            assert_eq!(c.expect_text(), "not for 3", "client {i}");
        }
        assert_eq!(c.expect_text(), "marker", "client {i}");
    }
}

#[test]
fn tag_filter_reaches_only_the_tag() {
    let s = TestServer::start();
    let mut ones = connect_many(&s, 8, Some(1));
    let mut twos = connect_many(&s, 8, Some(2));
    let mut plain = connect_many(&s, 4, None);
    wait_count(&s, 20);
    s.handle.broadcast(
        SharedFrame::text("to tag 1"),
        Filter {
            tag: Some(1),
            except: None,
        },
    );
    s.handle.broadcast(
        SharedFrame::text("to tag 2 but one"),
        Filter {
            tag: Some(2),
            except: Some(twos[0].1),
        },
    );
    s.handle
        .broadcast(SharedFrame::text("marker"), Filter::default());
    for (c, _) in ones.iter_mut() {
        assert_eq!(c.expect_text(), "to tag 1");
        assert_eq!(c.expect_text(), "marker");
    }
    for (i, (c, _)) in twos.iter_mut().enumerate() {
        if i != 0 {
            assert_eq!(c.expect_text(), "to tag 2 but one");
        }
        assert_eq!(c.expect_text(), "marker");
    }
    for (c, _) in plain.iter_mut() {
        assert_eq!(c.expect_text(), "marker");
    }
}

/// A fan-out to a tag visits the loop's list of that tag's members (`docs/architecture.md`, the
/// server's code map): members that close leave it, and a newer connection in a reused slot is
/// reached under its own tag only.
#[test]
fn tag_fanout_stays_right_as_connections_come_and_go() {
    let s = TestServer::start();
    let mut ones = connect_many(&s, 6, Some(1));
    let mut twos = connect_many(&s, 4, Some(2));
    let mut plain = connect_many(&s, 2, None);
    wait_count(&s, 12);
    let closed: Vec<(Client, ConnId)> = ones.drain(..3).collect();
    let freed: Vec<(u16, u32)> = closed
        .iter()
        .map(|(_, id)| (id.loop_index(), id.slot()))
        .collect();
    for (mut c, _) in closed {
        c.close_handshake(1000);
    }
    wait_count(&s, 9);
    // New connections take the freed slots (with new generations), under other tags.
    twos.extend(connect_many(&s, 2, Some(2)));
    plain.extend(connect_many(&s, 1, None));
    wait_count(&s, 12);
    let reused = twos
        .iter()
        .chain(plain.iter())
        .filter(|(_, id)| freed.contains(&(id.loop_index(), id.slot())))
        .count();
    assert!(
        reused > 0,
        "no slot was reused: the test does not test reuse"
    );
    for round in 0..2 {
        s.handle.broadcast(
            SharedFrame::text(&format!("ones {round}")),
            Filter {
                tag: Some(1),
                except: None,
            },
        );
        s.handle.broadcast(
            SharedFrame::text(&format!("twos {round}")),
            Filter {
                tag: Some(2),
                except: Some(twos[0].1),
            },
        );
        s.handle
            .broadcast(SharedFrame::text("marker"), Filter::default());
        for (c, _) in ones.iter_mut() {
            assert_eq!(c.expect_text(), format!("ones {round}"));
            assert_eq!(c.expect_text(), "marker");
        }
        for (i, (c, _)) in twos.iter_mut().enumerate() {
            if i != 0 {
                assert_eq!(c.expect_text(), format!("twos {round}"), "client {i}");
            }
            assert_eq!(c.expect_text(), "marker", "client {i}");
        }
        for (c, _) in plain.iter_mut() {
            assert_eq!(c.expect_text(), "marker");
        }
        // The last member of tag 1 leaves: the next round reaches the other two.
        if round == 0 {
            let (mut c, _) = ones.pop().expect("a member of tag 1");
            c.close_handshake(1000);
            wait_count(&s, 11);
        }
    }
}

/// Listed fan-outs (`broadcast_listed`, `for_each_listed`) reach exactly the listed open
/// connections, on every loop, and skip stale ids.
#[test]
fn listed_fanouts_reach_exactly_the_listed_connections() {
    let s = TestServer::start();
    let mut clients = connect_many(&s, 8, None);
    wait_count(&s, 8);
    let (mut gone, gone_id) = clients.pop().expect("a client");
    gone.close_handshake(1000);
    wait_count(&s, 7);
    let listed: Vec<ConnId> = clients
        .iter()
        .step_by(2)
        .map(|(_, id)| *id)
        .chain([gone_id])
        .collect();
    let loops: std::collections::HashSet<u16> = listed.iter().map(|id| id.loop_index()).collect();
    assert_eq!(loops.len(), 2, "the list should span both loops");
    s.handle
        .broadcast_listed(listed.iter().copied(), SharedFrame::text("listed"));
    s.handle.for_each_listed(
        listed.iter().copied(),
        Arc::new(|_, ws| {
            let _ = ws.write_text(&format!("each {}", ws.id()));
        }),
    );
    s.handle
        .broadcast(SharedFrame::text("marker"), Filter::default());
    for (i, (c, id)) in clients.iter_mut().enumerate() {
        if listed.contains(id) {
            assert_eq!(c.expect_text(), "listed", "client {i}");
            assert_eq!(c.expect_text(), format!("each {id}"), "client {i}");
        }
        assert_eq!(c.expect_text(), "marker", "client {i}");
    }
}

#[test]
fn for_each_runs_on_matching_connections() {
    let s = TestServer::start();
    let mut tagged = connect_many(&s, 6, Some(7));
    let mut other = connect_many(&s, 3, None);
    wait_count(&s, 9);
    s.handle.for_each(
        Filter {
            tag: Some(7),
            except: None,
        },
        Arc::new(|h, ws| {
            let any: &mut dyn std::any::Any = h;
            let is_echo = any.downcast_mut::<EchoHandler>().is_some();
            let _ = ws.write_text(&format!("each {} {is_echo}", ws.id()));
        }),
    );
    s.handle
        .broadcast(SharedFrame::text("marker"), Filter::default());
    for (c, id) in tagged.iter_mut() {
        assert_eq!(c.expect_text(), format!("each {id} true"));
        assert_eq!(c.expect_text(), "marker");
    }
    for (c, _) in other.iter_mut() {
        assert_eq!(c.expect_text(), "marker");
    }
}

#[test]
fn write_close_and_run_by_id_from_other_threads() {
    let s = TestServer::start();
    let (mut a, a_id) = s.ws_with_id(None);
    let (mut b, b_id) = s.ws_with_id(None);
    for i in 0..3 {
        a.send_text(&format!("m{i}"));
        assert_eq!(a.expect_text(), format!("m{i}"));
    }
    let h = s.handle.clone();
    std::thread::spawn(move || {
        h.write(a_id, SharedFrame::binary(b"from a thread"));
        h.run(a_id, |handler, ws| {
            let any: &mut dyn std::any::Any = handler;
            let n = any.downcast_mut::<EchoHandler>().map(|e| e.received);
            let _ = ws.write_text(&format!("received:{n:?}"));
        });
        h.close(b_id, 4003, "closed by handle");
    })
    .join()
    .expect("thread");
    let f = a.read_data_frame();
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (op::BINARY, &b"from a thread"[..])
    );
    assert_eq!(a.expect_text(), "received:Some(3)");
    let f = b.read_until_close(STEP).expect("close by handle");
    assert_eq!(f.close_code(), Some(4003));
    b.send_close(4003, "");
    b.expect_eof(STEP);
    let (code, by_server) = s.log.wait_close(b_id, STEP);
    assert_eq!((code, by_server), (Some(4003), true));
    // Writes to a closed id are ignored, and a still-open neighbour is unaffected.
    s.handle.write(b_id, SharedFrame::text("nobody"));
    a.send_text("still");
    assert_eq!(a.expect_text(), "still");
}

#[test]
fn stale_id_never_reaches_a_newer_connection() {
    // One loop, so the freed slot is the one the next connection gets.
    let s = TestServer::start_with(Options {
        threads: 1,
        ..Options::default()
    });
    let mut reused = false;
    let mut closed: Vec<ConnId> = Vec::new();
    for round in 0..6 {
        let (mut c, id) = s.ws_with_id(None);
        assert!(
            !closed.contains(&id),
            "round {round}: {id} was handed out twice"
        );
        if closed.iter().any(|old| old.slot() == id.slot()) {
            reused = true;
        }
        // Every earlier (closed) id, including any with this slot and an older generation.
        for &old in &closed {
            s.handle.write(old, SharedFrame::text("stale write"));
            s.handle.run(old, |_, ws| {
                let _ = ws.write_text("stale run");
            });
            s.handle.close(old, 4004, "stale close");
        }
        s.handle.write(id, SharedFrame::text("fresh"));
        assert_eq!(
            c.expect_text(),
            "fresh",
            "round {round}: a stale id reached {id} ({closed:?})"
        );
        c.send_text("alive");
        assert_eq!(c.expect_text(), "alive");
        c.close_handshake(1000);
        s.log.wait_close(id, STEP);
        closed.push(id);
    }
    assert!(
        reused,
        "slots were never reused: the stale-id check did not exercise anything"
    );
}

/// More connections per loop than one turn flushes: the broadcast is written in slices over
/// several turns, and frames that reach a connection still waiting leave in one write. Every client
/// still gets every frame once, in order.
#[test]
fn broadcast_wider_than_one_turn_arrives_whole_and_in_order() {
    const CLIENTS: usize = 700;
    const FRAMES: usize = 30;
    let s = TestServer::start();
    let mut clients = connect_many(&s, CLIENTS, None);
    wait_count(&s, CLIENTS);
    for i in 0..FRAMES {
        s.handle
            .broadcast(SharedFrame::text(&format!("m{i}")), Filter::default());
    }
    for (n, (c, _)) in clients.iter_mut().enumerate() {
        for i in 0..FRAMES {
            assert_eq!(c.expect_text(), format!("m{i}"), "client {n}");
        }
    }
    for (n, (c, _)) in clients.iter_mut().enumerate().step_by(50) {
        c.send_text("echo");
        assert_eq!(
            c.expect_text(),
            "echo",
            "client {n}: something else was queued"
        );
    }
}

/// While a lagging loop holds fan-out frames back (`ServerConfig::broadcast_coalesce`, here far
/// longer than the test waits), a connection's own output is not held: its answer goes out at once,
/// after the frames queued before it.
#[test]
fn own_output_does_not_wait_behind_coalesced_fanout() {
    const CLIENTS: usize = 300; // more than one turn flushes: the loop lags
    let s = TestServer::start_with(Options {
        threads: 1,
        config: plezi_server::ServerConfig {
            broadcast_coalesce: Duration::from_secs(600),
            ..Default::default()
        },
        ..Options::default()
    });
    let mut clients = connect_many(&s, CLIENTS, None);
    wait_count(&s, CLIENTS);
    s.handle
        .broadcast(SharedFrame::text("held"), Filter::default());
    // Tasks run in order: once this one ran, "held" is queued (and held) everywhere.
    let (tx, rx) = std::sync::mpsc::channel();
    s.handle.run_on_loop(0, move || {
        let _ = tx.send(());
    });
    rx.recv_timeout(STEP).expect("the loop runs the task");
    for (n, (c, _)) in clients.iter_mut().enumerate().step_by(37) {
        c.send_text("echo");
        assert_eq!(c.expect_text(), "held", "client {n}");
        assert_eq!(c.expect_text(), "echo", "client {n}");
    }
}

#[test]
fn concurrent_broadcasters_keep_per_sender_order() {
    let s = TestServer::start();
    let mut clients = connect_many(&s, 20, None);
    wait_count(&s, 20);
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let h = s.handle.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    h.broadcast(SharedFrame::text(&format!("{t}:{i}")), Filter::default());
                }
            })
        })
        .collect();
    for t in senders {
        t.join().expect("sender thread");
    }
    for (n, (c, _)) in clients.iter_mut().enumerate() {
        let mut next = [0usize; 4];
        for _ in 0..400 {
            let m = c.expect_text();
            let (t, i) = m.split_once(':').expect("t:i");
            let (t, i): (usize, usize) = (t.parse().expect("t"), i.parse().expect("i"));
            assert_eq!(
                i, next[t],
                "client {n}: sender {t} out of order or duplicated"
            );
            next[t] += 1;
        }
    }
}

/// A server whose outbound cap per connection is 64 KiB.
fn slow_server() -> TestServer {
    TestServer::with_config(|c| c.max_pending_bytes = 64 * 1024)
}

/// Whether `id` still takes `ServerHandle::run` closures (false once it is closing or gone): a
/// `run` on the connection followed by a `run_on_loop` marker on its loop, processed in order.
fn still_open(s: &TestServer, id: ConnId) -> bool {
    let ran = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    s.handle.run(id, move |_, _| {
        r.store(1, Ordering::SeqCst);
    });
    let d = done.clone();
    s.handle
        .run_on_loop(id.loop_index(), move || d.store(1, Ordering::SeqCst));
    assert!(
        wait_until(STEP, || done.load(Ordering::SeqCst) == 1),
        "loop {} did not run a task",
        id.loop_index()
    );
    ran.load(Ordering::SeqCst) == 1
}

/// More than loopback can buffer for a client that never reads (its receive window does not grow
/// without reads; the server's send buffer autotunes up to 4 MiB).
const FLOOD_TOTAL: usize = 48 * 1024 * 1024;

#[test]
fn slow_consumer_is_closed_1008_and_others_keep_being_served() {
    let s = slow_server();
    let (mut slow, slow_id) = s.ws_with_id(None);
    const FRAME: usize = 16 * 1024;
    // Bursts stay under the 64 KiB cap and the next burst waits until the healthy clients have
    // read the previous one: a reader that keeps up never has more than one burst queued.
    const BURST: usize = 3;
    let received = Arc::new(AtomicUsize::new(0));
    let healthy: Vec<_> = (0..4)
        .map(|_| {
            let (mut c, _) = s.ws_with_id(None);
            let received = received.clone();
            std::thread::spawn(move || {
                let mut n = 0usize;
                loop {
                    match c.try_read_frame(Duration::from_secs(30)) {
                        Ok(f) if f.opcode == op::BINARY => {
                            assert_eq!(f.payload.len(), FRAME);
                            n += 1;
                            received.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(f) if f.opcode == op::TEXT && f.payload == b"done" => return (n, c),
                        Ok(f) => panic!("healthy client got {f:?} after {n} frames"),
                        Err(e) => panic!("healthy client lost its connection: {e:?} after {n}"),
                    }
                }
            })
        })
        .collect();
    wait_count(&s, 5);
    let frame = SharedFrame::binary(&[0xab; FRAME]);
    let mut sent = 0usize;
    let mut rounds = 0usize;
    while sent * FRAME < FLOOD_TOTAL {
        for _ in 0..BURST {
            s.handle.broadcast(frame.clone(), Filter::default());
        }
        sent += BURST;
        rounds += 1;
        let want = sent * 4;
        let deadline = Instant::now() + Duration::from_secs(20);
        while received.load(Ordering::SeqCst) < want {
            assert!(
                Instant::now() < deadline,
                "healthy clients stalled at {} of {want}",
                received.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        if rounds.is_multiple_of(64) && !still_open(&s, slow_id) {
            break;
        }
    }
    let (code, by_server) = s.log.wait_close(slow_id, Duration::from_secs(30));
    assert_eq!(
        code,
        Some(1008),
        "slow consumer close code after {sent} frames"
    );
    assert!(by_server);
    s.handle
        .broadcast(SharedFrame::text("done"), Filter::default());
    let mut kept = Vec::new();
    for t in healthy {
        let (n, mut c) = t.join().expect("healthy reader");
        assert_eq!(n, sent, "a healthy client missed frames");
        c.send_text("still served");
        assert_eq!(c.expect_text(), "still served");
        kept.push(c);
    }
    // The slow client: whatever it finds in its buffer, the stream ends; a close frame says 1008.
    match slow.read_until_close(Duration::from_secs(30)) {
        Ok(f) => assert_eq!(f.close_code(), Some(1008), "{f:?}"),
        Err(common::client::ReadErr::Eof) => {}
        Err(e) => panic!("slow consumer's stream neither closed nor ended: {e:?}"),
    }
    // New connections are fine.
    let mut fresh = s.ws("/ws");
    fresh.send_text("new");
    assert_eq!(fresh.expect_text(), "new");
    wait_count(&s, 5);
}

#[test]
fn slow_consumer_via_direct_writes() {
    let s = slow_server();
    let (_slow, slow_id) = s.ws_with_id(None);
    const FRAME: usize = 32 * 1024;
    let frame = SharedFrame::binary(&[1; FRAME]);
    let mut sent = 0;
    while sent * FRAME < FLOOD_TOTAL {
        for _ in 0..64 {
            s.handle.write(slow_id, frame.clone());
        }
        sent += 64;
        if !still_open(&s, slow_id) {
            break;
        }
    }
    let (code, by_server) = s.log.wait_close(slow_id, Duration::from_secs(30));
    assert_eq!(code, Some(1008), "after {sent} direct writes of 32 KiB");
    assert!(by_server);
    let mut other = s.ws("/ws");
    other.send_text("ok");
    assert_eq!(other.expect_text(), "ok");
}
