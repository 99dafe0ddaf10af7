//! [`ConnId`]: the identity of one connection inside one server process.

use std::fmt;

/// Identity of one connection inside one server process: the event loop that owns it, its slot in
/// that loop's connection table, and the slot's generation.
///
/// The generation is bumped every time a slot is reused, so a stale id (kept after its connection
/// closed) never reaches a newer connection: operations on it are silently ignored.
///
/// Displayed as `L.S.G` (loop, slot, generation).
///
/// ```
/// use plezi_server::ConnId;
/// let id = ConnId::new(1, 42, 7);
/// assert_eq!((id.loop_index(), id.slot(), id.generation()), (1, 42, 7));
/// assert_eq!(id.to_string(), "1.42.7");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ConnId {
    loop_index: u16,
    slot: u32,
    generation: u32,
}

impl ConnId {
    /// Builds an id from its parts (the server does this; other crates use it to decode ids).
    pub fn new(loop_index: u16, slot: u32, generation: u32) -> ConnId {
        ConnId {
            loop_index,
            slot,
            generation,
        }
    }

    /// The event loop (thread) that owns the connection.
    pub fn loop_index(self) -> u16 {
        self.loop_index
    }

    /// The connection's slot in its loop's connection table.
    pub fn slot(self) -> u32 {
        self.slot
    }

    /// How many times the slot had been reused when this connection took it.
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.loop_index, self.slot, self.generation)
    }
}
