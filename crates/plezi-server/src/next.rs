//! [`Next`]: what a connection tells its loop to do after something happened to it (input read,
//! output flushed, a timer tick, shutdown). The connection decides; the loop only carries it out.

/// What the loop must do with a connection next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing until the socket, a task or the clock says otherwise.
    Wait,
    /// Write out what is queued, at the end of this turn (with everything else queued in it).
    Flush,
    /// Come back next turn: input is left over, a budget ran out, or a stream has more to send.
    Resume,
    /// Both [`Next::Flush`] and [`Next::Resume`].
    FlushAndResume,
    /// Drop the connection now. `by_server`: we ended it, not the peer or the network (a
    /// WebSocket's `on_close` says so when no close handshake told otherwise).
    Drop {
        /// Whether the server, rather than the peer or the network, ended the connection.
        by_server: bool,
    },
}

impl Next {
    /// This, and also come back next turn (a drop stays a drop).
    pub(crate) fn and_resume(self) -> Next {
        match self {
            Next::Wait | Next::Resume => Next::Resume,
            Next::Flush | Next::FlushAndResume => Next::FlushAndResume,
            Next::Drop { .. } => self,
        }
    }
}
