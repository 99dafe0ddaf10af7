//! What is sent: a [`Message`] is a [`Target`] plus a [`Payload`] (plus who sent it and whom to skip).

use std::sync::Arc;

use crate::history::Position;
use crate::uuid::ConnectionUuid;

/// Who a message is for. Every target reaches connections on every server of the bus.
///
/// ```
/// use plezi_messaging::{Bus, BusConfig, Message, Payload, Target};
///
/// let bus = Bus::in_process(BusConfig::default());
/// let headline = Payload::event("headline", serde_json::json!({"t": "hi"}));
/// bus.publish(Message::new(Target::Channel("news".into()), headline))?;
/// # Ok::<(), plezi_messaging::BusError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Target {
    /// Every connection of the application (upstream `multicast`).
    Multicast,
    /// Every connection of one controller type (upstream `broadcast`).
    Broadcast {
        /// The controller type's name (as the dispatch layer names it).
        controller: String,
    },
    /// One connection, anywhere (upstream `unicast`). Only the owning server's channel carries it.
    Unicast(ConnectionUuid),
    /// Every connection subscribed to the named channel, by exact name or by a matching glob pattern.
    Channel(String),
    /// Every live connection registered as this identity, on any server (real time only; use
    /// [`crate::Bus::notify`] for the stored, mailbox delivery).
    Identity(String),
}

/// What is delivered.
///
/// ```
/// use plezi_messaging::Payload;
///
/// let event = Payload::event("chat", serde_json::json!({"text": "hi"})); // handlers run
/// let raw = Payload::raw(r#"{"event":"tick"}"#); // written as is
/// assert!(matches!(event, Payload::Event { .. }) && matches!(raw, Payload::Raw(_)));
/// ```
#[derive(Clone, PartialEq, Debug)]
pub enum Payload {
    /// An event name and JSON data: the receiving controller's handler named `event` runs with `data`.
    Event {
        /// The event (handler) name.
        event: String,
        /// The handler's argument.
        data: serde_json::Value,
    },
    /// Pre-encoded bytes written to every receiver as they are, without running handlers (the fast path:
    /// encode once, write many).
    Raw(Arc<[u8]>),
}

impl Payload {
    /// An [`Payload::Event`].
    ///
    /// ```
    /// let p = plezi_messaging::Payload::event("chat", serde_json::json!("hi"));
    /// # drop(p);
    /// ```
    pub fn event(event: impl Into<String>, data: serde_json::Value) -> Payload {
        Payload::Event {
            event: event.into(),
            data,
        }
    }

    /// A [`Payload::Raw`] holding a copy of `bytes`.
    ///
    /// ```
    /// let p = plezi_messaging::Payload::raw(b"pre-encoded");
    /// # drop(p);
    /// ```
    pub fn raw(bytes: impl AsRef<[u8]>) -> Payload {
        Payload::Raw(Arc::from(bytes.as_ref()))
    }
}

/// One message on the bus.
///
/// ```
/// use plezi_messaging::{Message, Payload, Target};
/// let m = Message::new(Target::Channel("news".into()), Payload::event("headline", serde_json::json!({"t": "hi"})));
/// assert!(m.except.is_none() && m.from.is_none());
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct Message {
    /// Who receives it.
    pub target: Target,
    /// What they receive.
    pub payload: Payload,
    /// A connection to skip (usually the sender: "everyone except me").
    pub except: Option<ConnectionUuid>,
    /// The sending connection, if any (given to the receivers, and to `failed_unicast`).
    pub from: Option<ConnectionUuid>,
    /// Its place in its stream's history, set by the bus when the target keeps one
    /// ([`crate::Bus::keep_history`]); `None` otherwise.
    pub position: Option<Position>,
    /// The mailbox message id of an identity notification forwarded after its delivery was
    /// confirmed (the id it got when it was stored, see [`crate::Mail`]); `None` otherwise.
    pub mailbox_id: Option<Arc<str>>,
}

impl Message {
    /// A message with no sender and no exception.
    pub fn new(target: Target, payload: Payload) -> Message {
        Message {
            target,
            payload,
            except: None,
            from: None,
            position: None,
            mailbox_id: None,
        }
    }

    /// Sets the sender (builder style).
    pub fn from(mut self, sender: ConnectionUuid) -> Message {
        self.from = Some(sender);
        self
    }

    /// Skips `connection` (builder style).
    pub fn except(mut self, connection: ConnectionUuid) -> Message {
        self.except = Some(connection);
        self
    }

    /// Sets the sender and skips it: "everyone but me" (builder style).
    pub fn from_except(self, sender: ConnectionUuid) -> Message {
        self.from(sender).except(sender)
    }
}
