//! A channel's state, its pushes, and the one transition table every state change goes through
//! (spec B.4, with the fixes of spec E.6).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use super::event::{LeaveOutcome, PushId};
use super::rate::Limiter;
use crate::Instant;
use crate::phoenix::presence::PresenceState;
use crate::phoenix::serializer::BroadcastData;
use crate::supabase::channel_config::ChannelConfig;

/// Identifies a channel of one client. Stale ids (of a removed channel) are refused, never
/// confused with a newer channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId {
    pub(super) index: u32,
    pub(super) generation: u32,
}

/// The phoenix channel states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelState {
    /// Not subscribed: new, left, or closed by the server.
    Closed,
    /// A join is wanted: in flight, or waiting for the socket to open.
    Joining,
    /// Joined: pushes go out at once.
    Joined,
    /// A leave is in flight.
    Leaving,
    /// The join failed or the channel errored; a rejoin is scheduled (or waits for the socket).
    Errored,
}

/// What happens to a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Input {
    /// The app subscribes.
    Subscribe,
    /// The socket opened.
    SocketOpen,
    /// The socket's connection ended unexpectedly.
    SocketLost,
    /// The app disconnected the socket: the channel stays wanted, silently.
    SocketStopped,
    /// The current join attempt got an `ok` reply.
    JoinOk,
    /// The current join attempt got an error reply whose class retries on the schedule.
    JoinError,
    /// The current join attempt was refused for a rate limit: retry after the longest step.
    JoinThrottled,
    /// The current join attempt was refused for good (permission, permanent): no retry.
    JoinRefused,
    /// The current join attempt got no reply in time.
    JoinTimeout,
    /// The rejoin backoff elapsed.
    RejoinDue,
    /// `phx_error` from the server, for the current join.
    ServerError,
    /// `phx_close` from the server, for the current join.
    ServerClose,
    /// The app unsubscribes (or removed the last handle).
    Unsubscribe,
    /// The leave got a reply.
    LeaveReplied,
    /// The leave got no reply in time.
    LeaveTimeout,
    /// The join's ok reply did not pair with the postgres changes bindings.
    JoinMismatch,
    /// The app started presence on a channel whose join did not ask for it: the server only
    /// sends `presence_state` to a join that asked (spec C.2's #2196), so the channel joins
    /// again with it.
    PresenceOn,
}

/// Side effects of a transition, run in order by the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Send a join with a fresh ref and its own timeout (cancelling any previous attempt's).
    SendJoin,
    /// Send a leave and wait for its reply.
    SendLeave,
    /// Send a leave without waiting: clean up a join the server may still complete.
    SendCleanupLeave,
    /// Forget the join attempt (its ref and timer).
    CancelJoin,
    /// Reset the rejoin backoff.
    ResetRejoin,
    /// Schedule the next rejoin on the backoff schedule.
    ScheduleRejoin,
    /// Schedule the next rejoin after the schedule's longest step.
    ScheduleRejoinLongest,
    /// Write the buffered pushes with the current join ref.
    Flush,
    /// End every waiting and in-flight push (the channel closed).
    EndPushes,
    /// Report `Subscribed`.
    ReportSubscribed,
    /// Report `TimedOut`.
    ReportTimedOut,
    /// Report `ChannelError` with the input's reason.
    ReportError,
    /// Report `Closed`.
    ReportClosed,
    /// Report how the leave the app asked for ended (`Event::Left`), once per handle that
    /// asked.
    ReportLeft(LeaveOutcome),
}

/// The result of a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Transition {
    pub(super) to: ChannelState,
    pub(super) actions: &'static [Action],
}

const fn go(to: ChannelState, actions: &'static [Action]) -> Option<Transition> {
    Some(Transition { to, actions })
}

