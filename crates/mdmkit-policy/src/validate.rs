//! Semantic checks of settings: ranges, formats and consistency, each
//! reported at its setting path. Type errors are caught earlier, by the
//! typed deserialisation.

use crate::catalog::{self, CATALOG};
use crate::error::{Issue, IssueKind};
use crate::flat::FlatSettings;
use crate::model::{
    EapMethod, InstallState, KioskMode, ProxyMode, Settings, WebFilterMode, WifiNetwork,
    WifiSecurity,
};
use crate::path::SettingPath;
use crate::secret::{Secret, psk_ok};

/// The most entries of one list (URLs, kiosk apps, server names).
pub const MAX_LIST_LEN: usize = 10_000;

struct Check {
    issues: Vec<Issue>,
}

impl Check {
    fn bad(&mut self, path: SettingPath, msg: impl Into<String>) {
        self.issues.push(Issue::at(IssueKind::Invalid, path, msg));
    }

    fn range(&mut self, path: SettingPath, v: Option<u32>, min: u32, max: u32) {
        if let Some(v) = v
            && (v < min || v > max)
        {
            self.bad(path, format!("{v} is out of range {min} to {max}"));
        }
    }

    fn text(&mut self, path: SettingPath, v: Option<&String>, max: usize) {
        if let Some(v) = v {
            if v.trim().is_empty() {
                self.bad(path, "is empty");
            } else if v.len() > max {
                self.bad(
                    path,
                    format!("is {} bytes long, at most {max} are allowed", v.len()),
                );
            }
        }
    }

    fn list(
        &mut self,
        path: &SettingPath,
        v: Option<&Vec<String>>,
        what: fn(&str) -> Option<&'static str>,
    ) {
        let Some(items) = v else { return };
        if items.len() > MAX_LIST_LEN {
            self.bad(
                path.clone(),
                format!(
                    "has {} entries, at most {MAX_LIST_LEN} are allowed",
                    items.len()
                ),
            );
        }
        for (i, item) in items.iter().enumerate().take(MAX_LIST_LEN) {
            if let Some(msg) = what(item) {
                self.bad(path.join_field(i.to_string()), format!("{item:?}: {msg}"));
            }
        }
    }
}

fn p(s: &str) -> SettingPath {
    let mut path = SettingPath::root();
    for part in s.split('.') {
        path.push_field(part);
    }
    path
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn url_like(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("is empty")
    } else if s.len() > 2048 {
        Some("is longer than 2048 bytes")
    } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("contains white space")
    } else {
        None
    }
}

fn non_empty_name(s: &str) -> Option<&'static str> {
    if s.trim().is_empty() {
        Some("is empty")
    } else if s.len() > 255 {
        Some("is longer than 255 bytes")
    } else {
        None
    }
}

fn https_url(s: &str) -> Option<&'static str> {
    url_like(s).or_else(|| (!s.starts_with("https://")).then_some("must be an https:// URL"))
}

