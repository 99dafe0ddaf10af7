//! State shared by the bus handle and its threads: the server id, the sink, the local registry, counters,
//! and the routing of a message to local recipients.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::config::BusConfig;
use crate::message::{Message, Target};
use crate::registry::Registry;
use crate::sink::{LocalDelivery, NullSink, Recipients, Sink};
use crate::uuid::ServerId;

#[derive(Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub received: AtomicU64,
    pub rejected: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicates: AtomicU64,
    pub reconnects: AtomicU64,
    pub failed_unicasts: AtomicU64,
    pub notify_refused: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

pub(crate) struct Core {
    pub server: ServerId,
    pub config: BusConfig,
    sink: RwLock<Arc<dyn Sink>>,
    pub registry: RwLock<Registry>,
    pub counters: Counters,
}

impl Core {
    pub fn new(config: BusConfig) -> Core {
        Core {
            server: ServerId::random(),
            config,
            sink: RwLock::new(Arc::new(NullSink)),
            registry: RwLock::new(Registry::default()),
            counters: Counters::default(),
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
        });
    }
}
