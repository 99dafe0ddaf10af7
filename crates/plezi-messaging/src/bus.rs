//! The [`Bus`]: publish to targets, track local subscriptions and identities, reach Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{BusConfig, Engine};
use crate::counters::{
    Counters, KIND_BROADCAST, KIND_CHANNEL, KIND_DRAIN, KIND_IDENTITY, KIND_MULTICAST, KIND_UNICAST,
};
use crate::envelope::Envelope;
use crate::error::BusError;
use crate::history::{HistoryLimits, RecoveryGap};
use crate::local_node::LocalNode;
use crate::mailbox::{
    MailboxStore, MailboxUsage, Mailboxes, MemoryStore, Outcome, RedisStore, check_identity,
};
use crate::message::{Message, Payload, Target};
use crate::redis::history::RedisHistories;
use crate::redis::{Key, Kind, LazyConnection, OnZero, Outgoing, RedisAddr, RedisEngine, redact};
use crate::registry::{Change, Subscription};
use crate::sink::Sink;
use crate::uuid::{ConnectionUuid, ServerId};

/// A snapshot of the bus's health and counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BusState {
    /// In-process: always true. Redis: both the subscriber and the publisher connection are up.
    pub connected: bool,
    /// Publishes waiting for Redis (queued or sent and not yet acknowledged).
    pub queued: usize,
    /// Servers listening on the bus (this one included) when last checked (every 100–250 ms); 1 in-process.
    /// After a Redis outage, queued publishes wait (up to `rejoin_grace`) until this many are back.
    pub peers: usize,
    /// Publishes Redis acknowledged.
    pub published: u64,
    /// Envelopes received from other servers and handled.
    pub received: u64,
    /// Of `received`, how many of each kind.
    pub received_kinds: ReceivedKinds,
    /// Publishes refused with [`BusError::QueueFull`].
    pub rejected: u64,
    /// Envelopes from Redis dropped as malformed, of another version, or too large.
    pub dropped: u64,
    /// Duplicate envelopes ignored (retried pipelines, exact + pattern matches).
    pub duplicates: u64,
    /// Times a Redis connection came back after an outage.
    pub reconnects: u64,
    /// Unicasts that reached no server.
    pub failed_unicasts: u64,
    /// Notifications refused (a full mailbox or store, a full notify queue, or Redis unreachable).
    pub notify_refused: u64,
}

/// Envelopes received from other servers, by kind (see [`BusState::received_kinds`]). A server hears a
/// controller type's broadcasts, a named channel's messages and an identity's real-time messages only
/// while it has a local member of it (and for `BusConfig::unsubscribe_grace` after the last one left).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReceivedKinds {
    /// [`Target::Multicast`] messages (every server hears them).
    pub multicast: u64,
    /// [`Target::Broadcast`] messages.
    pub broadcast: u64,
    /// [`Target::Unicast`] messages to a connection of this server.
    pub unicast: u64,
    /// [`Target::Channel`] messages.
    pub channel: u64,
    /// [`Target::Identity`] messages, real-time or forwarded from a mailbox.
    pub identity: u64,
    /// Signals to drain an identity's mailbox.
    pub drain: u64,
}

/// The message bus of one server process. Cheap to clone (all clones are one bus); the last clone to be
/// dropped stops its threads (publishes still queued are flushed if Redis is reachable).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use plezi_messaging::{Bus, BusConfig, LocalDelivery, Message, Payload, Recipients, Sink, Target};
///
/// struct Collect(Mutex<Vec<LocalDelivery>>);
/// impl Sink for Collect {
///     fn deliver(&self, d: LocalDelivery) { self.0.lock().unwrap().push(d) }
/// }
///
/// let bus = Bus::in_process(BusConfig::default());
/// let sink = Arc::new(Collect(Mutex::new(Vec::new())));
/// bus.set_sink(sink.clone());
/// let alice = bus.connection_uuid(0, 1, 0);
/// let bob = bus.connection_uuid(0, 2, 0);
/// bus.subscribe(alice, "news");
/// bus.psubscribe(bob, "n*");
/// bus.publish(Message::new(Target::Channel("news".into()), Payload::event("headline", serde_json::json!("hi"))).from_except(alice)).unwrap();
/// let got = sink.0.lock().unwrap();
/// assert_eq!(got[0].recipients, Recipients::Listed(vec![bob]));
/// ```
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

