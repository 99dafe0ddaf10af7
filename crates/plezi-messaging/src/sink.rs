//! Where local deliveries go: the [`Sink`] the dispatch layer registers with [`crate::Bus::set_sink`].

use crate::history::Position;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::BusError;
use crate::message::{Payload, Target};
use crate::uuid::ConnectionUuid;

/// Which local connections (connections of *this* server) a delivery is for.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Recipients {
    /// Every connection of this server, except one.
    All {
        /// The connection to skip.
        except: Option<ConnectionUuid>,
    },
    /// Every connection of one controller type on this server, except one.
    Controller {
        /// The controller type's name.
        name: String,
        /// The connection to skip.
        except: Option<ConnectionUuid>,
    },
    /// Exactly these connections (a unicast target, the subscribers of a channel, the live connections of
    /// an identity). The `except` connection was already removed; the list is never empty, sorted and
    /// free of duplicates. A listed connection may have closed meanwhile: ignore it then.
    Listed(Vec<ConnectionUuid>),
}

/// One delivery to local connections.
#[derive(Clone, PartialEq, Debug)]
pub struct LocalDelivery {
    /// The target the message was published to (tells a channel name or identity apart).
    pub target: Target,
    /// Which local connections receive it.
    pub recipients: Recipients,
    /// What they receive.
    pub payload: Payload,
    /// The sending connection, if the publisher named one.
    pub from: Option<ConnectionUuid>,
    /// Its place in its stream's history (when the target keeps one).
    pub position: Option<Position>,
    /// Its mailbox message id, when it is an identity notification drained from a mailbox (see
    /// [`Mail`]) or forwarded after one was confirmed.
    pub mailbox_id: Option<Arc<str>>,
}

/// One message claimed from an identity's mailbox.
#[derive(Clone, PartialEq, Debug)]
pub struct Mail {
    /// Unique per stored message (`{server id}.{n}`, given when it was stored); a redelivery of the
    /// message carries the same id, so a client can drop a repeat.
    pub id: Arc<str>,
    /// What the identity's connections receive.
    pub payload: Payload,
}

/// Messages claimed from an identity's mailbox, for that identity's live local connections.
///
/// Write every message, in order, to each listed connection that is still open; once at least one
/// connection took them all (was written them all, or acknowledged them all when its client
/// acknowledges), call [`Claim::delivered`]. If none is open any more, drop the claim (and every clone of
/// it): the messages stay first in the mailbox, in order, for the next drain.
#[derive(Debug)]
pub struct MailboxBatch {
    /// The identity whose mailbox was drained.
    pub identity: String,
    /// The identity's live connections on this server (sorted, no duplicates).
    pub connections: Vec<ConnectionUuid>,
    /// The claimed messages, oldest first.
    pub messages: Vec<Mail>,
    /// The receipt: [`Claim::delivered`] removes the messages for good; dropping it undelivered leaves them first in line.
    pub claim: Claim,
}

/// The receipt for messages claimed from a mailbox (see [`MailboxBatch`]).
///
/// Cheap to clone; all clones are one claim. Call [`Claim::delivered`] once a live connection took the
/// messages: they leave the mailbox for good (and are forwarded to the identity's live connections on other
/// servers). If every clone is dropped without that call, the messages stay first in the mailbox (they
/// never left it) and the identity's other servers are told to drain.
#[derive(Clone)]
pub struct Claim {
    inner: Arc<ClaimInner>,
}

/// Where a claim's outcome goes (the mailbox worker).
pub(crate) trait ClaimSettler: Send + Sync {
    /// The claimed messages reached a live connection.
    fn delivered(&self, identity: String, token: String, messages: Vec<Vec<u8>>);
    /// Every clone of the claim was dropped undelivered.
    fn given_back(&self, identity: String, token: String);
}

struct ClaimInner {
    identity: String,
    token: String,
    /// The stored messages, until the claim is confirmed.
    messages: Mutex<Option<Vec<Vec<u8>>>>,
    settler: Box<dyn ClaimSettler>,
}

