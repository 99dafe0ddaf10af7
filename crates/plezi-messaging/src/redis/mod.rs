//! The Redis engine: one subscriber connection and one publisher connection, each on its own thread.
//!
//! Channels (all prefixed by the app name, `{app}`):
//! - `{app}:all` — multicasts (every server subscribes);
//! - `{app}:srv:{server id}` — unicasts, drain signals and mailbox forwards for one server;
//! - `{app}:ctl:{controller}` — broadcasts to one controller type;
//! - `{app}:ch:{name}` — named channels (`SUBSCRIBE` for exact names, `PSUBSCRIBE` for patterns);
//! - `{app}:id:{identity}` — real-time messages to one identity.
//!
//! A server hears the last three only while it has a local member (see `interest.rs`): a subscribe is
//! sent when the first appears, and an unsubscribe once the last has been gone for
//! `BusConfig::unsubscribe_grace`.
//!
//! The subscriber and publisher speak RESP themselves (see `resp.rs`) rather than through the `redis`
//! crate: the subscriber must accept `SUBSCRIBE` writes from other threads while it blocks reading, and the
//! publisher must know exactly which pipelined publishes Redis acknowledged before a connection broke.
//! Both run over a `link::Link` (plain TCP, or TLS for `rediss://`; `link::connect` opens it), whose
//! `LinkWriter` is how other threads write to the subscriber's connection.
//!
//! On a Redis Cluster (detected at the first connect) both threads hand over to `cluster/`: the same
//! channels as shard channels (`SSUBSCRIBE`/`SPUBLISH` on the owning master).

mod backoff;
pub(crate) mod cluster;
mod conn;
pub(crate) mod history;
mod interest;
mod lazy_conn;
mod link;
mod publisher;
pub(crate) mod resp;
mod subscriber;
mod tls;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

pub(crate) use conn::{RedisAddr, redact};
pub(crate) use lazy_conn::LazyConnection;

pub(crate) use interest::{Key, Kind};

use self::backoff::Stop;
use self::interest::{Hold, Interest};
use crate::counters::Counters;
use crate::error::BusError;
use crate::glob::glob_escape;
use crate::local_node::LocalNode;
use crate::message::{Payload, Target};
use crate::uuid::{ConnectionUuid, ServerId};

/// Channel and key names of one app.
pub(crate) struct Names {
    app: String,
    global: String,
    own: String,
}

impl Names {
    pub fn new(app: &str, server: ServerId) -> Names {
        Names {
            app: app.to_owned(),
            global: format!("{app}:all"),
            own: format!("{app}:srv:{server}"),
        }
    }

    pub fn global(&self) -> &str {
        &self.global
    }

    pub fn own(&self) -> &str {
        &self.own
    }

    /// The prefix of server channels (`{app}:srv:`), followed by a server id.
    pub fn server_prefix(&self) -> String {
        format!("{}:srv:", self.app)
    }

    pub fn controller(&self, name: &str) -> String {
        format!("{}:ctl:{name}", self.app)
    }

    pub fn channel(&self, name: &str) -> String {
        format!("{}:ch:{name}", self.app)
    }

    pub fn pattern(&self, pattern: &str) -> String {
        format!("{}:ch:{pattern}", glob_escape(&self.app))
    }

    pub fn identity(&self, identity: &str) -> String {
        format!("{}:id:{identity}", self.app)
    }

    /// The Redis channel a message to `target` is published on.
    pub fn route(&self, target: &Target) -> String {
        match target {
            Target::Multicast => self.global.clone(),
            Target::Identity(identity) => self.identity(identity),
            Target::Broadcast { controller } => self.controller(controller),
            Target::Unicast(to) => format!("{}:srv:{}", self.app, to.server()),
            Target::Channel(name) => self.channel(name),
        }
    }
}

/// What to do when Redis says nobody received a publish.
pub(crate) enum OnZero {
    FailedUnicast {
        from: Option<ConnectionUuid>,
        to: ConnectionUuid,
        payload: Payload,
    },
    /// A mailbox signal on a cluster reached nobody: the server it went to is gone.
    Gone(Box<dyn FnOnce() + Send>),
}

/// One publish waiting for the publisher thread.
pub(crate) struct Outgoing {
    pub channel: String,
    /// The envelope, encoded without `seq` (the publisher numbers envelopes in the order it sends them).
    pub body: Vec<u8>,
    pub seq: Option<u64>,
    pub on_zero: Option<OnZero>,
    /// The history its stream keeps in Redis: it is appended there and published by one script.
    pub history: Option<Arc<history::HistoryStream>>,
}

#[derive(Default)]
struct PubQueue {
    items: VecDeque<Outgoing>,
    in_flight: usize,
}

