//! The driver's conformance suite on tokio (multi-thread flavour): every end-to-end scenario,
//! written once in `realtime-conformance`, against the local server over real TCP and TLS.

realtime_conformance::suite!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    realtime_tokio::Tokio
);

/// The same scenarios on a current-thread runtime: the drive loop and the app share one
/// thread, as on a single-threaded executor.
mod current_thread {
    realtime_conformance::suite!(
        #[tokio::test]
        realtime_tokio::Tokio
    );
}
