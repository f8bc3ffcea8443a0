//! Device platforms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The management protocol family a device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Platform {
    /// iOS, iPadOS, macOS, tvOS, visionOS and watchOS, managed over Apple MDM.
    Apple,
    /// Windows, managed over OMA-DM (SyncML).
    Windows,
    /// Android, managed through the Android Management API.
    Android,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 3] = [Platform::Apple, Platform::Windows, Platform::Android];

    /// The lower-case name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Apple => "apple",
            Platform::Windows => "windows",
            Platform::Android => "android",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?}; expected apple (or ios, ipados, macos), windows or android")]
pub struct PlatformParseError(pub String);

impl FromStr for Platform {
    type Err = PlatformParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "apple" | "ios" | "ipados" | "macos" | "tvos" | "visionos" | "watchos" => {
                Ok(Platform::Apple)
            }
            "windows" => Ok(Platform::Windows),
            "android" => Ok(Platform::Android),
            _ => Err(PlatformParseError(s.to_owned())),
        }
    }
}
