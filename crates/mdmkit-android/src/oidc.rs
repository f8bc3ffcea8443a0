//! The OIDC token a Pub/Sub push subscription sends as
//! `Authorization: Bearer <JWT>`: reading it (untrusted, size-limited),
//! checking its claims, and (feature `client`) its RS256 signature against
//! the issuer's JSON Web Key Set.
//!
//! Google signs push tokens with the keys published at
//! [`GOOGLE_JWKS_URL`]; the issuer is `https://accounts.google.com` (or
//! `accounts.google.com`), the audience is what the subscription was
//! configured with, and `email` is the subscription's service account.

use base64::Engine as _;
use serde::Deserialize;

/// Where Google publishes the keys that sign push tokens.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The issuers Google's push tokens name.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// The longest token read (Google's are about 1 KiB).
pub const MAX_TOKEN: usize = 8 * 1024;

/// The largest key set read.
pub const MAX_JWKS: usize = 256 * 1024;

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The token is longer than [`MAX_TOKEN`].
    #[error("token is {0} bytes, at most {MAX_TOKEN} are read")]
    TooLong(usize),
    /// It is not three base64url parts, or a part is not the JSON expected.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Its algorithm is not RS256.
    #[error("token algorithm {0:?} is not RS256")]
    Algorithm(String),
    /// No key of the set has its `kid`.
    #[error("no key {0:?} in the issuer's key set")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("token signature does not verify")]
    Signature,
    /// A claim does not match what is expected.
    #[error("token claim {claim}: {why}")]
    Claim {
        /// The claim (`iss`, `aud`, `exp`, ...).
        claim: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The key set could not be read.
    #[error("key set: {0}")]
    KeySet(String),
}

/// The token's header.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Header {
    /// The algorithm (`RS256`).
    pub alg: String,
    /// The signing key's id.
    #[serde(default)]
    pub kid: Option<String>,
}

/// `aud`: one string or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims mdmkit checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    pub exp: Option<i64>,
    /// Issued at.
    #[serde(default)]
    pub iat: Option<i64>,
    /// Not before.
    #[serde(default)]
    pub nbf: Option<i64>,
    /// The signer's e-mail (the push subscription's service account).
    #[serde(default)]
    pub email: Option<String>,
    /// Whether Google verified that e-mail.
    #[serde(default)]
    pub email_verified: Option<bool>,
}

impl Claims {
    /// The audiences.
    pub fn audiences(&self) -> Vec<&str> {
        match &self.aud {
            None => Vec::new(),
            Some(Audience::One(a)) => vec![a.as_str()],
            Some(Audience::Many(v)) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A decoded (not yet trusted) token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdToken {
    /// Its header.
    pub header: Header,
    /// Its claims.
    pub claims: Claims,
    signing_input: String,
    signature: Vec<u8>,
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, OidcError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| OidcError::Malformed(format!("{what} is not base64url: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, OidcError> {
    crate::parse::Limits::DEFAULT
        .with_max_bytes(MAX_TOKEN)
        .with_max_depth(8)
        .parse(bytes)
        .map_err(|e| OidcError::Malformed(format!("{what}: {e}")))
}

impl IdToken {
    /// Splits and decodes a compact JWT.
    pub fn decode(token: &str) -> Result<Self, OidcError> {
        if token.len() > MAX_TOKEN {
            return Err(OidcError::TooLong(token.len()));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OidcError::Malformed("not three dot-separated parts".into()));
        };
        let header: Header = json(&b64(h, "header")?, "header")?;
        let claims: Claims = json(&b64(c, "claims")?, "claims")?;
        let signature = b64(s, "signature")?;
        Ok(Self {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature,
        })
    }

    /// Checks issuer, audience, validity window (with `leeway` seconds of
    /// clock skew) and, when given, the signer's e-mail, at `now` (seconds
    /// since the epoch).
    pub fn check_claims(&self, expect: &Expectation, now: i64) -> Result<(), OidcError> {
        let c = &self.claims;
        let claim = |claim, why: String| OidcError::Claim { claim, why };
        match c.iss.as_deref() {
            Some(i) if expect.issuers.iter().any(|e| e == i) => {}
            other => return Err(claim("iss", format!("{other:?} is not an expected issuer"))),
        }
        if !c.audiences().contains(&expect.audience.as_str()) {
            return Err(claim(
                "aud",
                format!("{:?} does not name {:?}", c.audiences(), expect.audience),
            ));
        }
        let exp = c.exp.ok_or_else(|| claim("exp", "missing".into()))?;
        if now > exp.saturating_add(expect.leeway) {
            return Err(claim("exp", format!("expired at {exp}, now is {now}")));
        }
        for (name, t) in [("nbf", c.nbf), ("iat", c.iat)] {
            if let Some(t) = t
                && t > now.saturating_add(expect.leeway)
            {
                return Err(claim(name, format!("{t} is in the future (now {now})")));
            }
        }
        if let Some(want) = &expect.email {
            if c.email.as_deref() != Some(want.as_str()) {
                return Err(claim("email", format!("{:?} is not {want:?}", c.email)));
            }
            if c.email_verified != Some(true) {
                return Err(claim("email_verified", "not true".into()));
            }
        }
        Ok(())
    }

    /// Verifies the RS256 signature with the key of the set named by the
    /// header's `kid` (or the only RSA key, when the header names none).
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub fn verify_signature(&self, keys: &Jwks) -> Result<(), OidcError> {
        use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
        if self.header.alg != "RS256" {
            return Err(OidcError::Algorithm(
                self.header.alg.chars().take(16).collect(),
            ));
        }
        let rsa: Vec<&Jwk> = keys.keys.iter().filter(|k| k.kty == "RSA").collect();
        let key = match &self.header.kid {
            Some(kid) => rsa.iter().find(|k| k.kid.as_deref() == Some(kid.as_str())),
            None if rsa.len() == 1 => rsa.first(),
            None => None,
        }
        .ok_or_else(|| {
            OidcError::UnknownKey(
                self.header
                    .kid
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(64)
                    .collect(),
            )
        })?;
        let n = b64(&key.n, "key modulus").map_err(|e| OidcError::KeySet(e.to_string()))?;
        let e = b64(&key.e, "key exponent").map_err(|e| OidcError::KeySet(e.to_string()))?;
        RsaPublicKeyComponents { n: &n, e: &e }
            .verify(
                &RSA_PKCS1_2048_8192_SHA256,
                self.signing_input.as_bytes(),
                &self.signature,
            )
            .map_err(|_| OidcError::Signature)
    }
}

/// What a push token must say.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expectation {
    /// Accepted issuers.
    pub issuers: Vec<String>,
    /// The audience the subscription was configured with.
    pub audience: String,
    /// The subscription's service account, when it must be checked.
    pub email: Option<String>,
    /// Clock skew allowed, seconds.
    pub leeway: i64,
}

impl Expectation {
    /// Google's issuers, this audience, 60 s of leeway.
    pub fn google(audience: impl Into<String>) -> Self {
        Self {
            issuers: GOOGLE_ISSUERS.iter().map(|s| (*s).to_owned()).collect(),
            audience: audience.into(),
            email: None,
            leeway: 60,
        }
    }

    /// Accepts only this issuer.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers = vec![issuer.into()];
        self
    }

    /// Requires this signer e-mail.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
}

/// A JSON Web Key Set (only RSA keys are used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Jwk {
    /// Key type (`RSA`).
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Modulus, base64url.
    #[serde(default)]
    pub n: String,
    /// Exponent, base64url.
    #[serde(default)]
    pub e: String,
}

impl Jwks {
    /// Parses a key set (at most [`MAX_JWKS`] bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self, OidcError> {
        crate::parse::Limits::DEFAULT
            .with_max_bytes(MAX_JWKS)
            .with_max_depth(8)
            .parse(bytes)
            .map_err(|e| OidcError::KeySet(e.to_string()))
    }