impl Claim {
    /// A claim of `messages` under drain turn `token`, settled by `settler`.
    pub(crate) fn new(
        identity: String,
        token: String,
        messages: Vec<Vec<u8>>,
        settler: Box<dyn ClaimSettler>,
    ) -> Claim {
        Claim {
            inner: Arc::new(ClaimInner {
                identity,
                token,
                messages: Mutex::new(Some(messages)),
                settler,
            }),
        }
    }

    /// The claimed messages reached a live connection; removes them for good. Idempotent.
    pub fn delivered(&self) {
        if let Some(messages) = self.inner.messages.lock().take() {
            let inner = &self.inner;
            inner
                .settler
                .delivered(inner.identity.clone(), inner.token.clone(), messages);
        }
    }

    /// The identity the messages belong to.
    pub fn identity(&self) -> &str {
        &self.inner.identity
    }

    /// Whether [`Claim::delivered`] was called.
    pub fn is_delivered(&self) -> bool {
        self.inner.messages.lock().is_none()
    }
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("identity", &self.inner.identity)
            .field("delivered", &self.is_delivered())
            .finish()
    }
}

impl Drop for ClaimInner {
    fn drop(&mut self) {
        if self.messages.get_mut().take().is_some() {
            self.settler.given_back(
                std::mem::take(&mut self.identity),
                std::mem::take(&mut self.token),
            );
        }
    }
}

/// Receives local deliveries. Registered once by the dispatch layer; called from the publishing thread
/// (local deliveries are made at once, on the caller's thread), from the bus's subscriber thread (remote
/// deliveries) and from its mailbox thread. Implementations should hand the work to the connections'
/// threads and return quickly.
pub trait Sink: Send + Sync + 'static {
    /// Delivers `delivery` to its local recipients.
    fn deliver(&self, delivery: LocalDelivery);

    /// Delivers messages drained from an identity's mailbox. The default hands each message to
    /// [`Sink::deliver`] and confirms the claim at once; a sink that can tell whether a connection is still
    /// open should confirm only after a live connection took the messages (see [`MailboxBatch`]).
    fn deliver_mailbox(&self, batch: MailboxBatch) {
        let MailboxBatch {
            identity,
            connections,
            messages,
            claim,
        } = batch;
        for mail in messages {
            self.deliver(LocalDelivery {
                target: Target::Identity(identity.clone()),
                recipients: Recipients::Listed(connections.clone()),
                payload: mail.payload,
                from: None,
                position: None,
                mailbox_id: Some(mail.id),
            });
        }
        claim.delivered();
    }

    /// A unicast from `from` to `target` reached no server: the target's server is gone (its channel has
    /// no subscriber). Upstream Plezi called the sender controller's `failed_unicast` here. Default: log.
    fn failed_unicast(
        &self,
        from: Option<ConnectionUuid>,
        target: ConnectionUuid,
        payload: &Payload,
    ) {
        let _ = payload;
        log::debug!("unicast from {from:?} to {target} failed: no server owns it");
    }

    /// A notification that connection `from` sent with [`crate::Bus::notify_from`] was refused after that
    /// call returned: with the Redis store, notifications are stored off the caller's thread, so a full
    /// mailbox or store ([`BusError::MailboxFull`], [`BusError::StoreFull`]) or an unreachable Redis is
    /// known only later. `event` is the notification's event name (`None` for raw payloads). Called from
    /// the bus's mailbox thread; hand the report to the connection's thread. Default: a debug log line.
    fn notify_refused(
        &self,
        from: ConnectionUuid,
        identity: &str,
        event: Option<&str>,
        error: &BusError,
    ) {
        let _ = (identity, event);
        log::debug!("a notification from {from} was refused: {error}");
    }
}

/// The sink in place until one is registered: drops deliveries with a debug log line.
pub(crate) struct NullSink;

impl Sink for NullSink {
    fn deliver(&self, delivery: LocalDelivery) {
        log::debug!(
            "no sink registered; dropped a delivery for {:?}",
            delivery.target
        );
    }

    fn deliver_mailbox(&self, batch: MailboxBatch) {
        log::debug!(
            "no sink registered; mailbox of {:?} stays stored",
            batch.identity
        );
    }
}
