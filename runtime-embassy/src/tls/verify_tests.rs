//! The verifier against a real TLS 1.3 server: [`connect`] (the embedded-tls client with our
//! provider) talks to a rustls 0.23 (ring) server on loopback, whose certificates rcgen makes
//! per test. Every test uses `NoClock` except the one for `GlobalUnixClock`, which is the only
//! one to touch the process-global time (tests run on parallel threads).

extern crate std;

use std::borrow::ToOwned;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use std::vec::Vec;
use std::{eprintln, format, vec};

use embedded_io_adapters::tokio_1::FromTokio;
use embedded_io_async::Write as _;
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Certificate, CertificateVerifyRef, CryptoProvider, CryptoRngCore, NoClock, SignatureScheme, TlsClock,
    TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use rand_core::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SignatureAlgorithm,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{
    AnchorVerifier, ClientConfig, GlobalUnixClock, Suite, connect, parse_cert, select_anchor, set_unix_time,
};
// The sizes the runtime uses, so the tests cover what the firmware gets.
use crate::tls::{CHAIN_CAP, DEFAULT_TLS_READ, DEFAULT_TLS_WRITE};

// ---------------------------------------------------------------------------------------------
// The rustls server.

#[derive(Clone, Copy)]
enum Mode {
    /// Echo what the client writes.
    Echo,
    /// First send this many bytes in one write (rustls puts up to 16,384 bytes in a record),
    /// then echo.
    Blob(usize),
}

/// Serve TLS 1.3 with `chain` on a loopback port, for as long as the test's runtime lives.
async fn start_server(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>, mode: Mode) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut s = match acceptor.accept(tcp).await {
                    Ok(s) => s,
                    // Expected whenever the client refuses the certificate: it hangs up.
                    Err(e) => {
                        eprintln!("[server] handshake failed: {e}");
                        return;
                    }
                };
                if let Mode::Blob(n) = mode {
                    let _ = s.write_all(&vec![0x5a; n]).await;
                    let _ = s.flush().await;
                }
                let mut buf = vec![0u8; 8192];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() || s.flush().await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

// ---------------------------------------------------------------------------------------------
// Certificates.

struct Leaf {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn key_der(k: &KeyPair) -> PrivateKeyDer<'static> {
    PrivatePkcs8KeyDer::from(k.serialize_der()).into()
}

/// A self-signed P-256 certificate for DNS "localhost" and IP 127.0.0.1, not a CA, with
/// rcgen's fixed subject "rcgen self signed cert": a development server's certificate.
fn self_signed() -> Leaf {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    Leaf { cert: ck.cert.der().clone(), key: key_der(&ck.signing_key) }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    p
}

/// A non-CA certificate for DNS `names` (the first is also the CN).
fn leaf_params(names: &[&str], aki: bool) -> CertificateParams {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.use_authority_key_identifier_extension = aki;
    p
}

fn key(alg: &'static SignatureAlgorithm) -> KeyPair {
    KeyPair::generate_for(alg).unwrap()
}

fn p256() -> KeyPair {
    key(&rcgen::PKCS_ECDSA_P256_SHA256)
}

/// root -> intermediate -> leaf "localhost"; the server sends [leaf, intermediate] and the
/// client holds the root, as with a public CA.
struct Chain {
    root: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Every chain has the same names ("Test Root", "Test Intermediate"), so two chains are two
/// CAs that only their keys (and key identifiers, with `aki`) tell apart.
fn make_chain(root_key: KeyPair, int_key: KeyPair, leaf_key: KeyPair, aki: bool) -> Chain {
    let mut rp = ca_params("Test Root");
    rp.use_authority_key_identifier_extension = false;
    let root = CertifiedIssuer::self_signed(rp, root_key).unwrap();
    let mut ip = ca_params("Test Intermediate");
    ip.use_authority_key_identifier_extension = aki;
    let int = CertifiedIssuer::signed_by(ip, int_key, &root).unwrap();
    let leaf = leaf_params(&["localhost"], aki).signed_by(&leaf_key, &int).unwrap();
    Chain {
        root: root.der().clone(),
        chain: vec![leaf.der().clone(), int.der().clone()],
        key: key_der(&leaf_key),
    }
}

fn p256_chain(aki: bool) -> Chain {
    make_chain(p256(), p256(), p256(), aki)
}

// ---------------------------------------------------------------------------------------------
// The client.

/// Connect to the local `port`, check `name` against `anchors`, and close.
async fn handshake_with<C: TlsClock>(
    port: u16,
    name: &str,
    anchors: &[&[u8]],
    read_buf: &mut [u8],
    write_buf: &mut [u8],
) -> Result<(), TlsError> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let cfg = ClientConfig { server_name: name, trust_anchors: anchors };
    let conn = connect::<_, _, C, CHAIN_CAP>(FromTokio::new(tcp), &cfg, OsRng, read_buf, write_buf).await?;
    conn.close().await.map_err(|(_, e)| e)?;
    Ok(())
}

