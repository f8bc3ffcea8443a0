//! From mdmkit-policy to declarations: native configurations where Apple
//! has one, legacy profile declarations for the rest, one activation.

use mdmkit_core::TenantId;
use mdmkit_policy::{Complexity, InstallState, SettingPath, Settings};
use plist::{Dictionary, Value};

use super::compiled::{DeclarativeCompiled, LegacyProfile};
use super::{Declaration, DeclarationSet};
use crate::error::{DeclarativeError, Error};
use crate::generated::declarations::{
    ActivationSimple, ConfigurationAppManaged, ConfigurationAppManagedInstallBehavior,
    ConfigurationLegacy, ConfigurationPasscodeSettings,
    ConfigurationSoftwareupdateEnforcementSpecific,
};
use crate::mapping::{Mapper, UnsupportedSetting, check_value};
use crate::plist_io::Format;
use crate::profile::ProfileId;
use crate::schema::{self, KeySpec, Os, SchemaEntry, SchemaKind};
use crate::support::{self, DeviceContext, OsVersion};
use crate::typed::{DeclarationType, PlistDict};

/// Where legacy profiles are served unless
/// [`DeclarativeMapper::profile_base_url`] says otherwise: a placeholder
/// that no device can reach, so a forgotten setting fails visibly.
pub const DEFAULT_PROFILE_BASE_URL: &str = "https://mdm.invalid/declarative/profiles/";

/// Declarations for one tenant: identifier prefix, organisation, and where
/// the legacy profiles are served.
///
/// Identifiers are `<prefix>.<tenant>.<name>`: `activation`, `passcode`,
/// `os_updates.enforcement`, `os_updates.settings`, `app.<app id>` and
/// `legacy.<category>`.
#[derive(Debug, Clone)]
pub struct DeclarativeMapper {
    tenant: TenantId,
    prefix: String,
    organization: Option<String>,
    base_url: String,
}

