//! TLS by embedded-tls (feature `tls`).
