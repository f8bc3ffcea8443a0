//! The setting catalogue: one row per mergeable setting, with its merge
//! strategy and what each platform can enforce.
//!
//! The catalogue is data in code so that the merge, the diff, the lock
//! checks, the documentation and the vendor encoders' "unsupported" reports
//! all read the same table. `docs/policy.md` is rendered from it (see
//! [`render_merge_table`] and [`render_capability_matrix`]).

use std::fmt;

use mdmkit_core::Platform;
use serde::Serialize;

use crate::model::Category;
use crate::path::{Segment, SettingPath};

/// How the definitions of one setting at several levels combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Strategy {
    /// The most restrictive definition wins, whatever its level (Microsoft's
    /// CSP descriptions call these LowestValueMostSecure and
    /// HighestValueMostSecure).
    MostRestrictive(Strictness),
    /// The definition nearest the device wins (LastWrite).
    Nearest,
    /// The lists of every level are joined (duplicates dropped, first
    /// occurrence kept).
    Union,
    /// A map merged key by key: the nearest definition of each key wins, as
    /// a whole entry.
    KeyedUnion,
}

/// Which of two values is the more restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Strictness {
    /// The higher number is stricter (`min_length`).
    Higher,
    /// The lower number is stricter (`auto_lock_minutes`).
    Lower,
    /// `true` is stricter than `false` (`required`).
    TrueWins,
    /// `deny` is stricter than `allow`.
    DenyWins,
    /// Later in the list is stricter.
    Ranked(&'static [&'static str]),
    /// The newer `version` is stricter; for equal versions the earlier
    /// `deadline`.
    NewerVersion,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::MostRestrictive(s) => match s {
                Strictness::Higher => f.write_str("most restrictive: highest value"),
                Strictness::Lower => f.write_str("most restrictive: lowest value"),
                Strictness::TrueWins => f.write_str("most restrictive: true wins"),
                Strictness::DenyWins => f.write_str("most restrictive: deny wins"),
                Strictness::Ranked(r) => write!(f, "most restrictive: {}", r.join(" < ")),
                Strictness::NewerVersion => {
                    f.write_str("most restrictive: newest version, then earliest deadline")
                }
            },
            Strategy::Nearest => f.write_str("nearest wins"),
            Strategy::Union => f.write_str("union of lists"),
            Strategy::KeyedUnion => f.write_str("keyed union: nearest definition of a key wins"),
        }
    }
}

/// How well a platform can enforce a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Level {
    /// Enforced (possibly under [`Condition`]s).
    Full,
    /// Part of the setting, or an approximation; see the note.
    Partial,
    /// The platform has no way to enforce it.
    None,
    /// The setting is about another platform.
    NotApplicable,
}

/// A condition under which a platform enforces a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Condition {
    /// Only on supervised Apple devices.
    Supervised,
    /// Only from this OS version on (dotted numeric).
    MinOs(&'static str),
    /// Only on this kind of device or edition (free text).
    Only(&'static str),
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Supervised => f.write_str("supervised only"),
            Condition::MinOs(v) => write!(f, "OS {v}+"),
            Condition::Only(s) => write!(f, "{s} only"),
        }
    }
}

/// What one platform can do with a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Support {
    /// How well.
    pub level: Level,
    /// Under which conditions (all must hold).
    pub conditions: &'static [Condition],
    /// The platform mechanism, or why it is partial.
    pub note: &'static str,
}

const fn full(note: &'static str) -> Support {
    Support {
        level: Level::Full,
        conditions: &[],
        note,
    }
}

const fn cond(conditions: &'static [Condition], note: &'static str) -> Support {
    Support {
        level: Level::Full,
        conditions,
        note,
    }
}

const fn partial(note: &'static str) -> Support {
    Support {
        level: Level::Partial,
        conditions: &[],
        note,
    }
}

const fn partial_cond(conditions: &'static [Condition], note: &'static str) -> Support {
    Support {
        level: Level::Partial,
        conditions,
        note,
    }
}

const NONE: Support = Support {
    level: Level::None,
    conditions: &[],
    note: "",
};