/// The transition table. `None`: the input means nothing in this state (ignored).
/// `socket_open`: the socket can carry a frame now.
pub(super) fn transition(from: ChannelState, input: Input, socket_open: bool) -> Option<Transition> {
    use Action::*;
    use ChannelState::*;
    use Input::*;
    use LeaveOutcome::*;
    match (from, input) {
        // Subscribing: join now, or when the socket opens.
        (Closed | Errored, Subscribe) if socket_open => go(Joining, &[ResetRejoin, SendJoin]),
        (Closed | Errored, Subscribe) => go(Joining, &[ResetRejoin]),
        (Joining | Joined | Leaving, Subscribe) => None,

        // The join attempt's outcome. Unlike Dart, an error reply leaves `joining`.
        (Joining, JoinOk) => go(Joined, &[CancelJoin, ResetRejoin, ReportSubscribed, Flush]),
        (Joining, JoinError) => go(Errored, &[CancelJoin, ReportError, ScheduleRejoin]),
        (Joining, JoinThrottled) => go(Errored, &[CancelJoin, ReportError, ScheduleRejoinLongest]),
        // Refused for good: reported, and closed until the app subscribes again.
        (Joining, JoinRefused) => go(Closed, &[CancelJoin, EndPushes, ReportError]),
        (Joining, JoinTimeout) => {
            go(Errored, &[SendCleanupLeave, CancelJoin, ReportTimedOut, ScheduleRejoin])
        }

        // The server's lifecycle events. A close while leaving is the server's answer too.
        (Joining | Joined, ServerError) => go(Errored, &[CancelJoin, ReportError, ScheduleRejoin]),
        (Joining | Joined | Errored, ServerClose) => go(Closed, &[CancelJoin, EndPushes, ReportClosed]),
        (Leaving, ServerClose) => go(Closed, &[CancelJoin, EndPushes, ReportLeft(Left), ReportClosed]),

        // The socket. A lost connection errors the channel; it rejoins when the socket opens
        // (not on the backoff timer: the socket's own schedule paces the attempts).
        (Joining | Joined, SocketLost) => go(Errored, &[CancelJoin, ResetRejoin, ReportError]),
        (Joining | Joined, SocketStopped) => go(Errored, &[CancelJoin, ResetRejoin]),
        (Errored, SocketLost | SocketStopped) => go(Errored, &[ResetRejoin]),
        // The leave went out; the connection ended before its reply.
        (Leaving, SocketLost | SocketStopped) => {
            go(Closed, &[CancelJoin, EndPushes, ReportLeft(TimedOut), ReportClosed])
        }
        (Joining | Errored, SocketOpen) => go(Joining, &[SendJoin]),
        (Errored, RejoinDue) if socket_open => go(Joining, &[SendJoin]),

        // Leaving: a leave goes out when the server knows the channel; otherwise it closes
        // here at once, and so does a channel closed already (its leave is answered too).
        (Joining | Joined, Unsubscribe) if socket_open => go(Leaving, &[CancelJoin, SendLeave]),
        (Joining | Joined | Errored, Unsubscribe) => {
            go(Closed, &[CancelJoin, ResetRejoin, EndPushes, ReportLeft(Offline), ReportClosed])
        }
        (Closed, Unsubscribe) => go(Closed, &[ReportLeft(Offline)]),
        (Leaving, LeaveReplied) => go(Closed, &[EndPushes, ReportLeft(Left), ReportClosed]),
        (Leaving, LeaveTimeout) => go(Closed, &[EndPushes, ReportLeft(TimedOut), ReportClosed]),

        // The server joined with bindings other than ours: leave it, and say why.
        (Joining, JoinMismatch) => go(Closed, &[SendCleanupLeave, CancelJoin, EndPushes, ReportError]),
        // A join that must ask for presence: the old one is left, a new one sent at once.
        (Joining | Joined, PresenceOn) if socket_open => {
            go(Joining, &[SendCleanupLeave, CancelJoin, SendJoin])
        }

        _ => None,
    }
}

/// Where a joined channel in the postgres ready mode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadyWait {
    /// Not waiting (no ready mode, not joined, or ready).
    No,
    /// `Subscribed` waits for the server's ok until then.
    Until(Instant),
    /// The wait ran out (reported); a late ok still reports `Subscribed`.
    Late,
}

/// A push's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushBody {
    /// A text frame: an event and its payload as raw JSON text.
    Json {
        /// The event.
        event: String,
        /// The payload, raw JSON text.
        payload: String,
    },
    /// A user broadcast as a binary frame (kind 3, vsn 2.0.0 only): realtime-js's format.
    UserBroadcast {
        /// The user event.
        event: String,
        /// Metadata as raw JSON text.
        meta: Option<String>,
        /// The data: raw JSON text or bytes.
        data: BroadcastData,
    },
}

/// A push waiting in the channel's buffer.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) id: PushId,
    pub(super) body: PushBody,
    /// The server replies to it (false: a broadcast without ack ends `Ok` once written).
    pub(super) reply: bool,
    /// Its timeout, which started at enqueue.
    pub(super) deadline: Instant,
}

/// A push written on the current connection, waiting for its reply.
#[derive(Clone, Copy, Debug)]
pub(super) struct InFlight {
    pub(super) id: PushId,
    pub(super) msg_ref: u64,
    pub(super) deadline: Instant,
}