/// [`handshake_with`] with no clock and the runtime's buffer sizes.
async fn handshake(port: u16, name: &str, anchors: &[&[u8]]) -> Result<(), TlsError> {
    let mut r = vec![0u8; DEFAULT_TLS_READ];
    let mut w = vec![0u8; DEFAULT_TLS_WRITE];
    handshake_with::<NoClock>(port, name, anchors, &mut r, &mut w).await
}

async fn read_exact<S: embedded_io_async::Read>(s: &mut S, n: usize) -> Result<Vec<u8>, S::Error> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = s.read(&mut out[got..]).await?;
        assert!(k > 0, "end of stream after {got} of {n} bytes");
        got += k;
    }
    Ok(out)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

// ---------------------------------------------------------------------------------------------
// Handshake, names, trust.

#[tokio::test]
async fn a_pinned_self_signed_certificate_connects_and_echoes() {
    let leaf = self_signed();
    let anchor = leaf.cert.to_vec();
    let port = start_server(vec![leaf.cert], leaf.key, Mode::Echo).await;

    let mut r = vec![0u8; DEFAULT_TLS_READ];
    let mut w = vec![0u8; DEFAULT_TLS_WRITE];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let anchors: [&[u8]; 1] = [&anchor];
    let cfg = ClientConfig { server_name: "localhost", trust_anchors: &anchors };
    let mut conn = connect::<_, _, NoClock, CHAIN_CAP>(FromTokio::new(tcp), &cfg, OsRng, &mut r, &mut w)
        .await
        .expect("handshake");

    // 10,000 bytes is more than the write buffer: the connection splits it into records.
    for msg in [&b"hello realtime"[..], &[7u8; 10_000][..]] {
        conn.write_all(msg).await.unwrap();
        conn.flush().await.unwrap();
        assert_eq!(read_exact(&mut conn, msg.len()).await.unwrap(), msg);
    }
    conn.close().await.map_err(|(_, e)| e).unwrap();
}