const NA: Support = Support {
    level: Level::NotApplicable,
    conditions: &[],
    note: "",
};

const SUP: &[Condition] = &[Condition::Supervised];

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SettingDef {
    /// The path pattern; `[*]` stands for any key (`wifi[*]`).
    pub pattern: &'static str,
    /// The category.
    pub category: Category,
    /// How levels combine.
    pub strategy: Strategy,
    /// One line for the documentation.
    pub summary: &'static str,
    /// Apple support.
    pub apple: Support,
    /// Windows support.
    pub windows: Support,
    /// Android support.
    pub android: Support,
}

impl SettingDef {
    /// The support of one platform.
    pub fn support(&self, platform: Platform) -> Support {
        match platform {
            Platform::Apple => self.apple,
            Platform::Windows => self.windows,
            Platform::Android => self.android,
            #[allow(unreachable_patterns)]
            _ => NONE,
        }
    }

    /// Whether this row is a keyed map (its pattern ends in `[*]`).
    pub fn is_keyed(&self) -> bool {
        self.pattern.ends_with("[*]")
    }
}

const fn row(
    pattern: &'static str,
    category: Category,
    strategy: Strategy,
    summary: &'static str,
    apple: Support,
    windows: Support,
    android: Support,
) -> SettingDef {
    SettingDef {
        pattern,
        category,
        strategy,
        summary,
        apple,
        windows,
        android,
    }
}

use Category as C;
use Strategy::{KeyedUnion, MostRestrictive as Most, Nearest, Union};
use Strictness as S;

const fn restriction(
    name: &'static str,
    summary: &'static str,
    apple: Support,
    windows: Support,
    android: Support,
) -> SettingDef {
    row(
        name,
        C::Restrictions,
        Most(S::DenyWins),
        summary,
        apple,
        windows,
        android,
    )
}

