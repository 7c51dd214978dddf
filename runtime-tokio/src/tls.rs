//! The TLS setup: a rustls client config for the configured roots, built only for `wss`
//! endpoints.

use std::sync::{Arc, Mutex};

use realtime_core::phoenix::client::Target;
use realtime_driver::{Config, Error, IoError, Roots};
use tokio_rustls::TlsConnector;

/// The connector for `config`'s endpoint: `None` for `ws` (a rustls `ClientConfig` costs about
/// 24 KiB, its session cache and root store). An endpoint that cannot be parsed gets one, so
/// that the error comes from the client's own check.
pub(crate) fn connector_for(config: &Config) -> Result<Option<TlsConnector>, Error> {
    if Target::parse(&config.client.endpoint).is_ok_and(|t| !t.tls) {
        return Ok(None);
    }
    connector(&config.roots).map(Some).map_err(Error::Tls)
}

/// The connectors built so far, by their roots. One rustls `ClientConfig` per root set for
/// the whole process, not per client: its session cache alone is about 12 KiB, and sharing it
/// also lets reconnects resume sessions across clients.
static CONNECTORS: Mutex<Vec<(Roots, TlsConnector)>> = Mutex::new(Vec::new());

/// The process's connector for `roots`, built on first use.
pub(crate) fn connector(roots: &Roots) -> Result<TlsConnector, IoError> {
    let mut built = CONNECTORS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// A rustls connector trusting `roots`.
fn build(roots: &Roots) -> Result<TlsConnector, IoError> {
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
    Ok(TlsConnector::from(Arc::new(config)))
}