/// One channel of the client.
#[derive(Debug)]
pub(super) struct Channel {
    pub(super) topic: String,
    pub(super) config: ChannelConfig,
    /// A plain Phoenix channel's join params (a JSON object), sent verbatim with every join;
    /// `None` for a Realtime channel, whose join payload comes from `config` and the token.
    pub(super) params: Option<Box<str>>,
    /// Handles the app holds; at zero the channel leaves and is deleted once closed.
    pub(super) handles: u32,
    pub(super) state: ChannelState,
    /// The ref of the current join attempt (while joining) or of the join that succeeded
    /// (joined, leaving). Messages with another join ref are stale.
    pub(super) join_ref: Option<u64>,
    /// The current join attempt's timeout.
    pub(super) join_deadline: Option<Instant>,
    pub(super) rejoin_at: Option<Instant>,
    pub(super) rejoin_attempts: u32,
    /// The leave in flight: its ref and timeout.
    pub(super) leave: Option<(u64, Instant)>,
    pub(super) waiting: VecDeque<Waiting>,
    pub(super) in_flight: VecDeque<InFlight>,
    /// The app subscribed while it was leaving: join again once closed.
    pub(super) resubscribe: bool,
    /// The next `Closed` is not reported (it ends a leave of a previous owner, or one the app
    /// subscribed again during).
    pub(super) quiet_close: bool,
    /// The generations of the handles that asked for the leave under way (`unsubscribe`, the
    /// last `remove_channel`): each hears how it ended, also after `channel` took the channel
    /// over under a new generation.
    pub(super) leave_waiters: Vec<u32>,
    /// Its join waits for a token (`TokenNeeded`).
    pub(super) join_held: bool,
    /// The server closed it for its token: subscribe again when a new token is set.
    pub(super) rejoin_on_token: bool,
    /// The client-side rate limit's state, and when a waiting push may go next.
    pub(super) limiter: Limiter,
    pub(super) rate_wait: Option<Instant>,
    /// Auto replay: the wall clock (Unix ms) of the last broadcast seen, and the `meta.id`s of
    /// the latest ones (bounded), to drop what a replay sends again.
    pub(super) last_seen_ms: Option<u64>,
    pub(super) seen_ids: VecDeque<Box<str>>,
    /// The token generation the current join carried: a newer one is pushed once joined.
    pub(super) join_token_gen: u64,
    /// Presence: the state, the payload the app tracks (raw JSON), and the join it was last
    /// sent on (re-tracked after every other successful join).
    pub(super) presence: PresenceState,
    pub(super) tracked: Option<String>,
    pub(super) tracked_on: Option<u64>,
    /// The server knows a presence the app untracked: an `untrack` is owed.
    pub(super) untrack_owed: bool,
    /// Presence calls of the current join in the budget window, and when the next may go.
    pub(super) presence_calls: VecDeque<Instant>,
    pub(super) presence_wait: Option<Instant>,
    /// The app tracks or listens to presence: joins ask for it whatever the config says.
    pub(super) presence_wanted: bool,
    /// The ids the current join's reply gave the postgres changes bindings, by position.
    pub(super) postgres_ids: Option<Vec<u64>>,
    /// The ready mode's wait for "Subscribed to PostgreSQL".
    pub(super) ready: ReadyWait,
}

impl Channel {
    pub(super) fn new(
        topic: String,
        config: ChannelConfig,
        params: Option<Box<str>>,
        max_presence_entries: usize,
    ) -> Self {
        Self {
            topic,
            config,
            params,
            handles: 1,
            state: ChannelState::Closed,
            join_ref: None,
            join_deadline: None,
            rejoin_at: None,
            rejoin_attempts: 0,
            leave: None,
            waiting: VecDeque::new(),
            in_flight: VecDeque::new(),
            resubscribe: false,
            quiet_close: false,
            leave_waiters: Vec::new(),
            join_held: false,
            rejoin_on_token: false,
            limiter: Limiter::new(),
            rate_wait: None,
            last_seen_ms: None,
            seen_ids: VecDeque::new(),
            join_token_gen: 0,
            presence: PresenceState::with_limit(max_presence_entries),
            tracked: None,
            tracked_on: None,
            untrack_owed: false,
            presence_calls: VecDeque::new(),
            presence_wait: None,
            presence_wanted: false,
            postgres_ids: None,
            ready: ReadyWait::No,
        }
    }

    /// A Supabase Realtime channel (not a plain Phoenix one): tokens, broadcast, presence
    /// tracking, postgres changes and the server's error classes apply.
    pub(super) fn is_realtime(&self) -> bool {
        self.params.is_none()
    }