/// The subscriber connection's side that other threads touch: what is wanted, and the socket to write
/// (un)subscribe commands on.
#[derive(Default)]
struct SubState {
    interest: Interest,
    /// On a cluster: the per-master subscriber connections (then `writer` stays `None`).
    shards: cluster::subscriber::Shards,
    writer: Option<link::LinkWriter>,
    /// A join timed out waiting for Redis, and no subscription reply came since: later joins do not
    /// wait (each would block its event loop for `join_timeout`).
    stalled: bool,
    /// What waits for the answer of a catch-up `PING` on the subscriber connection, in the order
    /// the pings were written (see [`RedisEngine::after_pubsub_fn`]).
    catch_ups: VecDeque<Box<dyn FnOnce() + Send>>,
}

impl SubState {
    /// Writes one (un)subscribe command; a failed write makes the subscriber thread reconnect (it
    /// resubscribes everything wanted then).
    fn send(&mut self, key: &Key, on: bool) {
        if self.shards.active() {
            return cluster::subscriber::send(self, key, on);
        }
        let (kind, name) = key;
        let mut cmd = Vec::new();
        resp::command(&mut cmd, &[kind.verb(on), name.as_bytes()]);
        if let Some(w) = self.writer.as_mut()
            && w.write_all(&cmd).is_err()
        {
            let _ = w.shutdown();
        }
    }
}

/// Asks the mailbox worker to drain an identity (set once the mailboxes exist).
pub(crate) type DrainFn = Box<dyn Fn(&str) + Send + Sync>;

pub(crate) struct Shared {
    node: Arc<LocalNode>,
    addr: RedisAddr,
    /// Every URL's address (several for the nodes of one cluster); `addr` is the first.
    seeds: Vec<RedisAddr>,
    /// Whether the Redis is a cluster, once a node answered (see [`cluster::detect`]).
    cluster_mode: OnceLock<bool>,
    cluster: cluster::ClusterShared,
    names: Names,
    queue: Mutex<PubQueue>,
    has_work: Condvar,
    drained: Condvar,
    pub_connected: AtomicBool,
    /// Subscribers of the global channel when the publisher last asked (servers on the bus).
    peers: AtomicUsize,
    subs: Mutex<SubState>,
    subs_changed: Condvar,
    stop: Stop,
    drains: OnceLock<DrainFn>,
    /// Registers an identity again and drains it (see `Mailboxes::rejoin_handle`).
    rejoins: OnceLock<DrainFn>,
    /// The streams that keep a history in Redis.
    histories: history::RedisHistories,
}

pub(crate) struct RedisEngine {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl RedisEngine {
    /// Starts the engine on the Redis (or the cluster) at `seeds` (at least one address), with the
    /// histories recovery reads.
    pub fn start(
        node: Arc<LocalNode>,
        seeds: Vec<RedisAddr>,
        histories: history::RedisHistories,
    ) -> Result<RedisEngine, BusError> {
        let addr = seeds
            .first()
            .cloned()
            .ok_or_else(|| BusError::Config("no Redis URL".into()))?;
        let names = Names::new(&node.config.app_name, node.server);
        let mut subs = SubState::default();
        subs.interest
            .hold_forever((Kind::Exact, names.global().to_owned()));
        subs.interest
            .hold_forever((Kind::Exact, names.own().to_owned()));
        let shared = Arc::new(Shared {
            node,
            addr,
            seeds,
            cluster_mode: OnceLock::new(),
            cluster: cluster::ClusterShared::default(),
            names,
            queue: Mutex::new(PubQueue::default()),
            has_work: Condvar::new(),
            drained: Condvar::new(),
            pub_connected: AtomicBool::new(false),
            peers: AtomicUsize::new(0),
            subs: Mutex::new(subs),
            subs_changed: Condvar::new(),
            stop: Stop::default(),
            drains: OnceLock::new(),
            rejoins: OnceLock::new(),
            histories,
        });
        let spawn = |name: &str, f: fn(Arc<Shared>)| {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || f(s))
                .map_err(|e| BusError::Config(format!("cannot start thread {name}: {e}")))
        };
        let threads = vec![
            spawn("plezi-redis-sub", subscriber::run)?,
            spawn("plezi-redis-pub", publisher::run)?,
        ];
        Ok(RedisEngine {
            shared,
            threads: Mutex::new(threads),
        })
    }

    pub fn names(&self) -> &Names {
        &self.shared.names
    }

    /// The streams that keep a history in Redis.
    pub fn histories(&self) -> &history::RedisHistories {
        &self.shared.histories
    }

