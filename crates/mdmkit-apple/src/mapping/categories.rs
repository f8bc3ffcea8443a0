//! The category-by-category mapping: settings to payload keys, each key
//! checked against the schema and the device before it is sent.

use mdmkit_core::TenantId;
use mdmkit_policy::{
    Category, Complexity, EapMethod, InstallState, KioskMode, ProxyMode, Rule, SettingPath,
    Settings, WebFilterMode, WifiNetwork, WifiSecurity,
};
use plist::{Dictionary, Value};

use super::{AppAction, UnsupportedSetting};
use crate::profile::{ProfileBuilder, ProfileId};
use crate::schema::{self, KeySpec, Scalar, SchemaEntry, SchemaKind};
use crate::support::{self, DeviceContext};

/// Why a network whose secret reference was not resolved is left out.
const UNRESOLVED: &str =
    "the secret reference was not resolved (Settings::resolve_secrets); the network is left out";

/// A payload being assembled.
pub(super) struct Draft {
    pub(super) ty: String,
    pub(super) slug: String,
    entry: Option<&'static SchemaEntry>,
    pub(super) dict: Dictionary,
}

impl Draft {
    fn new(ty: &str, slug: impl Into<String>) -> Self {
        Self {
            ty: ty.to_owned(),
            slug: slug.into(),
            entry: schema::find(SchemaKind::Profile, ty),
            dict: Dictionary::new(),
        }
    }
}

pub(super) struct Map<'a> {
    pub(super) tenant: &'a TenantId,
    pub(super) ctx: &'a DeviceContext,
    pub(super) unsupported: Vec<UnsupportedSetting>,
    pub(super) keep_unsupported: bool,
}

fn field(cat: &str, name: &str) -> SettingPath {
    SettingPath::field(cat).join_field(name)
}

/// Why a value is not allowed for a key (allowed values, range), if it is not.
pub(crate) fn check_value(spec: &KeySpec, value: &Value) -> Option<String> {
    let scalar_ok = |s: &Scalar| match (s, value) {
        (Scalar::Str(a), Value::String(b)) => *a == b,
        (Scalar::Int(a), Value::Integer(b)) => b.as_signed() == Some(*a),
        (Scalar::Bool(a), Value::Boolean(b)) => a == b,
        (Scalar::Real(a), Value::Real(b)) => a == b,
        _ => false,
    };
    if !spec.allowed.is_empty()
        && matches!(value, Value::String(_) | Value::Integer(_))
        && !spec.allowed.iter().any(scalar_ok)
    {
        let list: Vec<String> = spec.allowed.iter().map(|s| s.to_string()).collect();
        return Some(format!("must be one of {}", list.join(", ")));
    }
    let n = match value {
        Value::Integer(i) => i.as_signed().map(|v| v as f64),
        Value::Real(r) => Some(*r),
        _ => None,
    };
    if let Some(n) = n {
        if let Some(min) = spec.min
            && n < min
        {
            return Some(format!("must be at least {min}"));
        }
        if let Some(max) = spec.max
            && n > max
        {
            return Some(format!("must be at most {max}"));
        }
    }
    None
}