    /// Whether a key has this id.
    pub fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(v: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    fn token(claims: &str) -> String {
        format!(
            "{}.{}.{}",
            part(r#"{"alg":"RS256","kid":"k1"}"#),
            part(claims),
            part("sig")
        )
    }

    #[test]
    fn claims_are_checked_one_by_one() {
        let expect = Expectation::google("https://mdm.example/t/android/pubsub");
        let ok = r#"{"iss":"https://accounts.google.com","aud":"https://mdm.example/t/android/pubsub","exp":1000,"iat":900}"#;
        IdToken::decode(&token(ok))
            .unwrap()
            .check_claims(&expect, 950)
            .unwrap();
        let cases = [
            (
                r#"{"iss":"https://evil.example","aud":"https://mdm.example/t/android/pubsub","exp":1000}"#,
                "iss",
            ),
            (
                r#"{"iss":"accounts.google.com","aud":"other","exp":1000}"#,
                "aud",
            ),
            (
                r#"{"iss":"accounts.google.com","aud":["https://mdm.example/t/android/pubsub"],"exp":100}"#,
                "exp",
            ),
            (
                r#"{"iss":"accounts.google.com","aud":"https://mdm.example/t/android/pubsub"}"#,
                "exp",
            ),
            (
                r#"{"iss":"accounts.google.com","aud":"https://mdm.example/t/android/pubsub","exp":5000,"iat":4000}"#,
                "iat",
            ),
        ];
        for (c, claim) in cases {
            match IdToken::decode(&token(c))
                .unwrap()
                .check_claims(&expect, 950)
            {
                Err(OidcError::Claim { claim: got, .. }) => assert_eq!(got, claim, "{c}"),
                other => panic!("{c}: {other:?}"),
            }
        }
        let with_mail = expect.with_email("push@p.iam.gserviceaccount.com");
        assert!(
            IdToken::decode(&token(ok))
                .unwrap()
                .check_claims(&with_mail, 950)
                .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn decoded_claims_are_the_encoded_ones(
            aud in "[a-z:/.]{1,40}", exp in 0i64..4_000_000_000, iat in 0i64..4_000_000_000,
            email in proptest::option::of("[a-z]{1,10}@[a-z]{1,10}"),
        ) {
            let claims = serde_json::json!({"iss": "accounts.google.com", "aud": aud, "exp": exp, "iat": iat, "email": email});
            let t = IdToken::decode(&token(&claims.to_string())).unwrap();
            proptest::prop_assert_eq!(t.claims.audiences(), vec![aud.as_str()]);
            proptest::prop_assert_eq!((t.claims.exp, t.claims.iat), (Some(exp), Some(iat)));
            proptest::prop_assert_eq!(t.claims.email, email);
            proptest::prop_assert_eq!(t.header.kid.as_deref(), Some("k1"));
        }
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason() {
        for t in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.e30",
            &format!("{}.e30.e30", part("[1]")),
        ] {
            assert!(
                matches!(IdToken::decode(t), Err(OidcError::Malformed(_))),
                "{t}"
            );
        }
        assert!(matches!(
            IdToken::decode(&"a".repeat(MAX_TOKEN + 1)),
            Err(OidcError::TooLong(_))
        ));
    }
}
