//! The end-to-end scenarios every runtime of [`realtime_driver`] must pass, written once and
//! generic over the runtime, against the local test server (`realtime-testkit`) over real
//! TCP (and TLS) on loopback. A runtime instantiates them all with [`suite!`]:
//!
//! ```text
//! realtime_conformance::suite!(#[tokio::test] realtime_tokio::Tokio);
//! ```
//!
//! A runtime whose drive loop the test spawns itself (embassy's) implements
//! [`scenarios::Subject`] and names the scenarios it runs:
//!
//! ```text
//! realtime_conformance::suite!(block_on = run, subject = Device, only = [subscribe_reports_the_connection]);
//! ```
//!
//! The server runs on its own thread and tokio runtime ([`Harness`]), so the runtime under
//! test can be any; the waits use a timer thread (`futures-timer`), not the runtime's.

mod harness;
pub mod scenarios;

pub use harness::{Harness, WAIT, eventually, next, quick, quickly, sleep, unix_now, until, within};
pub use realtime_driver;

/// One test per scenario, for the runtime `$rt`, each under the test attribute given (the
/// runtime's own, such as `#[tokio::test]`).
#[macro_export]
macro_rules! suite {
    (#[$attr:meta] $rt:ty) => {
        $crate::suite!(#[$attr] $rt, config = |c| c);
    };
    (#[$attr:meta] $rt:ty, config = $tune:expr, only = [$($name:ident),* $(,)?]) => {
        $crate::suite!(@subject $rt, $tune);
        $crate::suite!(@each #[$attr] Subject; $($name),*);
    };
    (@subject $rt:ty, $tune:expr) => {
        /// The runtime under test, and its config adjustment.
        struct Subject;
        impl $crate::scenarios::Subject for Subject {
            type R = $rt;
            fn config(config: $crate::realtime_driver::Config) -> $crate::realtime_driver::Config {
                let tune: fn($crate::realtime_driver::Config) -> $crate::realtime_driver::Config = $tune;
                tune(config)
            }
            fn client(config: $crate::realtime_driver::Config) -> $crate::realtime_driver::RealtimeClient<$rt> {
                $crate::realtime_driver::RealtimeClient::new(config).expect("a client")
            }
        }
    };
    (block_on = $block_on:path, subject = $subject:ident, only = [$($name:ident),* $(,)?]) => {
        $crate::suite!(@blocking $block_on, $subject; $($name),*);
    };
    (#[$attr:meta] $rt:ty, config = $tune:expr) => {
        $crate::suite!(@subject $rt, $tune);
        $crate::suite!(@all each #[$attr] Subject);
    };
    (block_on = $block_on:path, $rt:ty) => {
        $crate::suite!(@subject $rt, |c| c);
        $crate::suite!(@all blocking $block_on, Subject);
    };
    (@all $how:ident $($head:tt)*) => {
        $crate::suite!(@$how $($head)*;
            subscribe_reports_the_connection,
            broadcasts_go_both_ways_with_acks_binary_and_rest,
            a_room_larger_than_the_stream_lags_then_syncs,
            a_slow_broadcast_reader_gets_a_lag_item,
            postgres_changes_reach_their_bindings,
            tls_with_the_servers_certificate_as_root,
            the_default_roots_refuse_a_self_signed_server_with_a_typed_error,
            an_expiring_token_is_refreshed_from_the_token_source,
            the_server_dropping_every_connection_is_survived,
            a_half_open_link_is_found_by_the_heartbeat,
            the_client_comes_back_after_a_restart_on_the_same_port,
            pushes_buffered_while_offline_are_written_once,
            a_refused_join_fails_subscribe_and_is_not_retried,
            a_cloned_channel_is_a_handle_of_its_own,
            unsubscribe_and_remove_say_how_the_leave_ended,
            disconnect_with_a_code_and_reason,
            a_refused_connection_is_a_typed_error,
            shutdown_closes_politely_and_ends_every_stream,
            dropping_every_handle_closes_the_connection,
            a_dropped_send_still_goes_out_once,
            subscribe_on_a_joined_channel_is_answered_by_the_core,
            through_an_http_connect_proxy,
            the_rest_fallback_sends_over_http,
            system_messages_come_on_their_own_stream,
            bytes_left_behind_a_pending_pong_are_offered_again,
            a_peer_that_stops_reading_does_not_freeze_the_client,
            a_plain_phoenix_server_is_served,
            compressed_end_to_end,
        );
    };
    (@blocking $block_on:path, $subject:ident; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $block_on($crate::scenarios::$name::<$subject>());
            }
        )*
    };
    (@each #[$attr:meta] $subject:ident; $($name:ident),* $(,)?) => {
        $(
            #[$attr]
            async fn $name() {
                $crate::scenarios::$name::<$subject>().await;
            }
        )*
    };
}
