//! Apps and kiosk mode.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Apps keyed by a logical app id (`pronote`, `geogebra`), the same on every
/// platform.
pub type Apps = BTreeMap<String, App>;

/// One app, with its identifier on each platform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct App {
    /// A human name for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What should happen to the app; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<InstallState>,
    /// The app on Apple devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apple: Option<AppleApp>,
    /// The app on Android devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android: Option<AndroidApp>,
    /// The app on Windows devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowsApp>,
    /// Managed app configuration: a JSON object handed to the app (Apple
    /// managed app configuration, Android managed configurations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What should happen to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum InstallState {
    /// Installed and kept installed.
    Required,
    /// Offered in the managed catalogue; the user installs it.
    Available,
    /// May not be installed or run.
    Blocked,
    /// Removed if present.
    Removed,
}

/// An app's identifiers on Apple platforms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AppleApp {
    /// The bundle identifier (`com.example.app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    /// The numeric App Store id (`id1234567890` without `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_store_id: Option<u64>,
}

/// An app's identifier on Android.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AndroidApp {
    /// The package name (`com.example.app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

/// An app's identifier on Windows: a Store package family name or an MSI
/// product code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WindowsApp {
    /// The package family name (`Microsoft.WindowsCalculator_8wekyb3d8bbwe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_family_name: Option<String>,
    /// The MSI product code (`{12345678-1234-1234-1234-123456789ABC}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msi_product_code: Option<String>,
}

/// Kiosk mode: the device runs one app, or only a list of apps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Kiosk {
    /// Single-app or multi-app kiosk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<KioskMode>,
    /// The app of a single-app kiosk: a key of `apps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The apps allowed in a multi-app kiosk: keys of `apps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<Vec<String>>,
}

impl Kiosk {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The kind of kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KioskMode {
    /// One app, full screen, no way out (Apple single app mode, Android
    /// lock task with one app, Windows assigned access).
    SingleApp,
    /// A launcher limited to a list of apps.
    MultiApp,
    /// No kiosk: lifts a kiosk set above.
    Off,
}
