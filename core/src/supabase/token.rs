//! Access tokens: what the client may read of them (a JWT's `exp`) and what it must never do
//! (decode an API key, print a secret).

use alloc::string::String;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest JWT payload segment decoded for its `exp` (a token is a few hundred bytes; this
/// bounds the work on a hostile one).
const MAX_JWT_PAYLOAD: usize = 8 << 10;

/// A secret (API key or access token) that prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this is a new-style API key (`sb_publishable_...`, `sb_secret_...`): not a JWT,
    /// never decoded, and sent only as the `apikey` parameter.
    pub fn is_api_key(&self) -> bool {
        self.0.starts_with("sb_")
    }

    /// The JWT's `exp` claim (Unix seconds), when this is a JWT that has one. API keys are never
    /// decoded. The signature is not checked: the server does that; the client only avoids
    /// sending a token that has expired.
    pub fn jwt_exp(&self) -> Option<u64> {
        if self.is_api_key() {
            return None;
        }
        let mut parts = self.0.split('.');
        let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || payload.len() > MAX_JWT_PAYLOAD {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        #[derive(serde::Deserialize)]
        struct Claims {
            exp: Option<f64>,
        }
        let exp = serde_json::from_slice::<Claims>(&json).ok()?.exp?;
        // Invariant: a float `exp` is truncated to whole seconds; negative or absurd values are
        // treated as no claim.
        (0.0..1e15).contains(&exp).then_some(exp as u64)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    fn jwt(claims: &str) -> Secret {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        Secret::new(format!("{}.{}.sig", enc(r#"{"alg":"HS256","typ":"JWT"}"#), enc(claims)))
    }

    #[test]
    fn reads_exp_of_jwts_only() {
        assert_eq!(jwt(r#"{"role":"authenticated","exp":1767225600}"#).jwt_exp(), Some(1_767_225_600));
        assert_eq!(jwt(r#"{"exp":1767225600.9}"#).jwt_exp(), Some(1_767_225_600));
        assert_eq!(jwt(r#"{"role":"anon"}"#).jwt_exp(), None);
        assert_eq!(jwt(r#"{"exp":-5}"#).jwt_exp(), None);
        assert_eq!(jwt("not json").jwt_exp(), None);
        assert_eq!(Secret::new("a.b").jwt_exp(), None);
        assert_eq!(Secret::new("a.b.c.d").jwt_exp(), None);
        assert_eq!(Secret::new("sb_publishable_abc.def.ghi").jwt_exp(), None, "api keys are never decoded");
        assert!(Secret::new("sb_secret_x").is_api_key());
    }

    #[test]
    fn never_prints() {
        assert_eq!(format!("{:?}", Secret::new("eyJhbGciOi")), "<redacted>");
    }
}
