//! From mdmkit-policy to an AMAPI `Policy`: typed [`Settings`] (or a
//! device's [`EffectivePolicy`]) become Policy JSON, a change becomes a
//! PATCH body with the fewest top-level fields in its `updateMask`, and
//! what Android cannot enforce is reported rather than dropped.
//!
//! ```
//! use mdmkit_android::mapping::{patch, to_policy};
//! use mdmkit_policy::Policy;
//!
//! let old = Policy::from_toml("[policy]\nid = \"p\"\n[restrictions]\ncamera = \"allow\"")?;
//! let new = Policy::from_toml("[policy]\nid = \"p\"\n[restrictions]\ncamera = \"deny\"\nvoice_assistant = \"deny\"")?;
//! let (old, new) = (to_policy(&old.settings), to_policy(&new.settings));
//! assert_eq!(new.policy["cameraAccess"], "CAMERA_ACCESS_DISABLED");
//! assert_eq!(new.unsupported[0].path.to_string(), "restrictions.voice_assistant");
//! let body = patch(&old, &new);
//! assert_eq!(body.update_mask, ["cameraAccess"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use mdmkit_policy::{
    App, Complexity, EffectivePolicy, InstallState, KioskMode, Reason, Rule, SettingPath, Settings,
    Source,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::schema;

mod onc;
mod patch;

pub use patch::{PatchBody, patch, patch_json};

/// The AMAPI `Policy` of some settings, what it leaves out and the layer
/// conflicts Android cannot hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Mapped {
    /// The Policy JSON object (top-level fields in key order).
    pub policy: Map<String, Value>,
    /// Settings Android does not enforce, or only in part.
    pub unsupported: Vec<Unsupported>,
    /// Fields AMAPI holds once that several layers set differently.
    pub conflicts: Vec<MappingConflict>,
}

impl Mapped {
    /// The Policy as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.policy.clone())
    }

    /// The Policy as the typed model (every field the mapping writes is
    /// one Google describes, so this only fails on a vendor value of the
    /// wrong JSON type).
    pub fn to_model(&self) -> Result<crate::model::Policy, crate::Error> {
        let bytes = serde_json::to_vec(&self.policy).map_err(|source| crate::Error::Encode {
            what: "Policy",
            source,
        })?;
        crate::parse::policy(&bytes)
    }

    /// The Policy as pretty-printed JSON text.
    pub fn to_json_pretty(&self) -> String {
        // A map of JSON values always serialises.
        serde_json::to_string_pretty(&self.policy).unwrap_or_default()
    }
}

/// A setting Android does not (fully) enforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Unsupported {
    /// The setting.
    pub path: SettingPath,
    /// Whether Android enforces part of it (`true`) or nothing (`false`).
    pub partial: bool,
    /// Why, for reports.
    pub reason: String,
}

/// Several layers set a field that AMAPI holds only once (one kiosk app,
/// one system-update window, one lock-screen message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MappingConflict {
    /// The Policy field (`applications[KIOSK]`, `systemUpdate`).
    pub field: &'static str,
    /// The setting.
    pub path: SettingPath,
    /// The definition in effect.
    pub kept: Source,
    /// The definitions with other values that were dropped.
    pub dropped: Vec<Source>,
}

impl std::fmt::Display for MappingConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): android holds one value; kept {}, dropped ",
            self.path, self.field, self.kept
        )?;
        for (i, s) in self.dropped.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

/// The settings AMAPI holds once, and their Policy field.
const HELD_ONCE: &[(&str, &str)] = &[
    ("kiosk.app", "applications[KIOSK]"),
    ("kiosk.mode", "applications[KIOSK]"),
    ("os_updates.maintenance_window", "systemUpdate"),
    ("device.lock_screen_message", "deviceOwnerLockScreenInfo"),
];