#[tokio::test]
async fn a_wrong_server_name_is_refused() {
    let leaf = self_signed();
    let anchor = leaf.cert.to_vec();
    let port = start_server(vec![leaf.cert], leaf.key, Mode::Echo).await;
    let e = handshake(port, "example.com", &[&anchor]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
    // The same server and anchor with the right name: only the name made the difference.
    handshake(port, "localhost", &[&anchor]).await.unwrap();
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    // Another self-signed certificate: the same subject (rcgen's fixed one), another key.
    let leaf = self_signed();
    let other = self_signed();
    let port = start_server(vec![leaf.cert], leaf.key, Mode::Echo).await;
    let e = handshake(port, "localhost", &[&other.cert]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");

    // A CA chain whose root is not held, only another root of the same name.
    let c = p256_chain(true);
    let other_root = p256_chain(true).root;
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    let e = handshake(port, "localhost", &[&other_root]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
}

#[tokio::test]
async fn several_trust_anchors_each_verify_their_own_servers() {
    let leaf = self_signed();
    let other = self_signed();
    let c = p256_chain(true);
    let same_named_root = p256_chain(true).root;
    // Decoys first: a self-signed certificate with the pinned one's subject, and a root with
    // the chain root's subject, so that picking by name alone would pick wrong for both.
    let anchors: Vec<&[u8]> = vec![&other.cert, &same_named_root, &leaf.cert, &c.root];

    let pinned = start_server(vec![leaf.cert.clone()], leaf.key.clone_key(), Mode::Echo).await;
    handshake(pinned, "localhost", &anchors).await.expect("the pinned self-signed certificate");

    // [leaf, intermediate]: the intermediate's key identifier picks the right root.
    let chained = start_server(c.chain, c.key, Mode::Echo).await;
    handshake(chained, "localhost", &anchors).await.expect("the root of the chain");
}

#[tokio::test]
async fn same_named_roots_without_key_ids_pick_the_first_listed() {
    // A known limitation: with no authorityKeyIdentifier to go by, the first root of the
    // issuer's name is the one tried; embedded-tls verifies against one anchor only.
    let c = p256_chain(false);
    let same_named_root = p256_chain(false).root;
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    let e = handshake(port, "localhost", &[&same_named_root, &c.root]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
    handshake(port, "localhost", &[&c.root, &same_named_root]).await.expect("the right root first");
}

#[tokio::test]
async fn a_p256_chain_verifies_through_its_intermediate_to_the_root() {
    let c = p256_chain(true);
    let intermediate = c.chain[1].clone();
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    handshake(port, "localhost", &[&c.root]).await.expect("the root as anchor");
    // The anchor must have signed the last certificate the server sends, so the intermediate
    // the server sends cannot itself be the anchor.
    let e = handshake(port, "localhost", &[&intermediate]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
}

/// A provider on embedded-tls's `CertVerifier` alone, to show what our checks add.
struct PlainPki<'a> {
    verifier: CertVerifier<'a, Suite, NoClock, CHAIN_CAP>,
}

impl CryptoProvider for PlainPki<'_> {
    type CipherSuite = Suite;
    type Signature = [u8; 0];
    fn rng(&mut self) -> impl CryptoRngCore {
        OsRng
    }
    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Suite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// The attack: the holder of an ordinary (non-CA) certificate "evil.example" from a trusted
/// root signs a "localhost" certificate with its key. Returns the server's port, the root,
/// and the evil certificate.
async fn leaf_signed_leaf_server(send_evil: bool) -> (u16, Vec<u8>, Vec<u8>) {
    let root = CertifiedIssuer::self_signed(ca_params("Test Root"), p256()).unwrap();
    let evil_key = p256();
    let evil_params = leaf_params(&["evil.example"], false);
    let evil = evil_params.signed_by(&evil_key, &root).unwrap();
    let forged_key = p256();
    let forged = leaf_params(&["localhost"], false)
        .signed_by(&forged_key, &Issuer::new(evil_params, evil_key))
        .unwrap();
    let mut chain = vec![forged.der().clone()];
    if send_evil {
        chain.push(evil.der().clone());
    }
    let port = start_server(chain, key_der(&forged_key), Mode::Echo).await;
    (port, root.der().to_vec(), evil.der().to_vec())
}

#[tokio::test]
async fn a_leaf_signing_another_leaf_is_refused() {
    // The server sends [forged "localhost", evil leaf]; the client holds the root.
    let (port, root, _) = leaf_signed_leaf_server(true).await;

    // Every signature in that chain is good: embedded-tls's verifier alone accepts it, so the
    // refusal below is the basicConstraints check and nothing else.
    let mut r = vec![0u8; DEFAULT_TLS_READ];
    let mut w = vec![0u8; DEFAULT_TLS_WRITE];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let config = TlsConfig::new().with_server_name("localhost");
    let mut conn = TlsConnection::<_, Suite>::new(FromTokio::new(tcp), &mut r, &mut w);
    let plain = PlainPki { verifier: CertVerifier::new(Certificate::X509(&root)) };
    let accepted = conn.open(TlsContext::new(&config, plain)).await;
    assert!(accepted.is_ok(), "embedded-tls alone now refuses the forgery: {accepted:?}");

    let e = handshake(port, "localhost", &[&root]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
}

#[tokio::test]
async fn a_non_ca_anchor_is_not_taken_as_the_issuer() {
    // The same forgery sent alone, against a client that lists the evil leaf as an anchor
    // (say, pinned for its own server): an anchor that is not a CA issues nothing.
    let (port, _, evil) = leaf_signed_leaf_server(false).await;
    let e = handshake(port, "localhost", &[&evil]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Validity period.

/// Resets the global time to "unknown" when the test ends, passed or panicked.
struct ResetUnixTime;

impl Drop for ResetUnixTime {
    fn drop(&mut self) {
        set_unix_time(0);
    }
}

/// The only test that sets the process-global time (the runtime's `tls()` sets it too, so no
/// other unit test may go through that with a wall clock): all its steps are in this one test,
/// so parallel test threads never see a time they did not expect.
#[tokio::test]
async fn the_validity_period_is_checked_with_the_global_clock() {
    let _reset = ResetUnixTime;
    let leaf = self_signed(); // rcgen's default validity: 1975 to 4096
    let anchor = leaf.cert.to_vec();
    let port = start_server(vec![leaf.cert], leaf.key, Mode::Echo).await;
    let mut r = vec![0u8; DEFAULT_TLS_READ];
    let mut w = vec![0u8; DEFAULT_TLS_WRITE];

    // 1970-01-01T00:00:01 is before notBefore.
    set_unix_time(1);
    let e =
        handshake_with::<GlobalUnixClock>(port, "localhost", &[&anchor], &mut r, &mut w).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
    // The same certificate at the same moment without a clock: the time made the difference.
    handshake_with::<NoClock>(port, "localhost", &[&anchor], &mut r, &mut w).await.expect("NoClock");

    set_unix_time(u32::try_from(now()).unwrap());
    handshake_with::<GlobalUnixClock>(port, "localhost", &[&anchor], &mut r, &mut w).await.expect("now");

    // Time 0 is "not known yet" (no wall clock): not checked rather than 1970.
    set_unix_time(0);
    handshake_with::<GlobalUnixClock>(port, "localhost", &[&anchor], &mut r, &mut w)
        .await
        .expect("unknown time");

    // A certificate that expired in 2000, checked now.
    let k = p256();
    let mut p = leaf_params(&["localhost"], false);
    p.not_before = rcgen::date_time_ymd(1999, 1, 1);
    p.not_after = rcgen::date_time_ymd(2000, 1, 1);
    let expired = p.self_signed(&k).unwrap();
    let anchor = expired.der().to_vec();
    let port = start_server(vec![expired.der().clone()], key_der(&k), Mode::Echo).await;
    set_unix_time(u32::try_from(now()).unwrap());
    let e =
        handshake_with::<GlobalUnixClock>(port, "localhost", &[&anchor], &mut r, &mut w).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Record sizes.

/// Connect with the given buffer sizes, read a first record of `n` bytes, then echo 3,000.
async fn read_blob(n: usize, read_len: usize, write_len: usize) -> Result<(), TlsError> {
    let leaf = self_signed();
    let anchor = leaf.cert.to_vec();
    let port = start_server(vec![leaf.cert], leaf.key, Mode::Blob(n)).await;
    let mut r = vec![0u8; read_len];
    let mut w = vec![0u8; write_len];
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let anchors: [&[u8]; 1] = [&anchor];
    let cfg = ClientConfig { server_name: "localhost", trust_anchors: &anchors };
    let mut conn =
        connect::<_, _, NoClock, CHAIN_CAP>(FromTokio::new(tcp), &cfg, OsRng, &mut r, &mut w).await?;
    let got = read_exact(&mut conn, n).await?;
    assert!(got.iter().all(|b| *b == 0x5a));
    conn.write_all(&[1u8; 3000]).await?;
    conn.flush().await?;
    read_exact(&mut conn, 3000).await?;
    Ok(())
}

#[tokio::test]
async fn a_full_size_record_fits_the_default_read_buffer() {
    read_blob(16_384, DEFAULT_TLS_READ, DEFAULT_TLS_WRITE).await.expect("16 KiB record");
    // The write buffer may be much smaller than a record: the handshake fits 1 KiB.
    read_blob(100, DEFAULT_TLS_READ, 1024).await.expect("1 KiB write buffer");
}

#[tokio::test]
async fn a_record_larger_than_the_read_buffer_is_insufficient_space() {
    // The handshake (a ~400-byte certificate) and small records fit a 4 KiB read buffer...
    read_blob(3000, 4096, 1024).await.expect("3000-byte record in 4 KiB");
    // ...a full-size record does not, and is an error rather than a truncated read.
    let e = read_blob(16_384, 4096, 1024).await.unwrap_err();
    assert!(matches!(e, TlsError::InsufficientSpace), "{e:?}");
    // The buffer holds the record body: the plaintext, its content type and the 16-byte tag.
    read_blob(4096 - 17, 4096, 1024).await.expect("the largest plaintext in 4 KiB");
    let e = read_blob(4096 - 16, 4096, 1024).await.unwrap_err();
    assert!(matches!(e, TlsError::InsufficientSpace), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Names: embedded-tls's matching, which the module documents.

#[tokio::test]
async fn an_ip_address_is_not_matched_against_ip_sans() {
    // embedded-tls reads DNS SANs only: "127.0.0.1" against the IP SAN 127.0.0.1 fails.
    let leaf = self_signed();
    let anchor = leaf.cert.to_vec();
    let port = start_server(vec![leaf.cert], leaf.key, Mode::Echo).await;
    let e = handshake(port, "127.0.0.1", &[&anchor]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
}

/// A self-signed certificate with these DNS SANs, checked for `name`.
async fn handshake_with_sans(sans: &[&str], name: &str) -> Result<(), TlsError> {
    let k = p256();
    let c = leaf_params(sans, false).self_signed(&k).unwrap();
    let anchor = c.der().to_vec();
    let port = start_server(vec![c.der().clone()], key_der(&k), Mode::Echo).await;
    handshake(port, name, &[&anchor]).await
}

#[tokio::test]
async fn only_the_first_three_dns_sans_are_matched() {
    let four = ["a.example", "b.example", "c.example", "localhost"];
    handshake_with_sans(&four[1..], "localhost").await.expect("the third SAN");
    let e = handshake_with_sans(&four, "localhost").await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidCertificate), "{e:?}");
}

#[tokio::test]
async fn a_san_over_64_bytes_makes_the_certificate_undecodable() {
    let long = format!("{}.example", "x".repeat(60));
    let e = handshake_with_sans(&["localhost", &long], "localhost").await.unwrap_err();
    assert!(matches!(e, TlsError::DecodeError), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Algorithms behind features.

/// Let's Encrypt's ECDSA shape: a P-384 root and intermediate (ecdsa-with-SHA384) over a
/// P-256 leaf.
fn p384_chain() -> Chain {
    make_chain(key(&rcgen::PKCS_ECDSA_P384_SHA384), key(&rcgen::PKCS_ECDSA_P384_SHA384), p256(), true)
}

/// Let's Encrypt's RSA shape: RSA root, intermediate and leaf (PKCS#1 v1.5 signatures in the
/// chain, RSA-PSS in CertificateVerify). The keys are fixed: rcgen on ring cannot make RSA keys.
fn rsa_chain() -> Chain {
    let rsa = |pem: &str| KeyPair::from_pem(pem).unwrap();
    make_chain(
        rsa(include_str!("testdata/rsa-root.pk8.pem")),
        rsa(include_str!("testdata/rsa-int.pk8.pem")),
        rsa(include_str!("testdata/rsa-leaf.pk8.pem")),
        true,
    )
}

#[cfg(feature = "tls-p384")]
#[tokio::test]
async fn a_p384_chain_like_lets_encrypt_ecdsa_verifies() {
    let c = p384_chain();
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    handshake(port, "localhost", &[&c.root]).await.expect("a P-384 chain");
}

#[cfg(feature = "tls-p384")]
#[tokio::test]
async fn a_p384_leaf_key_verifies() {
    // ecdsa_secp384r1_sha384 in CertificateVerify, not only in the chain.
    let c = make_chain(p256(), p256(), key(&rcgen::PKCS_ECDSA_P384_SHA384), true);
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    handshake(port, "localhost", &[&c.root]).await.expect("a P-384 leaf");
}

#[cfg(not(feature = "tls-p384"))]
#[tokio::test]
async fn a_p384_chain_is_refused_without_tls_p384() {
    // Refused, and saying why, rather than passed unchecked.
    let c = p384_chain();
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    let e = handshake(port, "localhost", &[&c.root]).await.unwrap_err();
    assert!(matches!(e, TlsError::InvalidSignatureScheme), "{e:?}");
}

#[cfg(feature = "tls-rsa")]
#[tokio::test]
async fn an_rsa_chain_like_lets_encrypt_rsa_verifies() {
    let c = rsa_chain();
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    handshake(port, "localhost", &[&c.root]).await.expect("an RSA chain");
}

#[cfg(not(feature = "tls-rsa"))]
#[tokio::test]
async fn an_rsa_server_is_refused_without_tls_rsa() {
    // The client offers no RSA signature scheme, so the server has no certificate to use and
    // the handshake fails: never a connection without verification.
    let c = rsa_chain();
    let port = start_server(c.chain, c.key, Mode::Echo).await;
    handshake(port, "localhost", &[&c.root]).await.unwrap_err();
}

// ---------------------------------------------------------------------------------------------
// Without a server.

/// A socket `connect` must not use: its checks of the configuration come first.
struct Unused;

impl embedded_io_async::ErrorType for Unused {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Unused {
    async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> {
        unreachable!("connect read from the socket")
    }
}

impl embedded_io_async::Write for Unused {
    async fn write(&mut self, _: &[u8]) -> Result<usize, Self::Error> {
        unreachable!("connect wrote to the socket")
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        unreachable!("connect flushed the socket")
    }
}

async fn connect_unused(name: &str, anchors: &[&[u8]]) -> TlsError {
    let mut r = vec![0u8; 1024];
    let mut w = vec![0u8; 1024];
    let cfg = ClientConfig { server_name: name, trust_anchors: anchors };
    connect::<_, _, NoClock, CHAIN_CAP>(Unused, &cfg, OsRng, &mut r, &mut w).await.err().expect("refused")
}

#[tokio::test]
async fn a_config_that_can_verify_nothing_is_refused_before_connecting() {
    let leaf = self_signed();
    // No anchors, or no name, would verify nothing: refused, never sent unverified.
    assert!(matches!(connect_unused("localhost", &[]).await, TlsError::InvalidCertificate));
    assert!(matches!(connect_unused("", &[&leaf.cert]).await, TlsError::InvalidCertificate));
    // An anchor that is not a certificate is the firmware's mistake, told at once.
    assert!(matches!(connect_unused("localhost", &[&leaf.cert, b"not DER"]).await, TlsError::DecodeError));
}

#[test]
fn a_certificate_verify_before_the_certificate_is_an_error_not_a_panic() {
    // embedded-tls's `CertVerifier` unwraps the certificate it has not got; a server that
    // sends CertificateVerify first must get an error instead.
    let leaf = self_signed();
    let anchors: [&[u8]; 1] = [&leaf.cert];
    let mut v = AnchorVerifier::<NoClock, CHAIN_CAP>::new("localhost", &anchors);
    let verify =
        CertificateVerifyRef { signature_scheme: SignatureScheme::EcdsaSecp256r1Sha256, signature: &[0; 64] };
    assert!(matches!(v.verify_signature(verify), Err(TlsError::InvalidHandshake)));
    assert!(!v.server_authenticated());
}

#[test]
fn the_der_reader_finds_names_key_ids_and_ca_flags() {
    let c = p256_chain(true);
    let root = parse_cert(&c.root).unwrap();
    let int = parse_cert(&c.chain[1]).unwrap();
    let leaf = parse_cert(&c.chain[0]).unwrap();
    assert_eq!(int.issuer, root.subject);
    assert_eq!(leaf.issuer, int.subject);
    assert!(root.is_ca() && int.is_ca() && !leaf.is_ca());
    assert_eq!(leaf.authority_key_id(), int.subject_key_id());
    assert!(leaf.authority_key_id().is_some());
    // The root was made without authorityKeyIdentifier.
    assert_eq!(root.authority_key_id(), None);
}

#[test]
fn a_truncated_certificate_does_not_parse() {
    // Lengths are checked against what is there: no prefix of a certificate reads as one.
    let leaf = self_signed();
    for len in 0..leaf.cert.len() {
        assert!(parse_cert(&leaf.cert[..len]).is_none(), "{len}-byte prefix parsed");
    }
}

#[test]
fn the_anchor_is_chosen_by_identity_then_key_id_then_name() {
    let c = p256_chain(true);
    let same_named_root = p256_chain(true).root;
    let leaf = self_signed();
    let intermediate = &c.chain[1];

    // The server sent the anchor itself.
    assert_eq!(select_anchor(&[&same_named_root, &leaf.cert], &leaf.cert), Some(&leaf.cert[..]));
    // By key identifier, past a root of the same name listed first.
    assert_eq!(select_anchor(&[&same_named_root, &c.root], intermediate), Some(&c.root[..]));
    // A root of the right name but another key identifier is not taken even if it is the only one.
    assert_eq!(select_anchor(&[&same_named_root], intermediate), None);

    // Without key identifiers, the first of the name.
    let n = p256_chain(false);
    let n_other = p256_chain(false).root;
    assert_eq!(select_anchor(&[&n_other, &n.root], &n.chain[1]), Some(&n_other[..]));
    // Never a certificate that is not a CA, whatever its name.
    let other = self_signed();
    assert_eq!(select_anchor(&[&other.cert], &leaf.cert), None);
}
