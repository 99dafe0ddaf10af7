//! Redis Cluster: slots, topology, and the bus over sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`).

pub(crate) mod slot;
#[allow(dead_code)] // the bus uses it in the next step
pub(crate) mod topology;
