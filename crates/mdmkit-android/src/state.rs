//! Device state: what a `Device` resource says about the policy it should
//! have, setting by setting, and whether a policy push must be (re)sent.
//!
//! A device reports the version of the policy it applied
//! (`appliedPolicyVersion`) and one `nonComplianceDetails` entry per setting
//! it could not apply (`settingName` is the top-level `Policy` field,
//! `packageName` the app, `fieldPath` the nested field). [`verify`] turns
//! that into one [`SettingResult`] per setting of the desired policy, keyed
//! by [`SettingKey`] (`passwordPolicies`, `applications/org.example.app`),
//! each with a [`Remedy`]: wait, retry, fix the policy, or tell a person.
//!
//! [`PushTracker`] keeps a rejected policy from being stuck: a body Google
//! refused is not resent unchanged, but any change to it is sent at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::model::{
    Device, DeviceState, NonComplianceDetail,
    NonComplianceDetailInstallationFailureReason as Install,
    NonComplianceDetailNonComplianceReason as Reason,
    NonComplianceDetailSpecificNonComplianceReason as Specific, Policy,
};
use crate::remedy::Remedy;

/// A setting of a policy, as the device reports on it: a top-level `Policy`
/// field (`cameraDisabled`), or one app of `applications`
/// (`applications/org.example.app`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SettingKey(String);

impl SettingKey {
    /// A top-level `Policy` field.
    pub fn field(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// One app of `applications`.
    pub fn app(package: &str) -> Self {
        Self(format!("applications/{package}"))
    }

    /// The key for a non-compliance detail: the app when the detail names a
    /// package (or concerns `applications`), else the setting.
    pub fn for_detail(d: &NonComplianceDetail) -> Self {
        match (&d.package_name, d.setting_name.as_deref()) {
            (Some(pkg), Some("applications") | None) => Self::app(pkg),
            (_, Some(setting)) => Self::field(setting),
            (None, None) => Self::field(
                d.field_path
                    .as_deref()
                    .map(|p| p.split(['.', '[']).next().unwrap_or(p))
                    .unwrap_or("unknown"),
            ),
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The top-level `Policy` field this key belongs to.
    pub fn policy_field(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The policy a device should have: its name, the version Google gave it
/// (from the answer to `policies.patch`), and the settings to verify.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DesiredPolicy {
    /// Short id or full name of the policy (`kiosk` or
    /// `enterprises/e/policies/kiosk`).
    pub name: Option<String>,
    /// The version Google assigned when the policy was last updated.
    pub version: Option<i64>,
    /// The settings to report on.
    pub settings: BTreeSet<SettingKey>,
}

impl DesiredPolicy {
    /// A desired policy by name and version, with no settings listed yet
    /// (the device's own reports still appear in the verification).
    pub fn new(name: Option<String>, version: Option<i64>) -> Self {
        Self {
            name,
            version,
            settings: BTreeSet::new(),
        }
    }

    /// Adds a setting to verify.
    pub fn with_setting(mut self, key: SettingKey) -> Self {
        self.settings.insert(key);
        self
    }

    /// The settings set in a policy (every top-level field but `name` and
    /// `version`; one key per app), with its name and version.
    pub fn from_policy(policy: &Policy) -> Self {
        let mut settings = BTreeSet::new();
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(policy) {
            for key in map.keys() {
                if key != "name" && key != "version" && key != "applications" {
                    settings.insert(SettingKey::field(key.clone()));
                }
            }
        }
        for app in policy.applications.iter().flatten() {
            if let Some(pkg) = &app.package_name {
                settings.insert(SettingKey::app(pkg));
            }
        }
        Self {
            name: policy.name.clone(),
            version: policy.version,
            settings,
        }
    }
}

/// How the device's applied policy compares with the desired one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicySync {
    /// The device applied the desired version (or a later one).
    Current,
    /// The device applied an older version: the new one has not reached it.
    Behind {
        /// The version the device applied.
        applied: i64,
        /// The version it should apply.
        desired: i64,
    },
    /// The device applies a different policy than the desired one.
    OtherPolicy {
        /// The policy it applied.
        applied: String,
    },
    /// The device has reported no applied policy yet.
    NotApplied,
    /// No desired version is known, so nothing can be compared.
    Unknown,
}

/// The state of one setting on one device.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SettingStatus {
    /// Applied: the device runs the desired version and reports no problem
    /// with the setting.
    Applied,
    /// Not yet known: the device has not applied the desired version (or
    /// no desired version is known to compare with).
    Pending,
    /// The device reports it could not apply the setting.
    NonCompliant {
        /// What to do about it (the most demanding of the details).
        remedy: Remedy,
        /// The device's reports, as received.
        details: Vec<NonComplianceDetail>,
    },
}

/// One setting's verification result.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SettingResult {
    /// The setting.
    pub key: SettingKey,
    /// Its state.
    pub status: SettingStatus,
}

/// What a `Device` resource says about its desired policy.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Verification {
    /// The device's state (`ACTIVE`, `LOST`, `DISABLED`, ...).
    pub state: Option<DeviceState>,
    /// Applied versus desired policy.
    pub sync: PolicySync,
    /// Whether Google considers the device compliant.
    pub policy_compliant: Option<bool>,
    /// One result per desired setting, plus any setting the device reports
    /// on that the desired policy does not list.
    pub settings: Vec<SettingResult>,
}