impl DeclarativeMapper {
    /// A mapper for `tenant` with the default prefix and
    /// [`DEFAULT_PROFILE_BASE_URL`].
    pub fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            prefix: crate::mapping::DEFAULT_PREFIX.to_owned(),
            organization: None,
            base_url: DEFAULT_PROFILE_BASE_URL.to_owned(),
        }
    }

    /// Sets the identifier prefix (a reverse-DNS name of the operator).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the `PayloadOrganization` of the legacy profiles.
    pub fn organization(mut self, name: impl Into<String>) -> Self {
        self.organization = Some(name.into());
        self
    }

    /// Sets the URL under which the server serves legacy profiles; a
    /// profile is at `<base><PayloadIdentifier>.mobileconfig`.
    pub fn profile_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    fn id(&self, name: &str) -> Result<String, Error> {
        Ok(ProfileId::new(&self.prefix, &self.tenant, name)?
            .as_str()
            .to_owned())
    }

    /// Compiles settings for a device. Fails only when the device cannot do
    /// declarative management at all (older than iOS 15, macOS 13, tvOS 16,
    /// visionOS 1.1, watchOS 10) or an identifier part is malformed.
    pub fn compile(
        &self,
        settings: &Settings,
        ctx: &DeviceContext,
    ) -> Result<DeclarativeCompiled, Error> {
        if let Some(entry) = find("com.apple.activation.simple") {
            let why = support::check_entry(entry, ctx);
            if !why.is_empty() {
                let reasons: Vec<String> = why.iter().map(ToString::to_string).collect();
                return Err(DeclarativeError::DeviceNotSupported {
                    reason: reasons.join(", "),
                }
                .into());
            }
        }
        let mut m = Run {
            ctx,
            unsupported: Vec::new(),
        };
        let mut legacy = settings.clone();
        let mut configs = Vec::new();
        if !settings.passcode.is_empty()
            && let Some(payload) = m.passcode(settings)
        {
            configs.push(Declaration::new(self.id("passcode")?, &payload));
            legacy.passcode = Default::default();
        }
        if let Some(d) = m.enforcement(settings) {
            configs.push(Declaration::new(self.id("os_updates.enforcement")?, &d));
        }
        if let Some(min) = legacy.os_updates.minimum_version.as_mut() {
            // Handled (or reported) above; the profile mapping would only
            // report it again.
            min.apple = None;
        }
        if let Some(dict) = m.deferral(settings) {
            configs.push(Declaration::from_parts(
                "com.apple.configuration.softwareupdate.settings",
                self.id("os_updates.settings")?,
                dict,
            ));
            legacy.os_updates.deferral_days = None;
        }
        for (app, payload) in m.apps(settings) {
            configs.push(Declaration::new(
                self.id(&format!("app.{}", sanitize(&app)))?,
                &payload,
            ));
            legacy.apps.remove(&app);
        }

        let mut mapper = Mapper::new(self.tenant.clone()).prefix(self.prefix.clone());
        if let Some(o) = &self.organization {
            mapper = mapper.organization(o.clone());
        }
        let compiled = mapper.compile(&legacy, ctx)?;
        m.unsupported.extend(compiled.unsupported);
        let legacy_entry = find(ConfigurationLegacy::DECLARATION_TYPE);
        let legacy_why = legacy_entry.map_or_else(Vec::new, |e| support::check_entry(e, ctx));
        let mut profiles = Vec::new();
        for (category, profile) in compiled.profiles {
            if !legacy_why.is_empty() {
                let r: Vec<String> = legacy_why.iter().map(ToString::to_string).collect();
                m.report(
                    SettingPath::field(category.as_str()),
                    format!(
                        "{}: {}",
                        ConfigurationLegacy::DECLARATION_TYPE,
                        r.join(", ")
                    ),
                );
                continue;
            }
            let id = self.id(&format!("legacy.{}", category.as_str()))?;
            let url = format!("{}{}.mobileconfig", self.base_url, profile.identifier);
            let payload = ConfigurationLegacy {
                profile_url: Some(url.clone()),
                ..Default::default()
            };
            let bytes = profile.to_bytes(Format::Xml);
            configs.push(Declaration::with_attachment(
                ConfigurationLegacy::DECLARATION_TYPE,
                id.clone(),
                payload.to_dict(),
                &bytes,
            ));
            profiles.push(LegacyProfile {
                category,
                declaration: id,
                url,
                profile,
            });
        }
        if !configs.is_empty() {
            let mut ids: Vec<String> = configs.iter().map(|c| c.identifier.clone()).collect();
            ids.sort();
            let activation = ActivationSimple {
                standard_configurations: Some(ids),
                ..Default::default()
            };
            configs.push(Declaration::new(self.id("activation")?, &activation));
        }
        Ok(DeclarativeCompiled {
            set: DeclarationSet::new(configs)?,
            profiles,
            apps: compiled.apps,
            unsupported: m.unsupported,
            settings: Vec::new(),
        })
    }
}

fn find(ty: &str) -> Option<&'static SchemaEntry> {
    schema::find(SchemaKind::Declaration, ty)
}

fn field(cat: &str, name: &str) -> SettingPath {
    SettingPath::field(cat).join_field(name)
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "app".into() } else { s }
}

/// Why a declaration's key (with its parent keys) cannot be used as given.
fn key_issue(
    entry: &SchemaEntry,
    keys: &[&str],
    value: &Value,
    ctx: &DeviceContext,
) -> Option<String> {
    let mut specs: &'static [KeySpec] = entry.keys;
    let mut last = None;
    let mut reasons = Vec::new();
    for k in keys {
        let Some(spec) = specs.iter().find(|s| s.name == *k) else {
            return Some(format!("{} has no key {}", entry.name, keys.join(".")));
        };
        reasons.extend(support::check_key(entry, spec, ctx));
        specs = spec.subkeys;
        last = Some(spec);
    }
    reasons.dedup();
    if !reasons.is_empty() {
        let r: Vec<String> = reasons.iter().map(ToString::to_string).collect();
        return Some(format!(
            "{} {}: {}",
            entry.name,
            keys.join("."),
            r.join(", ")
        ));
    }
    let spec = last?;
    check_value(spec, value).map(|r| format!("{} {} {r}", entry.name, keys.join(".")))
}

/// One compilation's state.
struct Run<'a> {
    ctx: &'a DeviceContext,
    unsupported: Vec<UnsupportedSetting>,
}

