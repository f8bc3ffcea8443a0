//! Checking the OIDC bearer token of a Pub/Sub push against the issuer's
//! key set, fetched over HTTPS and cached.

use std::time::{Duration, Instant};

use super::ClientError;
use crate::oidc::{Claims, Expectation, IdToken, Jwks, OidcError};

/// How long a fetched key set is used before it is fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);

/// The shortest time between two fetches prompted by an unknown key id
/// (so that forged tokens cannot make the server hammer the issuer).
const REFETCH_EVERY: Duration = Duration::from_secs(30);

/// Why a push was not authenticated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushAuthError {
    /// The token is missing, malformed, forged, expired or for someone
    /// else: the push is refused.
    #[error("push token refused: {0}")]
    Refused(#[source] OidcError),
    /// The issuer's key set could not be fetched: the push cannot be
    /// checked now (Pub/Sub delivers it again later).
    #[error("push token issuer keys unavailable: {0}")]
    KeySet(#[source] ClientError),
}

/// Verifies push tokens: claims, then the RS256 signature with the key set
/// at a URL ([`crate::oidc::GOOGLE_JWKS_URL`] for Google).
pub struct PushVerifier {
    expect: Expectation,
    jwks_url: String,
    http: super::http::Http,
    cache: tokio::sync::Mutex<Option<(Instant, Jwks)>>,
}

impl std::fmt::Debug for PushVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushVerifier")
            .field("expect", &self.expect)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl PushVerifier {
    /// A verifier expecting `expect`, with keys from `jwks_url`.
    pub fn new(expect: Expectation, jwks_url: impl Into<String>) -> Result<Self, ClientError> {
        Ok(Self {
            expect,
            jwks_url: jwks_url.into(),
            http: super::http::Http::new(Duration::from_secs(10))?,
            cache: tokio::sync::Mutex::new(None),
        })
    }

    /// What tokens must say.
    pub fn expectation(&self) -> &Expectation {
        &self.expect
    }

    /// Checks an `Authorization` header value (`Bearer <JWT>`) at `now`
    /// (seconds since the epoch); the token's claims when it holds.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        now: i64,
    ) -> Result<Claims, PushAuthError> {
        let refused = PushAuthError::Refused;
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or_else(|| refused(OidcError::Malformed("no bearer token".into())))?;
        let t = IdToken::decode(token.trim()).map_err(refused)?;
        t.check_claims(&self.expect, now).map_err(refused)?;
        let keys = self.keys(t.header.kid.as_deref()).await?;
        t.verify_signature(&keys).map_err(refused)?;
        Ok(t.claims)
    }

    /// The cached key set, fetched when stale or when it lacks `kid`
    /// (a key rotation), at most every [`REFETCH_EVERY`].
    async fn keys(&self, kid: Option<&str>) -> Result<Jwks, PushAuthError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, keys)) = cache.as_ref() {
            let fresh = at.elapsed() < KEYS_TTL;
            let knows = kid.is_none_or(|k| keys.has(k));
            if fresh && (knows || at.elapsed() < REFETCH_EVERY) {
                return Ok(keys.clone());
            }
        }
        let keys = self.fetch().await?;
        *cache = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    async fn fetch(&self) -> Result<Jwks, PushAuthError> {
        let a = self
            .http
            .send("GET", &self.jwks_url, &[], None, crate::oidc::MAX_JWKS)
            .await
            .map_err(|f| {
                let message = match f {
                    super::http::Failure::Transport(m) | super::http::Failure::Request(m) => m,
                    super::http::Failure::TooLarge => "key set too large".into(),
                };
                PushAuthError::KeySet(ClientError::Transport {
                    method: "GET",
                    path: self.jwks_url.clone(),
                    message,
                })
            })?;
        if !(200..300).contains(&a.status) {
            return Err(PushAuthError::KeySet(ClientError::Token {
                status: a.status,
                body: format!("key set answer of {} bytes", a.body.len()),
            }));
        }
        Jwks::parse(&a.body).map_err(|e| {
            PushAuthError::KeySet(ClientError::Config(format!("{}: {e}", self.jwks_url)))
        })
    }
}