impl Verification {
    /// Whether every setting is applied.
    pub fn all_applied(&self) -> bool {
        self.sync == PolicySync::Current
            && self
                .settings
                .iter()
                .all(|s| s.status == SettingStatus::Applied)
    }

    /// The settings that are non-compliant with the given remedy.
    pub fn with_remedy(&self, remedy: Remedy) -> impl Iterator<Item = &SettingResult> {
        self.settings.iter().filter(move |s| {
            matches!(&s.status, SettingStatus::NonCompliant { remedy: r, .. } if *r == remedy)
        })
    }

    /// Settings that the policy must change before a resend can help.
    pub fn rejected(&self) -> impl Iterator<Item = &SettingResult> {
        self.with_remedy(Remedy::FixPolicy)
    }
}

fn same_policy(a: &str, b: &str) -> bool {
    let short = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
    short(a) == short(b)
}

/// Compares a device's report with the desired policy, setting by setting.
pub fn verify(device: &Device, desired: &DesiredPolicy) -> Verification {
    let applied_name = device.applied_policy_name.as_deref();
    let sync = match (
        applied_name,
        &desired.name,
        device.applied_policy_version,
        desired.version,
    ) {
        (Some(a), Some(d), _, _) if !same_policy(a, d) => PolicySync::OtherPolicy {
            applied: a.to_owned(),
        },
        (_, _, None, _) => PolicySync::NotApplied,
        (_, _, Some(_), None) => PolicySync::Unknown,
        (_, _, Some(a), Some(d)) if a >= d => PolicySync::Current,
        (_, _, Some(a), Some(d)) => PolicySync::Behind {
            applied: a,
            desired: d,
        },
    };

    let mut by_key: BTreeMap<SettingKey, Vec<NonComplianceDetail>> = BTreeMap::new();
    for d in device.non_compliance_details.iter().flatten() {
        by_key
            .entry(SettingKey::for_detail(d))
            .or_default()
            .push(d.clone());
    }
    // Reports describe the applied version: they count when that is the
    // desired one (or when no desired version is known); "applied" needs
    // the desired version to be confirmed.
    let reports_count = matches!(sync, PolicySync::Current | PolicySync::Unknown);
    let mut keys: BTreeSet<SettingKey> = desired.settings.clone();
    if reports_count {
        keys.extend(by_key.keys().cloned());
    }
    let settings = keys
        .into_iter()
        .map(|key| {
            let status = match by_key.get(&key) {
                Some(details) if reports_count => SettingStatus::NonCompliant {
                    remedy: details
                        .iter()
                        .map(detail_remedy)
                        .max_by_key(|r| severity(*r))
                        .unwrap_or(Remedy::Wait),
                    details: details.clone(),
                },
                _ if sync == PolicySync::Current => SettingStatus::Applied,
                _ => SettingStatus::Pending,
            };
            SettingResult { key, status }
        })
        .collect();
    Verification {
        state: device.state.clone(),
        sync,
        policy_compliant: device.policy_compliant,
        settings,
    }
}

