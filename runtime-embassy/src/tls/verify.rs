//! Server authentication for embedded-tls: a provider whose verifier is always there (a
//! provider without one makes embedded-tls skip verification), several trust anchors over
//! embedded-tls's one-anchor `CertVerifier`, and the checks that verifier leaves out.
//!
//! - The anchor is chosen for the last certificate the server sends: the anchor itself
//!   (a pinned self-signed certificate), else one whose subject is its issuer and whose key
//!   identifier matches, else the first whose subject matches. embedded-tls consumes the
//!   certificate message, so the choice is made once.
//! - Every certificate above the leaf, and a non-pinned anchor, must be a CA
//!   (basicConstraints): `CertVerifier` alone accepts a leaf signing another leaf.
//! - The handshake must have presented and proved a certificate: embedded-tls accepts a
//!   Finished without Certificate and CertificateVerify.
//! - A CertificateVerify before the Certificate is an error, not `CertVerifier`'s panic.
//! - Names: DNS SANs (the first three, each at most 64 bytes) or the CN; IP SANs are not
//!   read by embedded-tls, so a server is named by DNS name.
//! - Not checked: extended key usage, path length, name constraints, revocation.

use core::sync::atomic::{AtomicU32, Ordering};

use embedded_io_async::{Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider,
    CryptoRngCore, TlsCipherSuite, TlsClock, TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use rand_core::{CryptoRng, RngCore};

/// The cipher suite: TLS_AES_128_GCM_SHA256 (key exchange on secp256r1).
pub(crate) type Suite = Aes128GcmSha256;
/// An open connection over socket `S`.
pub(crate) type Connection<'a, S> = TlsConnection<'a, S, Suite>;

/// What a connection is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientConfig<'a> {
    /// The DNS name sent as SNI and checked against the certificate (at most 64 bytes).
    pub(crate) server_name: &'a str,
    /// Trusted certificates (DER); a self-signed server certificate may be its own root.
    pub(crate) trust_anchors: &'a [&'a [u8]],
}

/// Open a TLS 1.3 connection with full server authentication.
///
/// `read_buf` holds a whole record (16,640 bytes for any server);
/// `write_buf` may be smaller (>= ~1 KiB for the handshake; each record adds 128 bytes overhead).
/// `Clock` gives the current UNIX time for validity checks (`NoClock` = no expiry check).
/// `CHAIN_CAP` bounds the size of the server's certificate chain.
pub(crate) async fn connect<'b, S, R, Clock, const CHAIN_CAP: usize>(
    socket: S,
    cfg: &ClientConfig<'_>,
    rng: R,
    read_buf: &'b mut [u8],
    write_buf: &'b mut [u8],
) -> Result<Connection<'b, S>, TlsError>
where
    S: Read + Write + 'b,
    R: CryptoRng + RngCore,
    Clock: TlsClock,
{
    if cfg.server_name.is_empty() || cfg.trust_anchors.is_empty() {
        return Err(TlsError::InvalidCertificate);
    }
    for anchor in cfg.trust_anchors {
        parse_cert(anchor).ok_or(TlsError::DecodeError)?;
    }

    let tls_config = TlsConfig::new().with_server_name(cfg.server_name);

    let mut provider: VerifyingProvider<'_, R, Clock, CHAIN_CAP> =
        VerifyingProvider::new(rng, cfg.server_name, cfg.trust_anchors);

    let mut conn = TlsConnection::new(socket, read_buf, write_buf);
    // `&mut provider` is itself a CryptoProvider, so we can inspect it after the handshake.
    conn.open(TlsContext::new(&tls_config, &mut provider)).await?;

    if !provider.verifier.server_authenticated() {
        // Server finished the handshake without Certificate + CertificateVerify.
        return Err(TlsError::InvalidHandshake);
    }
    Ok(conn)
}

/// CryptoProvider whose `verifier()` always returns a real verifier (if `verifier()` returned
/// `Err`, embedded-tls would silently skip verification).
pub(crate) struct VerifyingProvider<'a, R, Clock: TlsClock, const CHAIN_CAP: usize> {
    rng: R,
    pub(crate) verifier: AnchorVerifier<'a, Clock, CHAIN_CAP>,
}