struct BusInner {
    node: Arc<LocalNode>,
    redis: Option<RedisEngine>,
    mailboxes: Mailboxes,
}

impl Drop for BusInner {
    fn drop(&mut self) {
        self.mailboxes.stop();
        if let Some(r) = &self.redis {
            r.shutdown();
        }
    }
}

impl Bus {
    /// A bus for the configured engine.
    pub fn new(config: BusConfig) -> Result<Bus, BusError> {
        match config.engine.clone() {
            Engine::InProcess => Ok(Bus::in_process(config)),
            Engine::Redis { url } => Bus::redis(config, &url),
        }
    }

    /// A bus configured from the environment ([`BusConfig::from_env`]).
    pub fn from_env() -> Result<Bus, BusError> {
        Bus::new(BusConfig::from_env())
    }

    /// An in-process bus (whatever `config.engine` says): one server, mailboxes in memory.
    pub fn in_process(config: BusConfig) -> Bus {
        let node = Arc::new(LocalNode::new(BusConfig {
            engine: Engine::InProcess,
            ..config
        }));
        let store: Arc<dyn MailboxStore> =
            Arc::new(MemoryStore::new(node.config.mailbox_store_max_bytes));
        let mailboxes = Mailboxes::start(
            node.clone(),
            store,
            String::new(),
            crate::mailbox::at_once(),
        );
        Bus {
            inner: Arc::new(BusInner {
                node,
                redis: None,
                mailboxes,
            }),
        }
    }

    /// A bus on Redis at `url`: one Redis, or a Redis Cluster named by any of its nodes (or several,
    /// separated by commas); the server says which (`INFO cluster`). Returns at once: if Redis is
    /// down, publishes queue until it is up.
    ///
    /// With `rediss://` (TLS, settings in [`BusConfig::redis_tls`]) the files are read and checked
    /// and one connection is made (to the first node named) before this returns, so that a
    /// certificate that does not verify (or a client certificate the server refuses) fails here with
    /// [`BusError::Tls`] rather than at the first publish; if Redis is unreachable, that check gives
    /// up after `io_timeout` and the bus starts anyway. TLS settings with a `redis://` URL fail with
    /// [`BusError::Config`].
    pub fn redis(config: BusConfig, url: &str) -> Result<Bus, BusError> {
        let seeds = RedisAddr::parse_all(url, &config.redis_tls)?;
        if let Some(first) = seeds.first() {
            first.check_tls(config.io_timeout)?;
        }
        let store = Arc::new(RedisStore::new(
            url,
            &config.redis_tls,
            &config.app_name,
            config.io_timeout,
            config.replica_ack_timeout,
        )?);
        let node = Arc::new(LocalNode::new(BusConfig {
            engine: Engine::Redis {
                url: url.to_owned(),
            },
            ..config
        }));
        let histories = RedisHistories::new(
            LazyConnection::new(url, &node.config.redis_tls, node.config.io_timeout)?,
            node.config.max_envelope_bytes,
            node.config.io_timeout,
        );
        let engine = RedisEngine::start(node.clone(), seeds, histories)?;
        let mailboxes = Mailboxes::start(
            node.clone(),
            store.clone(),
            engine.names().server_prefix(),
            engine.after_pubsub_fn(),
        );
        store.set_signal(engine.signal_fn(), mailboxes.prune_handle());
        log::info!(
            "bus {} on Redis at {} (app {:?})",
            node.server,
            redact(url),
            node.config.app_name
        );
        engine.set_drains(mailboxes.drain_handle(), mailboxes.rejoin_handle());
        Ok(Bus {
            inner: Arc::new(BusInner {
                node,
                redis: Some(engine),
                mailboxes,
            }),
        })
    }

    /// Registers the sink that receives local deliveries (replacing any earlier one). The bus keeps the
    /// sink alive; a sink that owns a clone of this `Bus` makes a cycle that never drops, so give it the
    /// server handle it needs rather than the bus.
    pub fn set_sink(&self, sink: Arc<dyn Sink>) {
        self.inner.node.set_sink(sink);
    }

    /// This server's id (fresh for every bus).
    pub fn server_id(&self) -> ServerId {
        self.inner.node.server
    }

    /// The UUID of local connection (`loop_index`, `slot`, `generation`).
    pub fn connection_uuid(&self, loop_index: u16, slot: u32, generation: u32) -> ConnectionUuid {
        ConnectionUuid::new(self.inner.node.server, loop_index, slot, generation)
    }