impl Map<'_> {
    fn report(&mut self, path: SettingPath, reason: impl Into<String>) {
        self.unsupported.push(UnsupportedSetting {
            path,
            reason: reason.into(),
            sent: false,
        });
    }

    /// Reports a support fact; `true` when the setting is to be sent anyway.
    fn report_support(&mut self, path: SettingPath, reason: String) -> bool {
        self.unsupported.push(UnsupportedSetting {
            path,
            reason,
            sent: self.keep_unsupported,
        });
        self.keep_unsupported
    }

    /// Puts a key into a draft if the device accepts it; reports it otherwise.
    fn put(&mut self, d: &mut Draft, path: &SettingPath, key: &str, value: Value) -> bool {
        let Some(entry) = d.entry else {
            d.dict.insert(key.to_owned(), value);
            return true;
        };
        let Some(spec) = entry.key(key) else {
            self.report(path.clone(), format!("{} has no key {key}", d.ty));
            return false;
        };
        let why = support::check_key(entry, spec, self.ctx);
        if !why.is_empty() {
            let reasons: Vec<String> = why.iter().map(ToString::to_string).collect();
            let reason = format!("{} {key}: {}", d.ty, reasons.join(", "));
            if !self.report_support(path.clone(), reason) {
                return false;
            }
        }
        if let Some(reason) = check_value(spec, &value) {
            self.report(path.clone(), format!("{} {key} {reason}", d.ty));
            return false;
        }
        d.dict.insert(key.to_owned(), value);
        true
    }

    pub(super) fn category(&mut self, s: &Settings, c: Category) -> Vec<Draft> {
        let drafts = match c {
            Category::Passcode => self.passcode(s),
            Category::Restrictions => self.restrictions(s),
            Category::Wifi => self.wifi(s),
            Category::WebFilter => self.web_filter(s),
            Category::Kiosk => self.kiosk(s),
            Category::OsUpdates => self.os_updates(s),
            Category::Device => self.device(s),
            Category::Certificates => self.certificates(s),
            Category::Vendor => self.vendor(s),
            _ => Vec::new(),
        };
        drafts.into_iter().filter(|d| !d.dict.is_empty()).collect()
    }

    fn passcode(&mut self, s: &Settings) -> Vec<Draft> {
        let p = &s.passcode;
        let mut d = Draft::new("com.apple.mobiledevice.passwordpolicy", "passcode");
        let f = |n| field("passcode", n);
        if let Some(v) = p.required {
            self.put(&mut d, &f("required"), "forcePIN", Value::Boolean(v));
        }
        if let Some(v) = p.min_length {
            self.put(&mut d, &f("min_length"), "minLength", int(v));
        }
        match p.complexity {
            Some(Complexity::Numeric) => {
                self.put(
                    &mut d,
                    &f("complexity"),
                    "requireAlphanumeric",
                    Value::Boolean(false),
                );
            }
            Some(Complexity::Alphanumeric) => {
                self.put(
                    &mut d,
                    &f("complexity"),
                    "requireAlphanumeric",
                    Value::Boolean(true),
                );
            }
            Some(Complexity::Complex) => {
                self.put(
                    &mut d,
                    &f("complexity"),
                    "requireAlphanumeric",
                    Value::Boolean(true),
                );
                if p.min_complex_chars.is_none() {
                    self.put(&mut d, &f("complexity"), "minComplexChars", int(1));
                }
                self.put(
                    &mut d,
                    &f("complexity"),
                    "allowSimple",
                    Value::Boolean(false),
                );
            }
            _ => {}
        }
        if let Some(v) = p.min_complex_chars {
            self.put(&mut d, &f("min_complex_chars"), "minComplexChars", int(v));
        }
        if let Some(v) = p.max_failed_attempts {
            self.put(
                &mut d,
                &f("max_failed_attempts"),
                "maxFailedAttempts",
                int(v),
            );
        }
        if let Some(v) = p.auto_lock_minutes {
            self.put(&mut d, &f("auto_lock_minutes"), "maxInactivity", int(v));
        }
        if let Some(v) = p.max_age_days {
            self.put(&mut d, &f("max_age_days"), "maxPINAgeInDays", int(v));
        }
        if let Some(v) = p.history {
            self.put(&mut d, &f("history"), "pinHistory", int(v));
        }
        vec![d]
    }

    fn restrictions(&mut self, s: &Settings) -> Vec<Draft> {
        let r = &s.restrictions;
        let mut d = Draft::new("com.apple.applicationaccess", "restrictions");
        // erase_content and factory_reset share one Apple key: deny wins.
        let erase = match (r.erase_content, r.factory_reset) {
            (Some(Rule::Deny), _) | (_, Some(Rule::Deny)) => Some(Rule::Deny),
            (None, None) => None,
            _ => Some(Rule::Allow),
        };
        let table: [(&str, Option<Rule>, &str); 13] = [
            ("camera", r.camera, "allowCamera"),
            ("screen_capture", r.screen_capture, "allowScreenShot"),
            (
                "app_installation",
                r.app_installation,
                "allowAppInstallation",
            ),
            ("app_removal", r.app_removal, "allowAppRemoval"),
            (
                "in_app_purchases",
                r.in_app_purchases,
                "allowInAppPurchases",
            ),
            (
                "explicit_content",
                r.explicit_content,
                "allowExplicitContent",
            ),
            ("nearby_sharing", r.nearby_sharing, "allowAirDrop"),
            (
                "bluetooth_changes",
                r.bluetooth_changes,
                "allowBluetoothModification",
            ),
            (
                "account_changes",
                r.account_changes,
                "allowAccountModification",
            ),
            (
                if r.erase_content.is_some() {
                    "erase_content"
                } else {
                    "factory_reset"
                },
                erase,
                "allowEraseContentAndSettings",
            ),
            ("voice_assistant", r.voice_assistant, "allowAssistant"),
            (
                "multiplayer_gaming",
                r.multiplayer_gaming,
                "allowMultiplayerGaming",
            ),
            ("app_store", r.app_store, "allowUIAppInstallation"),
        ];
        for (name, rule, key) in table {
            if let Some(rule) = rule {
                let v = Value::Boolean(rule == Rule::Allow);
                self.put(&mut d, &field("restrictions", name), key, v);
            }
        }
        if r.usb_mass_storage.is_some() {
            self.report(
                field("restrictions", "usb_mass_storage"),
                "no Apple restriction for USB mass storage",
            );
        }
        if r.developer_mode.is_some() {
            self.report(
                field("restrictions", "developer_mode"),
                "no Apple restriction for developer mode",
            );
        }
        vec![d]
    }

    /// A Wi-Fi network whose secret reference was not resolved is left
    /// out: a profile without its key would only fail on the device.
    fn wifi(&mut self, s: &Settings) -> Vec<Draft> {
        let mut out = Vec::new();
        for (i, (ssid, net)) in s.wifi.iter().enumerate() {
            let base = SettingPath::field("wifi").join_key(ssid.clone());
            if net.password.as_ref().is_some_and(|p| p.expose().is_none()) {
                self.report(base.join_field("password"), UNRESOLVED);
                continue;
            }
            let mut d = Draft::new("com.apple.wifi.managed", format!("wifi{i}"));
            self.network(&mut d, &base, ssid, net);
            out.push(d);
        }
        out
    }

    fn network(&mut self, d: &mut Draft, base: &SettingPath, ssid: &str, n: &WifiNetwork) {
        let f = |name: &str| base.join_field(name);
        if !self.put(d, base, "SSID_STR", Value::String(ssid.to_owned())) {
            return;
        }
        let security = n.security.unwrap_or(WifiSecurity::Wpa2Personal);
        let enc = match security {
            WifiSecurity::Open => "None",
            WifiSecurity::Wpa2Personal | WifiSecurity::Wpa2Enterprise => "WPA2",
            WifiSecurity::Wpa3Personal | WifiSecurity::Wpa3Enterprise => "WPA3",
            _ => "Any",
        };
        self.put(
            d,
            &f("security"),
            "EncryptionType",
            Value::String(enc.into()),
        );
        if let Some(p) = n.password.as_ref().and_then(|p| p.expose()) {
            self.put(d, &f("password"), "Password", Value::String(p.to_owned()));
        }
        if let Some(h) = n.hidden {
            self.put(d, &f("hidden"), "HIDDEN_NETWORK", Value::Boolean(h));
        }
        if let Some(a) = n.auto_join {
            self.put(d, &f("auto_join"), "AutoJoin", Value::Boolean(a));
        }
        if security.is_enterprise() || n.eap.is_some() {
            let mut eap = Dictionary::new();
            let ty = match n.eap {
                Some(EapMethod::Tls) => 13,
                _ => 25,
            };
            eap.insert("AcceptEAPTypes".into(), Value::Array(vec![int(ty)]));
            if let Some(u) = &n.username {
                eap.insert("UserName".into(), Value::String(u.clone()));
            }
            if let Some(names) = &n.server_names {
                eap.insert(
                    "TLSTrustedServerNames".into(),
                    Value::Array(names.iter().cloned().map(Value::String).collect()),
                );
            }
            self.put(
                d,
                &f("eap"),
                "EAPClientConfiguration",
                Value::Dictionary(eap),
            );
        }
        if n.identity_certificate.is_some() {
            self.report(
                f("identity_certificate"),
                "the identity payload is issued by the integrator (SCEP/ACME); reference it with PayloadCertificateUUID in the same profile",
            );
        }
        if n.trusted_server_certificates.is_some() {
            self.report(
                f("trusted_server_certificates"),
                "trust anchors must be payloads of the same profile; TLSTrustedServerNames is sent instead",
            );
        }
        if let Some(p) = &n.proxy {
            let pf = f("proxy");
            match p.mode {
                Some(ProxyMode::Manual) => {
                    self.put(d, &pf, "ProxyType", Value::String("Manual".into()));
                    if let Some(h) = &p.host {
                        self.put(
                            d,
                            &pf.join_field("host"),
                            "ProxyServer",
                            Value::String(h.clone()),
                        );
                    }
                    if let Some(port) = p.port {
                        self.put(d, &pf.join_field("port"), "ProxyServerPort", int(port));
                    }
                }
                Some(ProxyMode::Auto) => {
                    self.put(d, &pf, "ProxyType", Value::String("Auto".into()));
                    if let Some(u) = &p.pac_url {
                        self.put(
                            d,
                            &pf.join_field("pac_url"),
                            "ProxyPACURL",
                            Value::String(u.clone()),
                        );
                    }
                }
                _ => {
                    self.put(d, &pf, "ProxyType", Value::String("None".into()));
                }
            }
        }
    }

    fn web_filter(&mut self, s: &Settings) -> Vec<Draft> {
        let w = &s.web_filter;
        let mut d = Draft::new("com.apple.webcontent-filter", "webfilter");
        let Some(mode) = w.mode else {
            if !w.is_empty() {
                self.report(SettingPath::field("web_filter"), "no filter mode set");
            }
            return Vec::new();
        };
        let mode_path = field("web_filter", "mode");
        if !self.put(
            &mut d,
            &mode_path,
            "FilterType",
            Value::String("BuiltIn".into()),
        ) {
            return Vec::new();
        }
        match mode {
            WebFilterMode::Automatic => {
                self.put(
                    &mut d,
                    &mode_path,
                    "AutoFilterEnabled",
                    Value::Boolean(true),
                );
            }
            WebFilterMode::Allowlist => {
                let marks: Vec<Value> = w
                    .allowed_urls
                    .iter()
                    .flatten()
                    .map(|u| {
                        let mut m = Dictionary::new();
                        m.insert("URL".into(), Value::String(u.clone()));
                        m.insert("Title".into(), Value::String(u.clone()));
                        Value::Dictionary(m)
                    })
                    .collect();
                self.put(
                    &mut d,
                    &field("web_filter", "allowed_urls"),
                    "AllowListBookmarks",
                    Value::Array(marks),
                );
            }
            _ => {
                self.put(
                    &mut d,
                    &mode_path,
                    "AutoFilterEnabled",
                    Value::Boolean(false),
                );
            }
        }
        if let Some(urls) = &w.denied_urls {
            self.put(
                &mut d,
                &field("web_filter", "denied_urls"),
                "DenyListURLs",
                Value::Array(urls.iter().cloned().map(Value::String).collect()),
            );
        }
        if mode != WebFilterMode::Allowlist && w.allowed_urls.is_some() {
            self.put(
                &mut d,
                &field("web_filter", "allowed_urls"),
                "PermittedURLs",
                Value::Array(
                    w.allowed_urls
                        .iter()
                        .flatten()
                        .cloned()
                        .map(Value::String)
                        .collect(),
                ),
            );
        }
        vec![d]
    }

    fn bundle_id(s: &Settings, app: &str) -> Option<String> {
        s.apps
            .get(app)
            .and_then(|a| a.apple.as_ref())
            .and_then(|a| a.bundle_id.clone())
    }

    fn kiosk(&mut self, s: &Settings) -> Vec<Draft> {
        let k = &s.kiosk;
        let mut d = Draft::new("com.apple.app.lock", "applock");
        match k.mode {
            Some(KioskMode::SingleApp) => {
                let path = field("kiosk", "app");
                match k.app.as_deref() {
                    Some(app) => match Self::bundle_id(s, app) {
                        Some(bundle) => {
                            let mut a = Dictionary::new();
                            a.insert("Identifier".into(), Value::String(bundle));
                            self.put(&mut d, &path, "App", Value::Dictionary(a));
                        }
                        None => self.report(path, format!("app {app:?} has no Apple bundle id")),
                    },
                    None => self.report(path, "single-app mode needs an app"),
                }
            }
            Some(KioskMode::MultiApp) => self.report(
                field("kiosk", "mode"),
                "Apple has no multi-app kiosk profile; use Home Screen layout and restrictions",
            ),
            _ => {}
        }
        if k.mode != Some(KioskMode::MultiApp) && k.apps.is_some() {
            self.report(field("kiosk", "apps"), "only used by multi-app kiosk mode");
        }
        vec![d]
    }

    fn os_updates(&mut self, s: &Settings) -> Vec<Draft> {
        let u = &s.os_updates;
        let mut d = Draft::new("com.apple.applicationaccess", "osupdates");
        if let Some(days) = u.deferral_days {
            let p = field("os_updates", "deferral_days");
            if self.put(&mut d, &p, "enforcedSoftwareUpdateDelay", int(days)) {
                self.put(
                    &mut d,
                    &p,
                    "forceDelayedSoftwareUpdates",
                    Value::Boolean(true),
                );
            }
        }
        if u.maintenance_window.is_some() {
            self.report(
                field("os_updates", "maintenance_window"),
                "Apple profiles have no maintenance window; schedule ScheduleOSUpdate commands",
            );
        }
        if u.minimum_version
            .as_ref()
            .and_then(|m| m.apple.as_ref())
            .is_some()
        {
            self.report(
                field("os_updates", "minimum_version"),
                "enforced with ScheduleOSUpdate or a software-update declaration, not a profile",
            );
        }
        vec![d]
    }

    fn device(&mut self, s: &Settings) -> Vec<Draft> {
        let ds = &s.device;
        let mut d = Draft::new("com.apple.shareddeviceconfiguration", "lockscreen");
        if let Some(m) = &ds.lock_screen_message {
            self.put(
                &mut d,
                &field("device", "lock_screen_message"),
                "LockScreenFootnote",
                Value::String(m.clone()),
            );
        }
        if ds.name_template.is_some() {
            self.report(
                field("device", "name_template"),
                "set by the Settings command (DeviceName), not a profile",
            );
        }
        if ds.time_zone.is_some() {
            self.report(
                field("device", "time_zone"),
                "set by the Settings command (TimeZone), not a profile",
            );
        }
        vec![d]
    }

    fn certificates(&mut self, s: &Settings) -> Vec<Draft> {
        let mut out = Vec::new();
        for (i, (name, root)) in s.certificates.roots.iter().enumerate() {
            let path = SettingPath::field("certificates")
                .join_field("roots")
                .join_key(name.clone());
            let Some(pem) = &root.pem else {
                self.report(
                    path,
                    "no PEM: the certificate data is needed for com.apple.security.root",
                );
                continue;
            };
            let limits = mdmkit_identity::pem::Limits::DEFAULT;
            match mdmkit_identity::pem::decode_one(pem.as_bytes(), "CERTIFICATE", &limits) {
                Ok(der) => {
                    let mut d = Draft::new("com.apple.security.root", format!("root{i}"));
                    self.put(&mut d, &path, "PayloadContent", Value::Data(der));
                    self.put(
                        &mut d,
                        &path,
                        "PayloadCertificateFileName",
                        Value::String(format!("{name}.cer")),
                    );
                    out.push(d);
                }
                Err(e) => self.report(path, format!("the PEM holds no certificate: {e}")),
            }
        }
        for name in s.certificates.identities.keys() {
            self.report(
                SettingPath::field("certificates")
                    .join_field("identities")
                    .join_key(name.clone()),
                "identities are issued by the integrator (SCEP/ACME payload), not compiled",
            );
        }
        out
    }

    fn vendor(&mut self, s: &Settings) -> Vec<Draft> {
        let mut out = Vec::new();
        for (name, p) in &s.vendor.apple {
            let path = SettingPath::field("vendor")
                .join_field("apple")
                .join_key(name.clone());
            let mut dict = Dictionary::new();
            for (k, v) in &p.content {
                if let Some(v) = json_to_plist(v) {
                    dict.insert(k.clone(), v);
                }
            }
            let slug = format!("vendor.{}", sanitize(name));
            // Validate on its own so a bad payload is reported, not sent.
            let check = ProfileId::new("check", self.tenant, "v")
                .ok()
                .and_then(|id| {
                    ProfileBuilder::new(id)
                        .payload(p.payload_type.clone(), slug.clone(), dict.clone())
                        .build()
                        .ok()
                });
            let Some(check) = check else {
                self.report(
                    path,
                    format!("cannot build a payload of type {:?}", p.payload_type),
                );
                continue;
            };
            let errors: Vec<String> = check
                .validate()
                .into_iter()
                .filter(|i| i.is_error())
                .map(|i| i.to_string())
                .collect();
            if !errors.is_empty() {
                self.report(path, format!("{}: {}", p.payload_type, errors.join("; ")));
                continue;
            }
            if let Some(entry) = schema::find(SchemaKind::Profile, &p.payload_type) {
                let why = support::check_entry(entry, self.ctx);
                if !why.is_empty() {
                    let r: Vec<String> = why.iter().map(ToString::to_string).collect();
                    let reason = format!("{}: {}", p.payload_type, r.join(", "));
                    if !self.report_support(path, reason) {
                        continue;
                    }
                }
            }
            out.push(Draft {
                ty: p.payload_type.clone(),
                slug,
                entry: None,
                dict,
            });
        }
        out
    }

    pub(super) fn apps(&mut self, s: &Settings) -> Vec<AppAction> {
        let mut out = Vec::new();
        for (id, app) in &s.apps {
            let path = SettingPath::field("apps").join_key(id.clone());
            let Some(state) = app.install else { continue };
            let bundle = app.apple.as_ref().and_then(|a| a.bundle_id.clone());
            let Some(bundle_id) = bundle else {
                if app.apple.is_some()
                    || matches!(state, InstallState::Required | InstallState::Removed)
                {
                    self.report(path, "no Apple bundle id");
                }
                continue;
            };
            match state {
                InstallState::Required => out.push(AppAction::Install {
                    app: id.clone(),
                    bundle_id,
                }),
                InstallState::Removed => out.push(AppAction::Remove {
                    app: id.clone(),
                    bundle_id,
                }),
                InstallState::Available => self.report(
                    path.join_field("install"),
                    "Apple has no \"available\" state over MDM; offer it in the integrator's app catalogue",
                ),
                _ => self.report(
                    path.join_field("install"),
                    "blocking an app needs the blockedAppBundleIDs restriction (supervised), not compiled",
                ),
            }
            if app.config.is_some() {
                self.report(
                    path.join_field("config"),
                    "managed app configuration is sent with InstallApplication Configuration by the integrator",
                );
            }
        }
        out
    }
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
    if s.is_empty() { "payload".into() } else { s }
}

fn int(v: impl Into<i64>) -> Value {
    Value::Integer(v.into().into())
}

fn json_to_plist(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Integer(u.into())
            } else {
                Value::Real(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().filter_map(json_to_plist).collect()),
        serde_json::Value::Object(o) => {
            let mut d = Dictionary::new();
            for (k, v) in o {
                if let Some(v) = json_to_plist(v) {
                    d.insert(k.clone(), v);
                }
            }
            Value::Dictionary(d)
        }
    })
}
