// Each example uses what it needs of this (the chat emits no row changes).
#![allow(dead_code)]

//! What both examples share: where to connect, and a guard against hanging.

use std::future::Future;
use std::time::Duration;

use realtime_testkit::{Config as ServerConfig, Server};

/// A guard against hanging if the server never answers, not a timing claim.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The local Realtime server on a thread of its own (it runs on tokio; the client does not).
pub(crate) struct Local {
    pub(crate) server: Server,
    _rt: tokio::runtime::Runtime,
}

/// `REALTIME_URL` and `REALTIME_API_KEY` when both are set (a real project), else a local
/// server started here, with its URL and key.
pub(crate) fn endpoint() -> std::io::Result<(Option<Local>, String, String)> {
    if let (Ok(url), Ok(key)) = (std::env::var("REALTIME_URL"), std::env::var("REALTIME_API_KEY")) {
        println!("using the Realtime server at {url}");
        return Ok((None, url, key));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let server = rt.block_on(Server::start(ServerConfig::default()))?;
    let url = server.url();
    println!(
        "started a local Realtime server at {url} (set REALTIME_URL and REALTIME_API_KEY for a real project)"
    );
    Ok((Some(Local { server, _rt: rt }), url, "anon".into()))
}

/// `fut`, or an error after [`WAIT`].
pub(crate) async fn within<T>(what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    let fut = async { Ok(fut.await) };
    let late = async {
        async_io::Timer::after(WAIT).await;
        Err(format!("{what}: not within {WAIT:?}"))
    };
    futures_lite::future::or(fut, late).await
}
