//! One-time enrollment challenges bound to a node, and the certificates
//! they enrolled.
//!
//! A device enrolls with a challenge (the SCEP `challengePassword`, or an
//! enrollment token of another protocol): an operator (or a token with the
//! operate role on that node) creates one for a node of the tree, hands it
//! to the device (inside an enrollment profile), and the device's first
//! certificate request spends it. The certificate issued for it is
//! recorded as an [`IssuedCertificate`] under that node, so that the
//! device, when it first authenticates with that certificate, lands under
//! the node and receives its policies.
//!
//! A challenge works once and until it expires. The store keeps only its
//! SHA-256, so a leaked database enrolls nothing. A *reusable* challenge
//! (one secret for a whole batch of devices, as some deployments want for
//! a mass roll-out) is an explicit option: anyone who learns it can enroll
//! a device under its node until it expires, so keep its lifetime short.
//!
//! ```
//! use mdmkit::challenge::{self, ChallengeOptions};
//! use mdmkit::queue::Timestamp;
//!
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let issued = challenge::issue(
//!     "town-7".parse()?,
//!     "school-1".parse()?,
//!     ChallengeOptions::default(),
//!     now,
//! );
//! // Hand `issued.secret` to the device; store `issued.challenge`.
//! assert_eq!(issued.challenge.sha256, challenge::digest(&issued.secret));
//! assert!(issued.challenge.usable(now).is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use mdmkit_core::TenantId;
use mdmkit_policy::NodeId;
use mdmkit_queue::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::signing::hex;

/// How long a challenge lives unless told otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// A stored challenge (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Challenge {
    /// A short public handle (the first 16 hex digits of the hash), for
    /// listing and revoking.
    pub id: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// The node a device it enrolls lands under.
    pub node: NodeId,
    /// The device it is meant for (a serial number), when the operator
    /// named one; informational.
    #[serde(default)]
    pub device: Option<String>,
    /// A note for whom it is.
    #[serde(default)]
    pub label: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Whether it works more than once (see the module docs).
    #[serde(default)]
    pub reusable: bool,
    /// When it was spent (the last time, for a reusable one).
    #[serde(default)]
    pub used_at: Option<Timestamp>,
    /// For a renewal challenge: the certificate it renews (SHA-256 of its
    /// DER, hex). The certificate a renewal challenge enrolls keeps that
    /// certificate's identity, so the device's enrollment follows it as a
    /// renewal (see [`crate::renewal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews: Option<String>,
    /// SHA-256 of the secret, hex: the store's key.
    pub sha256: String,
}

/// A challenge just created, with its secret (shown once).
#[non_exhaustive]
pub struct IssuedChallenge {
    /// The record to store ([`crate::state::StateStore::put_challenge`]).
    pub challenge: Challenge,
    /// What the device presents.
    pub secret: String,
}

impl fmt::Debug for IssuedChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedChallenge")
            .field("challenge", &self.challenge)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The choices made when creating a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChallengeOptions {
    /// How long it works.
    pub ttl: Duration,
    /// The device it is meant for (a serial number).
    pub device: Option<String>,
    /// A note for whom it is.
    pub label: Option<String>,
    /// Whether it works more than once.
    pub reusable: bool,
    /// The certificate it renews (SHA-256, hex), for a renewal challenge.
    pub renews: Option<String>,
}

impl Default for ChallengeOptions {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            device: None,
            renews: None,
            label: None,
            reusable: false,
        }
    }
}

impl ChallengeOptions {
    /// Sets the lifetime.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Names the device it is meant for.
    pub fn for_device(mut self, serial: impl Into<String>) -> Self {
        self.device = Some(serial.into());
        self
    }

    /// Makes it a renewal challenge of the certificate with this SHA-256
    /// (hex): what it enrolls keeps that certificate's identity.
    pub fn renewing(mut self, sha256: impl Into<String>) -> Self {
        self.renews = Some(sha256.into());
        self
    }

    /// Attaches a note.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Makes it work more than once, until it expires (a shared secret:
    /// see the module docs).
    pub fn reusable(mut self) -> Self {
        self.reusable = true;
        self
    }
}