/// Maps a device's effective policy, reporting conflicts of fields AMAPI
/// holds once with the provenance of every layer that set them.
pub fn from_effective(effective: &EffectivePolicy) -> Mapped {
    let mut mapped = to_policy(effective.settings());
    for (path, value) in effective.values() {
        let text = path.to_string();
        let Some((_, field)) = HELD_ONCE.iter().find(|(p, _)| *p == text) else {
            continue;
        };
        let dropped: Vec<Source> = value
            .provenance
            .overridden
            .iter()
            .filter(|o| {
                matches!(o.reason, Reason::ReplacedByNearer | Reason::SameLevel)
                    && o.value != value.value
            })
            .map(|o| o.source.clone())
            .collect();
        if !dropped.is_empty() {
            mapped.conflicts.push(MappingConflict {
                field,
                path: path.clone(),
                kept: value.provenance.source.clone(),
                dropped,
            });
        }
    }
    package_conflicts(effective, &mut mapped);
    mapped
}

/// Two apps of different layers with one Android package: AMAPI holds one
/// `applications` entry per package, so the first (by app id) is kept.
fn package_conflicts(effective: &EffectivePolicy, mapped: &mut Mapped) {
    let mut first: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, app) in &effective.settings().apps {
        let Some(pkg) = app.android.as_ref().and_then(|a| a.package.as_deref()) else {
            continue;
        };
        let Some(kept_id) = first.get(pkg).copied() else {
            first.insert(pkg, id);
            continue;
        };
        let source = |id: &str| {
            effective
                .values()
                .get(&keyed("apps", id))
                .map(|v| v.provenance.source.clone())
        };
        if let (Some(kept), Some(dropped)) = (source(kept_id), source(id)) {
            mapped.conflicts.push(MappingConflict {
                field: "applications",
                path: keyed("apps", id),
                kept,
                dropped: vec![dropped],
            });
        }
    }
}

fn path(category: &str, field: &str) -> SettingPath {
    SettingPath::field(category).join_field(field)
}

fn keyed(category: &str, key: &str) -> SettingPath {
    SettingPath::field(category).join_key(key)
}

struct Builder {
    policy: Map<String, Value>,
    unsupported: Vec<Unsupported>,
}

impl Builder {
    fn none(&mut self, path: SettingPath, reason: impl Into<String>) {
        self.unsupported.push(Unsupported {
            path,
            partial: false,
            reason: reason.into(),
        });
    }

    fn partial(&mut self, path: SettingPath, reason: impl Into<String>) {
        self.unsupported.push(Unsupported {
            path,
            partial: true,
            reason: reason.into(),
        });
    }

    fn set(&mut self, key: &str, value: Value) {
        self.policy.insert(key.to_owned(), value);
    }

    fn set_in(&mut self, key: &str, inner: &str, value: Value) {
        let entry = self
            .policy
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(inner.to_owned(), value);
        }
    }
}

/// Maps typed settings (a policy document's, or an effective policy's) to
/// an AMAPI Policy. Deterministic: the same settings give the same JSON.
pub fn to_policy(settings: &Settings) -> Mapped {
    let mut b = Builder {
        policy: Map::new(),
        unsupported: Vec::new(),
    };
    passcode(settings, &mut b);
    restrictions(settings, &mut b);
    apps(settings, &mut b);
    onc::wifi(settings, &mut b);
    os_updates(settings, &mut b);
    device(settings, &mut b);
    web_filter(settings, &mut b);
    vendor(settings, &mut b);
    Mapped {
        policy: b.policy,
        unsupported: b.unsupported,
        conflicts: Vec::new(),
    }
}

