//! The bus [`Sink`]: local deliveries become work on the receiving connections' loop threads.
//!
//! - Event payloads run the receiver's handler for the event (server side) and write its answer:
//!   `ServerHandle::for_each` with the controller's tag for broadcasts (no tag for multicasts),
//!   `ServerHandle::for_each_listed` for listed connections (unicast, channel, identity): one task
//!   per loop, however many receivers. The handler's message is built once and shared
//!   (`Msg`); a receiver that relays it unchanged writes the frame encoded once for all.
//! - Raw payloads are framed once and shared: `ServerHandle::broadcast` / `broadcast_listed`.
//! - Mailbox batches run on each live connection of the identity (one task per loop), each message
//!   with its mailbox message id (`_mid_`) for a connection that acknowledges; the claim is confirmed once one of them took every
//!   message, or, for a client that acknowledges (`_ack_=1`, see `mail_ack.rs`), once the first one
//!   acknowledged them. If none is open any more, the claim is dropped unconfirmed and the messages
//!   stay first in the mailbox.
//! - A failed unicast runs the sender's `failed_unicast`.
//! - A notification refused after `Ctx::notify` returned (the Redis store answers later) is
//!   written to the sending connection as an `err` event (507 or 503).

use std::sync::{Arc, Weak};

use plezi_messaging::{
    BusError, ConnectionUuid, LocalDelivery, MailboxBatch, Payload, Recipients, Sink, Target,
};
use plezi_server::{EachFn, Filter, SharedFrame};
use serde_json::json;

use crate::answer::bus_error_status;
use crate::app_state::AppState;
use crate::connection::{Connection, Delivery};
use crate::wire;

/// The application's sink (registered with `Bus::set_sink`).
///
/// It holds the application weakly: the bus keeps its sink, and the application keeps the bus.
pub(crate) struct DispatchSink {
    pub(crate) app: Weak<AppState>,
}

impl DispatchSink {
    /// The server filter for "every connection (of this tag) except one".
    fn filter(app: &AppState, tag: Option<u64>, except: Option<ConnectionUuid>) -> Filter {
        Filter {
            tag,
            except: except.and_then(|u| app.conn_of(u)),
        }
    }

    fn frame(bytes: &[u8]) -> SharedFrame {
        match std::str::from_utf8(bytes) {
            Ok(text) => SharedFrame::text(text),
            Err(_) => SharedFrame::binary(bytes),
        }
    }
}

impl Sink for DispatchSink {
    fn deliver(&self, delivery: LocalDelivery) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let Some(handle) = app.handle() else {
            log::debug!("plezi: a delivery arrived before the server runs; dropped");
            return;
        };
        let LocalDelivery {
            target,
            recipients,
            payload,
            from,
            position,
            mailbox_id,
        } = delivery;
        let filter = match &recipients {
            Recipients::All { except } => Some(Self::filter(&app, None, *except)),
            Recipients::Controller { name, except } => match app.tag_of(name) {
                Some(tag) => Some(Self::filter(&app, Some(tag), *except)),
                None => return, // no connection of that type here
            },
            Recipients::Listed(_) => None,
        };
        match payload {
            Payload::Raw(bytes) => {
                let frame = Self::frame(&bytes);
                match (filter, recipients) {
                    (Some(filter), _) => handle.broadcast(frame, filter),
                    (None, Recipients::Listed(list)) => {
                        let ids = list.into_iter().filter_map(|u| app.conn_of(u));
                        handle.broadcast_listed(ids, frame);
                    }
                    (None, _) => {}
                }
            }
            Payload::Event { event, data } => {
                let delivery =
                    Delivery::new(event, data, from, target, position, mailbox_id.as_deref());
                let each: EachFn = Arc::new(move |h, ws| {
                    if let Some(conn) = Connection::downcast(h) {
                        conn.deliver(ws, &delivery);
                    }
                });
                match (filter, recipients) {
                    (Some(filter), _) => handle.for_each(filter, each),
                    (None, Recipients::Listed(list)) => {
                        let ids = list.into_iter().filter_map(|u| app.conn_of(u));
                        handle.for_each_listed(ids, each);
                    }
                    (None, _) => {}
                }
            }
        }
    }

    fn deliver_mailbox(&self, batch: MailboxBatch) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let Some(handle) = app.handle() else {
            return; // the claim is dropped: the messages stay first in the mailbox
        };
        let MailboxBatch {
            identity,
            connections,
            messages,
            claim,
        } = batch;
        let target = Target::Identity(identity);
        let last = messages.last().map(|m| m.id.clone());
        let deliveries: Vec<Result<Delivery, Arc<[u8]>>> = messages
            .into_iter()
            .map(|m| match m.payload {
                Payload::Event { event, data } => Ok(Delivery::new(
                    event,
                    data,
                    None,
                    target.clone(),
                    None,
                    Some(&m.id),
                )),
                Payload::Raw(bytes) => Err(bytes),
            })
            .collect();
        let each: EachFn = Arc::new(move |h, ws| {
            let Some(conn) = Connection::downcast(h) else {
                return;
            };
            for d in deliveries.iter() {
                match d {
                    Ok(delivery) => conn.deliver(ws, delivery),
                    Err(bytes) => Connection::deliver_raw(ws, bytes),
                }
            }
            conn.mail_written(ws, last.as_ref(), &claim);
        });
        let ids = connections.into_iter().filter_map(|u| app.conn_of(u));
        handle.for_each_listed(ids, each);
    }

    fn failed_unicast(
        &self,
        from: Option<ConnectionUuid>,
        target: ConnectionUuid,
        payload: &Payload,
    ) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let (Some(handle), Some(id)) = (app.handle(), from.and_then(|u| app.conn_of(u))) else {
            log::debug!("plezi: unicast to {target} failed: no server owns it");
            return;
        };
        let payload = payload.clone();
        handle.run(id, move |h, ws| {
            if let Some(conn) = Connection::downcast(h) {
                conn.failed_unicast(ws, target, &payload);
            }
        });
    }

    fn notify_refused(
        &self,
        from: ConnectionUuid,
        identity: &str,
        event: Option<&str>,
        error: &BusError,
    ) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let (Some(handle), Some(id)) = (app.handle(), app.conn_of(from)) else {
            log::debug!("plezi: a notification from {from} was refused: {error}");
            return;
        };
        let status = bus_error_status(error);
        let request = json!({"notify": identity, "event": event});
        let text = wire::error_event(status, &error.to_string(), &request);
        handle.write(id, SharedFrame::text(&text));
    }
}