    /// The configuration in use.
    pub fn config(&self) -> &BusConfig {
        &self.inner.node.config
    }

    /// Publishes `message`: local recipients are handed to the sink at once, on this thread; other servers
    /// get it through Redis. Fails only when the publish queue is full (nothing is delivered then).
    ///
    /// With Redis, a message to a stream that keeps a history ([`Bus::keep_history`]) is appended
    /// and published by Redis, and this server's recipients get it from Redis too (with its
    /// position, in the stream's order), not at once.
    ///
    /// A unicast to a connection of another server that no live server owns ends in
    /// [`Sink::failed_unicast`] (asynchronously with Redis; at once in-process).
    pub fn publish(&self, message: Message) -> Result<(), BusError> {
        let node = &self.inner.node;
        let remote_unicast =
            matches!(message.target, Target::Unicast(to) if to.server() != node.server);
        match &self.inner.redis {
            None => {
                if let Target::Unicast(to) = message.target
                    && remote_unicast
                {
                    Counters::add(&node.counters.failed_unicasts, 1);
                    node.sink()
                        .failed_unicast(message.from, to, &message.payload);
                    return Ok(());
                }
            }
            Some(redis) => {
                let local_unicast = matches!(message.target, Target::Unicast(_)) && !remote_unicast;
                if !local_unicast {
                    let channel = redis.names().route(&message.target);
                    let body = Envelope::encode_message(node.server, &message);
                    if let Target::Unicast(to) = message.target {
                        // Not delivered here: the payload moves to the sender's
                        // `failed_unicast`, should no server take it.
                        let on_zero = OnZero::FailedUnicast {
                            from: message.from,
                            to,
                            payload: message.payload,
                        };
                        redis.enqueue(Outgoing {
                            channel,
                            body,
                            seq: None,
                            on_zero: Some(on_zero),
                            history: None,
                        })?;
                        return Ok(());
                    }
                    let history = redis.histories().of(&message.target);
                    let appended = history.is_some();
                    redis.enqueue(Outgoing {
                        channel,
                        body,
                        seq: None,
                        on_zero: None,
                        history,
                    })?;
                    if appended {
                        // Local receivers are served from Redis's echo, which carries the
                        // message's position, in the stream's order.
                        return Ok(());
                    }
                }
            }
        }
        if !remote_unicast {
            node.histories
                .record(message, |message| node.deliver_local(message));
        }
        Ok(())
    }

    /// Keeps the last messages published to `target` (a controller type's broadcasts or a named
    /// channel), within `limits`, so a client that reconnects can recover what it missed
    /// (`docs/protocol.md#recovery`). Every message to it then carries a [`Position`](crate::Position). Fails with
    /// [`BusError::Config`] for another kind of target.
    ///
    /// In-process the history is kept in memory. With Redis it is kept in Redis (a stream on the
    /// channel's shard, shared by every server of the app), so a client may recover on another
    /// server; every server should keep the same streams with the same limits. A message to such a
    /// stream reaches this server's own receivers through Redis (in the stream's order), not at
    /// once.
    ///
    /// ```
    /// use plezi_messaging::{Bus, BusConfig, HistoryLimits, Message, Payload, Target};
    /// let bus = Bus::in_process(BusConfig::default());
    /// let room = Target::Channel("room".into());
    /// bus.keep_history(&room, HistoryLimits::default())?;
    /// bus.publish(Message::new(room, Payload::event("said", serde_json::json!("hi"))))?;
    /// # Ok::<(), plezi_messaging::BusError>(())
    /// ```
    pub fn keep_history(&self, target: &Target, limits: HistoryLimits) -> Result<(), BusError> {
        if let Some(redis) = &self.inner.redis {
            return redis.histories().keep(redis.names(), target, limits);
        }
        let Some(stream) = crate::history::stream_of(target) else {
            return Err(BusError::Config(format!(
                "{target:?} cannot keep a history: only a controller type's broadcasts or a named channel can"
            )));
        };
        self.inner.node.histories.keep(stream, limits);
        Ok(())
    }

