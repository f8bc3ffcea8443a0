//! The mapping table and the per-setting encoders.

use mdmkit_core::Platform;
use mdmkit_policy::catalog::{self, Level};
use mdmkit_policy::flat::flatten;
use mdmkit_policy::{
    Device, InstallState, KioskMode, Segment, SettingPath, Settings, WindowsValue,
};
use serde_json::Value;

use super::table::{SCALARS, Scalar, ScalarEncoding};
use super::wlan::{esc, wlan_profile_xml};
use super::{Action, Create, Mapped, Note, OnDelete, UnsupportedSetting};
use crate::syncml::Format;

const POLICY: &str = "./Device/Vendor/MSFT/Policy/Config/";

/// DeviceLock nodes that Policy CSP - DeviceLock says to create with
/// `Replace`, never `Add`, on desktop editions.
const REPLACE_ONLY: &[&str] = &[
    "DeviceLock/DevicePasswordEnabled",
    "DeviceLock/MinDevicePasswordLength",
    "DeviceLock/AlphanumericDevicePasswordRequired",
    "DeviceLock/MinDevicePasswordComplexCharacters",
];

struct Out {
    mapped: Vec<Mapped>,
    unsupported: Vec<UnsupportedSetting>,
    notes: Vec<Note>,
}

impl Out {
    fn unsupported(&mut self, path: &SettingPath, reason: impl Into<String>) {
        self.unsupported.push(UnsupportedSetting {
            path: path.clone(),
            reason: reason.into(),
        });
    }
    fn note(&mut self, path: &SettingPath, uri: &str, text: impl Into<String>) {
        self.notes.push(Note {
            path: path.clone(),
            uri: uri.to_owned(),
            text: text.into(),
        });
    }
    fn map(&mut self, path: &SettingPath, actions: Vec<Action>) {
        self.mapped.push(Mapped {
            path: path.clone(),
            actions,
        });
    }
}

fn set(uri: String, format: Format, value: String, on_delete: OnDelete) -> Action {
    Action::Set {
        uri,
        format,
        value,
        create: Create::Add,
        delete_uri: None,
        on_delete,
    }
}