/// How demanding a remedy is, for picking one among several details.
fn severity(r: Remedy) -> u8 {
    match r {
        Remedy::Wait => 0,
        Remedy::Retry => 1,
        Remedy::UserAction => 2,
        Remedy::AdminAction => 3,
        Remedy::FixPolicy => 4,
        Remedy::Unsupported => 5,
    }
}

/// What to do about one non-compliance detail.
pub fn detail_remedy(d: &NonComplianceDetail) -> Remedy {
    if let Some(s) = &d.specific_non_compliance_reason {
        match s {
            Specific::PasswordPoliciesUserCredentialsConfirmationRequired
            | Specific::PasswordPoliciesPasswordExpired
            | Specific::PasswordPoliciesPasswordNotSufficient
            | Specific::OncWifiUserShouldRemoveNetwork
            | Specific::UserNotUnlocked => return Remedy::UserAction,
            Specific::OncWifiInvalidValue
            | Specific::OncWifiInvalidEnterpriseConfig
            | Specific::OncWifiKeyPairAliasNotCorrespondingToExistingKey
            | Specific::PrivateDnsHostNotServing => return Remedy::FixPolicy,
            Specific::OncWifiApiLevel | Specific::DefaultApplicationSettingUnsupportedScopes => {
                return Remedy::Unsupported;
            }
            Specific::PermissibleUsageRestriction
            | Specific::RequiredAccountNotInEnterprise
            | Specific::NewAccountNotInEnterprise => return Remedy::AdminAction,
            _ => {}
        }
    }
    match d.non_compliance_reason.as_ref() {
        Some(Reason::Pending | Reason::AppNotUpdated | Reason::AppInstalled) => Remedy::Wait,
        Some(Reason::UserAction) => Remedy::UserAction,
        Some(Reason::InvalidValue) => Remedy::FixPolicy,
        Some(
            Reason::ApiLevel
            | Reason::ManagementMode
            | Reason::Unsupported
            | Reason::AppIncompatible
            | Reason::DeviceIncompatible
            | Reason::OsNotPermitted,
        ) => Remedy::Unsupported,
        Some(Reason::ProjectNotPermitted | Reason::AppSigningCertMismatch) => Remedy::AdminAction,
        Some(Reason::AppNotInstalled) => match d.installation_failure_reason.as_ref() {
            Some(Install::InProgress) | None => Remedy::Wait,
            Some(Install::NetworkErrorUnreliableConnection) => Remedy::Retry,
            Some(Install::PermissionsNotAccepted | Install::InsufficientStorage) => {
                Remedy::UserAction
            }
            Some(Install::NotCompatibleWithDevice) => Remedy::Unsupported,
            Some(
                Install::NotFound
                | Install::NotApproved
                | Install::NotAvailableInCountry
                | Install::NoLicensesRemaining
                | Install::NotEnrolled
                | Install::UserInvalid,
            ) => Remedy::AdminAction,
            Some(_) => Remedy::Retry,
        },
        _ => Remedy::Wait,
    }
}

/// A stable fingerprint of a body (SHA-256 of its JSON), to recognise a
/// policy that changed since it was last sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a model value's JSON encoding (field order is
    /// fixed by the model, so equal values give equal fingerprints).
    pub fn of<T: serde::Serialize>(value: &T) -> Result<Self, crate::Error> {
        Ok(Self::of_bytes(&crate::parse::to_vec(value)?))
    }

    /// The fingerprint of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What happened to the last push of a policy body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// Google accepted it.
    Accepted,
    /// Google refused it (or a device rejected its settings) with this remedy.
    Rejected(Remedy),
}

