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
    /// 1 or more → 3 (digits, lower and upper case). Windows desktop
    /// accepts 1 to 3 only: the fourth class (special characters) cannot be
    /// required there.
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
/// ranges follow Microsoft's Policy CSP reference (page titles in the
/// comments). The DeviceLock nodes are created with `Replace`, not `Add`,
/// as that reference asks for desktop editions.
pub static SCALARS: &[Scalar] = &[
    // Policy CSP - DeviceLock: DevicePasswordEnabled, int, 0 = enabled
    // (required), 1 = disabled; Replace rather than Add on desktop.
    s(
        "passcode.required",
        "DeviceLock/DevicePasswordEnabled",
        ScalarEncoding::Bool {
            when_true: "0",
            when_false: "1",
        },
        None,
    ),
    // Policy CSP - DeviceLock: MinDevicePasswordLength, int, 4-16; Replace
    // rather than Add on desktop.
    s(
        "passcode.min_length",
        "DeviceLock/MinDevicePasswordLength",
        int(4, 16),
        None,
    ),
    // Policy CSP - DeviceLock: AlphanumericDevicePasswordRequired, int,
    // 0 = alphanumeric, 1 = numeric PIN allowed, 2 = either (default);
    // Replace rather than Add on desktop.
    s(
        "passcode.complexity",
        "DeviceLock/AlphanumericDevicePasswordRequired",
        ScalarEncoding::Complexity,
        None,
    ),
    // Policy CSP - DeviceLock: MinDevicePasswordComplexCharacters, int, 1-4,
    // but 4 (special characters) is not supported on desktop, where local
    // accounts take 1-3; depends on DevicePasswordEnabled = 0 and
    // AlphanumericDevicePasswordRequired = 0; Replace rather than Add on
    // desktop.
    s(
        "passcode.min_complex_chars",
        "DeviceLock/MinDevicePasswordComplexCharacters",
        ScalarEncoding::CharacterClasses,
        Some(
            "Windows counts character classes, not symbols, and cannot require special characters on desktop: any symbol count requires digits, lower and upper case; it applies only with passcode.required and an alphanumeric complexity",
        ),
    ),
    // Policy CSP - DeviceLock: MaxDevicePasswordFailedAttempts, int, 0-999,
    // 0 = never; on desktop the limit triggers BitLocker recovery, not a wipe.
    s(
        "passcode.max_failed_attempts",
        "DeviceLock/MaxDevicePasswordFailedAttempts",
        int(0, 999),
        None,
    ),
    // Policy CSP - DeviceLock: MaxInactivityTimeDeviceLock, int, 0-999 minutes.
    s(
        "passcode.auto_lock_minutes",
        "DeviceLock/MaxInactivityTimeDeviceLock",
        int(0, 999),
        None,
    ),
    // Policy CSP - DeviceLock: DevicePasswordExpiration, int, 0-730 days.
    s(
        "passcode.max_age_days",
        "DeviceLock/DevicePasswordExpiration",
        int(0, 730),
        None,
    ),
    // Policy CSP - DeviceLock: DevicePasswordHistory, int, 0-50.
    s(
        "passcode.history",
        "DeviceLock/DevicePasswordHistory",
        int(0, 50),
        None,
    ),
    // Policy CSP - Camera: AllowCamera, int, 0 = not allowed, 1 = allowed.
    s(
        "restrictions.camera",
        "Camera/AllowCamera",
        rule("1", "0"),
        None,
    ),
    // Policy CSP - ApplicationManagement: AllowAllTrustedApps, int,
    // 0 = explicit deny, 1 = explicit allow, 65535 = not configured.
    s(
        "restrictions.app_installation",
        "ApplicationManagement/AllowAllTrustedApps",
        rule("1", "0"),
        Some("Windows controls sideloading of trusted apps only"),
    ),
    // Policy CSP - Connectivity: AllowBluetooth, int, 0 = disallowed,
    // 2 = allowed (1 is reserved).
    s(
        "restrictions.bluetooth_changes",
        "Connectivity/AllowBluetooth",
        rule("2", "0"),
        Some("deny turns Bluetooth off rather than locking its settings"),
    ),
    // Policy CSP - Storage: RemovableDiskDenyWriteAccess, int, 0 = disabled
    // (writes allowed), 1 = enabled (writes denied).
    s(
        "restrictions.usb_mass_storage",
        "Storage/RemovableDiskDenyWriteAccess",
        rule("0", "1"),
        Some("deny blocks writing to removable disks; reading stays possible"),
    ),
    // Policy CSP - Accounts: AllowAddingNonMicrosoftAccountsManually, int,
    // 0 = not allowed, 1 = allowed.
    s(
        "restrictions.account_changes",
        "Accounts/AllowAddingNonMicrosoftAccountsManually",
        rule("1", "0"),
        Some("only the manual addition of non-Microsoft accounts is controlled"),
    ),
    // Policy CSP - ApplicationManagement: AllowDeveloperUnlock, int,
    // 0 = explicit deny, 1 = explicit allow, 65535 = not configured.
    s(
        "restrictions.developer_mode",
        "ApplicationManagement/AllowDeveloperUnlock",
        rule("1", "0"),
        None,
    ),
    // Policy CSP - Experience: AllowCortana, int, 0 = not allowed, 1 = allowed.
    s(
        "restrictions.voice_assistant",
        "Experience/AllowCortana",
        rule("1", "0"),
        None,
    ),
    // `restrictions.app_store` is not here: ApplicationManagement/AllowStore
    // applies to Windows 10 Mobile only (Policy CSP -
    // ApplicationManagement); desktop uses the ADMX-backed
    // ADMX_WindowsStore/RemoveWindowsStore_2 (see `map.rs`).
];