impl<'a, R, Clock: TlsClock, const CHAIN_CAP: usize> VerifyingProvider<'a, R, Clock, CHAIN_CAP> {
    pub(crate) fn new(rng: R, server_name: &'a str, trust_anchors: &'a [&'a [u8]]) -> Self {
        Self { rng, verifier: AnchorVerifier::new(server_name, trust_anchors) }
    }
}

impl<R, Clock, const CHAIN_CAP: usize> CryptoProvider for VerifyingProvider<'_, R, Clock, CHAIN_CAP>
where
    R: CryptoRng + RngCore,
    Clock: TlsClock,
{
    type CipherSuite = Suite;
    // No client certificate: the default `signer()` is never used successfully.
    type Signature = [u8; 0];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Suite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    Start,
    CertificateOk,
    Authenticated,
    Failed,
}

/// Multi-anchor wrapper around `embedded_tls::pki::CertVerifier` (which supports one CA).
pub(crate) struct AnchorVerifier<'a, Clock: TlsClock, const CHAIN_CAP: usize> {
    server_name: &'a str,
    anchors: &'a [&'a [u8]],
    inner: Option<CertVerifier<'a, Suite, Clock, CHAIN_CAP>>,
    progress: Progress,
}

impl<'a, Clock: TlsClock, const CHAIN_CAP: usize> AnchorVerifier<'a, Clock, CHAIN_CAP> {
    pub(crate) fn new(server_name: &'a str, anchors: &'a [&'a [u8]]) -> Self {
        Self { server_name, anchors, inner: None, progress: Progress::Start }
    }

    /// True once the chain, the hostname and the CertificateVerify signature all checked out.
    pub(crate) fn server_authenticated(&self) -> bool {
        self.progress == Progress::Authenticated
    }

    fn check_and_delegate(
        &mut self,
        transcript: &<Suite as TlsCipherSuite>::Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        let mut last: Option<&[u8]> = None;
        for (i, entry) in cert.entries.iter().enumerate() {
            let der = match entry {
                CertificateEntryRef::X509(der) => *der,
                CertificateEntryRef::RawPublicKey(_) => return Err(TlsError::InvalidCertificate),
            };
            let fields = parse_cert(der).ok_or(TlsError::DecodeError)?;
            // Everything that signs another certificate in the chain must be a CA.
            if i > 0 && !fields.is_ca() {
                return Err(TlsError::InvalidCertificate);
            }
            last = Some(der);
        }
        let last = last.ok_or(TlsError::InvalidCertificate)?;
        let anchor = select_anchor(self.anchors, last).ok_or(TlsError::InvalidCertificate)?;

        // Built in place: CertVerifier is CHAIN_CAP + ~500 bytes, avoid extra stack copies.
        let inner = self.inner.insert(CertVerifier::new(Certificate::X509(anchor)));
        inner.set_hostname_verification(self.server_name)?;
        inner.verify_certificate(transcript, cert)
    }
}

impl<Clock: TlsClock, const CHAIN_CAP: usize> TlsVerifier<Suite> for AnchorVerifier<'_, Clock, CHAIN_CAP> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        // embedded-tls passes TlsConfig::server_name, which we set from the same string.
        if hostname == self.server_name { Ok(()) } else { Err(TlsError::InternalError) }
    }

    fn verify_certificate(
        &mut self,
        transcript: &<Suite as TlsCipherSuite>::Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        if self.progress != Progress::Start {
            self.progress = Progress::Failed;
            return Err(TlsError::InvalidHandshake);
        }
        match self.check_and_delegate(transcript, cert) {
            Ok(()) => {
                self.progress = Progress::CertificateOk;
                Ok(())
            }
            Err(e) => {
                self.progress = Progress::Failed;
                Err(e)
            }
        }
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        // Guard: pki::CertVerifier panics (unwrap) if CertificateVerify precedes Certificate.
        let (Progress::CertificateOk, Some(inner)) = (self.progress, self.inner.as_mut()) else {
            self.progress = Progress::Failed;
            return Err(TlsError::InvalidHandshake);
        };
        match inner.verify_signature(verify) {
            Ok(()) => {
                self.progress = Progress::Authenticated;
                Ok(())
            }
            Err(e) => {
                self.progress = Progress::Failed;
                Err(e)
            }
        }
    }
}

/// Pick the anchor that must have signed `last` (the last certificate the server sent).
fn select_anchor<'a>(anchors: &[&'a [u8]], last: &[u8]) -> Option<&'a [u8]> {
    // 1. The server sent the anchor itself (pinned self-signed cert, or root included in chain).
    if let Some(a) = anchors.iter().find(|a| **a == last) {
        return Some(a);
    }
    let last = parse_cert(last)?;
    let aki = last.authority_key_id();
    let mut by_name = None;
    for anchor in anchors {
        let Some(a) = parse_cert(anchor) else { continue };
        if a.subject != last.issuer || !a.is_ca() {
            continue;
        }
        match (aki, a.subject_key_id()) {
            (Some(x), Some(y)) if x == y => return Some(anchor), // 2. name + key id
            (Some(_), Some(_)) => {}                             // same name, other key
            _ => {
                if by_name.is_none() {
                    by_name = Some(*anchor); // 3. name only
                }
            }
        }
    }
    by_name
}

