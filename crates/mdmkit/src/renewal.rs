//! Renewing device identities before they expire.
//!
//! A device's identity certificate (issued through enrollment, recorded as
//! an [`IssuedCertificate`](crate::challenge::IssuedCertificate)) has an
//! end date, and a device whose certificate expired can no longer reach
//! its server: every peer loses devices that way. Apple has no renewal
//! check-in; the server sends the device a fresh copy of its enrollment
//! profile (same identifier, server URL and push topic) whose SCEP payload
//! carries a new one-time challenge. The device installs it in place of
//! the old one, requests a certificate with the challenge, and from then on
//! speaks with the new certificate.
//!
//! The challenge such a renewal carries is a *renewal* challenge
//! ([`ChallengeOptions::renewing`]): it names the certificate it renews,
//! and the SCEP server issues the new certificate to the same certificate
//! identity, so that the server re-binds the enrollment to it as a renewal
//! (the queue and the compliance state are kept) instead of a
//! re-enrollment.
//!
//! With [`RenewalOptions`] set ([`Options::with_renewal`]), every
//! [`Reconciler::reconcile`] queues these profiles for the enrolled Apple
//! devices in scope whose certificate expires within the window, once per
//! certificate (again only if the device let the challenge expire):
//!
//! ```
//! use std::time::Duration;
//! use mdmkit::reconcile::Options;
//! use mdmkit::renewal::{AppleEnrollment, RenewalOptions};
//!
//! let apple = AppleEnrollment::new("https://mdm.example.org", "com.apple.mgmt.External.1234");
//! let options = Options::default().with_renewal(
//!     RenewalOptions::new(apple).within(Duration::from_secs(30 * 86_400)),
//! );
//! # let _ = options;
//! ```
//!
//! [`Reconciler::reconcile`]: crate::Reconciler::reconcile
//! [`Options::with_renewal`]: crate::reconcile::Options::with_renewal
//! [`ChallengeOptions::renewing`]: crate::challenge::ChallengeOptions::renewing

use std::time::Duration;

use mdmkit_core::DeviceId;
#[cfg(feature = "apple")]
use mdmkit_core::TenantId;
use mdmkit_queue::{CommandId, Timestamp};
use serde::{Deserialize, Serialize};

/// How long before expiry renewal starts unless told otherwise (30 days,
/// as Apple's own guidance and the peers do).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// How long a renewal's challenge lives unless told otherwise: a device may
/// be off for days; an unused challenge is replaced by the next reconcile
/// after it expired.
pub const DEFAULT_CHALLENGE_TTL: Duration = Duration::from_secs(7 * 86_400);

/// The queue's supersede key of identity renewals: a newer renewal of a
/// device replaces an undelivered older one.
pub const SUPERSEDE_KEY: &str = "apple/enrollment-identity";

/// Where a tenant's Apple enrollment profiles point: what a renewal must
/// repeat (a device replaces its enrollment profile only with one of the
/// same identifier, server URL and topic). `mdmkit enroll apple` saves it
/// beside the tenant's CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AppleEnrollment {
    /// The server's public base URL (`https://mdm.example.org`); the
    /// profile's URLs are `<base>/<tenant>/apple/mdm`,
    /// `<base>/<tenant>/apple/checkin` and `<base>/<tenant>/scep`.
    pub base_url: String,
    /// The push topic (the MDM push certificate's subject UID).
    pub topic: String,
    /// The organisation shown on the device.
    #[serde(default)]
    pub organization: Option<String>,
    /// The `PayloadIdentifier` prefix (`org.mdmkit` when absent).
    #[serde(default)]
    pub prefix: Option<String>,
}

