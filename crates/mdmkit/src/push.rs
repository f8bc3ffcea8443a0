//! Push state kept in the state store, so that several processes on one
//! database agree: each tenant's MDM push certificate (a new one takes
//! effect at the next push, without a restart) and, per device, the
//! pushes sent since it last checked in, a dead token, a flag.
//!
//! The decisions live in `mdmkit-server`'s `push` module; these are the
//! records and the rules that read them.

use std::fmt;

use mdmkit_core::DeviceId;
use mdmkit_queue::Timestamp;
use serde::{Deserialize, Serialize};

use crate::inventory::{Enrollment, PushTarget};

/// A tenant's MDM push certificate as stored (PEM), with what was read
/// from it when it was uploaded.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredPushCertificate {
    /// The topic (the certificate subject's UID).
    pub topic: String,
    /// The certificate's subject, as text.
    pub subject: String,
    /// SHA-256 of its DER, hex.
    pub sha256: String,
    /// End of validity.
    pub not_after: Timestamp,
    /// The certificate (and chain), PEM.
    pub cert_pem: String,
    /// Its private key, PEM: a secret (never logged, never in an API
    /// answer).
    pub key_pem: String,
    /// When it was uploaded.
    pub uploaded_at: Timestamp,
    /// Who uploaded it (`cli`, `token:<id>`).
    pub uploaded_by: String,
    /// The last certificate problem APNs reported with it (the operator
    /// alert), kept by the store beside the document.
    #[serde(skip)]
    pub alert: Option<PushAlert>,
}

impl fmt::Debug for StoredPushCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredPushCertificate")
            .field("topic", &self.topic)
            .field("subject", &self.subject)
            .field("sha256", &self.sha256)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .field("uploaded_at", &self.uploaded_at)
            .field("uploaded_by", &self.uploaded_by)
            .field("alert", &self.alert)
            .finish()
    }
}

impl StoredPushCertificate {
    /// A record.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topic: String,
        subject: String,
        sha256: String,
        not_after: Timestamp,
        cert_pem: String,
        key_pem: String,
        uploaded_at: Timestamp,
        uploaded_by: String,
    ) -> Self {
        Self {
            topic,
            subject,
            sha256,
            not_after,
            cert_pem,
            key_pem,
            uploaded_at,
            uploaded_by,
            alert: None,
        }
    }
}

/// A certificate problem APNs reported (expired, revoked, wrong topic or
/// environment): every push with the certificate fails until an operator
/// uploads another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushAlert {
    /// APNs' reason (`BadCertificate`, ...).
    pub reason: String,
    /// When it was reported.
    pub at: Timestamp,
}

impl PushAlert {
    /// An alert.
    pub fn new(reason: String, at: Timestamp) -> Self {
        Self { reason, at }
    }
}

/// What the wake loop knows about pushing one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushState {
    /// The device.
    pub device: DeviceId,
    /// Pushes accepted by the push service since the device last checked
    /// in.
    pub attempts: u32,
    /// The last push sent (or tried).
    #[serde(default)]
    pub last_push: Option<Timestamp>,
    /// Not pushed again before this (rate limit, or backoff after a
    /// transient failure).
    #[serde(default)]
    pub next_push: Option<Timestamp>,
    /// A push is owed: it failed transiently, or a wake came within the
    /// rate limit; the wake loop's sweep sends it once `next_push` passed.
    #[serde(default)]
    pub pending: bool,
    /// Transient failures in a row (for the backoff).
    #[serde(default)]
    pub failures: u32,
    /// The last outcome (`delivered`, `retry`, `token-dead`, ...).
    #[serde(default)]
    pub last_outcome: Option<String>,
    /// The last reason the push service gave (`Unregistered`, ...).
    #[serde(default)]
    pub last_reason: Option<String>,
    /// SHA-256 (hex) of the token the push service declared dead.
    #[serde(default)]
    pub dead_token: Option<String>,
    /// When it was declared dead.
    #[serde(default)]
    pub dead_at: Option<Timestamp>,
    /// When the device was flagged for not checking in after the allowed
    /// number of pushes (no more pushes until it checks in).
    #[serde(default)]
    pub flagged_at: Option<Timestamp>,
}

