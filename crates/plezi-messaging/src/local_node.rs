//! This server's side of the bus, shared by the bus handle and its threads: the server id, the
//! configuration, the registered sink, the local registry (channels, identities) and the counters, and
//! the routing of a message to this server's recipients.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::BusConfig;
use crate::counters::Counters;
use crate::history::Histories;
use crate::message::{Message, Target};
use crate::registry::Registry;
use crate::sink::{LocalDelivery, NullSink, Recipients, Sink};
use crate::uuid::ServerId;

/// This server on the bus: who it is, where its deliveries go, and who is subscribed to what here.
pub(crate) struct LocalNode {
    pub server: ServerId,
    pub config: BusConfig,
    sink: RwLock<Arc<dyn Sink>>,
    pub registry: RwLock<Registry>,
    pub counters: Counters,
    /// The streams that keep a history here.
    pub histories: Histories,
}

impl LocalNode {
    pub fn new(config: BusConfig) -> LocalNode {
        LocalNode {
            server: ServerId::random(),
            config,
            sink: RwLock::new(Arc::new(NullSink)),
            registry: RwLock::new(Registry::default()),
            counters: Counters::default(),
            histories: Histories::default(),
        }
    }

    pub fn sink(&self) -> Arc<dyn Sink> {
        self.sink.read().clone()
    }

    pub fn set_sink(&self, sink: Arc<dyn Sink>) {
        *self.sink.write() = sink;
    }

    /// Hands `message` to the sink for this server's recipients (if there are any).
    pub fn deliver_local(&self, message: Message) {
        let Message {
            target,
            payload,
            except,
            from,
            position,
            mailbox_id,
        } = message;
        let recipients = match &target {
            Target::Multicast => Recipients::All { except },
            Target::Broadcast { controller } => Recipients::Controller {
                name: controller.clone(),
                except,
            },
            Target::Unicast(to) => {
                if to.server() != self.server || except == Some(*to) {
                    return;
                }
                Recipients::Listed(vec![*to])
            }
            Target::Channel(name) => {
                let list = self.registry.read().channel_recipients(name, except);
                if list.is_empty() {
                    return;
                }
                Recipients::Listed(list)
            }
            Target::Identity(identity) => {
                let list = self.registry.read().identity_recipients(identity, except);
                if list.is_empty() {
                    return;
                }
                Recipients::Listed(list)
            }
        };
        self.sink().deliver(LocalDelivery {
            target,
            recipients,
            payload,
            from,
            position,
            mailbox_id,
        });
    }
}
