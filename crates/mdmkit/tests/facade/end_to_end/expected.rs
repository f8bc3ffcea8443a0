//! What a device's effective policy asks of it, category by category, in
//! each platform's terms: the profiles, apps and `Settings` items of an
//! Apple device, the CSP nodes and values of a Windows device, the `Policy`
//! fields of an Android device. Computed from the tree with the vendor
//! mappings alone (not from anything the reconciler stored), to compare
//! with what the simulated devices hold at the end.

use std::collections::{BTreeMap, BTreeSet};

use mdmkit::apple::Profile;
use mdmkit::apple::mapping::{AppAction, Mapper, device_context, device_settings};
use mdmkit::core::Platform;
use mdmkit::policy::{Category, Device, EnvFileResolver, Settings, Tenant, category_hashes};
use mdmkit::windows::csp::{Action, map_settings};

/// A device's settings (secrets resolved, as they are encoded).
pub(super) fn settings(tenant: &Tenant, device: &Device) -> Settings {
    tenant
        .effective(&device.id)
        .unwrap()
        .settings()
        .resolve_secrets(&EnvFileResolver::for_tenant(tenant))
        .unwrap()
}

/// The categories that have settings.
pub(super) fn categories(settings: &Settings) -> BTreeSet<Category> {
    let empty = category_hashes(&Settings::default());
    let mine = category_hashes(settings);
    Category::ALL
        .into_iter()
        .filter(|c| mine.get(c) != empty.get(c))
        .collect()
}

/// The settings of one category.
pub(super) fn only(s: &Settings, c: Category) -> Settings {
    let mut o = Settings::default();
    match c {
        Category::Passcode => o.passcode = s.passcode.clone(),
        Category::Restrictions => o.restrictions = s.restrictions.clone(),
        Category::Wifi => o.wifi = s.wifi.clone(),
        Category::WebFilter => o.web_filter = s.web_filter.clone(),
        Category::Apps => o.apps = s.apps.clone(),
        Category::Kiosk => o.kiosk = s.kiosk.clone(),
        Category::OsUpdates => o.os_updates = s.os_updates.clone(),
        Category::Device => o.device = s.device.clone(),
        Category::Certificates => o.certificates = s.certificates.clone(),
        Category::Vendor => o.vendor = s.vendor.clone(),
        other => panic!("category {other:?} is new: teach the test its settings"),
    }
    o
}

/// What an Apple device must hold.
#[derive(Debug)]
pub(super) struct Apple {
    /// One profile per category that has one.
    pub(super) profiles: Vec<(Category, Profile)>,
    /// Apps to install (bundle ids) and to remove.
    pub(super) installed: BTreeSet<String>,
    /// Apps that must not be there.
    pub(super) removed: BTreeSet<String>,
    /// `Settings` items (`DeviceName`, `TimeZone`) and their values.
    pub(super) items: BTreeMap<String, String>,
}

impl Apple {
    /// The categories the device is sent something for.
    pub(super) fn supported(&self) -> BTreeSet<Category> {
        let mut out: BTreeSet<Category> = self.profiles.iter().map(|(c, _)| *c).collect();
        if !self.installed.is_empty() || !self.removed.is_empty() {
            out.insert(Category::Apps);
        }
        if !self.items.is_empty() {
            out.insert(Category::Device);
        }
        out
    }
}

/// What the Apple mapping (with the reconciler's default options) makes of
/// the device's settings.
pub(super) fn apple(tenant: &Tenant, device: &Device, s: &Settings) -> Apple {
    let ctx = device_context(device).unwrap();
    let compiled = Mapper::new(tenant.id().clone()).compile(s, &ctx).unwrap();
    let mut out = Apple {
        profiles: compiled.profiles,
        installed: BTreeSet::new(),
        removed: BTreeSet::new(),
        items: BTreeMap::new(),
    };
    for a in compiled.apps {
        match a {
            AppAction::Install { bundle_id, .. } => out.installed.insert(bundle_id),
            AppAction::Remove { bundle_id, .. } => out.removed.insert(bundle_id),
            other => panic!("app action {other:?} is new: teach the test"),
        };
    }
    for item in device_settings(s, Some(device), &ctx).items {
        let Some(mdmkit::apple::Value::String(name)) = item.get("Item") else {
            panic!("a Settings item without Item: {item:?}");
        };
        let Some(mdmkit::apple::Value::String(value)) = item.get(name) else {
            panic!("a Settings item without a string value: {item:?}");
        };
        out.items.insert(name.clone(), value.clone());
    }
    out
}

