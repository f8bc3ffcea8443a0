//! The table of settings that are one Policy CSP `int` node.

use serde::Serialize;

use super::OnDelete;

/// How a scalar setting's value becomes `<Data>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScalarEncoding {
    /// An integer, clamped to Windows' range (with a note when clamped).
    Int {
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// A boolean as two integers.
    Bool {
        /// For `true`.
        when_true: &'static str,
        /// For `false`.
        when_false: &'static str,
    },
    /// An `allow` / `deny` rule as two integers.
    Rule {
        /// For `allow`.
        allow: &'static str,
        /// For `deny`.
        deny: &'static str,
    },
    /// Passcode complexity: `numeric` → 1 (numeric PIN allowed),
    /// `alphanumeric` and `complex` → 0 (alphanumeric required).
    Complexity,
    /// A count of symbols as a number of character classes: 0 → 1 (digits),
    /// 1 or more → 4 (digits, lower, upper and special characters).
    CharacterClasses,
}

/// A setting that is one Policy CSP node of format `int`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scalar {
    /// The setting path.
    pub path: &'static str,
    /// The node, after `./Device/Vendor/MSFT/Policy/Config/`.
    pub node: &'static str,
    /// The value encoding.
    pub encoding: ScalarEncoding,
    /// What `Delete` does.
    pub on_delete: OnDelete,
    /// A remark added whenever the setting is compiled (a partial mapping).
    pub note: Option<&'static str>,
}

const fn s(
    path: &'static str,
    node: &'static str,
    encoding: ScalarEncoding,
    note: Option<&'static str>,
) -> Scalar {
    Scalar {
        path,
        node,
        encoding,
        on_delete: OnDelete::Delete,
        note,
    }
}

const fn rule(allow: &'static str, deny: &'static str) -> ScalarEncoding {
    ScalarEncoding::Rule { allow, deny }
}

const fn int(min: u64, max: u64) -> ScalarEncoding {
    ScalarEncoding::Int { min, max }
}

/// The settings that are one `int` node of the Policy CSP. Values and
/// ranges follow Microsoft's Policy CSP reference.
pub static SCALARS: &[Scalar] = &[
    // DevicePasswordEnabled is inverted: 0 = a password is required.
    s(
        "passcode.required",
        "DeviceLock/DevicePasswordEnabled",
        ScalarEncoding::Bool {
            when_true: "0",
            when_false: "1",
        },
        None,
    ),
    s(
        "passcode.min_length",
        "DeviceLock/MinDevicePasswordLength",
        int(4, 16),
        None,
    ),
    s(
        "passcode.complexity",
        "DeviceLock/AlphanumericDevicePasswordRequired",
        ScalarEncoding::Complexity,
        None,
    ),
    s(
        "passcode.min_complex_chars",
        "DeviceLock/MinDevicePasswordComplexCharacters",
        ScalarEncoding::CharacterClasses,
        Some(
            "Windows counts character classes, not symbols: any symbol count requires all four classes",
        ),
    ),
    s(
        "passcode.max_failed_attempts",
        "DeviceLock/MaxDevicePasswordFailedAttempts",
        int(0, 999),
        None,
    ),
    s(
        "passcode.auto_lock_minutes",
        "DeviceLock/MaxInactivityTimeDeviceLock",
        int(0, 999),
        None,
    ),
    s(
        "passcode.max_age_days",
        "DeviceLock/DevicePasswordExpiration",
        int(0, 730),
        None,
    ),
    s(
        "passcode.history",
        "DeviceLock/DevicePasswordHistory",
        int(0, 50),
        None,
    ),
    s(
        "restrictions.camera",
        "Camera/AllowCamera",
        rule("1", "0"),
        None,
    ),
    s(
        "restrictions.app_installation",
        "ApplicationManagement/AllowAllTrustedApps",
        rule("1", "0"),
        Some("Windows controls sideloading of trusted apps only"),
    ),
    s(
        "restrictions.bluetooth_changes",
        "Connectivity/AllowBluetooth",
        rule("2", "0"),
        Some("deny turns Bluetooth off rather than locking its settings"),
    ),
    s(
        "restrictions.usb_mass_storage",
        "Storage/RemovableDiskDenyWriteAccess",
        rule("0", "1"),
        Some("deny blocks writing to removable disks; reading stays possible"),
    ),
    s(
        "restrictions.account_changes",
        "Accounts/AllowAddingNonMicrosoftAccountsManually",
        rule("1", "0"),
        Some("only the manual addition of non-Microsoft accounts is controlled"),
    ),
    s(
        "restrictions.developer_mode",
        "ApplicationManagement/AllowDeveloperUnlock",
        rule("1", "0"),
        None,
    ),
    s(
        "restrictions.voice_assistant",
        "Experience/AllowCortana",
        rule("1", "0"),
        None,
    ),
    s(
        "restrictions.app_store",
        "ApplicationManagement/AllowStore",
        rule("1", "0"),
        None,
    ),
];