impl PushState {
    /// A device never pushed.
    pub fn new(device: DeviceId) -> Self {
        Self {
            device,
            attempts: 0,
            last_push: None,
            next_push: None,
            pending: false,
            failures: 0,
            last_outcome: None,
            last_reason: None,
            dead_token: None,
            dead_at: None,
            flagged_at: None,
        }
    }

    /// Forgets pushes the device answered: when it was seen at or after
    /// the last push (less `slack`, the granularity at which servers write
    /// `last_seen`), its count and flag start over. Whether anything
    /// changed.
    pub fn observe_check_in(&mut self, last_seen: Timestamp, slack: std::time::Duration) -> bool {
        match self.last_push {
            Some(p)
                if last_seen.plus(slack) >= p
                    && (self.attempts > 0 || self.flagged_at.is_some()) =>
            {
                self.attempts = 0;
                self.flagged_at = None;
                true
            }
            _ => false,
        }
    }

    /// Whether the token of `target` is the one declared dead, and no
    /// TokenUpdate came since.
    pub fn token_dead(&self, target: &PushTarget) -> bool {
        match (&self.dead_token, self.dead_at) {
            (Some(dead), Some(at)) => {
                *dead == token_sha256(&target.token) && target.updated_at.is_none_or(|u| u <= at)
            }
            _ => false,
        }
    }
}

/// SHA-256 of a push token (hex), as dead tokens are kept: the store never
/// holds a second copy of the token itself.
pub fn token_sha256(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(token.as_bytes());
    d.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Why a device is not pushed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// It has no push target (Android, not yet a TokenUpdate, checked out,
    /// no WNS channel).
    NoTarget,
    /// Its token was declared dead and no TokenUpdate came since.
    TokenDead,
    /// It was flagged: pushed the allowed number of times without checking
    /// in.
    Flagged,
    /// Not yet: rate limit or backoff.
    NotYet,
    /// Its topic is not the push certificate's: it enrolled under another
    /// certificate and cannot be reached with this one.
    Stranded,
}

impl Skip {
    /// The name in logs and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoTarget => "no-target",
            Self::TokenDead => "token-dead",
            Self::Flagged => "flagged",
            Self::NotYet => "not-yet",
            Self::Stranded => "stranded",
        }
    }
}

/// How many enrolled Apple devices have a push topic other than `topic`:
/// the devices a certificate with `topic` would strand.
pub fn stranded_by(enrollments: &[Enrollment], topic: &str) -> usize {
    enrollments
        .iter()
        .filter(|e| e.push.as_ref().is_some_and(|p| p.topic != topic))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn target(updated: Option<i64>) -> PushTarget {
        let mut t = PushTarget::new("aabb".into(), "topic".into(), "m".into());
        t.updated_at = updated.map(Timestamp::from_millis);
        t
    }

    #[test]
    fn a_dead_token_lives_again_after_a_token_update() {
        let mut s = PushState::new(DeviceId::new("d").unwrap());
        assert!(!s.token_dead(&target(None)));
        s.dead_token = Some(token_sha256("aabb"));
        s.dead_at = Some(Timestamp::from_millis(100));
        assert!(s.token_dead(&target(None)));
        assert!(s.token_dead(&target(Some(50))));
        assert!(!s.token_dead(&target(Some(150))));
        let mut other = target(None);
        other.token = "ccdd".into();
        assert!(!s.token_dead(&other));
    }

    #[test]
    fn a_check_in_after_the_last_push_resets_the_count() {
        let mut s = PushState::new(DeviceId::new("d").unwrap());
        s.attempts = 3;
        s.flagged_at = Some(Timestamp::from_millis(10));
        s.last_push = Some(Timestamp::from_millis(1_000));
        assert!(!s.observe_check_in(Timestamp::from_millis(900), Duration::ZERO));
        assert_eq!(s.attempts, 3);
        assert!(s.observe_check_in(Timestamp::from_millis(900), Duration::from_millis(100)));
        assert_eq!((s.attempts, s.flagged_at), (0, None));
    }
}