impl Run<'_> {
    fn report(&mut self, path: SettingPath, reason: impl Into<String>) {
        self.unsupported.push(UnsupportedSetting {
            path,
            reason: reason.into(),
            sent: false,
        });
    }

    /// Whether the device takes a declaration type at all.
    fn entry(&self, ty: &str) -> Option<&'static SchemaEntry> {
        find(ty).filter(|e| support::check_entry(e, self.ctx).is_empty())
    }

    /// The passcode declaration when it carries every passcode setting as
    /// given; `None` sends the category as a legacy profile instead (older
    /// OS versions lack some keys, and profiles accept other ranges).
    fn passcode(&mut self, s: &Settings) -> Option<ConfigurationPasscodeSettings> {
        let entry = self.entry(ConfigurationPasscodeSettings::DECLARATION_TYPE)?;
        let p = &s.passcode;
        let mut out = ConfigurationPasscodeSettings::default();
        let mut ok = true;
        let mut check = |key: &str, v: Value| {
            if key_issue(entry, &[key], &v, self.ctx).is_some() {
                ok = false;
            }
        };
        let int = |v: u32| Value::Integer(i64::from(v).into());
        if let Some(v) = p.required {
            check("RequirePasscode", Value::Boolean(v));
            out.require_passcode = Some(v);
        }
        if let Some(v) = p.min_length {
            check("MinimumLength", int(v));
            out.minimum_length = Some(v.into());
        }
        match p.complexity {
            Some(Complexity::Numeric) => {
                check("RequireAlphanumericPasscode", Value::Boolean(false));
                out.require_alphanumeric_passcode = Some(false);
            }
            Some(Complexity::Alphanumeric) => {
                check("RequireAlphanumericPasscode", Value::Boolean(true));
                out.require_alphanumeric_passcode = Some(true);
            }
            Some(Complexity::Complex) => {
                check("RequireAlphanumericPasscode", Value::Boolean(true));
                check("RequireComplexPasscode", Value::Boolean(true));
                out.require_alphanumeric_passcode = Some(true);
                out.require_complex_passcode = Some(true);
                if p.min_complex_chars.is_none() {
                    check("MinimumComplexCharacters", int(1));
                    out.minimum_complex_characters = Some(1);
                }
            }
            Some(_) => check("(unknown complexity)", Value::Boolean(true)),
            None => {}
        }
        if let Some(v) = p.min_complex_chars {
            check("MinimumComplexCharacters", int(v));
            out.minimum_complex_characters = Some(v.into());
        }
        if let Some(v) = p.max_failed_attempts {
            check("MaximumFailedAttempts", int(v));
            out.maximum_failed_attempts = Some(v.into());
        }
        if let Some(v) = p.auto_lock_minutes {
            check("MaximumInactivityInMinutes", int(v));
            out.maximum_inactivity_in_minutes = Some(v.into());
        }
        if let Some(v) = p.max_age_days {
            check("MaximumPasscodeAgeInDays", int(v));
            out.maximum_passcode_age_in_days = Some(v.into());
        }
        if let Some(v) = p.history {
            check("PasscodeReuseLimit", int(v));
            out.passcode_reuse_limit = Some(v.into());
        }
        ok.then_some(out)
    }

    /// `os_updates.minimum_version.apple` as a software-update enforcement
    /// (iOS 17, macOS 14): install by the deadline's day at 00:00 local
    /// time. Reported when the device or the setting cannot take it.
    fn enforcement(
        &mut self,
        s: &Settings,
    ) -> Option<ConfigurationSoftwareupdateEnforcementSpecific> {
        let min = s.os_updates.minimum_version.as_ref()?.apple.as_ref()?;
        let path = field("os_updates", "minimum_version").join_field("apple");
        let ty = ConfigurationSoftwareupdateEnforcementSpecific::DECLARATION_TYPE;
        if let Some(entry) = find(ty) {
            let why = support::check_entry(entry, self.ctx);
            if !why.is_empty() {
                let r: Vec<String> = why.iter().map(ToString::to_string).collect();
                self.report(
                    path,
                    format!(
                        "{ty}: {}; schedule ScheduleOSUpdate commands instead",
                        r.join(", ")
                    ),
                );
                return None;
            }
        }
        if OsVersion::parse(&min.version).is_none() {
            self.report(
                path.join_field("version"),
                format!("{:?} is not a dotted numeric version", min.version),
            );
            return None;
        }
        let Some(deadline) = min.deadline.as_deref() else {
            self.report(
                path.join_field("deadline"),
                format!("{ty} needs a deadline (TargetLocalDateTime)"),
            );
            return None;
        };
        if !is_date(deadline) {
            self.report(
                path.join_field("deadline"),
                format!("{deadline:?} is not a YYYY-MM-DD date"),
            );
            return None;
        }
        Some(ConfigurationSoftwareupdateEnforcementSpecific {
            target_os_version: Some(min.version.clone()),
            target_local_date_time: Some(format!("{deadline}T00:00:00")),
            ..Default::default()
        })
    }

    /// `os_updates.deferral_days` as a software-update settings declaration
    /// (iOS 18 supervised: `CombinedPeriodInDays`; macOS 15: the major,
    /// minor and system periods); `None` leaves it to the legacy profile.
    fn deferral(&mut self, s: &Settings) -> Option<Dictionary> {
        let days = s.os_updates.deferral_days?;
        let entry = self.entry("com.apple.configuration.softwareupdate.settings")?;
        let keys: &[&str] = match self.ctx.os {
            Os::Ios => &["CombinedPeriodInDays"],
            Os::MacOs => &[
                "MajorPeriodInDays",
                "MinorPeriodInDays",
                "SystemPeriodInDays",
            ],
            _ => return None,
        };
        let v = Value::Integer(i64::from(days).into());
        let mut deferrals = Dictionary::new();
        for k in keys {
            if key_issue(entry, &["Deferrals", k], &v, self.ctx).is_some() {
                return None;
            }
            deferrals.insert((*k).to_owned(), v.clone());
        }
        let mut d = Dictionary::new();
        d.insert("Deferrals".into(), Value::Dictionary(deferrals));
        Some(d)
    }

    /// Required and available apps as managed-app declarations (iOS 17.2);
    /// empty when the device cannot take them (the profile mapping then
    /// sends InstallApplication commands).
    fn apps(&mut self, s: &Settings) -> Vec<(String, ConfigurationAppManaged)> {
        let mut out = Vec::new();
        if self
            .entry(ConfigurationAppManaged::DECLARATION_TYPE)
            .is_none()
        {
            return out;
        }
        for (id, app) in &s.apps {
            let install = match app.install {
                Some(InstallState::Required) => "Required",
                Some(InstallState::Available) => "Optional",
                _ => continue,
            };
            let Some(apple) = &app.apple else { continue };
            if apple.bundle_id.is_none() && apple.app_store_id.is_none() {
                continue;
            }
            if app.config.is_some() {
                self.report(
                    SettingPath::field("apps").join_key(id.clone()).join_field("config"),
                    "com.apple.configuration.app.managed carries no app configuration; send it with an app-config asset or the InstallApplication command",
                );
            }
            out.push((
                id.clone(),
                ConfigurationAppManaged {
                    app_store_id: apple.app_store_id.map(|n| n.to_string()),
                    bundle_id: apple.bundle_id.clone(),
                    install_behavior: Some(ConfigurationAppManagedInstallBehavior {
                        install: Some(install.to_owned()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ));
        }
        out
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declarative::json_io;
    use crate::mapping::AppAction;
    use mdmkit_policy::Category;
    use mdmkit_policy::Policy;

    fn settings(toml: &str) -> Settings {
        Policy::from_toml(&format!("[policy]\nid = \"p\"\n{toml}"))
            .unwrap()
            .settings
    }

    fn mapper() -> DeclarativeMapper {
        DeclarativeMapper::new(TenantId::new("t").unwrap())
            .profile_base_url("https://mdm.example.org/p/")
    }

    #[test]
    fn an_ios14_device_is_refused_with_the_version_it_needs() {
        let old = DeviceContext::new(Os::Ios, OsVersion(14, 8, 0), true);
        let err = mapper()
            .compile(&settings("[passcode]\nmin_length = 6"), &old)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "declarative management: the device cannot use declarative management: needs iOS 15.0"
        );
        let old_mac = DeviceContext::new(Os::MacOs, OsVersion(12, 7, 0), true);
        assert!(mapper().compile(&Settings::default(), &old_mac).is_err());
    }

    #[test]
    fn passcode_is_native_and_restrictions_are_a_legacy_profile() {
        let s = settings(
            "[passcode]\nmin_length = 6\ncomplexity = \"alphanumeric\"\n[restrictions]\ncamera = \"deny\"",
        );
        let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        let c = mapper().compile(&s, &ipad).unwrap();
        let pass: ConfigurationPasscodeSettings = c
            .set
            .get("org.mdmkit.t.passcode")
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(pass.minimum_length, Some(6));
        assert_eq!(pass.require_alphanumeric_passcode, Some(true));
        let legacy: ConfigurationLegacy = c
            .set
            .get("org.mdmkit.t.legacy.restrictions")
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(
            legacy.profile_url.as_deref(),
            Some("https://mdm.example.org/p/org.mdmkit.t.restrictions.mobileconfig")
        );
        assert_eq!(c.profiles.len(), 1);
        assert!(c.profile_for_passcode_is_absent());
        let act: ActivationSimple = c.activation().unwrap().decode().unwrap();
        assert_eq!(
            act.standard_configurations.unwrap(),
            ["org.mdmkit.t.legacy.restrictions", "org.mdmkit.t.passcode"]
        );
        assert!(c.unsupported.is_empty(), "{:?}", c.unsupported);
    }

    #[test]
    fn an_ios16_0_passcode_with_alphanumeric_falls_back_to_a_legacy_profile() {
        let s = settings("[passcode]\nmin_length = 6\ncomplexity = \"alphanumeric\"");
        let ipad = DeviceContext::new(Os::Ios, OsVersion(16, 0, 0), true);
        let c = mapper().compile(&s, &ipad).unwrap();
        assert!(c.set.get("org.mdmkit.t.passcode").is_none());
        assert!(c.set.get("org.mdmkit.t.legacy.passcode").is_some());
    }

    #[test]
    fn minimum_versions_become_enforcement_or_are_reported() {
        let s = settings(
            "[os_updates.minimum_version.apple]\nversion = \"18.2\"\ndeadline = \"2026-12-15\"",
        );
        let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        let c = mapper().compile(&s, &ipad).unwrap();
        let e: ConfigurationSoftwareupdateEnforcementSpecific = c
            .set
            .get("org.mdmkit.t.os_updates.enforcement")
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(e.target_os_version.as_deref(), Some("18.2"));
        assert_eq!(
            e.target_local_date_time.as_deref(),
            Some("2026-12-15T00:00:00")
        );
        assert!(c.unsupported.is_empty(), "{:?}", c.unsupported);

        let ios16 = DeviceContext::new(Os::Ios, OsVersion(16, 7, 0), true);
        let c = mapper().compile(&s, &ios16).unwrap();
        assert!(c.set.is_empty());
        assert_eq!(c.unsupported.len(), 1);
        assert_eq!(
            c.unsupported[0].path.to_string(),
            "os_updates.minimum_version.apple"
        );
        assert!(
            c.unsupported[0].reason.contains("needs iOS 17.0"),
            "{}",
            c.unsupported[0]
        );

        let no_deadline = settings("[os_updates.minimum_version.apple]\nversion = \"18.2\"");
        let c = mapper().compile(&no_deadline, &ipad).unwrap();
        assert_eq!(
            c.unsupported[0].path.to_string(),
            "os_updates.minimum_version.apple.deadline"
        );
    }

    #[test]
    fn apps_are_managed_declarations_on_ios_17_2_and_commands_before() {
        let s = settings(
            "[apps.pages]\ninstall = \"required\"\napple = { bundle_id = \"com.apple.Pages\", app_store_id = 361309726 }\n\
             [apps.notes]\ninstall = \"available\"\napple = { bundle_id = \"com.example.notes\" }\n\
             [apps.old]\ninstall = \"removed\"\napple = { bundle_id = \"com.example.old\" }",
        );
        let new = DeviceContext::new(Os::Ios, OsVersion(17, 2, 0), true);
        let c = mapper().compile(&s, &new).unwrap();
        let pages: ConfigurationAppManaged = c
            .set
            .get("org.mdmkit.t.app.pages")
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(pages.app_store_id.as_deref(), Some("361309726"));
        assert_eq!(
            pages.install_behavior.unwrap().install.as_deref(),
            Some("Required")
        );
        let notes: ConfigurationAppManaged = c
            .set
            .get("org.mdmkit.t.app.notes")
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(
            notes.install_behavior.unwrap().install.as_deref(),
            Some("Optional")
        );
        assert_eq!(
            c.apps,
            [AppAction::Remove {
                app: "old".into(),
                bundle_id: "com.example.old".into()
            }]
        );
        let old = DeviceContext::new(Os::Ios, OsVersion(17, 1, 0), true);
        let c = mapper().compile(&s, &old).unwrap();
        assert!(c.set.get("org.mdmkit.t.app.pages").is_none());
        assert_eq!(c.apps.len(), 2);
    }

    #[test]
    fn deferrals_are_native_on_supervised_ios_18_and_a_profile_otherwise() {
        let s = settings("[os_updates]\ndeferral_days = 30");
        let sup = DeviceContext::new(Os::Ios, OsVersion(18, 0, 0), true);
        let c = mapper().compile(&s, &sup).unwrap();
        let d = c.set.get("org.mdmkit.t.os_updates.settings").unwrap();
        assert_eq!(
            String::from_utf8(json_io::write_object(&d.payload)).unwrap(),
            r#"{"Deferrals":{"CombinedPeriodInDays":30}}"#
        );
        let unsup = DeviceContext::new(Os::Ios, OsVersion(18, 0, 0), false);
        let c = mapper().compile(&s, &unsup).unwrap();
        assert!(c.set.get("org.mdmkit.t.os_updates.settings").is_none());
        // The profile key needs supervision too: reported, not sent.
        assert!(c.set.is_empty());
        assert_eq!(
            c.unsupported[0].path.to_string(),
            "os_updates.deferral_days"
        );
        assert!(
            c.unsupported[0].reason.contains("supervised"),
            "{}",
            c.unsupported[0]
        );
        let mac = DeviceContext::new(Os::MacOs, OsVersion(14, 6, 0), true);
        let c = mapper().compile(&s, &mac).unwrap();
        assert!(c.set.get("org.mdmkit.t.legacy.os_updates").is_some());
    }

    #[test]
    fn unchanged_content_keeps_its_tokens_and_a_change_moves_one() {
        let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        let a = settings("[passcode]\nmin_length = 6\n[restrictions]\ncamera = \"deny\"");
        let b = settings("[passcode]\nmin_length = 8\n[restrictions]\ncamera = \"deny\"");
        let ca = mapper().compile(&a, &ipad).unwrap();
        assert_eq!(ca, mapper().compile(&a, &ipad).unwrap());
        let cb = mapper().compile(&b, &ipad).unwrap();
        let changed: Vec<&str> = cb
            .set
            .declarations()
            .iter()
            .filter(|d| ca.set.get(&d.identifier).map(|o| &o.server_token) != Some(&d.server_token))
            .map(|d| d.identifier.as_str())
            .collect();
        assert_eq!(changed, ["org.mdmkit.t.passcode"]);
        assert_ne!(ca.set.declarations_token(), cb.set.declarations_token());
    }

    #[test]
    fn a_changed_legacy_profile_changes_its_declarations_token() {
        let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        let a = mapper()
            .compile(&settings("[restrictions]\ncamera = \"deny\""), &ipad)
            .unwrap();
        let b = mapper()
            .compile(&settings("[restrictions]\ncamera = \"allow\""), &ipad)
            .unwrap();
        let id = "org.mdmkit.t.legacy.restrictions";
        assert_eq!(
            a.set.get(id).unwrap().payload,
            b.set.get(id).unwrap().payload
        );
        assert_ne!(
            a.set.get(id).unwrap().server_token,
            b.set.get(id).unwrap().server_token
        );
    }

    impl DeclarativeCompiled {
        fn profile_for_passcode_is_absent(&self) -> bool {
            self.profiles
                .iter()
                .all(|p| p.category != Category::Passcode)
        }
    }
}