// ---------------------------------------------------------------------------------------------
// Minimal DER walking (just enough to read issuer/subject/extensions of an X.509 certificate).

/// Split one DER TLV off `input`: (tag, whole TLV, contents, rest).
/// A DER element: its tag, the whole element, its contents, and what follows it.
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers never occur in the fields we read
    }
    let (&first, mut rest) = after_tag.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &input[..header + len], &rest[..len], &rest[len..]))
}

/// Take the next TLV from `cursor`, requiring `tag`.
fn take<'c>(cursor: &mut &'c [u8], tag: u8) -> Option<(&'c [u8], &'c [u8])> {
    let (t, whole, contents, rest) = tlv(cursor)?;
    if t != tag {
        return None;
    }
    *cursor = rest;
    Some((whole, contents))
}

const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];

struct CertFields<'c> {
    issuer: &'c [u8],
    subject: &'c [u8],
    /// Contents of the `Extensions` SEQUENCE, if any.
    extensions: &'c [u8],
}

fn parse_cert(der: &[u8]) -> Option<CertFields<'_>> {
    let mut outer = der;
    let (_, cert) = take(&mut outer, 0x30)?;
    let mut cert = cert;
    let (_, tbs) = take(&mut cert, 0x30)?;
    let mut tbs = tbs;
    let _ = take(&mut tbs, 0xa0); // [0] version (optional)
    take(&mut tbs, 0x02)?; // serialNumber
    take(&mut tbs, 0x30)?; // signature AlgorithmIdentifier
    let (issuer, _) = take(&mut tbs, 0x30)?;
    take(&mut tbs, 0x30)?; // validity
    let (subject, _) = take(&mut tbs, 0x30)?;
    take(&mut tbs, 0x30)?; // subjectPublicKeyInfo
    let mut extensions: &[u8] = &[];
    while !tbs.is_empty() {
        let (tag, _, contents, rest) = tlv(tbs)?;
        if tag == 0xa3 {
            let mut c = contents;
            extensions = take(&mut c, 0x30)?.1;
        }
        tbs = rest;
    }
    Some(CertFields { issuer, subject, extensions })
}

impl<'c> CertFields<'c> {
    /// Contents of the extnValue OCTET STRING of extension `oid`.
    fn extension(&self, oid: &[u8]) -> Option<&'c [u8]> {
        let mut exts = self.extensions;
        while !exts.is_empty() {
            let (_, ext) = take(&mut exts, 0x30)?;
            let mut ext = ext;
            let (_, id) = take(&mut ext, 0x06)?;
            let _ = take(&mut ext, 0x01); // critical (optional)
            let (_, value) = take(&mut ext, 0x04)?;
            if id == oid {
                return Some(value);
            }
        }
        None
    }

    fn is_ca(&self) -> bool {
        let Some(mut v) = self.extension(OID_BASIC_CONSTRAINTS) else { return false };
        let Some((_, mut seq)) = take(&mut v, 0x30) else { return false };
        matches!(take(&mut seq, 0x01), Some((_, flag)) if flag.first().is_some_and(|b| *b != 0))
    }

    fn subject_key_id(&self) -> Option<&'c [u8]> {
        let mut v = self.extension(OID_SUBJECT_KEY_ID)?;
        take(&mut v, 0x04).map(|(_, id)| id)
    }

    fn authority_key_id(&self) -> Option<&'c [u8]> {
        let mut v = self.extension(OID_AUTHORITY_KEY_ID)?;
        let (_, mut seq) = take(&mut v, 0x30)?;
        take(&mut seq, 0x80).map(|(_, id)| id) // [0] keyIdentifier
    }
}

// ---------------------------------------------------------------------------------------------

static UNIX_TIME: AtomicU32 = AtomicU32::new(0);

/// Set the wall-clock time (UNIX seconds) used for certificate validity checks by
/// [`GlobalUnixClock`]: the runtime sets it from its wall clock before each handshake.
pub(crate) fn set_unix_time(secs: u32) {
    UNIX_TIME.store(secs, Ordering::Relaxed);
}

/// `TlsClock` backed by [`set_unix_time`]; reports "unknown" (no expiry check) until set.
pub(crate) struct GlobalUnixClock;

impl TlsClock for GlobalUnixClock {
    fn now() -> Option<u64> {
        match UNIX_TIME.load(Ordering::Relaxed) {
            0 => None,
            t => Some(u64::from(t)),
        }
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