impl AppleEnrollment {
    /// Enrollment profiles for the server at `base_url` with push `topic`.
    pub fn new(base_url: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            topic: topic.into(),
            organization: None,
            prefix: None,
        }
    }

    /// Sets the organisation shown on the device.
    pub fn organization(mut self, name: impl Into<String>) -> Self {
        self.organization = Some(name.into());
        self
    }

    /// The identifier prefix of the profiles.
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("org.mdmkit")
    }

    /// The enrollment profile of `tenant` whose SCEP payload carries
    /// `challenge` (a fresh one-time challenge's secret).
    #[cfg(feature = "apple")]
    #[cfg_attr(docsrs, doc(cfg(feature = "apple")))]
    pub fn profile(
        &self,
        tenant: &TenantId,
        challenge: &str,
    ) -> mdmkit_apple::enrollment::EnrollmentProfile {
        use mdmkit_apple::enrollment::{EnrollmentProfile, Scep};
        let base = self.base_url.trim_end_matches('/');
        let mut p = EnrollmentProfile::new(
            format!("{base}/{tenant}/apple/mdm"),
            self.topic.clone(),
            Scep::new(format!("{base}/{tenant}/scep"), challenge.to_owned()),
        )
        .check_in_url(format!("{base}/{tenant}/apple/checkin"));
        if let Some(o) = &self.organization {
            p = p.organization(o.clone());
        }
        p
    }
}

/// When and how the reconcile loop renews identities.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenewalOptions {
    /// Apple devices' enrollment profiles.
    pub apple: AppleEnrollment,
    /// Certificates that expire within this window are renewed.
    pub window: Duration,
    /// How long a renewal's challenge works.
    pub challenge_ttl: Duration,
}

impl RenewalOptions {
    /// Renewals of Apple identities through `apple`'s profiles, in the
    /// default window and with the default challenge lifetime.
    pub fn new(apple: AppleEnrollment) -> Self {
        Self {
            apple,
            window: DEFAULT_WINDOW,
            challenge_ttl: DEFAULT_CHALLENGE_TTL,
        }
    }

    /// Renews certificates that expire within `window`.
    pub fn within(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets how long a renewal's challenge works.
    pub fn challenge_ttl(mut self, ttl: Duration) -> Self {
        self.challenge_ttl = ttl;
        self
    }
}

/// One renewal a reconcile queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RenewalQueued {
    /// The device.
    pub device: DeviceId,
    /// The certificate being renewed (SHA-256 of its DER, hex).
    pub certificate: String,
    /// When that certificate expires.
    pub expires_at: Timestamp,
    /// The queued `InstallProfile` command.
    pub command: CommandId,
    /// The renewal challenge's id (its secret is only in the profile).
    pub challenge: String,
}

/// Whether `cert` already has a renewal under way: a renewal challenge for
/// it that is neither spent nor expired.
#[cfg_attr(not(feature = "apple"), allow(dead_code))]
pub(crate) fn under_way(
    challenges: &[crate::challenge::Challenge],
    cert: &str,
    now: Timestamp,
) -> bool {
    challenges
        .iter()
        .any(|c| c.renews.as_deref() == Some(cert) && c.usable(now).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::{self, ChallengeOptions};
    use mdmkit_core::TenantId;

    #[test]
    fn a_renewal_is_under_way_while_its_challenge_is_usable() {
        let now = Timestamp::from_millis(1_000_000);
        let t = TenantId::new("t").unwrap_or_else(|e| panic!("{e}"));
        let n: mdmkit_policy::NodeId = "n".parse().unwrap_or_else(|e| panic!("{e:?}"));
        let mut c = challenge::issue(
            t,
            n,
            ChallengeOptions::default()
                .with_ttl(Duration::from_secs(60))
                .renewing("ab"),
            now,
        )
        .challenge;
        assert!(under_way(std::slice::from_ref(&c), "ab", now));
        assert!(!under_way(std::slice::from_ref(&c), "cd", now));
        assert!(!under_way(
            std::slice::from_ref(&c),
            "ab",
            Timestamp::from_millis(now.as_millis() + 61_000)
        ));
        c.used_at = Some(now);
        assert!(!under_way(std::slice::from_ref(&c), "ab", now));
    }

    #[test]
    fn the_base_url_loses_its_trailing_slash() {
        assert_eq!(
            AppleEnrollment::new("https://mdm.example.org/", "t").base_url,
            "https://mdm.example.org"
        );
    }
}