/// What a Windows node must be after the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// Present with this value.
    Value(String),
    /// Absent (an app removed).
    Absent,
}

/// The CSP nodes of the device's settings, per category.
pub(super) fn windows(device: &Device, s: &Settings) -> BTreeMap<Category, BTreeMap<String, Node>> {
    let (mapped, _, _) = map_settings(s, Some(device));
    let mut out: BTreeMap<Category, BTreeMap<String, Node>> = BTreeMap::new();
    for m in mapped {
        let c = category(m.path.category().unwrap());
        for a in m.actions {
            let (uri, node) = match a {
                Action::Set { uri, value, .. } => (uri, Node::Value(value)),
                Action::Remove { uri } => (uri, Node::Absent),
                // The simulated Windows device runs an Exec without keeping
                // anything to read back: a policy that installs an app needs
                // the simulation taught first.
                Action::Exec { uri, .. } => panic!("{uri}: Exec is not simulated"),
                other => panic!("CSP action {other:?} is new: teach the test"),
            };
            out.entry(c).or_default().insert(uri, node);
        }
    }
    out
}

/// The `Policy` fields of each category of an Android device, and the
/// whole policy. A category's fields are those it sets alone and those the
/// whole policy loses or changes without it (a single-app kiosk is the
/// `KIOSK` install type of an app of `apps`).
pub(super) fn android(s: &Settings) -> (BTreeMap<Category, BTreeSet<String>>, serde_json::Value) {
    use mdmkit::android::mapping::to_policy;
    let whole = to_policy(s).policy;
    let mut per = BTreeMap::new();
    for c in categories(s) {
        let mut keys: BTreeSet<String> = to_policy(&only(s, c)).policy.keys().cloned().collect();
        let rest = to_policy(&without(s, c)).policy;
        keys.extend(
            whole
                .keys()
                .chain(rest.keys())
                .filter(|k| whole.get(*k) != rest.get(*k))
                .cloned(),
        );
        if !keys.is_empty() {
            per.insert(c, keys);
        }
    }
    (per, serde_json::Value::Object(whole))
}

/// The settings without one category.
fn without(s: &Settings, c: Category) -> Settings {
    let mut o = s.clone();
    let empty = Settings::default();
    match c {
        Category::Passcode => o.passcode = empty.passcode,
        Category::Restrictions => o.restrictions = empty.restrictions,
        Category::Wifi => o.wifi = empty.wifi,
        Category::WebFilter => o.web_filter = empty.web_filter,
        Category::Apps => o.apps = empty.apps,
        Category::Kiosk => o.kiosk = empty.kiosk,
        Category::OsUpdates => o.os_updates = empty.os_updates,
        Category::Device => o.device = empty.device,
        Category::Certificates => o.certificates = empty.certificates,
        Category::Vendor => o.vendor = empty.vendor,
        other => panic!("category {other:?} is new: teach the test its settings"),
    }
    o
}

/// The categories a device's platform is sent something for.
pub(super) fn supported(tenant: &Tenant, device: &Device, s: &Settings) -> BTreeSet<Category> {
    match device.platform {
        Platform::Apple => apple(tenant, device, s).supported(),
        Platform::Windows => windows(device, s).into_keys().collect(),
        Platform::Android => android(s).0.into_keys().collect(),
        other => panic!("no simulated {other} device"),
    }
}

fn category(name: &str) -> Category {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == name)
        .unwrap_or_else(|| panic!("{name} is not a category"))
}