/// Every mergeable setting, in document order.
pub static CATALOG: &[SettingDef] = &[
    row(
        "passcode.required",
        C::Passcode,
        Most(S::TrueWins),
        "a passcode must be set",
        full("forcePIN"),
        full("DeviceLock/DevicePasswordEnabled"),
        full("passwordPolicies"),
    ),
    row(
        "passcode.min_length",
        C::Passcode,
        Most(S::Higher),
        "minimum passcode length",
        full("minLength"),
        full("DeviceLock/MinDevicePasswordLength"),
        full("passwordMinimumLength"),
    ),
    row(
        "passcode.complexity",
        C::Passcode,
        Most(S::Ranked(&["numeric", "alphanumeric", "complex"])),
        "required character classes",
        full("requireAlphanumeric, allowSimple"),
        full("DeviceLock/AlphanumericDevicePasswordRequired"),
        full("passwordQuality"),
    ),
    row(
        "passcode.min_complex_chars",
        C::Passcode,
        Most(S::Higher),
        "minimum number of symbols",
        full("minComplexChars"),
        full("DeviceLock/MinDevicePasswordComplexCharacters"),
        full("passwordMinimumSymbols"),
    ),
    row(
        "passcode.max_failed_attempts",
        C::Passcode,
        Most(S::Lower),
        "failed attempts before wipe",
        full("maxFailedAttempts"),
        full("DeviceLock/MaxDevicePasswordFailedAttempts"),
        full("maximumFailedPasswordsForWipe"),
    ),
    row(
        "passcode.auto_lock_minutes",
        C::Passcode,
        Most(S::Lower),
        "minutes before auto-lock",
        full("maxInactivity"),
        full("DeviceLock/MaxInactivityTimeDeviceLock"),
        full("maximumTimeToLock"),
    ),
    row(
        "passcode.max_age_days",
        C::Passcode,
        Most(S::Lower),
        "days before the passcode expires",
        full("maxPINAgeInDays"),
        full("DeviceLock/DevicePasswordExpiration"),
        full("passwordExpirationTimeout"),
    ),
    row(
        "passcode.history",
        C::Passcode,
        Most(S::Higher),
        "previous passcodes that may not be reused",
        full("pinHistory"),
        full("DeviceLock/DevicePasswordHistory"),
        full("passwordHistoryLength"),
    ),
    restriction(
        "restrictions.camera",
        "camera",
        full("allowCamera"),
        full("Camera/AllowCamera"),
        full("cameraAccess"),
    ),
    restriction(
        "restrictions.screen_capture",
        "screenshots and screen recording",
        full("allowScreenShot"),
        NONE,
        full("screenCaptureDisabled"),
    ),
    restriction(
        "restrictions.app_installation",
        "installing apps",
        cond(SUP, "allowAppInstallation"),
        partial("ApplicationManagement/AllowAllTrustedApps (sideloading only)"),
        full("installAppsDisabled"),
    ),
    restriction(
        "restrictions.app_removal",
        "removing apps",
        cond(SUP, "allowAppRemoval"),
        NONE,
        full("uninstallAppsDisabled"),
    ),
    restriction(
        "restrictions.in_app_purchases",
        "in-app purchases",
        full("allowInAppPurchases"),
        NONE,
        NONE,
    ),
    restriction(
        "restrictions.explicit_content",
        "explicit media",
        full("allowExplicitContent"),
        NONE,
        NONE,
    ),
    restriction(
        "restrictions.nearby_sharing",
        "AirDrop, Nearby Share",
        cond(SUP, "allowAirDrop"),
        NONE,
        partial("deviceConnectivityManagement.bluetoothSharing"),
    ),
    restriction(
        "restrictions.bluetooth_changes",
        "changing Bluetooth settings",
        cond(SUP, "allowBluetoothModification"),
        partial("Connectivity/AllowBluetooth (turns Bluetooth off)"),
        full("bluetoothConfigDisabled"),
    ),
    restriction(
        "restrictions.usb_mass_storage",
        "USB drives and file transfer",
        partial_cond(
            &[Condition::Only("macOS")],
            "external storage mount controls",
        ),
        full("Storage/RemovableDiskDenyWriteAccess"),
        full("deviceConnectivityManagement.usbDataAccess"),
    ),
    restriction(
        "restrictions.account_changes",
        "adding or changing accounts",
        cond(SUP, "allowAccountModification"),
        partial("Accounts/AllowAddingNonMicrosoftAccountsManually"),
        full("modifyAccountsDisabled"),
    ),
    restriction(
        "restrictions.erase_content",
        "erase all content and settings",
        cond(SUP, "allowEraseContentAndSettings"),
        NONE,
        full("factoryResetDisabled"),
    ),
    restriction(
        "restrictions.factory_reset",
        "factory reset",
        cond(SUP, "allowEraseContentAndSettings"),
        NONE,
        full("factoryResetDisabled"),
    ),
    restriction(
        "restrictions.developer_mode",
        "developer mode and options",
        NONE,
        full("ApplicationManagement/AllowDeveloperUnlock"),
        full("developerSettings"),
    ),
    restriction(
        "restrictions.voice_assistant",
        "voice assistant",
        full("allowAssistant"),
        full("Experience/AllowCortana"),
        NONE,
    ),
    restriction(
        "restrictions.multiplayer_gaming",
        "multiplayer gaming",
        cond(SUP, "allowMultiplayerGaming"),
        NONE,
        NONE,
    ),
    restriction(
        "restrictions.app_store",
        "the app store",
        cond(SUP, "allowUIAppInstallation"),
        partial("ADMX_WindowsStore/RemoveWindowsStore_2 (Enterprise and Education editions)"),
        partial("Play Store app blocked via applications"),
    ),
    row(
        "wifi[*]",
        C::Wifi,
        KeyedUnion,
        "a Wi-Fi network (WPA3 needs iOS 13 / Android 10)",
        full("com.apple.wifi.managed"),
        full("WiFi CSP"),
        full("openNetworkConfiguration"),
    ),
    row(
        "web_filter.mode",
        C::WebFilter,
        Nearest,
        "allowlist, denylist or automatic filter",
        cond(SUP, "com.apple.webcontent-filter (built-in)"),
        partial("Edge URLAllowlist/URLBlocklist via ADMX"),
        partial("Chrome managed configuration"),
    ),
    row(
        "web_filter.allowed_urls",
        C::WebFilter,
        Union,
        "sites always allowed",
        cond(SUP, "PermittedURLs / WhitelistedBookmarks"),
        partial("Edge URLAllowlist via ADMX"),
        partial("Chrome URLAllowlist"),
    ),
    row(
        "web_filter.denied_urls",
        C::WebFilter,
        Union,
        "sites always denied",
        cond(SUP, "DenyListURLs"),
        partial("Edge URLBlocklist via ADMX"),
        partial("Chrome URLBlocklist"),
    ),
    row(
        "apps[*]",
        C::Apps,
        KeyedUnion,
        "an app and its install state",
        full("InstallApplication, RemoveApplication, managed app config"),
        partial(
            "removal via EnterpriseModernAppManagement and EnterpriseDesktopAppManagement (MSI); Store installs need a Store product id",
        ),
        full("applications"),
    ),
    row(
        "kiosk.mode",
        C::Kiosk,
        Nearest,
        "single-app or multi-app kiosk",
        cond(SUP, "com.apple.app.lock"),
        full("AssignedAccess"),
        cond(
            &[Condition::Only("fully managed devices")],
            "lock task mode (kioskCustomization)",
        ),
    ),
    row(
        "kiosk.app",
        C::Kiosk,
        Nearest,
        "the app of a single-app kiosk",
        cond(SUP, "com.apple.app.lock App.Identifier"),
        full("AssignedAccess"),
        cond(
            &[Condition::Only("fully managed devices")],
            "installType KIOSK",
        ),
    ),
    row(
        "kiosk.apps",
        C::Kiosk,
        Nearest,
        "the apps of a multi-app kiosk",
        partial_cond(SUP, "allowListedAppBundleIDs (no launcher)"),
        full("AssignedAccess multi-app"),
        cond(
            &[Condition::Only("fully managed devices")],
            "lockTaskAllowed apps",
        ),
    ),
    row(
        "os_updates.deferral_days",
        C::OsUpdates,
        Most(S::Lower),
        "days updates are held back",
        cond(SUP, "enforcedSoftwareUpdateDelay"),
        full("Update/DeferQualityUpdatesPeriodInDays, DeferFeatureUpdatesPeriodInDays"),
        partial("systemUpdate freeze periods"),
    ),
    row(
        "os_updates.maintenance_window",
        C::OsUpdates,
        Nearest,
        "when updates install",
        partial("ScheduleOSUpdate command"),
        full("Update/ActiveHoursStart, ActiveHoursEnd"),
        full("systemUpdate WINDOWED"),
    ),
    row(
        "os_updates.minimum_version.apple",
        C::OsUpdates,
        Most(S::NewerVersion),
        "minimum Apple OS and deadline",
        cond(
            &[Condition::MinOs("17")],
            "declarative softwareupdate.enforcement.specific",
        ),
        NA,
        NA,
    ),
    row(
        "os_updates.minimum_version.windows",
        C::OsUpdates,
        Most(S::NewerVersion),
        "minimum Windows build and deadline",
        NA,
        partial("Update/TargetReleaseVersion and deadlines"),
        NA,
    ),
    row(
        "os_updates.minimum_version.android",
        C::OsUpdates,
        Most(S::NewerVersion),
        "minimum Android version and deadline",
        NA,
        NA,
        partial("minimumApiLevel (non-compliance, no forced update)"),
    ),
    row(
        "device.name_template",
        C::Device,
        Nearest,
        "device name",
        cond(SUP, "Settings DeviceName"),
        full("DevDetail/Ext/Microsoft/DNSComputerName (applied at reboot)"),
        NONE,
    ),
    row(
        "device.lock_screen_message",
        C::Device,
        Nearest,
        "lock-screen message",
        cond(SUP, "lockScreenFootnote"),
        partial("InteractiveLogon_MessageTextForUsersAttemptingToLogOn"),
        full("deviceOwnerLockScreenInfo"),
    ),
    row(
        "device.time_zone",
        C::Device,
        Nearest,
        "time zone",
        cond(
            &[Condition::Supervised, Condition::MinOs("14")],
            "Settings TimeZone",
        ),
        full("TimeLanguageSettings/ConfigureTimeZone"),
        NONE,
    ),
    row(
        "certificates.roots[*]",
        C::Certificates,
        KeyedUnion,
        "a trusted root certificate",
        full("com.apple.security.root"),
        full("RootCATrustedCertificates"),
        full("caCerts"),
    ),
    row(
        "certificates.identities[*]",
        C::Certificates,
        KeyedUnion,
        "an identity certificate",
        full("com.apple.security.scep / acme"),
        full("ClientCertificateInstall"),
        partial("delegated certificate installer app"),
    ),
    row(
        "vendor.apple[*]",
        C::Vendor,
        KeyedUnion,
        "a raw Apple payload",
        full("passed through"),
        NA,
        NA,
    ),
    row(
        "vendor.windows[*]",
        C::Vendor,
        KeyedUnion,
        "a raw OMA-URI setting",
        NA,
        full("passed through"),
        NA,
    ),
    row(
        "vendor.android[*]",
        C::Vendor,
        KeyedUnion,
        "a raw Android Management API field",
        NA,
        NA,
        full("passed through"),
    ),
];