    /// Whether [`Bus::recover`] waits for Redis (the history lives there): then call it off the
    /// event loop (e.g. on the server's blocking pool).
    pub fn recovery_blocks(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// The messages of `stream` (a [`Position::stream`](crate::Position::stream)) published after offset `offset` of epoch
    /// `epoch`, oldest first, or a [`RecoveryGap`] when the history does not cover them.
    ///
    /// With Redis this is a round trip that blocks up to `io_timeout` (see
    /// [`Bus::recovery_blocks`]); if Redis cannot be asked the answer is a [`RecoveryGap`] (the
    /// client reloads its state, as after any failed recovery).
    pub fn recover(
        &self,
        stream: &str,
        epoch: &str,
        offset: u64,
    ) -> Result<Vec<Message>, RecoveryGap> {
        match &self.inner.redis {
            Some(redis) => redis.histories().since(stream, epoch, offset),
            None => self.inner.node.histories.since(stream, epoch, offset),
        }
    }

    /// Shorthand: publish event `event` with `data` to `target`.
    pub fn publish_event(
        &self,
        target: Target,
        event: &str,
        data: serde_json::Value,
    ) -> Result<(), BusError> {
        self.publish(Message::new(target, Payload::event(event, data)))
    }

    /// Subscribes local connection `conn` to the named channel `channel` (exact name). With Redis, when
    /// this server was not subscribed to it yet, waits (up to `join_timeout`) for Redis to confirm, so a
    /// message published on any server after this returns reaches `conn`.
    pub fn subscribe(&self, conn: ConnectionUuid, channel: &str) {
        self.change(conn, Subscription::Exact(channel.to_owned()), true);
    }

    /// Subscribes `conn` to every named channel matching the Redis glob `pattern` (confirmed like
    /// [`Bus::subscribe`]).
    pub fn psubscribe(&self, conn: ConnectionUuid, pattern: &str) {
        self.change(conn, Subscription::Pattern(pattern.to_owned()), true);
    }

    /// Ends `conn`'s subscription to `channel`.
    pub fn unsubscribe(&self, conn: ConnectionUuid, channel: &str) {
        self.change(conn, Subscription::Exact(channel.to_owned()), false);
    }

    /// Ends `conn`'s subscription to `pattern`.
    pub fn punsubscribe(&self, conn: ConnectionUuid, pattern: &str) {
        self.change(conn, Subscription::Pattern(pattern.to_owned()), false);
    }

    fn change(&self, conn: ConnectionUuid, sub: Subscription, on: bool) {
        let mut registry = self.inner.node.registry.write();
        let change = if on {
            registry.subscribe(conn, sub.clone())
        } else {
            registry.unsubscribe(conn, &sub)
        };
        // Applied under the registry lock so concurrent first/last changes reach Redis in order; the wait
        // for Redis's confirmation is not.
        let wait = self.apply(self.channel_key(&sub), change);
        drop(registry);
        self.confirm(wait);
    }

    /// The Redis channel (or pattern) of a named-channel subscription.
    fn channel_key(&self, sub: &Subscription) -> Option<Key> {
        let names = self.inner.redis.as_ref()?.names();
        Some(match sub {
            Subscription::Exact(name) => (Kind::Exact, names.channel(name)),
            Subscription::Pattern(p) => (Kind::Pattern, names.pattern(p)),
        })
    }

    /// Tells the Redis engine (if any) about a first or last local member of `key`; returns the key when
    /// its subscription waits for Redis's confirmation.
    fn apply(&self, key: Option<Key>, change: Change) -> Option<Key> {
        let (redis, key) = (self.inner.redis.as_ref()?, key?);
        match change {
            Change::None => None,
            Change::Added => redis.hold(&key).then_some(key),
            Change::Removed => {
                redis.release(key);
                None
            }
        }
    }

    /// Waits (up to `join_timeout`) for Redis to confirm the subscription to `key`.
    fn confirm(&self, key: Option<Key>) {
        let (Some(redis), Some(key)) = (&self.inner.redis, key) else {
            return;
        };
        let timeout = self.inner.node.config.join_timeout;
        if !redis.confirm(&key, timeout) {
            log::warn!(
                "Redis did not confirm the subscription to {:?} within {timeout:?}; messages published \
                 before it does may not reach this server",
                key.1
            );
        }
    }

    /// One more local member of controller type `controller`: call it when a connection of that type
    /// opens, before its `on_open` (and [`Bus::leave_controller`] when it closes). With Redis, the first
    /// member subscribes this server to the type's broadcasts, and this waits (up to `join_timeout`) for
    /// Redis to confirm, so a broadcast published on any server after this returns reaches the
    /// connection. Local broadcasts need no joining.
    pub fn join_controller(&self, controller: &str) {
        let Some(redis) = &self.inner.redis else {
            return;
        };
        let mut registry = self.inner.node.registry.write();
        let change = registry.join_controller(controller);
        let key = (Kind::Exact, redis.names().controller(controller));
        let wait = self.apply(Some(key), change);
        drop(registry);
        self.confirm(wait);
    }

    /// One local member of controller type `controller` less (it closed). After the last one, this
    /// server stops hearing the type's broadcasts once `unsubscribe_grace` passed without a new member.
    pub fn leave_controller(&self, controller: &str) {
        let Some(redis) = &self.inner.redis else {
            return;
        };
        let mut registry = self.inner.node.registry.write();
        let change = registry.leave_controller(controller);
        let key = (Kind::Exact, redis.names().controller(controller));
        self.apply(Some(key), change);
    }

    /// The Redis channel of `identity`'s real-time messages.
    fn identity_key(&self, identity: &str) -> Option<Key> {
        let names = self.inner.redis.as_ref()?.names();
        Some((Kind::Exact, names.identity(identity)))
    }

    /// Registers local connection `conn` as `identity` (a user id): it receives real-time
    /// [`Target::Identity`] messages and drains the identity's mailbox now and whenever it gets mail.
    /// `lifespan` (default: `mailbox_lifespan`, 21 days) is how long the mailbox outlives the identity's
    /// last access; the controller type sets it.
    ///
    /// With Redis, when `identity` had no live connection on this server yet, this waits (up to
    /// `join_timeout`) for Redis to confirm the subscription to the identity's channel, so a real-time
    /// message published on any server after this returns reaches `conn`.
    pub fn register_as(
        &self,
        identity: &str,
        conn: ConnectionUuid,
        lifespan: Option<Duration>,
    ) -> Result<(), BusError> {
        let node = &self.inner.node;
        if conn.server() != node.server {
            return Err(BusError::Config(format!(
                "register_as({identity:?}, {conn}): the connection belongs to another server; register it there"
            )));
        }
        check_identity(identity)?;
        let lifespan = lifespan.unwrap_or(node.config.mailbox_lifespan);
        let mut registry = node.registry.write();
        let first = registry.register(identity, conn, lifespan);
        let change = if first { Change::Added } else { Change::None };
        let wait = self.apply(self.identity_key(identity), change);
        drop(registry);
        self.confirm(wait);
        self.inner.mailboxes.register(identity, lifespan);
        Ok(())
    }

    /// Ends `conn`'s registration as `identity`.
    pub fn unregister(&self, identity: &str, conn: ConnectionUuid) {
        let mut registry = self.inner.node.registry.write();
        if registry.unregister(identity, conn) {
            self.apply(self.identity_key(identity), Change::Removed);
            drop(registry);
            self.inner.mailboxes.unregister(identity);
        }
    }

    /// Forgets a closed connection: all its channel subscriptions and identity registrations.
    pub fn forget(&self, conn: ConnectionUuid) {
        let mut registry = self.inner.node.registry.write();
        let (removed, last_of) = registry.forget(conn);
        for sub in &removed {
            self.apply(self.channel_key(sub), Change::Removed);
        }
        for identity in &last_of {
            self.apply(self.identity_key(identity), Change::Removed);
        }
        drop(registry);
        for identity in last_of {
            self.inner.mailboxes.unregister(&identity);
        }
    }

    /// Stores `payload` in `identity`'s mailbox, then signals every server holding live connections of it
    /// (store-then-signal). Returns once the message is stored, or with the reason it was not:
    /// [`BusError::MailboxFull`] / [`BusError::StoreFull`] (a cap of `BusConfig` was reached; nothing is
    /// dropped silently), [`BusError::NotifyQueueFull`], [`BusError::IdentityTooLong`], or a Redis error.
    ///
    /// With Redis this waits for a round trip (the mailbox thread stores notifications in call order): do
    /// not call it on an event loop; use [`Bus::notify_from`] there.
    pub fn notify(&self, identity: &str, payload: Payload) -> Result<(), BusError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let done = move |stored| {
            let _ = tx.send(stored);
        };
        self.inner
            .mailboxes
            .notify(identity, &payload, Outcome::Then(Box::new(done)))?;
        rx.recv().unwrap_or(Err(BusError::Closed))
    }

