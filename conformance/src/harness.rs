//! The test server on its own thread and tokio runtime (so the runtime under test can be any),
//! and the waits every scenario uses. Every wait is a guard against hanging, not a timing
//! claim.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use futures_util::future::{Either, select};
use realtime_core::phoenix::backoff::Backoff;
use realtime_driver::{Config, Item, Receiver, Runtime};
use realtime_testkit::{Config as ServerConfig, Observed, Server};

/// How long any wait may take before the scenario fails (a guard, not a claim).
pub const WAIT: Duration = Duration::from_secs(10);

/// A test server on a runtime of its own.
pub struct Harness {
    rt: Option<tokio::runtime::Runtime>,
    server: Option<Server>,
}

impl Harness {
    /// Starts a server with `config` on a fresh thread's runtime.
    pub fn start(config: ServerConfig) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the server");
        // `block_on` from a thread of its own: the caller may be inside another runtime.
        let handle = rt.handle().clone();
        let server = std::thread::spawn(move || handle.block_on(Server::start(config)))
            .join()
            .expect("the server thread")
            .expect("the server starts");
        Self { rt: Some(rt), server: Some(server) }
    }

    /// A server with the default config.
    pub fn plain() -> Self {
        Self::start(ServerConfig::default())
    }

    /// The server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the server")
    }

    /// Its WebSocket URL.
    pub fn url(&self) -> String {
        self.server().url()
    }

    /// Runs `fut` on the server's runtime (a tokio task, awaitable from any executor).
    pub async fn on_server<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let rt = self.rt.as_ref().expect("the runtime");
        rt.spawn(fut).await.expect("the server task")
    }

    /// Stops and starts the server on the same port (every connection drops, all state goes).
    pub async fn restart(&mut self) {
        let mut server = self.server.take().expect("the server");
        let server = self
            .on_server(async move {
                server.restart().await.expect("the restart");
                server
            })
            .await;
        self.server = Some(server);
    }

    /// The frames the server observed with this event (and full topic, when given).
    pub fn frames(&self, topic: Option<&str>, event: &str) -> Vec<Observed> {
        self.server()
            .observed()
            .into_iter()
            .filter(|o| o.message.event == event && topic.is_none_or(|t| o.message.topic == t))
            .collect()
    }

    /// How many user broadcasts with this user event the server observed.
    pub fn broadcasts_seen(&self, user_event: &str) -> usize {
        self.server()
            .observed()
            .iter()
            .filter(|o| {
                o.message.user_broadcast.as_ref().is_some_and(|b| b.event == user_event)
                    || (o.message.event == "broadcast" && o.message.payload["event"] == user_event)
            })
            .count()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Inside the runtime so its tasks see the stop; then without blocking the caller.
            let _guard = rt.enter();
            drop(self.server.take());
            drop(_guard);
            rt.shutdown_background();
        }
    }
}

/// `fut`, or a panic naming `what` after [`WAIT`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    let fut = std::pin::pin!(fut);
    match select(fut, futures_timer::Delay::new(WAIT)).await {
        Either::Left((out, _)) => out,
        Either::Right(_) => panic!("{what}: not within {WAIT:?}"),
    }
}

/// Sleeps (on a timer thread, so on any executor).
pub async fn sleep(d: Duration) {
    futures_timer::Delay::new(d).await;
}

/// The next item of a stream (not a gap), within the guard.
pub async fn next<T: Item + Debug, R: Runtime>(rx: &mut Receiver<T, R>) -> T {
    match within("an item", rx.recv()).await {
        Some(Ok(item)) => item,
        Some(Err(lag)) => panic!("the stream lagged: {lag}"),
        None => panic!("the stream ended"),
    }
}

/// The first item `want` accepts (earlier ones and gaps are skipped), within the guard.
pub async fn until<T: Item + Debug, R: Runtime>(
    rx: &mut Receiver<T, R>,
    what: &str,
    want: impl Fn(&T) -> bool,
) -> T {
    let mut skipped = Vec::new();
    let found = {
        let search = std::pin::pin!(async {
            loop {
                match rx.recv().await {
                    Some(Ok(item)) if want(&item) => return item,
                    Some(other) => skipped.push(format!("{other:?}")),
                    None => panic!("{what}: the stream ended"),
                }
            }
        });
        match select(search, futures_timer::Delay::new(WAIT)).await {
            Either::Left((item, _)) => Some(item),
            Either::Right(_) => None,
        }
    };
    found.unwrap_or_else(|| panic!("no {what} within {WAIT:?}; skipped {skipped:#?}"))
}

/// Waits (within the guard) until `cond` holds, looking again every few milliseconds: for
/// state only visible by asking.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A client config whose retries are short, so recovery scenarios do not wait out the default
/// 1, 2, 5, 10 s schedule (the schedule itself is the core's simulation's to test).
pub fn quick(url: &str) -> Config {
    quickly(Config::new(url, "anon"))
}

/// `config` with the short retries of [`quick`] and no proxy.
pub fn quickly(mut config: Config) -> Config {
    let steps = vec![Duration::from_millis(50), Duration::from_millis(100), Duration::from_millis(200)];
    config.client.reconnect = Backoff::new(steps.clone()).expect("steps");
    config.client.rejoin = Backoff::new(steps).expect("steps");
    config.proxy = realtime_driver::Proxy::None;
    config
}

/// The Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
}