/// The shape of a concrete path: its text with every key replaced by `[*]`.
pub(crate) fn shape(path: &SettingPath) -> String {
    let mut out = String::new();
    for (i, seg) in path.segments().iter().enumerate() {
        match seg {
            Segment::Field(f) => {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(f);
            }
            Segment::Key(_) => out.push_str("[*]"),
        }
    }
    out
}

/// The catalogue row of a concrete merge unit (`restrictions.camera`,
/// `wifi["ECOLE"]`), if it is one.
pub fn lookup(path: &SettingPath) -> Option<&'static SettingDef> {
    let shape = shape(path);
    CATALOG.iter().find(|d| d.pattern == shape)
}

/// The catalogue row that governs `path`: the row of the path itself or of
/// its nearest ancestor (`wifi["X"].password` is governed by `wifi[*]`).
pub fn governing(path: &SettingPath) -> Option<&'static SettingDef> {
    let mut p = path.clone();
    loop {
        if let Some(d) = lookup(&p) {
            return Some(d);
        }
        p.pop()?;
    }
}

fn support_cell(s: Support) -> String {
    let mut cell = match s.level {
        Level::Full => "yes".to_owned(),
        Level::Partial => "partial".to_owned(),
        Level::None => "no".to_owned(),
        Level::NotApplicable => "n/a".to_owned(),
    };
    let conds: Vec<String> = s.conditions.iter().map(|c| c.to_string()).collect();
    if !conds.is_empty() {
        cell.push_str(&format!(" ({})", conds.join(", ")));
    }
    if !s.note.is_empty() {
        cell.push_str(&format!(": `{}`", s.note.replace('|', "\\|")));
    }
    cell
}

