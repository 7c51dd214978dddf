//! Memory per client: N clients of ours in this process, each with its own connection joined
//! to its own channel (`mem-<i>`), against the testkit in another process.

use std::time::{Duration, Instant};

use realtime_tokio::{Channel, ChannelConfig, Config, Proxy, RealtimeClient, Roots};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use realtime_cli::load::proc_status_kib;

/// The memory run's result, printed by `rtbench memory` as one JSON line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemReport {
    /// Clients asked for.
    pub clients: u64,
    /// Clients whose channel was subscribed.
    pub subscribed: u64,
    /// Over TLS (`wss`).
    pub tls: bool,
    /// `VmRSS` before the first client (runtime started), KiB.
    pub rss_start_kib: u64,
    /// `(clients subscribed, VmRSS KiB)` after each step.
    pub steps: Vec<(u64, u64)>,
    /// (last RSS - start RSS) / subscribed clients, bytes.
    pub per_client_bytes: f64,
    /// (last RSS - RSS after the first step) / clients added since: the marginal cost, without
    /// one-time costs (bytes).
    pub marginal_bytes: f64,
    /// Seconds to connect and subscribe them all.
    pub secs: f64,
}

/// Connects `n` clients to `url` (`wss` with `cert_pem`, the testkit's `--cert-out` file
/// contents, as the only root), `concurrency` subscriptions in flight at a time, and measures
/// RSS after every `step` clients and once all are subscribed. The clients stay alive until the
/// function returns.
pub async fn memory_ours(
    url: &str,
    n: u64,
    cert_pem: Option<&str>,
    concurrency: usize,
    step: u64,
) -> Result<MemReport, String> {
    let roots = match cert_pem {
        Some(pem) => {
            Roots::Custom(vec![CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| e.to_string())?])
        }
        None => Roots::WebPki,
    };
    let settle = || tokio::time::sleep(Duration::from_millis(500));
    settle().await;
    let rss_start = proc_status_kib("VmRSS");
    let started = Instant::now();
    let mut alive: Vec<(RealtimeClient, Channel)> = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let mut steps = Vec::new();
    let mut failed = 0u64;
    let mut next = 0u64;
    while next < n {
        let end = (next + step.max(1)).min(n);
        let mut set = tokio::task::JoinSet::new();
        for i in next..end {
            while set.len() >= concurrency.max(1) {
                match set.join_next().await {
                    Some(Ok(Ok(pair))) => alive.push(pair),
                    _ => failed += 1,
                }
            }
            let mut config = Config::new(url, "bench");
            config.proxy = Proxy::None;
            config.roots = roots.clone();
            set.spawn(async move {
                let client = RealtimeClient::new(config).map_err(|e| e.to_string())?;
                let channel = client
                    .channel(&format!("mem-{i}"), ChannelConfig::new())
                    .await
                    .map_err(|e| e.to_string())?;
                channel.subscribe().await.map_err(|e| e.to_string())?;
                Ok::<_, String>((client, channel))
            });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(pair)) => alive.push(pair),
                _ => failed += 1,
            }
        }
        next = end;
        settle().await;
        steps.push((alive.len() as u64, proc_status_kib("VmRSS")));
        eprintln!(
            "[memory] {} subscribed, {failed} failed, VmRSS {} KiB",
            alive.len(),
            proc_status_kib("VmRSS")
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let subscribed = alive.len() as u64;
    let (first_n, first_rss) = steps.first().copied().unwrap_or((0, rss_start));
    let (last_n, last_rss) = steps.last().copied().unwrap_or((0, rss_start));
    let per_client_bytes = (last_rss.saturating_sub(rss_start) * 1024) as f64 / subscribed.max(1) as f64;
    let marginal_bytes = if last_n > first_n {
        (last_rss.saturating_sub(first_rss) * 1024) as f64 / (last_n - first_n) as f64
    } else {
        per_client_bytes
    };
    drop(alive);
    Ok(MemReport {
        clients: n,
        subscribed,
        tls: cert_pem.is_some(),
        rss_start_kib: rss_start,
        steps,
        per_client_bytes,
        marginal_bytes,
        secs,
    })
}
