//! The TLS connector: the driver's shared rustls config, wrapped for tokio.

use realtime_driver::{Config, Error};
use tokio_rustls::TlsConnector;

/// The connector for `config`'s endpoint: `None` for `ws`.
pub(crate) fn connector_for(config: &Config) -> Result<Option<TlsConnector>, Error> {
    Ok(realtime_driver::tls::client_config_for(config)?.map(TlsConnector::from))
}