fn passcode(s: &Settings, b: &mut Builder) {
    let p = &s.passcode;
    if p.is_empty() {
        return;
    }
    let mut req = Map::new();
    let mut quality = match p.complexity {
        Some(Complexity::Numeric) => Some("NUMERIC"),
        Some(Complexity::Alphanumeric) => Some("ALPHANUMERIC"),
        Some(Complexity::Complex) => Some("COMPLEX"),
        _ if p.required == Some(true) => Some("SOMETHING"),
        _ => None,
    };
    if let Some(n) = p.min_length {
        // Android applies a minimum length only to numeric or stronger qualities.
        if matches!(quality, None | Some("SOMETHING")) {
            quality = Some("NUMERIC");
        }
        req.insert("passwordMinimumLength".into(), json!(n));
    }
    if let Some(n) = p.min_complex_chars {
        if quality == Some("COMPLEX") {
            req.insert("passwordMinimumSymbols".into(), json!(n));
        } else {
            b.none(
                path("passcode", "min_complex_chars"),
                "android counts symbols only for complex passcodes (set complexity = \"complex\")",
            );
        }
    }
    if let Some(q) = quality {
        req.insert("passwordQuality".into(), json!(q));
    }
    if let Some(n) = p.max_failed_attempts {
        req.insert("maximumFailedPasswordsForWipe".into(), json!(n));
    }
    if let Some(days) = p.max_age_days {
        req.insert(
            "passwordExpirationTimeout".into(),
            json!(format!("{}s", u64::from(days) * 86_400)),
        );
    }
    if let Some(n) = p.history {
        req.insert("passwordHistoryLength".into(), json!(n));
    }
    if let Some(m) = p.auto_lock_minutes {
        // int64 fields are JSON strings on the wire; milliseconds.
        b.set(
            "maximumTimeToLock",
            json!((u64::from(m) * 60_000).to_string()),
        );
    }
    if !req.is_empty() {
        req.insert("passwordScope".into(), json!("SCOPE_DEVICE"));
        b.set("passwordPolicies", json!([req]));
    }
}

fn restrictions(s: &Settings, b: &mut Builder) {
    let r = &s.restrictions;
    let deny = |rule: Option<Rule>| rule.map(|r| r == Rule::Deny);
    if let Some(d) = deny(r.camera) {
        let v = if d {
            "CAMERA_ACCESS_DISABLED"
        } else {
            "CAMERA_ACCESS_USER_CHOICE"
        };
        b.set("cameraAccess", json!(v));
    }
    let booleans: [(Option<Rule>, &str); 5] = [
        (r.screen_capture, "screenCaptureDisabled"),
        (r.app_installation, "installAppsDisabled"),
        (r.app_removal, "uninstallAppsDisabled"),
        (r.bluetooth_changes, "bluetoothConfigDisabled"),
        (r.account_changes, "modifyAccountsDisabled"),
    ];
    for (rule, key) in booleans {
        if let Some(d) = deny(rule) {
            b.set(key, json!(d));
        }
    }
    match (deny(r.factory_reset), deny(r.erase_content)) {
        (None, None) => {}
        (a, e) => b.set(
            "factoryResetDisabled",
            json!(a == Some(true) || e == Some(true)),
        ),
    }
    if let Some(d) = deny(r.usb_mass_storage) {
        let v = if d {
            "DISALLOW_USB_FILE_TRANSFER"
        } else {
            "ALLOW_USB_DATA_TRANSFER"
        };
        b.set_in("deviceConnectivityManagement", "usbDataAccess", json!(v));
        b.set("mountPhysicalMediaDisabled", json!(d));
    }
    if let Some(d) = deny(r.nearby_sharing) {
        let v = if d {
            "BLUETOOTH_SHARING_DISALLOWED"
        } else {
            "BLUETOOTH_SHARING_ALLOWED"
        };
        b.set_in("deviceConnectivityManagement", "bluetoothSharing", json!(v));
        b.partial(
            path("restrictions", "nearby_sharing"),
            "android controls Bluetooth sharing; Nearby Share itself is not managed",
        );
    }
    if let Some(d) = deny(r.developer_mode) {
        let v = if d {
            "DEVELOPER_SETTINGS_DISABLED"
        } else {
            "DEVELOPER_SETTINGS_ALLOWED"
        };
        b.set_in("advancedSecurityOverrides", "developerSettings", json!(v));
    }
    if let Some(d) = deny(r.app_store) {
        // WHITELIST: only the policy's apps are offered in Play.
        b.set(
            "playStoreMode",
            json!(if d { "WHITELIST" } else { "BLACKLIST" }),
        );
        if d {
            b.partial(
                path("restrictions", "app_store"),
                "android keeps Google Play but offers only the policy's apps",
            );
        }
    }
    for (rule, field) in [
        (r.in_app_purchases, "in_app_purchases"),
        (r.explicit_content, "explicit_content"),
        (r.voice_assistant, "voice_assistant"),
        (r.multiplayer_gaming, "multiplayer_gaming"),
    ] {
        if rule.is_some() {
            b.none(
                path("restrictions", field),
                "the android management api has no such setting",
            );
        }
    }
}

