//! The socket's own machine: where the connection is, what moves it, and the one table of the
//! moves it may make (as `channel` has for channels). Every change of `Client::conn` goes
//! through [`Client::move_socket`], which checks the move against the table in debug builds, so
//! the simulations and the fuzz targets check the table on every step.

use super::*;

/// Where the connection is (finer than the public [`ConnectionState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Conn {
    Idle,
    /// `Open` was asked of the runtime; the transport is not up yet.
    Opening,
    /// The byte transport is up; the WebSocket handshake is running.
    Handshaking,
    Open,
    /// A manual disconnect runs the close handshake.
    Closing,
    Waiting {
        at: Instant,
        attempt: u32,
    },
}

/// A [`Conn`] without its data: the table's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Idle,
    Opening,
    Handshaking,
    Open,
    Closing,
    Waiting,
}

impl Conn {
    pub(super) fn kind(self) -> Kind {
        match self {
            Self::Idle => Kind::Idle,
            Self::Opening => Kind::Opening,
            Self::Handshaking => Kind::Handshaking,
            Self::Open => Kind::Open,
            Self::Closing => Kind::Closing,
            Self::Waiting { .. } => Kind::Waiting,
        }
    }
}

/// What moves the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SocketInput {
    /// A transport is asked of the runtime (connect, a reconnect due, a resume).
    Open,
    /// A byte transport is up: the WebSocket handshake starts.
    TransportUp,
    /// The connection is open (the handshake is done, or a self-framing transport opened).
    Opened,
    /// A manual disconnect starts the close handshake.
    CloseStarted,
    /// The connection ended (`finish`): idle, waiting to reconnect, or idle for a moment before
    /// a reconnect asked for during a manual close.
    Ended,
    /// A manual disconnect while waiting to reconnect cancels the reconnect.
    Cancel,
}

/// Every move the socket may make: (from, input, to).
pub(super) const MOVES: &[(Kind, SocketInput, Kind)] = &[
    (Kind::Idle, SocketInput::Open, Kind::Opening),
    (Kind::Waiting, SocketInput::Open, Kind::Opening),
    (Kind::Opening, SocketInput::TransportUp, Kind::Handshaking),
    (Kind::Opening, SocketInput::Opened, Kind::Open),
    (Kind::Handshaking, SocketInput::Opened, Kind::Open),
    (Kind::Open, SocketInput::CloseStarted, Kind::Closing),
    (Kind::Opening, SocketInput::Ended, Kind::Idle),
    (Kind::Opening, SocketInput::Ended, Kind::Waiting),
    (Kind::Handshaking, SocketInput::Ended, Kind::Idle),
    (Kind::Handshaking, SocketInput::Ended, Kind::Waiting),
    (Kind::Open, SocketInput::Ended, Kind::Idle),
    (Kind::Open, SocketInput::Ended, Kind::Waiting),
    (Kind::Closing, SocketInput::Ended, Kind::Idle),
    (Kind::Closing, SocketInput::Ended, Kind::Waiting),
    (Kind::Waiting, SocketInput::Cancel, Kind::Idle),
];

/// Whether the table allows `from --input--> to`.
pub(super) fn allowed(from: Kind, input: SocketInput, to: Kind) -> bool {
    MOVES.contains(&(from, input, to))
}

impl Client {
    /// Moves the socket to `to` on `input`: the one place `conn` changes.
    pub(super) fn move_socket(&mut self, input: SocketInput, to: Conn) {
        debug_assert!(
            allowed(self.conn.kind(), input, to.kind()),
            "socket move not in the table: {:?} --{input:?}--> {:?}",
            self.conn,
            to
        );
        self.conn = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 6] =
        [Kind::Idle, Kind::Opening, Kind::Handshaking, Kind::Open, Kind::Closing, Kind::Waiting];

    #[test]
    fn the_table_has_no_repeats_and_reaches_every_state_from_idle() {
        for (i, m) in MOVES.iter().enumerate() {
            assert!(!MOVES[i + 1..].contains(m), "{m:?} twice");
        }
        let mut seen = alloc::vec![Kind::Idle];
        let mut i = 0;
        while i < seen.len() {
            for &(from, _, to) in MOVES {
                if from == seen[i] && !seen.contains(&to) {
                    seen.push(to);
                }
            }
            i += 1;
        }
        for kind in KINDS {
            assert!(seen.contains(&kind), "{kind:?} unreachable");
            assert!(MOVES.iter().any(|&(from, _, _)| from == kind), "{kind:?} has no way out");
        }
        // A connection that was never asked for cannot end, and only a manual close closes.
        assert!(!allowed(Kind::Idle, SocketInput::Ended, Kind::Idle));
        assert!(!allowed(Kind::Handshaking, SocketInput::CloseStarted, Kind::Closing));
    }
}