    /// Publishes `(channel, envelope)` through this bus's publisher, for the mailbox store on a
    /// cluster (whose scripts cannot publish to another slot's shard channel); `gone` runs if it
    /// reached nobody. A full queue is logged.
    pub fn signal_fn(&self) -> crate::mailbox::SignalFn {
        let shared = Arc::downgrade(&self.shared);
        Box::new(move |channel, body, gone| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if let Err(e) = shared.enqueue(Outgoing {
                channel,
                body,
                seq: None,
                on_zero: Some(OnZero::Gone(gone)),
                history: None,
            }) {
                log::warn!("a mailbox signal was not sent: {e}");
            }
        })
    }

    /// Runs a closure once the subscriber connection has routed everything Redis published to this
    /// server before the call: it writes `PING catch-up` on that connection, whose answer Redis
    /// queues behind every message it had sent there, and runs the closure when the answer is read
    /// (or when the connection is gone). At once on a cluster (each channel lives on its own
    /// shard's connection) and while no subscriber connection is up.
    pub fn after_pubsub_fn(&self) -> crate::mailbox::AfterPubSub {
        let shared = Arc::downgrade(&self.shared);
        Box::new(move |then| {
            let Some(shared) = shared.upgrade() else {
                return then();
            };
            let mut st = shared.subs.lock();
            if !st.shards.active()
                && let Some(w) = st.writer.as_mut()
            {
                let mut ping = Vec::new();
                resp::command(&mut ping, &[b"PING", subscriber::CATCH_UP]);
                if w.write_all(&ping).is_ok() {
                    st.catch_ups.push_back(then);
                    return;
                }
                // The subscriber thread reconnects (and runs what waits).
                let _ = w.shutdown();
            }
            drop(st);
            then();
        })
    }

    pub fn set_drains(&self, drains: DrainFn, rejoins: DrainFn) {
        let _ = self.shared.drains.set(drains);
        let _ = self.shared.rejoins.set(rejoins);
    }

    /// Queues a publish; fails when the queue is full.
    pub fn enqueue(&self, out: Outgoing) -> Result<(), BusError> {
        self.shared.enqueue(out)
    }

    /// The first local reason to hear `key` appeared: subscribes unless it is subscribed already (or
    /// idle within its grace period). True if the subscription still waits for Redis's confirmation
    /// (see [`RedisEngine::confirm`]).
    pub fn hold(&self, key: &Key) -> bool {
        let mut st = self.shared.subs.lock();
        match st.interest.hold(key.clone()) {
            Hold::Confirmed => false,
            Hold::Send => {
                st.send(key, true);
                drop(st);
                // On a cluster the supervisor may have to start a reader on the channel's owner.
                self.shared.subs_changed.notify_all();
                true
            }
            Hold::Wait => true,
        }
    }

    /// The last local reason to hear `key` went away: it is unsubscribed after the grace period unless
    /// held again meanwhile.
    pub fn release(&self, key: Key) {
        self.shared
            .subs
            .lock()
            .interest
            .release(key, Instant::now());
    }

    /// Waits (up to `timeout`) until Redis confirmed the subscription to `key`. Returns at once when no
    /// subscriber connection is up (the subscription is made when it is, before queued publishes flush),
    /// and false at once while an earlier wait timed out and Redis has not answered a subscription
    /// since. False on timeout.
    pub fn confirm(&self, key: &Key, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.subs.lock();
        loop {
            if !st.interest.connected() || st.interest.confirmed(key) {
                return true;
            }
            if st.stalled {
                return false;
            }
            if self
                .shared
                .subs_changed
                .wait_until(&mut st, deadline)
                .timed_out()
            {
                let done = !st.interest.connected() || st.interest.confirmed(key);
                st.stalled = !done;
                return done;
            }
        }
    }

    pub fn queued(&self) -> usize {
        let q = self.shared.queue.lock();
        q.items.len() + q.in_flight
    }

    pub fn peers(&self) -> usize {
        self.shared.peers.load(Ordering::Relaxed)
    }

    pub fn connected(&self) -> bool {
        self.shared.pub_connected.load(Ordering::Relaxed)
            && self.shared.subs.lock().interest.connected()
    }

    /// Waits until every publish queued so far was acknowledged by Redis and every subscription change
    /// was confirmed.
    pub fn flush(&self, deadline: Instant) -> Result<(), BusError> {
        let s = &self.shared;
        let mut q = s.queue.lock();
        while !(q.items.is_empty() && q.in_flight == 0) {
            if s.drained.wait_until(&mut q, deadline).timed_out() {
                return Err(BusError::Timeout);
            }
        }
        drop(q);
        let mut st = s.subs.lock();
        while !st.interest.settled() {
            if s.subs_changed.wait_until(&mut st, deadline).timed_out() {
                return Err(BusError::Timeout);
            }
        }
        Ok(())
    }

    pub fn shutdown(&self) {
        let s = &self.shared;
        s.stop.raise();
        {
            let _q = s.queue.lock();
            s.has_work.notify_all();
        }
        {
            let st = s.subs.lock();
            if let Some(w) = st.writer.as_ref() {
                let _ = w.shutdown();
            }
            cluster::subscriber::shutdown(&st);
            s.subs_changed.notify_all();
        }
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn enqueue(&self, out: Outgoing) -> Result<(), BusError> {
        let capacity = self.node.config.publish_queue_capacity;
        let mut q = self.queue.lock();
        if q.items.len() + q.in_flight >= capacity {
            drop(q);
            Counters::add(&self.node.counters.rejected, 1);
            return Err(BusError::QueueFull { capacity });
        }
        q.items.push_back(out);
        drop(q);
        self.has_work.notify_one();
        Ok(())
    }

    fn drain(&self, identity: &str) {
        if let Some(f) = self.drains.get() {
            f(identity);
        }
    }
}