    /// [`Bus::notify`] that never waits for Redis, for event loops. The in-memory store answers at once
    /// (the result is final). With Redis the notification is queued for the mailbox thread, which stores
    /// notifications in call order (two notifications from one caller arrive in order): `Ok` means
    /// "queued", and a refusal found later goes to [`Sink::notify_refused`] with `sender` (without a
    /// sender it is logged at debug level); either way it is counted in [`BusState::notify_refused`].
    /// Refused at once: [`BusError::NotifyQueueFull`] when `notify_queue_max_bytes` of notifications
    /// already wait for Redis, and [`BusError::IdentityTooLong`].
    pub fn notify_from(
        &self,
        sender: Option<ConnectionUuid>,
        identity: &str,
        payload: Payload,
    ) -> Result<(), BusError> {
        self.inner
            .mailboxes
            .notify(identity, &payload, Outcome::RefusalTo(sender))
    }

    /// [`Bus::notify`] that never waits for Redis and reports the final answer to `done`, for a
    /// caller that must know it without blocking (an HTTP request answered once its notifications
    /// are stored). `Err` here: refused at once (as [`Bus::notify_from`]), and `done` is not called.
    /// `Ok`: `done` is called exactly once with the final answer — before this returns with the
    /// in-memory store, later on the bus's mailbox thread with Redis (keep it short: hand the answer
    /// on). A refusal is counted in [`BusState::notify_refused`] either way.
    ///
    /// ```
    /// use plezi_messaging::{Bus, BusConfig, Payload};
    /// let bus = Bus::in_process(BusConfig::default());
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// bus.notify_then("ada", Payload::event("hello", serde_json::json!({})), move |stored| {
    ///     let _ = tx.send(stored.is_ok());
    /// })
    /// .expect("accepted");
    /// assert_eq!(rx.recv(), Ok(true));
    /// ```
    pub fn notify_then(
        &self,
        identity: &str,
        payload: Payload,
        done: impl FnOnce(Result<(), BusError>) + Send + 'static,
    ) -> Result<(), BusError> {
        self.inner
            .mailboxes
            .notify(identity, &payload, Outcome::Then(Box::new(done)))
    }

