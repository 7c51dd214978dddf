//! HS256 JWTs, checked as the Realtime server checks them (spec A.1): a valid signature, an
//! `exp` in the future, a `role`. Also signs tokens, for tests and the CLI.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused, in the server's words where it has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    Malformed,
    /// Another algorithm than HS256.
    Algorithm,
    /// The signature does not verify with the secret.
    Signature,
    /// `exp` is missing or not a number.
    MissingExp,
    /// `role` is missing.
    MissingRole,
    /// `exp` has passed: by this many seconds.
    Expired(u64),
}

impl JwtError {
    /// The server's text for it (`InvalidJWTToken: ...` follows in join errors).
    pub fn message(&self) -> String {
        match self {
            Self::Malformed => "Token malformed".into(),
            Self::Algorithm => "Unsupported algorithm".into(),
            Self::Signature => "Signature error".into(),
            Self::MissingExp => "Fields `role` and `exp` are required in JWT".into(),
            Self::MissingRole => "Fields `role` and `exp` are required in JWT".into(),
            Self::Expired(s) => format!("Token has expired {s} seconds ago"),
        }
    }
}

/// The claims of a verified token.
pub type Claims = Map<String, Value>;

/// Verifies `token` with `secret` at `now` (Unix seconds).
pub fn verify(token: &str, secret: &[u8], now: u64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| JwtError::Malformed);
    let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| JwtError::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::Algorithm);
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| JwtError::Signature)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(c.as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&decode(s)?).map_err(|_| JwtError::Signature)?;
    let claims: Claims = serde_json::from_slice(&decode(c)?).map_err(|_| JwtError::Malformed)?;
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or(JwtError::MissingExp)?;
    if !claims.get("role").is_some_and(Value::is_string) {
        return Err(JwtError::MissingRole);
    }
    if exp <= now {
        return Err(JwtError::Expired(now - exp));
    }
    Ok(claims)
}

/// Signs `claims` with `secret` (HS256).
pub fn sign(claims: &Value, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    // Invariant: HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret).expect("hmac takes any key length");
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{body}.{sig}")
}

/// The `exp` of a token, unverified (for scheduling the re-check).
pub fn exp_of(claims: &Claims) -> Option<u64> {
    claims.get("exp").and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sign_then_verify_and_every_refusal() {
        let t = sign(&json!({"role": "anon", "exp": 2000}), b"secret");
        assert_eq!(verify(&t, b"secret", 1000).unwrap()["role"], "anon");
        assert_eq!(verify(&t, b"other", 1000), Err(JwtError::Signature));
        assert_eq!(verify(&t, b"secret", 2005), Err(JwtError::Expired(5)));
        assert_eq!(verify("a.b", b"secret", 0), Err(JwtError::Malformed));
        let no_role = sign(&json!({"exp": 2000}), b"secret");
        assert_eq!(verify(&no_role, b"secret", 0), Err(JwtError::MissingRole));
        let no_exp = sign(&json!({"role": "anon"}), b"secret");
        assert_eq!(verify(&no_exp, b"secret", 0), Err(JwtError::MissingExp));
        let mut tampered = t.clone();
        tampered.insert(t.find('.').unwrap() + 2, 'x');
        assert!(verify(&tampered, b"secret", 0).is_err());
    }
}