fn apps(s: &Settings, b: &mut Builder) {
    let mut by_package: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let package = |app: &App| app.android.as_ref().and_then(|a| a.package.clone());
    for (id, app) in &s.apps {
        let Some(pkg) = package(app) else {
            b.none(keyed("apps", id), "the app has no android package name");
            continue;
        };
        let install = match app.install {
            Some(InstallState::Required) => "FORCE_INSTALLED",
            Some(InstallState::Available) => "AVAILABLE",
            Some(InstallState::Blocked) => "BLOCKED",
            Some(InstallState::Removed) => {
                b.partial(
                    keyed("apps", id),
                    "android has no one-off removal: the app is blocked (and uninstalled) instead",
                );
                "BLOCKED"
            }
            _ => {
                b.none(keyed("apps", id), "the app has no install state");
                continue;
            }
        };
        if by_package.contains_key(&pkg) {
            b.none(
                keyed("apps", id),
                format!("another app of the policy already has package {pkg}"),
            );
            continue;
        }
        let mut entry = Map::new();
        entry.insert("packageName".into(), json!(pkg));
        entry.insert("installType".into(), json!(install));
        if let Some(config) = &app.config {
            if install == "BLOCKED" {
                b.partial(
                    keyed("apps", id).join_field("config"),
                    "a blocked app gets no managed configuration",
                );
            } else {
                entry.insert("managedConfiguration".into(), Value::Object(config.clone()));
            }
        }
        by_package.insert(pkg, entry);
    }
    match s.kiosk.mode {
        Some(KioskMode::SingleApp) => match s.kiosk.app.as_ref() {
            Some(id) => match s.apps.get(id).and_then(package) {
                Some(pkg) => {
                    let entry = by_package.entry(pkg.clone()).or_insert_with(|| {
                        let mut m = Map::new();
                        m.insert("packageName".into(), json!(pkg));
                        m
                    });
                    entry.insert("installType".into(), json!("KIOSK"));
                }
                None => b.none(
                    path("kiosk", "app"),
                    format!("kiosk app {id:?} has no android package name"),
                ),
            },
            None => b.none(path("kiosk", "mode"), "a single-app kiosk needs kiosk.app"),
        },
        Some(KioskMode::MultiApp) => {
            b.set("kioskCustomLauncherEnabled", json!(true));
            for id in s.kiosk.apps.iter().flatten() {
                match s.apps.get(id).and_then(package) {
                    Some(pkg) if by_package.contains_key(&pkg) => {}
                    _ => b.partial(
                        path("kiosk", "apps"),
                        format!(
                            "the kiosk launcher shows installed apps; {id:?} is not an android app of the policy"
                        ),
                    ),
                }
            }
        }
        _ => {}
    }
    if !by_package.is_empty() {
        let list: Vec<Value> = by_package.into_values().map(Value::Object).collect();
        b.set("applications", Value::Array(list));
    }
}