/// What to do with a policy body now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushDecision {
    /// Send it (first time, changed since, or a transient failure).
    Send,
    /// Nothing changed since it was accepted.
    UpToDate,
    /// It was refused as it is; wait for it to change (or for the named
    /// action) instead of resending it unchanged.
    Hold(Remedy),
}

/// Remembers, per policy, the last body sent and what became of it, so a
/// refused policy is resent as soon as it changes and never resent
/// unchanged in a loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushTracker {
    last: BTreeMap<String, (Fingerprint, PushOutcome)>,
}

impl PushTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what became of a push.
    pub fn record(&mut self, policy: &str, body: Fingerprint, outcome: PushOutcome) {
        self.last.insert(policy.to_owned(), (body, outcome));
    }

    /// Decides whether to send `body` for `policy` now.
    pub fn decide(&self, policy: &str, body: Fingerprint) -> PushDecision {
        match self.last.get(policy) {
            None => PushDecision::Send,
            Some((fp, _)) if *fp != body => PushDecision::Send,
            Some((_, PushOutcome::Accepted)) => PushDecision::UpToDate,
            Some((_, PushOutcome::Rejected(r))) if r.resend_unchanged() => PushDecision::Send,
            Some((_, PushOutcome::Rejected(r))) => PushDecision::Hold(*r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Policy;

    fn device(json: &str) -> Device {
        crate::parse::device(json.as_bytes()).unwrap()
    }

    fn desired() -> DesiredPolicy {
        let policy: Policy = crate::parse::policy(
            br#"{"name":"enterprises/e1/policies/school","version":"7","cameraDisabled":true,
                "passwordPolicies":[{"passwordMinimumLength":6,"passwordQuality":"NUMERIC"}],
                "applications":[{"packageName":"org.example.reader","installType":"FORCE_INSTALLED"},
                                {"packageName":"org.example.maths","installType":"AVAILABLE"}]}"#,
        )
        .unwrap();
        DesiredPolicy::from_policy(&policy)
    }

    #[test]
    fn desired_settings_are_top_level_fields_and_one_key_per_app() {
        let keys: Vec<String> = desired().settings.iter().map(ToString::to_string).collect();
        assert_eq!(
            keys,
            vec![
                "applications/org.example.maths",
                "applications/org.example.reader",
                "cameraDisabled",
                "passwordPolicies"
            ]
        );
    }

    #[test]
    fn a_device_on_the_desired_version_reports_per_setting_results() {
        let d = device(
            r#"{"name":"enterprises/e1/devices/d1","state":"ACTIVE","appliedPolicyName":"enterprises/e1/policies/school",
                "appliedPolicyVersion":"7","policyCompliant":false,
                "nonComplianceDetails":[
                  {"settingName":"passwordPolicies","nonComplianceReason":"USER_ACTION","specificNonComplianceReason":"PASSWORD_POLICIES_PASSWORD_NOT_SUFFICIENT"},
                  {"settingName":"applications","packageName":"org.example.maths","nonComplianceReason":"APP_NOT_INSTALLED","installationFailureReason":"NOT_APPROVED","fieldPath":"applications[1]"}]}"#,
        );
        let v = verify(&d, &desired());
        assert_eq!(v.sync, PolicySync::Current);
        let status = |k: &str| {
            v.settings
                .iter()
                .find(|s| s.key.as_str() == k)
                .unwrap()
                .status
                .clone()
        };
        assert_eq!(status("cameraDisabled"), SettingStatus::Applied);
        assert_eq!(
            status("applications/org.example.reader"),
            SettingStatus::Applied
        );
        assert!(matches!(
            status("passwordPolicies"),
            SettingStatus::NonCompliant {
                remedy: Remedy::UserAction,
                ..
            }
        ));
        assert!(matches!(
            status("applications/org.example.maths"),
            SettingStatus::NonCompliant {
                remedy: Remedy::AdminAction,
                ..
            }
        ));
        assert!(!v.all_applied());
    }

    #[test]
    fn a_device_behind_the_desired_version_is_pending_not_failed() {
        let d = device(
            r#"{"appliedPolicyName":"school","appliedPolicyVersion":"6",
                "nonComplianceDetails":[{"settingName":"cameraDisabled","nonComplianceReason":"INVALID_VALUE"}]}"#,
        );
        let v = verify(&d, &desired());
        assert_eq!(
            v.sync,
            PolicySync::Behind {
                applied: 6,
                desired: 7
            }
        );
        assert!(
            v.settings
                .iter()
                .all(|s| s.status == SettingStatus::Pending)
        );
    }

    #[test]
    fn a_device_on_another_policy_is_flagged() {
        let d = device(
            r#"{"appliedPolicyName":"enterprises/e1/policies/kiosk","appliedPolicyVersion":"9"}"#,
        );
        assert!(matches!(
            verify(&d, &desired()).sync,
            PolicySync::OtherPolicy { .. }
        ));
    }

    #[test]
    fn without_a_desired_version_reports_count_but_nothing_is_called_applied() {
        let d = device(
            r#"{"appliedPolicyName":"school","appliedPolicyVersion":"3",
                "nonComplianceDetails":[{"settingName":"cameraDisabled","nonComplianceReason":"PENDING"}]}"#,
        );
        let desired = DesiredPolicy::new(Some("school".into()), None)
            .with_setting(SettingKey::field("cameraDisabled"))
            .with_setting(SettingKey::field("screenCaptureDisabled"));
        let v = verify(&d, &desired);
        assert_eq!(v.sync, PolicySync::Unknown);
        assert!(matches!(
            v.settings[0].status,
            SettingStatus::NonCompliant {
                remedy: Remedy::Wait,
                ..
            }
        ));
        assert_eq!(v.settings[1].status, SettingStatus::Pending);
    }

    #[test]
    fn invalid_values_ask_for_a_policy_fix() {
        let d = device(
            r#"{"appliedPolicyName":"school","appliedPolicyVersion":"8",
                "nonComplianceDetails":[{"settingName":"cameraDisabled","nonComplianceReason":"INVALID_VALUE"},
                                        {"settingName":"kioskCustomLauncherEnabled","nonComplianceReason":"API_LEVEL"}]}"#,
        );
        let v = verify(&d, &desired());
        let rejected: Vec<&str> = v.rejected().map(|s| s.key.as_str()).collect();
        assert_eq!(rejected, vec!["cameraDisabled"]);
        assert_eq!(
            v.with_remedy(Remedy::Unsupported).count(),
            1,
            "reports on undesired settings are kept"
        );
    }

    #[test]
    fn a_rejected_policy_is_held_until_it_changes_then_sent_again() {
        let mut t = PushTracker::new();
        let v1 = Fingerprint::of_bytes(b"{\"cameraDisabled\":\"yes\"}");
        let v2 = Fingerprint::of_bytes(b"{\"cameraDisabled\":true}");
        assert_eq!(t.decide("school", v1), PushDecision::Send);
        t.record("school", v1, PushOutcome::Rejected(Remedy::FixPolicy));
        assert_eq!(
            t.decide("school", v1),
            PushDecision::Hold(Remedy::FixPolicy)
        );
        assert_eq!(
            t.decide("school", v2),
            PushDecision::Send,
            "the fixed policy is retried"
        );
        t.record("school", v2, PushOutcome::Accepted);
        assert_eq!(t.decide("school", v2), PushDecision::UpToDate);
        t.record("school", v2, PushOutcome::Rejected(Remedy::Retry));
        assert_eq!(
            t.decide("school", v2),
            PushDecision::Send,
            "transient failures are resent"
        );
    }
}
