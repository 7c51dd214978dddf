//! The rustls client configuration for a set of [`Roots`], shared by the std runtimes (their
//! TLS crates, tokio-rustls and futures-rustls, both wrap an `Arc<rustls::ClientConfig>`).

use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::Mutex;

use realtime_core::client::Target;

use crate::config::{Config, Roots};
use crate::error::{Error, IoError};

/// The configs built so far, by their roots. One rustls `ClientConfig` per set of roots for the
/// whole process, not per client: its session cache alone is about 12 KiB, and sharing it lets
/// reconnects resume sessions across clients.
static CONFIGS: Mutex<Vec<(Roots, Arc<rustls::ClientConfig>)>> = Mutex::new(Vec::new());

/// The config for `config`'s endpoint: `None` for `ws` (a client of a `ws` endpoint needs no
/// TLS). An endpoint that cannot be parsed gets one, so that the error comes from the client's
/// own check.
pub fn client_config_for(config: &Config) -> Result<Option<Arc<rustls::ClientConfig>>, Error> {
    if Target::parse(&config.client.endpoint).is_ok_and(|t| !t.tls) {
        return Ok(None);
    }
    client_config(&config.roots).map(Some).map_err(Error::Tls)
}

/// The process's rustls config trusting `roots`, built on first use.
pub fn client_config(roots: &Roots) -> Result<Arc<rustls::ClientConfig>, IoError> {
    let mut built = CONFIGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, c)) = built.iter().find(|(r, _)| same(r, roots)) {
        return Ok(c.clone());
    }
    let c = build(roots)?;
    built.push((roots.clone(), c.clone()));
    Ok(c)
}

fn same(a: &Roots, b: &Roots) -> bool {
    match (a, b) {
        (Roots::WebPki, Roots::WebPki) | (Roots::Native, Roots::Native) => true,
        (Roots::Custom(x), Roots::Custom(y)) => x == y,
        _ => false,
    }
}

fn build(roots: &Roots) -> Result<Arc<rustls::ClientConfig>, IoError> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Roots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::Native => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
        }
        Roots::Custom(certs) => {
            for cert in certs {
                store.add(cert.clone()).map_err(IoError::new)?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(IoError::new)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
