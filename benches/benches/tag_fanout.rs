//! A broadcast to one tag (a controller type) with 10 members, on a server that holds 0 and then
//! 10,000 other WebSocket connections (of another tag), in the same run: the cost must not grow
//! with the others.
//!
//! What is measured is the event loop's own CPU time per broadcast (`CLOCK_THREAD_CPUTIME_ID`
//! read on the loop thread before and after a batch), one broadcast in flight: the bench queues
//! one `ServerHandle::broadcast` to the tag and reads it on all 10 members before the next. That
//! is everything the loop does for it: wake up, find the members, queue the shared frame, write
//! 10 sockets. The 10,000 others are opened by a child process (this binary again), so that the
//! two ends of 10,000 sockets do not share one process's descriptor limit.
//!
//! `cargo bench -p plezi-benches --bench tag_fanout`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use criterion::Criterion;
use plezi_server::{
    Filter, Message, Reply, Request, Response, RunningServer, Server, ServerConfig, ServerHandle,
    SharedFrame, Upgrade, WebSocket, WebSocketHandler,
};

const MEMBERS: usize = 10;
const OTHERS: usize = 10_000;
const MEMBER_TAG: u64 = 1;
const OTHER_TAG: u64 = 2;
/// Set (to `ADDR COUNT`) in the child that holds the other connections.
const CHILD_ENV: &str = "PLEZI_TAG_FANOUT_OTHERS";

struct Quiet;

impl WebSocketHandler for Quiet {
    fn on_message(&mut self, _ws: &mut WebSocket<'_>, _msg: Message<'_>) {}
}

fn start_server() -> RunningServer {
    let config = ServerConfig {
        ws_idle_ping: Duration::from_secs(3600),
        max_connections: Some(OTHERS + MEMBERS + 100),
        ..ServerConfig::default()
    };
    Server::builder()
        .bind("127.0.0.1:0")
        .threads(1)
        .config(config)
        .handle_signals(false)
        .service(|req: &mut Request| {
            let tag = if req.path() == "/member" {
                MEMBER_TAG
            } else {
                OTHER_TAG
            };
            if req.is_websocket_upgrade() {
                Reply::Upgrade(Upgrade::new(Box::new(Quiet)).tag(tag))
            } else {
                Reply::Response(Response::text(404, "WebSocket only\n"))
            }
        })
        .build()
        .and_then(Server::spawn)
        .expect("the bench server starts")
}

/// A blocking WebSocket client connection (the handshake done).
fn connect(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("upgrade request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("upgrade answer");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "the upgrade is refused");
    s
}

/// The child: opens `count` connections to `addr`, says so, and holds them until stdin closes.
fn hold_others(spec: &str) {
    let mut parts = spec.split(' ');
    let addr: SocketAddr = parts.next().and_then(|a| a.parse().ok()).expect("ADDR");
    let count: usize = parts.next().and_then(|n| n.parse().ok()).expect("COUNT");
    let held: Vec<TcpStream> = (0..count).map(|_| connect(addr, "/other")).collect();
    println!("ready {}", held.len());
    let _ = std::io::stdout().flush();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
}

/// The loop thread's CPU time, read on the loop.
fn loop_cpu(handle: &ServerHandle) -> Duration {
    let (tx, rx) = mpsc::channel();
    handle.run_on_loop(0, move || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        let _ = tx.send(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the loop answers")
}

/// Reads one small unmasked server frame and checks its payload.
fn read_frame(s: &mut TcpStream, payload: &[u8]) {
    let mut buf = vec![0u8; 2 + payload.len()];
    s.read_exact(&mut buf).expect("the broadcast arrives");
    assert_eq!(&buf[2..], payload, "the member got the broadcast");
}

/// The loop's CPU time for `iters` broadcasts to the members, one in flight.
fn broadcasts(handle: &ServerHandle, members: &mut [TcpStream], iters: u64) -> Duration {
    let payload = b"0123456789abcdef0123456789abcdef";
    let frame = SharedFrame::binary(payload);
    let filter = Filter {
        tag: Some(MEMBER_TAG),
        except: None,
    };
    let before = loop_cpu(handle);
    for _ in 0..iters {
        handle.broadcast(frame.clone(), filter);
        for m in members.iter_mut() {
            read_frame(m, payload);
        }
    }
    loop_cpu(handle).saturating_sub(before)
}

fn wait_for_count(handle: &ServerHandle, n: usize) {
    for _ in 0..6000 {
        if handle.websocket_count() == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!(
        "{} WebSocket connections, not {n}",
        handle.websocket_count()
    );
}

fn spawn_others(addr: SocketAddr) -> Child {
    let exe = std::env::current_exe().expect("this bench's path");
    let mut child = Command::new(exe)
        .env(CHILD_ENV, format!("{addr} {OTHERS}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child that holds the others starts");
    let mut line = String::new();
    let out = child.stdout.take().expect("child stdout");
    BufReader::new(out)
        .read_line(&mut line)
        .expect("the child answers");
    assert_eq!(line.trim(), format!("ready {OTHERS}"));
    child
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        hold_others(&spec);
        return;
    }
    let server = start_server();
    let handle = server.handle();
    let addr = server.local_addr();
    let mut members: Vec<TcpStream> = (0..MEMBERS).map(|_| connect(addr, "/member")).collect();
    wait_for_count(&handle, MEMBERS);

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let mut group = c.benchmark_group("tag_fanout");
    group.bench_function("10_members_0_others", |b| {
        b.iter_custom(|iters| broadcasts(&handle, &mut members, iters))
    });
    let mut child = spawn_others(addr);
    wait_for_count(&handle, MEMBERS + OTHERS);
    group.bench_function("10_members_10000_others", |b| {
        b.iter_custom(|iters| broadcasts(&handle, &mut members, iters))
    });
    group.finish();
    drop(child.stdin.take());
    let _ = child.wait();
    drop(members);
    let _ = server.stop();
    c.final_summary();
}