/// Percent-encodes a key for one `LocURI` segment.
pub(crate) fn segment(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~{}!".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

pub(super) fn map_settings(
    settings: &Settings,
    device: Option<&Device>,
) -> (Vec<Mapped>, Vec<UnsupportedSetting>, Vec<Note>) {
    let mut out = Out {
        mapped: Vec::new(),
        unsupported: Vec::new(),
        notes: Vec::new(),
    };
    for (path, value) in flatten(settings) {
        let text = path.to_string();
        if let Some(row) = SCALARS.iter().find(|r| r.path == text) {
            scalar(&mut out, &path, row, &value);
            continue;
        }
        let key = match path.segments().last() {
            Some(Segment::Key(k)) => Some(k.as_str()),
            _ => None,
        };
        match (path.category().unwrap_or(""), key) {
            ("wifi", Some(ssid)) => wifi(&mut out, &path, ssid, settings),
            ("apps", Some(id)) => app(&mut out, &path, id, settings),
            ("vendor", Some(uri)) if text.starts_with("vendor.windows[") => {
                vendor(&mut out, &path, uri, settings)
            }
            ("certificates", Some(name)) if text.starts_with("certificates.roots[") => {
                root(&mut out, &path, name, settings)
            }
            _ => match text.as_str() {
                "kiosk.mode" => kiosk(&mut out, &path, settings),
                "restrictions.app_store" => app_store(&mut out, &path, &value),
                "kiosk.app" | "kiosk.apps" => {
                    if settings.kiosk.mode.is_none() {
                        out.unsupported(&path, "a kiosk app without kiosk.mode does nothing");
                    }
                }
                "os_updates.deferral_days" => deferral(&mut out, &path, &value),
                "os_updates.maintenance_window" => window(&mut out, &path, settings),
                "device.name_template" => name(&mut out, &path, settings, device),
                "device.lock_screen_message" => lock_message(&mut out, &path, settings),
                "device.time_zone" => time_zone(&mut out, &path, settings),
                "web_filter.mode" | "web_filter.allowed_urls" | "web_filter.denied_urls" => {
                    web_filter(&mut out, &path, settings)
                }
                _ => {
                    let level = catalog::governing(&path)
                        .map(|d| d.support(Platform::Windows).level)
                        .unwrap_or(Level::None);
                    if level != Level::NotApplicable {
                        out.unsupported(&path, "no Windows CSP enforces this setting");
                    }
                }
            },
        }
    }
    (out.mapped, out.unsupported, out.notes)
}

fn scalar(out: &mut Out, path: &SettingPath, row: &Scalar, value: &Value) {
    let uri = format!("{POLICY}{}", row.node);
    let encoded = match row.encoding {
        ScalarEncoding::Int { min, max } => value.as_u64().map(|n| {
            let c = n.clamp(min, max);
            if c != n {
                out.note(
                    path,
                    &uri,
                    format!("{n} is outside Windows' range {min}..={max}: sent as {c}"),
                );
            }
            c.to_string()
        }),
        ScalarEncoding::Bool {
            when_true,
            when_false,
        } => value
            .as_bool()
            .map(|b| if b { when_true } else { when_false }.to_owned()),
        ScalarEncoding::Rule { allow, deny } => match value.as_str() {
            Some("allow") => Some(allow.to_owned()),
            Some("deny") => Some(deny.to_owned()),
            _ => None,
        },
        ScalarEncoding::Complexity => match value.as_str() {
            Some("numeric") => Some("1".to_owned()),
            Some("alphanumeric" | "complex") => Some("0".to_owned()),
            _ => None,
        },
        ScalarEncoding::CharacterClasses => value
            .as_u64()
            .map(|n| if n == 0 { "1" } else { "3" }.to_owned()),
    };
    let Some(encoded) = encoded else {
        out.unsupported(path, format!("value {value} has no Windows encoding"));
        return;
    };
    if let Some(n) = row.note {
        out.note(path, &uri, n);
    }
    let create = if REPLACE_ONLY.contains(&row.node) {
        Create::Replace
    } else {
        Create::Add
    };
    out.map(
        path,
        vec![Action::Set {
            uri,
            format: Format::Int,
            value: encoded,
            create,
            delete_uri: None,
            on_delete: row.on_delete,
        }],
    );
}

/// Policy CSP - ADMX_WindowsStore: RemoveWindowsStore_2, ADMX-backed chr,
/// `<enabled/>` turns the Store app off; Enterprise and Education only.
fn app_store(out: &mut Out, path: &SettingPath, value: &Value) {
    let uri = format!("{POLICY}ADMX_WindowsStore/RemoveWindowsStore_2");
    let data = match value.as_str() {
        Some("deny") => "<enabled/>",
        Some("allow") => "<disabled/>",
        _ => {
            out.unsupported(path, format!("value {value} has no Windows encoding"));
            return;
        }
    };
    out.note(
        path,
        &uri,
        "turns the Microsoft Store app off; honoured on Enterprise and Education editions only",
    );
    out.map(
        path,
        vec![set(uri, Format::Chr, data.to_owned(), OnDelete::Delete)],
    );
}

fn wifi(out: &mut Out, path: &SettingPath, ssid: &str, settings: &Settings) {
    let Some(net) = settings.wifi.get(ssid) else {
        return;
    };
    match wlan_profile_xml(ssid, net) {
        Ok(xml) => {
            // WiFi CSP: Profile/{SSID}/WlanXml, chr, Add/Delete/Get/Replace;
            // Delete of Profile/{SSID} removes the network.
            let profile = format!("./Vendor/MSFT/WiFi/Profile/{}", segment(ssid));
            if net.proxy.is_some() {
                out.unsupported(
                    &path.join_field("proxy"),
                    "the Wi-Fi proxy is not part of the Windows WLAN profile",
                );
            }
            out.map(
                path,
                vec![Action::Set {
                    uri: format!("{profile}/WlanXml"),
                    format: Format::Chr,
                    value: xml,
                    create: Create::Add,
                    delete_uri: Some(profile),
                    on_delete: OnDelete::Delete,
                }],
            );
        }
        Err(reason) => out.unsupported(path, reason),
    }
}

fn app(out: &mut Out, path: &SettingPath, id: &str, settings: &Settings) {
    let Some(app) = settings.apps.get(id) else {
        return;
    };
    let Some(win) = &app.windows else {
        out.unsupported(path, "the app has no Windows identifier");
        return;
    };
    let state = app.install.unwrap_or(InstallState::Required);
    let mut actions = Vec::new();
    if let Some(pfn) = &win.package_family_name {
        let seg = segment(pfn);
        match state {
            // Enterprise app management: StoreInstall is an Exec on
            // AppInstallation/{PackageFamilyName}/StoreInstall, xml
            // `<Application id="{ProductID}" flags=".." skuid=".."/>`: the id
            // is the Store product ID (and skuid the Store SKU), neither of
            // which is the package family name the policy carries.
            InstallState::Required => out.unsupported(
                path,
                "installing a Store app needs its Microsoft Store product ID and SKU (StoreInstall), which the policy does not carry",
            ),
            // EnterpriseModernAppManagement CSP: Delete of
            // AppManagement/AppStore/{PackageFamilyName} uninstalls for the user.
            InstallState::Removed => actions.push(Action::Remove {
                uri: format!(
                    "./User/Vendor/MSFT/EnterpriseModernAppManagement/AppManagement/AppStore/{seg}"
                ),
            }),
            _ => {}
        }
    }
    if let Some(code) = &win.msi_product_code {
        // EnterpriseDesktopAppManagement CSP: MSI/{ProductID}, Delete
        // uninstalls the MSI.
        let node = format!(
            "./Device/Vendor/MSFT/EnterpriseDesktopAppManagement/MSI/{}",
            segment(code)
        );
        match state {
            InstallState::Removed => actions.push(Action::Remove { uri: node }),
            InstallState::Required => out.unsupported(
                path,
                "installing an MSI needs a download URL and file hash (DownloadInstall), which the policy does not carry",
            ),
            _ => {}
        }
    }
    match state {
        InstallState::Available => {
            out.unsupported(path, "Windows has no managed catalogue for available apps")
        }
        InstallState::Blocked => out.unsupported(path, "blocking an app needs an AppLocker policy"),
        _ => {}
    }
    if !actions.is_empty() {
        out.map(path, actions);
    }
}

fn vendor(out: &mut Out, path: &SettingPath, uri: &str, settings: &Settings) {
    let Some(v) = settings.vendor.windows.get(uri) else {
        return;
    };
    if let Err(e) = crate::LocUri::node(uri) {
        out.unsupported(path, format!("not a valid OMA-URI: {e}"));
        return;
    }
    let (format, value) = match v {
        WindowsValue::Int(n) => (Format::Int, n.to_string()),
        WindowsValue::Bool(b) => (Format::Bool, b.to_string()),
        WindowsValue::String(s) => (Format::Chr, s.clone()),
        WindowsValue::Base64(s) => (Format::B64, s.clone()),
        WindowsValue::Xml(s) => (Format::Xml, s.clone()),
        WindowsValue::Float(f) => (Format::Float, f.to_string()),
        _ => {
            out.unsupported(path, "unknown value type");
            return;
        }
    };
    out.map(
        path,
        vec![set(uri.to_owned(), format, value, OnDelete::Delete)],
    );
}

fn root(out: &mut Out, path: &SettingPath, name: &str, settings: &Settings) {
    use base64::Engine as _;
    use sha1::Digest as _;
    let Some(r) = settings.certificates.roots.get(name) else {
        return;
    };
    let Some(pem) = &r.pem else {
        out.unsupported(path, "a root certificate needs its PEM on Windows");
        return;
    };
    let limits = mdmkit_identity::pem::Limits::DEFAULT;
    let der = match mdmkit_identity::pem::decode_one(pem.as_bytes(), "CERTIFICATE", &limits) {
        Ok(der) => der,
        Err(e) => {
            out.unsupported(path, format!("the PEM holds no certificate: {e}"));
            return;
        }
    };
    let thumb: String = sha1::Sha1::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    // RootCATrustedCertificates CSP: Root/{CertHash} (SHA-1, hex),
    // EncodedCertificate b64; Delete of Root/{CertHash} removes it.
    let node = format!("./Device/Vendor/MSFT/RootCATrustedCertificates/Root/{thumb}");
    out.map(
        path,
        vec![Action::Set {
            uri: format!("{node}/EncodedCertificate"),
            format: Format::B64,
            value: base64::engine::general_purpose::STANDARD.encode(&der),
            create: Create::Add,
            delete_uri: Some(node),
            on_delete: OnDelete::Delete,
        }],
    );
}

fn kiosk(out: &mut Out, path: &SettingPath, settings: &Settings) {
    // AssignedAccess CSP: Configuration, chr (an AssignedAccessConfiguration
    // document, 2017/config namespace), Add/Delete/Get/Replace.
    const URI: &str = "./Vendor/MSFT/AssignedAccess/Configuration";
    const NS: &str = "http://schemas.microsoft.com/AssignedAccess/2017/config";
    const PROFILE: &str = "{9A2A490F-10F6-4764-974A-43B19E722C23}";
    let k = &settings.kiosk;
    let aumid = |key: &str| -> Option<String> {
        settings
            .apps
            .get(key)
            .and_then(|a| a.windows.as_ref())
            .and_then(|w| w.package_family_name.as_ref())
            .map(|pfn| format!("{pfn}!App"))
    };
    let body = match k.mode {
        Some(KioskMode::Off) | None => return,
        Some(KioskMode::SingleApp) => {
            let Some(id) = k.app.as_deref().and_then(aumid) else {
                out.unsupported(
                    path,
                    "a Windows single-app kiosk needs kiosk.app with a package_family_name",
                );
                return;
            };
            format!(r#"<KioskModeApp AppUserModelId="{}"/>"#, esc(&id))
        }
        Some(KioskMode::MultiApp) => {
            let mut apps = String::new();
            for key in k.apps.iter().flatten() {
                match aumid(key) {
                    Some(id) => apps.push_str(&format!(r#"<App AppUserModelId="{}"/>"#, esc(&id))),
                    None => out.unsupported(
                        &SettingPath::field("kiosk").join_field("apps"),
                        format!("app {key:?} has no package_family_name for assigned access"),
                    ),
                }
            }
            if apps.is_empty() {
                out.unsupported(
                    path,
                    "a Windows multi-app kiosk needs kiosk.apps with package_family_names",
                );
                return;
            }
            format!(
                r#"<AllAppsList><AllowedApps>{apps}</AllowedApps></AllAppsList><Taskbar ShowTaskbar="true"/>"#
            )
        }
        Some(_) => {
            out.unsupported(path, "unknown kiosk mode");
            return;
        }
    };
    let xml = format!(
        r#"<AssignedAccessConfiguration xmlns="{NS}"><Profiles><Profile Id="{PROFILE}">{body}</Profile></Profiles><Configs><Config><AutoLogonAccount/><DefaultProfile Id="{PROFILE}"/></Config></Configs></AssignedAccessConfiguration>"#
    );
    out.map(
        path,
        vec![set(URI.into(), Format::Chr, xml, OnDelete::Delete)],
    );
}

fn deferral(out: &mut Out, path: &SettingPath, value: &Value) {
    let Some(days) = value.as_u64() else {
        out.unsupported(path, "not a number of days");
        return;
    };
    // Policy CSP - Update: DeferQualityUpdatesPeriodInDays, int, 0-30;
    // DeferFeatureUpdatesPeriodInDays, int, 0-365.
    let q = days.min(30);
    let f = days.min(365);
    if q != days {
        out.note(
            path,
            &format!("{POLICY}Update/DeferQualityUpdatesPeriodInDays"),
            format!("quality updates can be deferred 30 days at most: sent as {q}"),
        );
    }
    out.map(
        path,
        vec![
            set(
                format!("{POLICY}Update/DeferQualityUpdatesPeriodInDays"),
                Format::Int,
                q.to_string(),
                OnDelete::Delete,
            ),
            set(
                format!("{POLICY}Update/DeferFeatureUpdatesPeriodInDays"),
                Format::Int,
                f.to_string(),
                OnDelete::Delete,
            ),
        ],
    );
}

fn hour(s: &str) -> Option<u64> {
    let h = s.split(':').next()?.parse::<u64>().ok()?;
    (h < 24).then_some(h)
}

fn window(out: &mut Out, path: &SettingPath, settings: &Settings) {
    let Some(w) = &settings.os_updates.maintenance_window else {
        return;
    };
    let (Some(start), Some(end)) = (hour(&w.start), hour(&w.end)) else {
        out.unsupported(path, "the window's times are not HH:MM");
        return;
    };
    // Active hours are when Windows does not restart: the complement of
    // the maintenance window, at most 18 hours long (Policy CSP - Update:
    // ActiveHoursStart / ActiveHoursEnd, int, 0-23; the range defaults to
    // 18 hours at most).
    let active = (start + 24 - end) % 24;
    if active > 18 || active == 0 {
        out.unsupported(
            path,
            "Windows active hours (the complement of the window) must be 1 to 18 hours long",
        );
        return;
    }
    out.note(
        path,
        &format!("{POLICY}Update/ActiveHoursStart"),
        "the window is expressed as active hours (when restarts are avoided), at whole hours",
    );
    out.map(
        path,
        vec![
            set(
                format!("{POLICY}Update/ActiveHoursStart"),
                Format::Int,
                end.to_string(),
                OnDelete::Delete,
            ),
            set(
                format!("{POLICY}Update/ActiveHoursEnd"),
                Format::Int,
                start.to_string(),
                OnDelete::Delete,
            ),
        ],
    );
}

fn name(out: &mut Out, path: &SettingPath, settings: &Settings, device: Option<&Device>) {
    // DevDetail CSP: Ext/Microsoft/DNSComputerName, chr, Get/Replace
    // (Windows 10 2004 and later), the server must reboot the device.
    // Ext/Microsoft/DeviceName cannot be replaced on desktop.
    const URI: &str = "./DevDetail/Ext/Microsoft/DNSComputerName";
    let Some(t) = &settings.device.name_template else {
        return;
    };
    let mut missing = None;
    let mut name = String::new();
    let mut rest = t.as_str();
    while let Some(open) = rest.find('{') {
        name.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').unwrap_or(after.len());
        let key = &after[..close];
        let v = device.and_then(|d| match key {
            "serial" => d.serial.clone(),
            "device_id" => Some(d.id.as_str().to_owned()),
            "model" => d.model.clone(),
            "platform" => Some("windows".to_owned()),
            "node" => Some(d.node.as_str().to_owned()),
            _ => None,
        });
        match v {
            Some(v) => name.push_str(&v),
            None => missing = Some(key.to_owned()),
        }
        rest = after.get(close + 1..).unwrap_or("");
    }
    name.push_str(rest);
    if let Some(key) = missing {
        out.unsupported(
            path,
            format!("the name template needs the device's {{{key}}}: compile for a device"),
        );
        return;
    }
    // A computer name is letters, digits and hyphens, and not only digits.
    // DNSComputerName takes up to 63 characters, but the NetBIOS name keeps
    // only 15: names are cut to 15 so both agree.
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(15)
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c.is_ascii_digit()) {
        out.unsupported(
            path,
            format!("{name:?} gives no valid Windows computer name"),
        );
        return;
    }
    if clean != name {
        out.note(
            path,
            URI,
            format!(
                "{name:?} is not a valid Windows computer name (letters, digits, hyphens, 15 at most): sent as {clean:?}"
            ),
        );
    }
    let name = clean;
    out.note(
        path,
        URI,
        "the new name takes effect only after the server reboots the device",
    );
    out.map(
        path,
        vec![Action::Set {
            uri: URI.into(),
            format: Format::Chr,
            value: name,
            create: Create::Replace,
            delete_uri: None,
            on_delete: OnDelete::Tattoo,
        }],
    );
}

fn lock_message(out: &mut Out, path: &SettingPath, settings: &Settings) {
    let Some(m) = &settings.device.lock_screen_message else {
        return;
    };
    // Policy CSP - LocalPoliciesSecurityOptions:
    // InteractiveLogon_MessageTextForUsersAttemptingToLogOn, chr, a list of
    // lines delimited by U+F000.
    let uri = format!(
        "{POLICY}LocalPoliciesSecurityOptions/InteractiveLogon_MessageTextForUsersAttemptingToLogOn"
    );
    out.note(
        path,
        &uri,
        "shown before sign-in (a logon message), not on the lock screen itself; it blocks Windows Autopilot pre-provisioning",
    );
    let text = m.replace("\r\n", "\n").replace('\n', "\u{F000}");
    out.map(
        path,
        vec![set(uri, Format::Chr, text, OnDelete::ResetTo(""))],
    );
}

/// IANA → Windows time zone ids (CLDR windowsZones, the common ones).
const ZONES: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("Europe/Paris", "Romance Standard Time"),
    ("Europe/Brussels", "Romance Standard Time"),
    ("Europe/Madrid", "Romance Standard Time"),
    ("Europe/Copenhagen", "Romance Standard Time"),
    ("Europe/Berlin", "W. Europe Standard Time"),
    ("Europe/Amsterdam", "W. Europe Standard Time"),
    ("Europe/Rome", "W. Europe Standard Time"),
    ("Europe/Vienna", "W. Europe Standard Time"),
    ("Europe/Zurich", "W. Europe Standard Time"),
    ("Europe/Luxembourg", "W. Europe Standard Time"),
    ("Europe/London", "GMT Standard Time"),
    ("Europe/Dublin", "GMT Standard Time"),
    ("Europe/Lisbon", "GMT Standard Time"),
    ("Europe/Warsaw", "Central European Standard Time"),
    ("Europe/Athens", "GTB Standard Time"),
    ("Europe/Helsinki", "FLE Standard Time"),
    ("America/New_York", "Eastern Standard Time"),
    ("America/Chicago", "Central Standard Time"),
    ("America/Denver", "Mountain Standard Time"),
    ("America/Los_Angeles", "Pacific Standard Time"),
    ("America/Montreal", "Eastern Standard Time"),
    ("America/Toronto", "Eastern Standard Time"),
    ("Indian/Reunion", "Mauritius Standard Time"),
    ("America/Martinique", "SA Western Standard Time"),
    ("America/Guadeloupe", "SA Western Standard Time"),
    ("America/Cayenne", "SA Eastern Standard Time"),
    ("Pacific/Noumea", "Central Pacific Standard Time"),
    ("Asia/Tokyo", "Tokyo Standard Time"),
];

fn time_zone(out: &mut Out, path: &SettingPath, settings: &Settings) {
    let Some(tz) = &settings.device.time_zone else {
        return;
    };
    let Some((_, win)) = ZONES.iter().find(|(iana, _)| iana == tz) else {
        out.unsupported(path, format!("no Windows time zone id known for {tz}"));
        return;
    };
    // Policy CSP - TimeLanguageSettings: ConfigureTimeZone, chr, a Windows
    // time zone name.
    let uri = format!("{POLICY}TimeLanguageSettings/ConfigureTimeZone");
    out.map(
        path,
        vec![set(uri, Format::Chr, (*win).to_owned(), OnDelete::Tattoo)],
    );
}

fn web_filter(out: &mut Out, path: &SettingPath, settings: &Settings) {
    use mdmkit_policy::WebFilterMode;
    // Microsoft Edge - Policies: URLBlocklist / URLAllowlist sit directly in
    // the "Microsoft Edge" category (no sub-category), so the ingested
    // path is {app}~Policy~microsoft_edge; list items are
    // `<data id="{Policy}Desc" value="1&#xF000;a&#xF000;2&#xF000;b"/>`.
    const EDGE: &str = "microsoft_edge~Policy~microsoft_edge";
    let w = &settings.web_filter;
    let list = |urls: &[String]| -> String {
        urls.iter()
            .enumerate()
            .map(|(i, u)| format!("{}&#xF000;{}", i + 1, esc(u)))
            .collect::<Vec<_>>()
            .join("&#xF000;")
    };
    let admx = |policy: &str, urls: &[String]| -> Action {
        set(
            format!("{POLICY}{EDGE}/{policy}"),
            Format::Chr,
            format!(
                r#"<enabled/><data id="{policy}Desc" value="{}"/>"#,
                list(urls)
            ),
            OnDelete::Delete,
        )
    };
    let text = path.to_string();
    let action = match text.as_str() {
        "web_filter.mode" => match w.mode {
            Some(WebFilterMode::Allowlist) => Some(admx("URLBlocklist", &["*".to_owned()])),
            Some(WebFilterMode::Denylist) => None,
            _ => {
                out.unsupported(path, "Windows has no built-in automatic content filter");
                return;
            }
        },
        "web_filter.allowed_urls" => w.allowed_urls.as_deref().map(|u| admx("URLAllowlist", u)),
        "web_filter.denied_urls" => {
            if w.mode == Some(WebFilterMode::Allowlist) {
                None
            } else {
                w.denied_urls.as_deref().map(|u| admx("URLBlocklist", u))
            }
        }
        _ => None,
    };
    if let Some(a) = action {
        out.note(
            path,
            a.uri(),
            "an ADMX-backed Microsoft Edge policy: msedge.admx must be ingested first; other browsers are not filtered",
        );
        out.map(path, vec![a]);
    }
}