/// Minutes after midnight of `HH:MM`.
fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The API level of an Android release (`14` → 34).
fn api_level(version: &str) -> Option<u32> {
    let mut parts = version.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some(match (major, minor) {
        (16.., _) => 36 + (major - 16),
        (15, _) => 35,
        (14, _) => 34,
        (13, _) => 33,
        (12, 1..) => 32,
        (12, _) => 31,
        (11, _) => 30,
        (10, _) => 29,
        (9, _) => 28,
        (8, 1..) => 27,
        (8, _) => 26,
        (7, 1..) => 25,
        (7, _) => 24,
        (6, _) => 23,
        (5, 1..) => 22,
        (5, _) => 21,
        _ => return None,
    })
}

fn os_updates(s: &Settings, b: &mut Builder) {
    let u = &s.os_updates;
    if let Some(w) = &u.maintenance_window {
        match (minutes(&w.start), minutes(&w.end)) {
            (Some(start), Some(end)) => b.set(
                "systemUpdate",
                json!({"type": "WINDOWED", "startMinutes": start, "endMinutes": end}),
            ),
            _ => b.none(
                path("os_updates", "maintenance_window"),
                "the window is not HH:MM to HH:MM",
            ),
        }
        if u.deferral_days.is_some_and(|d| d > 0) {
            b.none(
                path("os_updates", "deferral_days"),
                "android cannot defer updates and install them in a window at once",
            );
        }
    } else if let Some(d) = u.deferral_days {
        if d == 0 {
            b.set("systemUpdate", json!({"type": "AUTOMATIC"}));
        } else {
            b.set("systemUpdate", json!({"type": "POSTPONE"}));
            b.partial(
                path("os_updates", "deferral_days"),
                "android postpones each update by up to 30 days, not a chosen number",
            );
        }
    }
    if let Some(min) = u.minimum_version.as_ref().and_then(|m| m.android.as_ref()) {
        let here = path("os_updates", "minimum_version").join_field("android");
        match api_level(&min.version) {
            Some(level) => b.set("minimumApiLevel", json!(level)),
            None => b.none(
                here.clone(),
                format!("android {} has no known API level", min.version),
            ),
        }
        if min.deadline.is_some() {
            b.partial(
                here,
                "android blocks older devices at once; it has no deadline",
            );
        }
    }
}

fn device(s: &Settings, b: &mut Builder) {
    let d = &s.device;
    if let Some(m) = &d.lock_screen_message {
        b.set("deviceOwnerLockScreenInfo", json!({"defaultMessage": m}));
    }
    if d.name_template.is_some() {
        b.none(
            path("device", "name_template"),
            "the android management api cannot rename devices",
        );
    }
    if d.time_zone.is_some() {
        b.none(
            path("device", "time_zone"),
            "the android management api cannot set the time zone",
        );
    }
}

fn web_filter(s: &Settings, b: &mut Builder) {
    if !s.web_filter.is_empty() {
        b.none(
            SettingPath::field("web_filter"),
            "android has no system web filter; configure the browser app's managed configuration",
        );
    }
}

fn vendor(s: &Settings, b: &mut Builder) {
    for (key, value) in &s.vendor.android {
        let here = SettingPath::field("vendor")
            .join_field("android")
            .join_key(key);
        let mut one = Map::new();
        one.insert(key.clone(), value.clone());
        match schema::check(&Value::Object(one), "Policy") {
            Ok(v) if v.is_empty() => {
                b.set(key, value.clone());
            }
            Ok(v) => {
                let why: Vec<String> = v.iter().take(3).map(ToString::to_string).collect();
                b.none(
                    here,
                    format!("not in Google's Policy description: {}", why.join("; ")),
                );
            }
            Err(e) => b.none(here, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn android_releases_map_to_api_levels() {
        assert_eq!(api_level("14"), Some(34));
        assert_eq!(api_level("12.1"), Some(32));
        assert_eq!(api_level("8.1.0"), Some(27));
        assert_eq!(api_level("x"), None);
    }

    #[test]
    fn window_times_are_minutes_after_midnight() {
        assert_eq!(minutes("02:30"), Some(150));
        assert_eq!(minutes("24:00"), None);
    }
}