    /// What the mailbox store holds, as counted against `mailbox_store_max_identities` and
    /// `mailbox_store_max_bytes` (with Redis, one round trip on this thread).
    pub fn mailbox_usage(&self) -> Result<MailboxUsage, BusError> {
        self.inner.mailboxes.usage()
    }

    /// Shorthand: [`Bus::notify`] with an event and its data.
    pub fn notify_event(
        &self,
        identity: &str,
        event: &str,
        data: serde_json::Value,
    ) -> Result<(), BusError> {
        self.notify(identity, Payload::event(event, data))
    }

    /// Waits until every publish made so far reached Redis, every subscription change was confirmed, and
    /// the mailbox worker handled every request made so far. For start-up and tests.
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        let deadline = Instant::now() + timeout;
        if let Some(redis) = &self.inner.redis {
            redis.flush(deadline)?;
        }
        self.inner.mailboxes.settle(deadline)
    }

    /// The bus's health and counters.
    pub fn state(&self) -> BusState {
        let c = &self.inner.node.counters;
        let (connected, queued, peers) = match &self.inner.redis {
            Some(r) => (r.connected(), r.queued(), r.peers()),
            None => (true, 0, 1),
        };
        BusState {
            connected,
            queued,
            peers,
            published: Counters::get(&c.published),
            received: Counters::get(&c.received),
            received_kinds: ReceivedKinds {
                multicast: Counters::get(&c.received_kinds[KIND_MULTICAST]),
                broadcast: Counters::get(&c.received_kinds[KIND_BROADCAST]),
                unicast: Counters::get(&c.received_kinds[KIND_UNICAST]),
                channel: Counters::get(&c.received_kinds[KIND_CHANNEL]),
                identity: Counters::get(&c.received_kinds[KIND_IDENTITY]),
                drain: Counters::get(&c.received_kinds[KIND_DRAIN]),
            },
            rejected: Counters::get(&c.rejected),
            dropped: Counters::get(&c.dropped),
            duplicates: Counters::get(&c.duplicates),
            reconnects: Counters::get(&c.reconnects),
            failed_unicasts: Counters::get(&c.failed_unicasts),
            notify_refused: Counters::get(&c.notify_refused),
        }
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("server", &self.inner.node.server)
            .field("app", &self.inner.node.config.app_name)
            .field("redis", &self.inner.redis.is_some())
            .finish()
    }
}