/// SHA-256 of a challenge secret, hex: how the store finds it.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Creates a challenge for `node` of `tenant`: 32 random bytes as 64
/// lower-case hex digits (safe in a profile, a URL, a SCEP request and on
/// a command line: it never starts with `-`).
pub fn issue(
    tenant: TenantId,
    node: NodeId,
    options: ChallengeOptions,
    now: Timestamp,
) -> IssuedChallenge {
    let secret = hex(&crate::access::random_32());
    let sha256 = digest(&secret);
    let ttl_ms = i64::try_from(options.ttl.as_millis()).unwrap_or(i64::MAX);
    let challenge = Challenge {
        id: sha256[..16].to_owned(),
        tenant,
        node,
        device: options.device,
        label: options.label,
        created_at: now,
        expires_at: Timestamp::from_millis(now.as_millis().saturating_add(ttl_ms)),
        reusable: options.reusable,
        used_at: None,
        renews: options.renews,
        sha256,
    };
    IssuedChallenge { challenge, secret }
}

/// Why a challenge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Refusal {
    /// No challenge has that secret in this tenant.
    Unknown,
    /// It expired.
    Expired,
    /// It was already spent.
    Used,
}

impl Refusal {
    /// A short reason for logs and answers (the same words for every
    /// caller: a client learns no more than "refused").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown challenge",
            Self::Expired => "expired challenge",
            Self::Used => "challenge already used",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Challenge {
    /// Whether it may be spent at `now`.
    pub fn usable(&self, now: Timestamp) -> Result<(), Refusal> {
        if now >= self.expires_at {
            Err(Refusal::Expired)
        } else if self.used_at.is_some() && !self.reusable {
            Err(Refusal::Used)
        } else {
            Ok(())
        }
    }
}

/// A certificate issued to a device through enrollment: which node it
/// enrolls into, and when it expires (for renewal before expiry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssuedCertificate {
    /// SHA-256 of the certificate's DER, hex.
    pub sha256: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// The node the device lands under when it first authenticates.
    pub node: NodeId,
    /// The challenge it was issued for (its id), if any (a renewal has
    /// none).
    #[serde(default)]
    pub challenge: Option<String>,
    /// The certificate it renews (SHA-256, hex), for a renewal.
    #[serde(default)]
    pub renews: Option<String>,
    /// Its serial number, hex.
    pub serial: String,
    /// The device id its `urn:mdmkit:` name carries.
    pub device_id: String,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it expires.
    pub not_after: Timestamp,
}

impl IssuedCertificate {
    /// A record of a certificate issued for `node`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: TenantId,
        sha256: impl Into<String>,
        node: NodeId,
        serial: impl Into<String>,
        device_id: impl Into<String>,
        issued_at: Timestamp,
        not_after: Timestamp,
    ) -> Self {
        Self {
            sha256: sha256.into(),
            tenant,
            node,
            challenge: None,
            renews: None,
            serial: serial.into(),
            device_id: device_id.into(),
            issued_at,
            not_after,
        }
    }

    /// Notes the challenge it was issued for.
    pub fn with_challenge(mut self, id: impl Into<String>) -> Self {
        self.challenge = Some(id.into());
        self
    }

    /// Notes the certificate it renews.
    pub fn renewing(mut self, sha256: impl Into<String>) -> Self {
        self.renews = Some(sha256.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t() -> TenantId {
        TenantId::new("t").unwrap()
    }

    #[test]
    fn a_challenge_expires_and_is_spent_once_unless_reusable() {
        let now = Timestamp::from_millis(1_000);
        let i = issue(
            t(),
            "n".parse().unwrap(),
            ChallengeOptions::default().with_ttl(Duration::from_secs(1)),
            now,
        );
        let mut c = i.challenge;
        assert_eq!(c.usable(now), Ok(()));
        assert_eq!(
            c.usable(Timestamp::from_millis(2_000)),
            Err(Refusal::Expired)
        );
        c.used_at = Some(now);
        assert_eq!(c.usable(now), Err(Refusal::Used));
        c.reusable = true;
        assert_eq!(c.usable(now), Ok(()));
    }

    #[test]
    fn secrets_are_fresh_and_only_their_hash_is_stored() {
        let now = Timestamp::from_millis(0);
        let a = issue(t(), "n".parse().unwrap(), ChallengeOptions::default(), now);
        let b = issue(t(), "n".parse().unwrap(), ChallengeOptions::default(), now);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), 64);
        let stored = serde_json::to_string(&a.challenge).unwrap();
        assert!(!stored.contains(&a.secret));
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    proptest! {
        #[test]
        fn records_round_trip_through_json(ttl in 0u64..10_000_000, reusable: bool, used: Option<i64>) {
            let mut o = ChallengeOptions::default().with_ttl(Duration::from_secs(ttl)).for_device("SER1");
            if reusable { o = o.reusable(); }
            let mut c = issue(t(), "n".parse().unwrap(), o, Timestamp::from_millis(5)).challenge;
            c.used_at = used.map(Timestamp::from_millis);
            let back: Challenge = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            prop_assert_eq!(back, c);
        }
    }
}