/// The merge table of `docs/policy.md`, as Markdown.
pub fn render_merge_table() -> String {
    let mut out = String::from("| setting | strategy | what |\n|---|---|---|\n");
    for d in CATALOG {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            d.pattern, d.strategy, d.summary
        ));
    }
    out
}

/// The capability matrix of `docs/policy.md`, as Markdown.
pub fn render_capability_matrix() -> String {
    let mut out = String::from("| setting | Apple | Windows | Android |\n|---|---|---|---|\n");
    for d in CATALOG {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            d.pattern,
            support_cell(d.apple),
            support_cell(d.windows),
            support_cell(d.android)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_restriction_field_has_a_catalogue_row() {
        for f in crate::model::Restrictions::FIELDS {
            let p = SettingPath::field("restrictions").join_field(*f);
            let d = lookup(&p).unwrap_or_else(|| panic!("no row for {p}"));
            assert_eq!(d.strategy, Most(S::DenyWins));
        }
    }

    #[test]
    fn keyed_entries_and_their_fields_find_their_row() {
        let p: SettingPath = "wifi[\"ECOLE\"].password".parse().unwrap();
        assert!(lookup(&p).is_none());
        assert_eq!(governing(&p).unwrap().pattern, "wifi[*]");
    }

    #[test]
    fn patterns_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for d in CATALOG {
            assert!(seen.insert(d.pattern), "{} twice", d.pattern);
        }
    }
}
