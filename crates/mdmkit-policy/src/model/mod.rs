//! The typed, vendor-neutral settings model.
//!
//! Settings are grouped by [`Category`]. Every field is optional: an unset
//! field imposes nothing and leaves the decision to other levels of the
//! scope tree and to the device, which is not the same as `false`.
//! Categories that are keyed maps (Wi-Fi by SSID, apps by logical id,
//! certificates, vendor passthrough) merge key by key.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod apps;
mod network;
mod security;
mod system;
mod vendor;

pub use apps::{AndroidApp, App, AppleApp, Apps, InstallState, Kiosk, KioskMode, WindowsApp};
pub use network::{EapMethod, Proxy, ProxyMode, WifiNetwork, WifiNetworks, WifiSecurity};
pub use security::{Complexity, Passcode, Restrictions, Rule};
pub use system::{
    Certificates, DeviceSettings, IdentityCertificate, IdentitySource, MaintenanceWindow,
    MinimumVersion, MinimumVersions, OsUpdates, TrustedRoot, WebFilter, WebFilterMode,
};
pub use vendor::{ApplePayload, Vendor, WindowsValue};

/// Every setting of a policy, by category.
///
/// This is both what a policy document sets and what a device's effective
/// policy holds once the levels of the scope tree are merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// Passcode requirements.
    #[serde(default, skip_serializing_if = "Passcode::is_empty")]
    pub passcode: Passcode,
    /// Allow / deny restrictions.
    #[serde(default, skip_serializing_if = "Restrictions::is_empty")]
    pub restrictions: Restrictions,
    /// Wi-Fi networks keyed by SSID.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wifi: WifiNetworks,
    /// Web content filter.
    #[serde(default, skip_serializing_if = "WebFilter::is_empty")]
    pub web_filter: WebFilter,
    /// Apps keyed by logical app id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: Apps,
    /// Kiosk mode.
    #[serde(default, skip_serializing_if = "Kiosk::is_empty")]
    pub kiosk: Kiosk,
    /// OS updates.
    #[serde(default, skip_serializing_if = "OsUpdates::is_empty")]
    pub os_updates: OsUpdates,
    /// Device name, lock-screen message, time zone.
    #[serde(default, skip_serializing_if = "DeviceSettings::is_empty")]
    pub device: DeviceSettings,
    /// Trusted roots and identity certificates.
    #[serde(default, skip_serializing_if = "Certificates::is_empty")]
    pub certificates: Certificates,
    /// Raw vendor settings.
    #[serde(default, skip_serializing_if = "Vendor::is_empty")]
    pub vendor: Vendor,
}

impl Settings {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A category of settings: the first segment of every [`SettingPath`](crate::SettingPath).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// `passcode`
    Passcode,
    /// `restrictions`
    Restrictions,
    /// `wifi`
    Wifi,
    /// `web_filter`
    WebFilter,
    /// `apps`
    Apps,
    /// `kiosk`
    Kiosk,
    /// `os_updates`
    OsUpdates,
    /// `device`
    Device,
    /// `certificates`
    Certificates,
    /// `vendor`
    Vendor,
}

impl Category {
    /// Every category, in document order.
    pub const ALL: [Category; 10] = [
        Category::Passcode,
        Category::Restrictions,
        Category::Wifi,
        Category::WebFilter,
        Category::Apps,
        Category::Kiosk,
        Category::OsUpdates,
        Category::Device,
        Category::Certificates,
        Category::Vendor,
    ];

    /// The key of the category in documents and paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Passcode => "passcode",
            Category::Restrictions => "restrictions",
            Category::Wifi => "wifi",
            Category::WebFilter => "web_filter",
            Category::Apps => "apps",
            Category::Kiosk => "kiosk",
            Category::OsUpdates => "os_updates",
            Category::Device => "device",
            Category::Certificates => "certificates",
            Category::Vendor => "vendor",
        }
    }

    /// The category of a document key.
    pub fn from_key(key: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == key)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