/// `HH:MM`, 00:00 to 23:59.
pub(crate) fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && s[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && s[3..].parse::<u8>().is_ok_and(|m| m < 60)
        && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD` with a day that exists.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| s[r].parse().ok())?
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// A dotted numeric version (`17.5`, `10.0.22631`, `14`).
pub(crate) fn parse_version(s: &str) -> Option<Vec<u64>> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    s.split('.')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                part.parse().ok()
            }
        })
        .collect()
}

fn reverse_dns(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    s.len() <= 255
        && parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn android_package(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    s.len() <= 255
        && parts.len() >= 2
        && parts.iter().all(|p| {
            p.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

fn package_family_name(s: &str) -> bool {
    let Some((name, publisher)) = s.rsplit_once('_') else {
        return false;
    };
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && publisher.len() == 13
        && publisher
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn msi_product_code(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
        return false;
    };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| is_hex(g, n))
}

const NAME_PLACEHOLDERS: &[&str] = &["serial", "device_id", "model", "platform", "node"];

fn check_template(c: &mut Check, path: SettingPath, t: &str) {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            c.bad(path, "has an unclosed '{'");
            return;
        };
        let name = &after[..close];
        if !NAME_PLACEHOLDERS.contains(&name) {
            c.bad(
                path.clone(),
                format!(
                    "unknown placeholder {{{name}}}, expected one of {}",
                    NAME_PLACEHOLDERS
                        .iter()
                        .map(|n| format!("{{{n}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        rest = &after[close + 1..];
    }
}

fn time_zone(s: &str) -> bool {
    s == "UTC"
        || (s.len() <= 64
            && s.contains('/')
            && s.split('/').all(|part| {
                part.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
            }))
}

fn wifi(c: &mut Check, ssid: &str, w: &WifiNetwork) {
    let base = SettingPath::field("wifi").join_key(ssid);
    if ssid.is_empty() || ssid.len() > 32 {
        c.bad(base.clone(), "an SSID is 1 to 32 bytes long");
    }
    let Some(sec) = w.security else {
        c.bad(base.join_field("security"), "required");
        return;
    };
    let name = sec.as_str();
    if let Some(r) = w.password.as_ref().and_then(Secret::reference) {
        if let Some(problem) = r.source().problem() {
            c.bad(base.join_field("password"), problem);
        }
        if r.sha256().is_some() {
            c.bad(
                base.join_field("password").join_field("sha256"),
                "is set by mdmkit when the secret is resolved, not in documents",
            );
        }
    }
    if sec.is_personal() {
        match &w.password {
            None => c.bad(
                base.join_field("password"),
                format!("required when security = {name}"),
            ),
            // A reference's value is checked when it is resolved.
            Some(Secret::Literal(pw)) => {
                if !psk_ok(sec, pw) {
                    c.bad(
                        base.join_field("password"),
                        "must be 8 to 63 ASCII characters (or 64 hexadecimal digits for wpa2-personal)",
                    );
                }
            }
            Some(_) => {}
        }
    }
    if sec == WifiSecurity::Open && w.password.is_some() {
        c.bad(
            base.join_field("password"),
            "not allowed when security = open",
        );
    }
    if sec.is_enterprise() {
        match w.eap {
            None => c.bad(
                base.join_field("eap"),
                format!("required when security = {name}"),
            ),
            Some(EapMethod::Tls) if w.identity_certificate.is_none() => c.bad(
                base.join_field("identity_certificate"),
                "required when eap = tls",
            ),
            Some(_) => {}
        }
        if w.eap == Some(EapMethod::Tls) && w.password.is_some() {
            c.bad(base.join_field("password"), "not allowed when eap = tls");
        }
    } else {
        for (field, set) in [
            ("eap", w.eap.is_some()),
            ("identity_certificate", w.identity_certificate.is_some()),
            (
                "trusted_server_certificates",
                w.trusted_server_certificates.is_some(),
            ),
            ("server_names", w.server_names.is_some()),
            ("username", w.username.is_some()),
        ] {
            if set {
                c.bad(
                    base.join_field(field),
                    format!("only for enterprise security, not {name}"),
                );
            }
        }
    }
    c.list(
        &base.join_field("server_names"),
        w.server_names.as_ref(),
        non_empty_name,
    );
    c.list(
        &base.join_field("trusted_server_certificates"),
        w.trusted_server_certificates.as_ref(),
        non_empty_name,
    );
    if let Some(proxy) = &w.proxy {
        let pp = base.join_field("proxy");
        match proxy.mode {
            None => c.bad(pp.join_field("mode"), "required"),
            Some(ProxyMode::Manual) => {
                if proxy.host.is_none() {
                    c.bad(pp.join_field("host"), "required when mode = manual");
                }
                if proxy.port.is_none() {
                    c.bad(pp.join_field("port"), "required when mode = manual");
                }
                if proxy.pac_url.is_some() {
                    c.bad(pp.join_field("pac_url"), "only when mode = auto");
                }
            }
            Some(ProxyMode::Auto) => match &proxy.pac_url {
                None => c.bad(pp.join_field("pac_url"), "required when mode = auto"),
                Some(u) => {
                    if let Some(m) = https_url(u) {
                        c.bad(pp.join_field("pac_url"), m);
                    }
                }
            },
        }
        c.text(pp.join_field("host"), proxy.host.as_ref(), 255);
        if proxy.port == Some(0) {
            c.bad(pp.join_field("port"), "0 is not a port");
        }
    }
}

/// Checks one policy's settings on their own (references to other
/// policies' apps and certificates are checked on effective policies, see
/// [`effective`]).
pub(crate) fn settings(s: &Settings) -> Vec<Issue> {
    let mut c = Check { issues: Vec::new() };
    let pc = &s.passcode;
    c.range(p("passcode.min_length"), pc.min_length, 1, 64);
    c.range(p("passcode.min_complex_chars"), pc.min_complex_chars, 0, 4);
    c.range(
        p("passcode.max_failed_attempts"),
        pc.max_failed_attempts,
        2,
        11,
    );
    c.range(p("passcode.auto_lock_minutes"), pc.auto_lock_minutes, 1, 60);
    c.range(p("passcode.max_age_days"), pc.max_age_days, 1, 730);
    c.range(p("passcode.history"), pc.history, 1, 50);
    if pc.required == Some(false) {
        let others = pc.min_length.is_some()
            || pc.complexity.is_some()
            || pc.min_complex_chars.is_some()
            || pc.max_failed_attempts.is_some()
            || pc.max_age_days.is_some()
            || pc.history.is_some();
        if others {
            c.bad(
                p("passcode.required"),
                "is false while other passcode rules are set",
            );
        }
    }

    for (ssid, w) in &s.wifi {
        wifi(&mut c, ssid, w);
    }

    c.list(
        &p("web_filter.allowed_urls"),
        s.web_filter.allowed_urls.as_ref(),
        url_like,
    );
    c.list(
        &p("web_filter.denied_urls"),
        s.web_filter.denied_urls.as_ref(),
        url_like,
    );

    for (id, app) in &s.apps {
        let base = SettingPath::field("apps").join_key(id.clone());
        if id.is_empty() || id.len() > 128 {
            c.bad(base.clone(), "an app id is 1 to 128 bytes long");
        }
        if app.install.is_none() {
            c.bad(base.join_field("install"), "required");
        }
        if app.apple.is_none() && app.android.is_none() && app.windows.is_none() {
            c.bad(
                base.clone(),
                "needs an identifier for at least one platform (apple, android or windows)",
            );
        }
        c.text(base.join_field("name"), app.name.as_ref(), 255);
        if let Some(a) = &app.apple {
            let ap = base.join_field("apple");
            if a.bundle_id.is_none() && a.app_store_id.is_none() {
                c.bad(ap.clone(), "needs bundle_id or app_store_id");
            }
            if let Some(b) = &a.bundle_id
                && !reverse_dns(b)
            {
                c.bad(
                    ap.join_field("bundle_id"),
                    format!("{b:?} is not a bundle identifier"),
                );
            }
            if a.app_store_id == Some(0) {
                c.bad(ap.join_field("app_store_id"), "0 is not an App Store id");
            }
        }
        if let Some(a) = &app.android {
            let ap = base.join_field("android");
            match &a.package {
                None => c.bad(ap.join_field("package"), "required"),
                Some(pkg) if !android_package(pkg) => c.bad(
                    ap.join_field("package"),
                    format!("{pkg:?} is not an Android package name"),
                ),
                Some(_) => {}
            }
        }
        if let Some(w) = &app.windows {
            let wp = base.join_field("windows");
            match (&w.package_family_name, &w.msi_product_code) {
                (None, None) => c.bad(wp, "needs package_family_name or msi_product_code"),
                (Some(_), Some(_)) => c.bad(
                    wp,
                    "has both package_family_name and msi_product_code; keep one",
                ),
                (Some(pfn), None) if !package_family_name(pfn) => c.bad(
                    wp.join_field("package_family_name"),
                    format!("{pfn:?} is not a package family name (Name_publisherid)"),
                ),
                (None, Some(code)) if !msi_product_code(code) => c.bad(
                    wp.join_field("msi_product_code"),
                    format!("{code:?} is not an MSI product code ({{GUID}})"),
                ),
                _ => {}
            }
        }
    }

    if let Some(app) = &s.kiosk.app {
        c.text(p("kiosk.app"), Some(app), 128);
    }
    c.list(&p("kiosk.apps"), s.kiosk.apps.as_ref(), non_empty_name);

    let os = &s.os_updates;
    c.range(p("os_updates.deferral_days"), os.deferral_days, 0, 90);
    if let Some(w) = &os.maintenance_window {
        for (field, t) in [("start", &w.start), ("end", &w.end)] {
            if !is_time(t) {
                c.bad(
                    p("os_updates.maintenance_window").join_field(field),
                    format!("{t:?} is not a time of day (HH:MM)"),
                );
            }
        }
        if w.start == w.end {
            c.bad(
                p("os_updates.maintenance_window"),
                "start and end are the same",
            );
        }
    }
    if let Some(mv) = &os.minimum_version {
        for (platform, v) in [
            ("apple", &mv.apple),
            ("windows", &mv.windows),
            ("android", &mv.android),
        ] {
            let Some(v) = v else { continue };
            let base = p("os_updates.minimum_version").join_field(platform);
            if parse_version(&v.version).is_none() {
                c.bad(
                    base.join_field("version"),
                    format!("{:?} is not a dotted numeric version", v.version),
                );
            }
            if let Some(d) = &v.deadline
                && !is_date(d)
            {
                c.bad(
                    base.join_field("deadline"),
                    format!("{d:?} is not a date (YYYY-MM-DD)"),
                );
            }
        }
    }

    let dev = &s.device;
    c.text(p("device.name_template"), dev.name_template.as_ref(), 255);
    if let Some(t) = &dev.name_template {
        check_template(&mut c, p("device.name_template"), t);
    }
    c.text(
        p("device.lock_screen_message"),
        dev.lock_screen_message.as_ref(),
        1024,
    );
    if let Some(tz) = &dev.time_zone
        && !time_zone(tz)
    {
        c.bad(
            p("device.time_zone"),
            format!("{tz:?} is not an IANA time zone (Area/City)"),
        );
    }

    for (name, root) in &s.certificates.roots {
        let base = p("certificates.roots").join_key(name.clone());
        if !is_hex(&root.sha256, 64) {
            c.bad(base.join_field("sha256"), "must be 64 hexadecimal digits");
        }
        if let Some(pem) = &root.pem
            && !pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----")
        {
            c.bad(base.join_field("pem"), "is not a PEM certificate");
        }
    }
    for (name, id) in &s.certificates.identities {
        let base = p("certificates.identities").join_key(name.clone());
        use crate::model::IdentitySource as Src;
        match (id.source, &id.url) {
            (Src::Scep | Src::Acme, None) => {
                c.bad(base.join_field("url"), "required for scep and acme sources")
            }
            (Src::Scep | Src::Acme, Some(u)) => {
                if let Some(m) = https_url(u) {
                    c.bad(base.join_field("url"), m);
                }
            }
            (_, Some(_)) => c.bad(base.join_field("url"), "only for scep and acme sources"),
            _ => {}
        }
        c.text(base.join_field("subject"), id.subject.as_ref(), 1024);
    }

    for (id, payload) in &s.vendor.apple {
        let base = p("vendor.apple").join_key(id.clone());
        if !reverse_dns(&payload.payload_type) {
            c.bad(
                base.join_field("payload_type"),
                format!(
                    "{:?} is not a payload type (com.apple.x)",
                    payload.payload_type
                ),
            );
        }
    }
    for uri in s.vendor.windows.keys() {
        let ok = (uri.starts_with("./Device/")
            || uri.starts_with("./User/")
            || uri.starts_with("./Vendor/"))
            && !uri.split('/').any(|seg| seg == "..")
            && !uri.ends_with('/')
            && uri.len() <= 1024
            && !uri.chars().any(|ch| ch.is_whitespace() || ch.is_control());
        if !ok {
            c.bad(
                p("vendor.windows").join_key(uri.clone()),
                "an OMA-URI starts with ./Device/, ./User/ or ./Vendor/ and has no '..', spaces or trailing '/'",
            );
        }
    }
    for field in s.vendor.android.keys() {
        let ok = field.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && field.len() <= 128
            && field.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            c.bad(
                p("vendor.android").join_key(field.clone()),
                "is not an Android Management API Policy field name (lowerCamelCase)",
            );
        }
    }
    c.issues
}

/// Checks references and whole-policy consistency of an effective policy:
/// kiosk apps exist and are installable, Wi-Fi certificates exist, an
/// allowlist filter has entries.
pub fn effective(s: &Settings) -> Vec<Issue> {
    let mut c = Check { issues: Vec::new() };
    let kiosk_app = |c: &mut Check, path: SettingPath, id: &str| match s.apps.get(id) {
        None => c.issues.push(Issue::at(
            IssueKind::Reference,
            path,
            format!("app {id:?} is not defined in apps"),
        )),
        Some(app)
            if matches!(
                app.install,
                Some(InstallState::Blocked | InstallState::Removed)
            ) =>
        {
            c.bad(path, format!("app {id:?} is blocked or removed"))
        }
        Some(_) => {}
    };
    match s.kiosk.mode {
        Some(KioskMode::SingleApp) => match &s.kiosk.app {
            None => c.bad(p("kiosk.app"), "required when mode = single-app"),
            Some(id) => kiosk_app(&mut c, p("kiosk.app"), id),
        },
        Some(KioskMode::MultiApp) => match &s.kiosk.apps {
            None => c.bad(p("kiosk.apps"), "required when mode = multi-app"),
            Some(ids) => {
                if ids.is_empty() {
                    c.bad(p("kiosk.apps"), "is empty");
                }
                for (i, id) in ids.iter().enumerate() {
                    kiosk_app(&mut c, p("kiosk.apps").join_field(i.to_string()), id);
                }
            }
        },
        _ => {}
    }
    for (ssid, w) in &s.wifi {
        let base = SettingPath::field("wifi").join_key(ssid.clone());
        if let Some(id) = &w.identity_certificate
            && !s.certificates.identities.contains_key(id)
        {
            c.issues.push(Issue::at(
                IssueKind::Reference,
                base.join_field("identity_certificate"),
                format!("{id:?} is not defined in certificates.identities"),
            ));
        }
        for (i, root) in w.trusted_server_certificates.iter().flatten().enumerate() {
            if !s.certificates.roots.contains_key(root) {
                c.issues.push(Issue::at(
                    IssueKind::Reference,
                    base.join_field("trusted_server_certificates")
                        .join_field(i.to_string()),
                    format!("{root:?} is not defined in certificates.roots"),
                ));
            }
        }
    }
    if s.web_filter.mode == Some(WebFilterMode::Allowlist)
        && s.web_filter.allowed_urls.as_ref().is_none_or(Vec::is_empty)
    {
        c.bad(
            p("web_filter.allowed_urls"),
            "required when mode = allowlist",
        );
    }
    c.issues
}

/// Why a lock is not acceptable in a policy, if it is not.
pub(crate) fn lock(lock: &SettingPath, flat: &FlatSettings) -> Option<String> {
    let shape = catalog::shape(lock);
    let known = catalog::governing(lock).is_some()
        || CATALOG.iter().any(|d| {
            d.pattern
                .strip_prefix(shape.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        });
    if !known {
        return Some("is not a setting path".into());
    }
    if !flat.keys().any(|k| k.overlaps(lock)) {
        return Some("locks a setting this policy does not set".into());
    }
    None
}
