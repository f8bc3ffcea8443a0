//! Web content filter, OS updates, device settings and certificates.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Web content filtering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebFilter {
    /// How sites are filtered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<WebFilterMode>,
    /// Sites always allowed (the only ones in `allowlist` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_urls: Option<Vec<String>>,
    /// Sites always denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_urls: Option<Vec<String>>,
}

impl WebFilter {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// How web content is filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WebFilterMode {
    /// Only `allowed_urls` can be visited.
    Allowlist,
    /// Everything but `denied_urls` can be visited.
    Denylist,
    /// The platform's automatic adult-content filter, plus `denied_urls`.
    Automatic,
}

/// Operating-system updates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OsUpdates {
    /// Days an update is held back after release (0 to 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 90))]
    pub deferral_days: Option<u32>,
    /// When updates may be installed, in the device's time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,
    /// The lowest OS version allowed, per platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<MinimumVersions>,
}

impl OsUpdates {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A daily window, `HH:MM` to `HH:MM` (it may cross midnight).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MaintenanceWindow {
    /// Start time, `HH:MM`.
    pub start: String,
    /// End time, `HH:MM`.
    pub end: String,
}

impl MaintenanceWindow {
    /// A window from `start` to `end` (`HH:MM`).
    pub fn new(start: impl Into<String>, end: impl Into<String>) -> Self {
        Self {
            start: start.into(),
            end: end.into(),
        }
    }
}

/// A minimum OS version per platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MinimumVersions {
    /// iOS, iPadOS or macOS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apple: Option<MinimumVersion>,
    /// Windows build (`10.0.22631`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<MinimumVersion>,
    /// Android version (`14`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android: Option<MinimumVersion>,
}

/// A minimum OS version and the date by which devices must reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MinimumVersion {
    /// Dotted numeric version (`17.5`, `10.0.22631`).
    pub version: String,
    /// `YYYY-MM-DD`: after this date the update is forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

impl MinimumVersion {
    /// A minimum version without a deadline.
    pub fn new(version: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            deadline: None,
        }
    }
}

/// Device-wide cosmetic and regional settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceSettings {
    /// The device name, with placeholders `{serial}`, `{device_id}`,
    /// `{model}`, `{platform}` and `{node}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_template: Option<String>,
    /// A message on the lock screen ("if found, call ...").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_screen_message: Option<String>,
    /// An IANA time zone (`Europe/Paris`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl DeviceSettings {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Certificates pushed to devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Certificates {
    /// Trusted root certificates, keyed by a name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roots: BTreeMap<String, TrustedRoot>,
    /// Identity (client) certificates, keyed by a name that Wi-Fi networks
    /// refer to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identities: BTreeMap<String, IdentityCertificate>,
}

impl Certificates {
    /// Whether no certificate is set.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.identities.is_empty()
    }
}

/// A trusted root certificate, identified by the SHA-256 of its DER.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TrustedRoot {
    /// SHA-256 of the DER certificate, 64 hexadecimal digits.
    pub sha256: String,
    /// The certificate in PEM, when the policy carries it rather than a
    /// certificate store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

/// A reference to an identity certificate the device obtains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IdentityCertificate {
    /// Where the certificate comes from.
    pub source: IdentitySource,
    /// The subject, with placeholders `{device_id}`, `{serial}` and
    /// `{tenant}` (`CN={device_id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The enrolment URL (SCEP or ACME sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Where an identity certificate comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IdentitySource {
    /// Issued by the tenant's own CA (`mdmkit-identity`).
    #[default]
    TenantCa,
    /// Obtained by the device over SCEP.
    Scep,
    /// Obtained by the device over ACME (with attestation where supported).
    Acme,
}
