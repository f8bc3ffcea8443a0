//! Service-account OAuth: the JWT bearer grant (RFC 7523) signed RS256
//! with the key Google issued, exchanged for an access token that is
//! cached and refreshed before it expires.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;

use super::error::ClientError;

/// Google's OAuth token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The largest key file read.
pub const MAX_KEY_FILE: usize = 64 * 1024;

/// A service-account key (the JSON file the Google Cloud console
/// downloads). Its private key never leaves this value: `Debug` hides it.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct ServiceAccountKey {
    /// The service account (`name@project.iam.gserviceaccount.com`).
    pub client_email: String,
    /// The key's id (goes into the JWT header as `kid`).
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// The token endpoint the key names.
    #[serde(default)]
    pub token_uri: Option<String>,
    private_key: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl ServiceAccountKey {
    /// Reads a key file's JSON and checks that its key signs.
    pub fn parse(bytes: &[u8]) -> Result<Self, ClientError> {
        let key: Self = crate::parse::Limits::DEFAULT
            .with_max_bytes(MAX_KEY_FILE)
            .parse(bytes)
            .map_err(|e| ClientError::Key(e.to_string()))?;
        if key.client_email.is_empty() {
            return Err(ClientError::Key("client_email is empty".into()));
        }
        key.key_pair()?;
        Ok(key)
    }

    /// A key for `email` from a PKCS#8 PEM RSA private key.
    pub fn from_pem(
        email: impl Into<String>,
        private_key_pem: impl Into<String>,
    ) -> Result<Self, ClientError> {
        let key = Self {
            client_email: email.into(),
            private_key_id: None,
            token_uri: None,
            private_key: private_key_pem.into(),
        };
        key.key_pair()?;
        Ok(key)
    }

    fn key_pair(&self) -> Result<aws_lc_rs::rsa::KeyPair, ClientError> {
        use mdmkit_identity::pem;
        let der = pem::decode_one(
            self.private_key.as_bytes(),
            "PRIVATE KEY",
            &pem::Limits::new(MAX_KEY_FILE, 4),
        )
        .map_err(|e| ClientError::Key(format!("private_key is not a PKCS#8 PEM block: {e}")))?;
        aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
            .map_err(|e| ClientError::Key(format!("private_key is not an RSA key: {e}")))
    }

    /// The signed grant assertion for `scope` at `token_url`, issued `now`
    /// (seconds since the epoch) and valid one hour.
    pub fn assertion(&self, scope: &str, token_url: &str, now: u64) -> Result<String, ClientError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = serde_json::Value::from(kid.as_str());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": token_url,
            "iat": now,
            "exp": now + 3600,
        });
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let pair = self.key_pair()?;
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| ClientError::Key("signing the grant failed".into()))?;
        Ok(format!("{input}.{}", b64.encode(sig)))
    }
}

/// Where access tokens come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A service account: the JWT bearer grant.
    ServiceAccount(ServiceAccountKey),
    /// A fixed access token (from `gcloud auth print-access-token`, say):
    /// never refreshed.
    AccessToken(String),
}

/// An access token and when to stop using it.
#[derive(Debug, Clone)]
pub(crate) struct Cached {
    pub(crate) token: String,
    pub(crate) refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Reads the token endpoint's answer; the token is used until
/// `refresh_before` ahead of its expiry.
pub(crate) fn read_token_answer(
    body: &[u8],
    now: Instant,
    refresh_before: Duration,
) -> Result<Cached, ClientError> {
    let a: TokenAnswer = crate::parse::Limits::DEFAULT
        .with_max_bytes(64 * 1024)
        .parse(body)
        .map_err(|e| ClientError::Token {
            status: 200,
            body: e.to_string(),
        })?;
    if a.access_token.is_empty() {
        return Err(ClientError::Token {
            status: 200,
            body: "empty access_token".into(),
        });
    }
    let life = Duration::from_secs(a.expires_in.unwrap_or(3600).min(24 * 3600));
    Ok(Cached {
        token: a.access_token,
        refresh_at: now + life.saturating_sub(refresh_before),
    })
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The form body of the grant.
pub(crate) fn grant_form(assertion: &str) -> String {
    format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_refreshed_ahead_of_expiry() {
        let now = Instant::now();
        let c = read_token_answer(
            br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#,
            now,
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(c.token, "ya29.x");
        assert_eq!(c.refresh_at, now + Duration::from_secs(3299));
        assert!(read_token_answer(br#"{"access_token":""}"#, now, Duration::ZERO).is_err());
        assert!(read_token_answer(b"<html>", now, Duration::ZERO).is_err());
    }

    #[test]
    fn keys_that_are_not_rsa_pkcs8_are_refused() {
        assert!(ServiceAccountKey::from_pem("a@b", "nope").is_err());
        let e = ServiceAccountKey::parse(br#"{"client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("RSA"), "{e}");
        let dbg = format!("{:?}", Credentials::AccessToken("t".into()));
        assert!(dbg.contains("AccessToken"));
    }
}
