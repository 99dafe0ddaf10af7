//! The small facts a loop keeps about each connection between events, as a typed set of bits
//! ([`Flags`]), and the readiness the poller reported for a socket ([`Readiness`]).
//!
//! The socket's state (`READ_READY`, `HUP`, `PEER_EOF`, `WRITE_BLOCKED`) is changed only by the
//! connection itself; its place on the loop's lists (`DIRTY`, `READY`, `DEFERRED`) only by the loop.

use std::fmt;
use std::ops::BitOr;

/// A set of connection flags: one byte, so an idle connection stays small.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags(u8);

impl Flags {
    /// The socket may have bytes to read (edge-triggered readiness not yet consumed).
    pub(crate) const READ_READY: Flags = Flags(1);
    /// The last write hit a full kernel buffer; wait for a writable event.
    pub(crate) const WRITE_BLOCKED: Flags = Flags(2);
    /// On the loop's list of connections to flush at the end of this turn.
    pub(crate) const DIRTY: Flags = Flags(4);
    /// The peer sent FIN.
    pub(crate) const PEER_EOF: Flags = Flags(8);
    /// The peer hung up (read until EOF, do not trust short reads).
    pub(crate) const HUP: Flags = Flags(16);
    /// On the loop's list of connections to continue next turn.
    pub(crate) const READY: Flags = Flags(32);
    /// On the loop's list of fan-out receivers waiting (the loop lags) so that more frames can
    /// join theirs; always with `DIRTY`.
    pub(crate) const DEFERRED: Flags = Flags(64);

    const NAMES: [(Flags, &'static str); 7] = [
        (Flags::READ_READY, "READ_READY"),
        (Flags::WRITE_BLOCKED, "WRITE_BLOCKED"),
        (Flags::DIRTY, "DIRTY"),
        (Flags::PEER_EOF, "PEER_EOF"),
        (Flags::HUP, "HUP"),
        (Flags::READY, "READY"),
        (Flags::DEFERRED, "DEFERRED"),
    ];

    /// The empty set.
    pub(crate) const fn empty() -> Flags {
        Flags(0)
    }

    /// Every flag of `other` is set.
    pub(crate) const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the flags of `other`; true when one of them was not set before.
    pub(crate) fn insert(&mut self, other: Flags) -> bool {
        let added = !self.contains(other);
        self.0 |= other.0;
        added
    }

    /// Clears the flags of `other`; true when one of them was set before.
    pub(crate) fn remove(&mut self, other: Flags) -> bool {
        let had = self.0 & other.0 != 0;
        self.0 &= !other.0;
        had
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        for (flag, name) in Flags::NAMES {
            if self.contains(flag) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// What the poller reported for one socket.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Readiness {
    /// Bytes (or the end of the stream, or an error) can be read.
    pub(crate) readable: bool,
    /// The peer closed its side, or the socket failed: read until EOF.
    pub(crate) hup: bool,
    /// The kernel's send buffer has room again.
    pub(crate) writable: bool,
}

impl Readiness {
    /// The readiness of one `mio` event.
    pub(crate) fn of(event: &mio::event::Event) -> Readiness {
        let hup = event.is_read_closed() || event.is_error();
        Readiness {
            readable: event.is_readable() || hup,
            hup,
            writable: event.is_writable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    #[test]
    fn insert_and_remove_report_changes() {
        let mut f = Flags::empty();
        assert!(f.insert(Flags::DIRTY));
        assert!(!f.insert(Flags::DIRTY));
        assert!(f.insert(Flags::DIRTY | Flags::READY));
        assert!(f.contains(Flags::DIRTY | Flags::READY));
        assert!(!f.contains(Flags::DIRTY | Flags::HUP));
        assert!(f.remove(Flags::READY | Flags::HUP));
        assert!(!f.remove(Flags::READY));
        assert_eq!(f, Flags::DIRTY);
        assert_eq!(format!("{f:?}"), "{DIRTY}");
        assert_eq!(std::mem::size_of::<Flags>(), 1);
    }
}