    /// The channel's earliest deadline.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let pushes = self.waiting.iter().map(|w| w.deadline).chain(self.in_flight.iter().map(|p| p.deadline));
        [
            self.join_deadline,
            self.rejoin_at,
            self.leave.map(|(_, at)| at),
            self.rate_wait,
            self.presence_wait,
            match self.ready {
                ReadyWait::Until(at) => Some(at),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        .chain(pushes)
        .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [ChannelState; 5] = [
        ChannelState::Closed,
        ChannelState::Joining,
        ChannelState::Joined,
        ChannelState::Leaving,
        ChannelState::Errored,
    ];

    const INPUTS: [Input; 17] = [
        Input::Subscribe,
        Input::SocketOpen,
        Input::SocketLost,
        Input::SocketStopped,
        Input::JoinOk,
        Input::JoinError,
        Input::JoinThrottled,
        Input::JoinRefused,
        Input::JoinTimeout,
        Input::RejoinDue,
        Input::ServerError,
        Input::ServerClose,
        Input::Unsubscribe,
        Input::LeaveReplied,
        Input::LeaveTimeout,
        Input::JoinMismatch,
        Input::PresenceOn,
    ];

    #[test]
    fn every_report_matches_its_target_state() {
        for from in STATES {
            for input in INPUTS {
                for open in [false, true] {
                    let Some(t) = transition(from, input, open) else { continue };
                    for action in t.actions {
                        let ok = match action {
                            Action::ReportSubscribed | Action::Flush => t.to == ChannelState::Joined,
                            Action::ReportClosed | Action::EndPushes => t.to == ChannelState::Closed,
                            Action::ReportTimedOut
                            | Action::ScheduleRejoin
                            | Action::ScheduleRejoinLongest => t.to == ChannelState::Errored,
                            // A join refused for good, or paired wrongly: reported and closed.
                            Action::ReportError => {
                                t.to == ChannelState::Errored
                                    || matches!(input, Input::JoinRefused | Input::JoinMismatch)
                            }
                            Action::SendJoin => {
                                t.to == ChannelState::Joining && (open || input == Input::SocketOpen)
                            }
                            Action::SendLeave => t.to == ChannelState::Leaving && open,
                            Action::ReportLeft(_) => t.to == ChannelState::Closed,
                            _ => true,
                        };
                        assert!(ok, "{from:?} + {input:?} (open {open}) -> {t:?}");
                    }
                }
            }
        }
    }

    /// Every leave the app asks for ends in exactly one report of how: a leave that closes at
    /// once, and every way out of `Leaving`. Nothing else reports one.
    #[test]
    fn every_leave_reports_its_outcome_once() {
        for from in STATES {
            for input in INPUTS {
                for open in [false, true] {
                    let Some(t) = transition(from, input, open) else { continue };
                    let lefts: Vec<_> = t
                        .actions
                        .iter()
                        .filter_map(|a| match a {
                            Action::ReportLeft(o) => Some(*o),
                            _ => None,
                        })
                        .collect();
                    let ends_a_leave = from == ChannelState::Leaving && t.to == ChannelState::Closed;
                    let closes_at_once = input == Input::Unsubscribe && t.to == ChannelState::Closed;
                    let want = usize::from(ends_a_leave || closes_at_once);
                    assert_eq!(lefts.len(), want, "{from:?} + {input:?} (open {open}) -> {t:?}");
                    let outcome = lefts.first().copied();
                    if closes_at_once {
                        assert_eq!(outcome, Some(LeaveOutcome::Offline), "nothing was sent");
                    }
                    if ends_a_leave {
                        let answered = matches!(input, Input::LeaveReplied | Input::ServerClose);
                        assert_eq!(outcome == Some(LeaveOutcome::Left), answered, "{input:?}");
                    }
                }
            }
            assert!(
                from == ChannelState::Leaving || transition(from, Input::Unsubscribe, false).is_some(),
                "{from:?}: an unsubscribe must end somewhere"
            );
        }
        // A leave is never left hanging: every way out of `Leaving` that a connection or a
        // timer brings is in the table.
        for input in [
            Input::LeaveReplied,
            Input::LeaveTimeout,
            Input::ServerClose,
            Input::SocketLost,
            Input::SocketStopped,
        ] {
            assert!(transition(ChannelState::Leaving, input, true).is_some(), "{input:?}");
        }
    }

    #[test]
    fn a_closed_channel_ignores_everything_but_subscribe_and_unsubscribe() {
        for input in [
            Input::JoinOk,
            Input::JoinError,
            Input::ServerError,
            Input::ServerClose,
            Input::LeaveReplied,
            Input::LeaveTimeout,
            Input::SocketOpen,
        ] {
            assert_eq!(transition(ChannelState::Closed, input, true), None, "{input:?}");
        }
    }
}
