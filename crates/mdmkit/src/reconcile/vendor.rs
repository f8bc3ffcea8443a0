//! The vendor side of a plan: settings in, queue payloads out.
//!
//! Each platform turns the change from the settings last planned for a
//! device to its new effective settings into commands:
//!
//! | platform | commands | supersede key |
//! |---|---|---|
//! | Apple | one `InstallProfile` per changed category (its whole profile), `RemoveProfile` for an emptied one, app installs and removals | `apple/profile/<PayloadIdentifier>`, `apple/app/<bundle id>` |
//! | Windows | one SyncML command (`Add`, `Replace`, `Delete`, `Exec`) per changed node | none: the commands are a diff and must all run in order |
//! | Android | the device's whole `Policy` (a patch without update mask replaces it) | `android/policy` |
//!
//! A command that carries the whole state of what it addresses supersedes
//! an undelivered older one; a diff never does.

// Builds without some vendors leave parts of the shared plumbing unused.
#![cfg_attr(
    not(all(feature = "apple", feature = "windows", feature = "android")),
    allow(unused_imports, unused_variables, dead_code)
)]

use mdmkit_core::Platform;
use mdmkit_policy::{Category, Device, Settings};

use crate::error::Error;
use crate::state::UnsupportedNote;

/// The queue kinds of the Apple commands a plan makes, each carrying the
/// state of policy categories. Any other kind (what an administrator
/// queues: `DeviceInformation`, `DeviceLock`, ...) carries none, so its
/// answer moves no compliance row; a command of one of these kinds may
/// (administrators can queue them too).
pub(crate) const APPLE_PLANNED_KINDS: [&str; 5] = [
    "InstallProfile",
    "RemoveProfile",
    "InstallApplication",
    "RemoveApplication",
    "Settings",
];

/// One command to queue.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// The categories whose state it carries.
    pub(crate) categories: Vec<Category>,
    /// The queue kind (`InstallProfile`, `Replace`, `PatchPolicy`).
    pub(crate) kind: String,
    /// The encoded command; `{{ID}}`-free: the id is set by `encode`.
    pub(crate) body: Body,
    /// The supersede key, when the command carries a whole state.
    pub(crate) supersede: Option<String>,
}

/// A payload, possibly waiting for its command id.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Bytes as they are.
    Bytes(Vec<u8>),
    /// An Apple command whose `CommandUUID` is the queue id.
    #[cfg(feature = "apple")]
    Apple(Box<mdmkit_apple::Command>),
}

impl Body {
    /// The payload for the command id `id`.
    pub(crate) fn encode(&self, id: mdmkit_queue::CommandId) -> Result<Vec<u8>, Error> {
        match self {
            Body::Bytes(b) => Ok(b.clone()),
            #[cfg(feature = "apple")]
            Body::Apple(c) => {
                let mut c = (**c).clone();
                let text = id
                    .as_uuid()
                    .hyphenated()
                    .encode_upper(&mut uuid::Uuid::encode_buffer())
                    .to_owned();
                c.uuid = mdmkit_apple::CommandUuid::new(text).map_err(|e| Error::Encode {
                    platform: Platform::Apple,
                    message: e.to_string(),
                })?;
                Ok(c.to_bytes(mdmkit_apple::Format::Xml))
            }
        }
    }
}

/// What a platform makes of a change.
#[derive(Debug, Clone, Default)]
pub(crate) struct VendorPlan {
    pub(crate) commands: Vec<Planned>,
    pub(crate) unsupported: Vec<(Category, UnsupportedNote)>,
}

/// Per-tenant vendor configuration.
#[derive(Debug, Clone)]
pub(crate) struct Vendors {
    #[cfg(feature = "apple")]
    pub(crate) apple: mdmkit_apple::mapping::Mapper,
}

impl Vendors {
    pub(crate) fn new(
        tenant: &mdmkit_core::TenantId,
        apple_prefix: Option<&str>,
        organization: Option<&str>,
    ) -> Self {
        #[cfg(not(feature = "apple"))]
        let _ = (tenant, apple_prefix, organization);
        Self {
            #[cfg(feature = "apple")]
            apple: {
                let mut m = mdmkit_apple::mapping::Mapper::new(tenant.clone());
                if let Some(p) = apple_prefix {
                    m = m.prefix(p);
                }
                if let Some(o) = organization {
                    m = m.organization(o);
                }
                m
            },
        }
    }

    /// Plans the commands that take `device` from `old` to `new`, for the
    /// categories in `changed` (other categories are left alone).
    pub(crate) fn plan(
        &self,
        device: &Device,
        old: &Settings,
        new: &Settings,
        changed: &[Category],
    ) -> Result<Option<VendorPlan>, Error> {
        match device.platform {
            #[cfg(feature = "apple")]
            Platform::Apple => self.apple(device, old, new, changed).map(Some),
            #[cfg(feature = "windows")]
            Platform::Windows => Ok(Some(windows(device, old, new, changed))),
            #[cfg(feature = "android")]
            Platform::Android => android(old, new, changed).map(Some),
            _ => Ok(None),
        }
    }

    #[cfg(feature = "apple")]
    fn apple(
        &self,
        device: &Device,
        old: &Settings,
        new: &Settings,
        changed: &[Category],
    ) -> Result<VendorPlan, Error> {
        use mdmkit_apple::command::everyday;
        use mdmkit_apple::mapping::{AppAction, device_context};

        let ctx = device_context(device).ok_or_else(|| Error::Encode {
            platform: Platform::Apple,
            message: format!("device {} is not an Apple device", device.id),
        })?;
        // Compiled with what the changed categories read (a kiosk, the
        // apps it names); only the changed categories' output is kept.
        let scope = with_context(changed);
        let old = only(old, &scope);
        let new_only = only(new, &scope);
        let plan = self
            .apple
            .plan_diff(&old, &new_only, &ctx)
            .map_err(|e| Error::Encode {
                platform: Platform::Apple,
                message: e.to_string(),
            })?;
        let mut out = VendorPlan::default();
        for (c, p) in plan.install.iter().filter(|(c, _)| changed.contains(c)) {
            out.commands.push(Planned {
                categories: vec![*c],
                kind: "InstallProfile".into(),
                body: Body::Apple(Box::new(everyday::install_built_profile(p))),
                supersede: Some(format!("apple/profile/{}", p.identifier)),
            });
        }
        for (c, id) in plan.remove.iter().filter(|(c, _)| changed.contains(c)) {
            out.commands.push(Planned {
                categories: vec![*c],
                kind: "RemoveProfile".into(),
                body: Body::Apple(Box::new(everyday::remove_profile(id.clone()))),
                supersede: Some(format!("apple/profile/{id}")),
            });
        }
        let apps: &[AppAction] = if changed.contains(&Category::Apps) {
            &plan.apps
        } else {
            &[]
        };
        for a in apps {
            let (kind, bundle) = match a {
                AppAction::Install { bundle_id, .. } => ("InstallApplication", bundle_id),
                AppAction::Remove { bundle_id, .. } => ("RemoveApplication", bundle_id),
                _ => continue,
            };
            out.commands.push(Planned {
                categories: vec![Category::Apps],
                kind: kind.into(),
                body: Body::Apple(Box::new(a.command())),
                supersede: Some(format!("apple/app/{bundle}")),
            });
        }
        // The device name and time zone are not profile payloads: Apple sets
        // them with the `Settings` command, per device (the name template
        // is filled from the device's inventory).
        let mut unsupported = plan.unsupported;
        if changed.contains(&Category::Device) {
            let ds = mdmkit_apple::mapping::device_settings(&new_only, Some(device), &ctx);
            if let Some(command) = ds.command() {
                out.commands.push(Planned {
                    categories: vec![Category::Device],
                    kind: "Settings".into(),
                    body: Body::Apple(Box::new(command)),
                    supersede: Some("apple/settings/device".into()),
                });
            }
            ds.replace_reports(&mut unsupported);
        }
        debug_assert!(
            out.commands
                .iter()
                .all(|c| APPLE_PLANNED_KINDS.contains(&c.kind.as_str())),
            "an Apple plan made a kind that APPLE_PLANNED_KINDS does not list"
        );
        for u in unsupported.iter().filter(|u| !u.sent) {
            if let Some(c) = category_of(&u.path)
                && changed.contains(&c)
            {
                out.unsupported.push((
                    c,
                    UnsupportedNote {
                        path: u.path.to_string(),
                        reason: u.reason.clone(),
                    },
                ));
            }
        }
        Ok(out)
    }
}

/// The category a setting path belongs to.
pub(crate) fn category_of(path: &mdmkit_policy::SettingPath) -> Option<Category> {
    path.category()
        .and_then(|c| crate::state::parse_category(c).ok())
}

/// `changed` and the categories they read: a kiosk names apps of `apps`.
fn with_context(changed: &[Category]) -> Vec<Category> {
    let mut out = changed.to_vec();
    if changed.contains(&Category::Kiosk) && !changed.contains(&Category::Apps) {
        out.push(Category::Apps);
    }
    out
}

/// The settings of `categories` only; every other category empty.
pub(crate) fn only(settings: &Settings, categories: &[Category]) -> Settings {
    let mut out = Settings::default();
    for c in categories {
        copy_category(&mut out, settings, *c);
    }
    out
}

fn copy_category(to: &mut Settings, from: &Settings, c: Category) {
    match c {
        Category::Passcode => to.passcode = from.passcode.clone(),
        Category::Restrictions => to.restrictions = from.restrictions.clone(),
        Category::Wifi => to.wifi = from.wifi.clone(),
        Category::WebFilter => to.web_filter = from.web_filter.clone(),
        Category::Apps => to.apps = from.apps.clone(),
        Category::Kiosk => to.kiosk = from.kiosk.clone(),
        Category::OsUpdates => to.os_updates = from.os_updates.clone(),
        Category::Device => to.device = from.device.clone(),
        Category::Certificates => to.certificates = from.certificates.clone(),
        Category::Vendor => to.vendor = from.vendor.clone(),
        _ => {}
    }
}

#[cfg(feature = "windows")]
fn windows(device: &Device, old: &Settings, new: &Settings, changed: &[Category]) -> VendorPlan {
    use mdmkit_windows::csp;

    let mut out = VendorPlan::default();
    // The stored state has secret digests, not values: compare by digest.
    let old = old.carry_secrets(new);
    for c in changed {
        let scope = with_context(&[*c]);
        let compiled = csp::compile_diff_where(
            &only(&old, &scope),
            &only(new, &scope),
            Some(device),
            &|p| category_of(p) == Some(*c),
        );
        // The password rules travel as one Atomic command.
        for command in &csp::atomic_device_lock(compiled.commands.clone()) {
            let mut one = csp::Compiled::default();
            one.commands.push(command.clone());
            let message = one.to_message("1", "1", "mdmkit", "device");
            out.commands.push(Planned {
                categories: vec![*c],
                kind: command.name().to_owned(),
                body: Body::Bytes(message.to_xml().into_bytes()),
                supersede: None,
            });
        }
        for u in compiled.unsupported {
            out.unsupported.push((
                *c,
                UnsupportedNote {
                    path: u.path.to_string(),
                    reason: u.reason,
                },
            ));
        }
    }
    out
}

#[cfg(feature = "android")]
fn android(old: &Settings, new: &Settings, changed: &[Category]) -> Result<VendorPlan, Error> {
    use mdmkit_android::mapping;

    let mapped = mapping::to_policy(new);
    let before = mapping::to_policy(old);
    let mut out = VendorPlan::default();
    if mapped.policy != before.policy || old == &Settings::default() {
        let body = serde_json::to_vec(&mapped.policy).map_err(|e| Error::Encode {
            platform: Platform::Android,
            message: e.to_string(),
        })?;
        // The categories that write Policy fields now or wrote some before.
        let carried: Vec<Category> = changed
            .iter()
            .copied()
            .filter(|c| {
                !android_category_fields(new, &mapped.policy, *c).is_empty()
                    || !android_category_fields(old, &before.policy, *c).is_empty()
            })
            .collect();
        out.commands.push(Planned {
            categories: carried,
            kind: "PatchPolicy".into(),
            body: Body::Bytes(body),
            supersede: Some("android/policy".into()),
        });
    }
    for u in mapped.unsupported.iter().filter(|u| !u.partial) {
        if let Some(c) = category_of(&u.path)
            && changed.contains(&c)
        {
            out.unsupported.push((
                c,
                UnsupportedNote {
                    path: u.path.to_string(),
                    reason: u.reason.clone(),
                },
            ));
        }
    }
    Ok(out)
}

/// The Android `Policy` fields each category writes, for matching a
/// device's non-compliance report back to categories.
#[cfg(feature = "android")]
pub(crate) fn android_fields(settings: &Settings) -> Vec<(Category, Vec<String>)> {
    let whole = mdmkit_android::mapping::to_policy(settings).policy;
    Category::ALL
        .into_iter()
        .map(|c| (c, android_category_fields(settings, &whole, c)))
        .collect()
}

/// The `Policy` fields a category writes among `settings`: those it writes
/// alone, and those that change when it is taken away (`whole` is the
/// mapping of all of `settings`). A category can
/// write nothing alone and still shape a field with another one: a
/// single-app kiosk is the `KIOSK` install type of an app of `apps`, so
/// judged alone it would ride on no command and be marked verified without
/// the device ever being asked.
#[cfg(feature = "android")]
fn android_category_fields(
    settings: &Settings,
    whole: &serde_json::Map<String, serde_json::Value>,
    c: Category,
) -> Vec<String> {
    use mdmkit_android::mapping::to_policy;

    let mut fields: std::collections::BTreeSet<String> = to_policy(&only(settings, &[c]))
        .policy
        .keys()
        .cloned()
        .collect();
    let mut without = settings.clone();
    copy_category(&mut without, &Settings::default(), c);
    let rest = to_policy(&without).policy;
    for k in whole.keys().chain(rest.keys()) {
        if whole.get(k) != rest.get(k) {
            fields.insert(k.clone());
        }
    }
    fields.into_iter().collect()
}

#[cfg(test)]
#[cfg(feature = "android")]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        mdmkit_policy::Policy::from_toml(toml).unwrap().settings
    }

    #[test]
    fn an_android_single_app_kiosk_rides_on_the_policy_patch_it_shapes() {
        let s = settings(
            "[policy]\nid = \"p\"\n[apps.cat]\nname = \"Catalogue\"\ninstall = \"required\"\n\
             android = { package = \"org.example.cat\" }\n[kiosk]\nmode = \"single-app\"\napp = \"cat\"\n",
        );
        let plan = android(&Settings::default(), &s, &[Category::Apps, Category::Kiosk]).unwrap();
        assert_eq!(plan.commands.len(), 1);
        assert!(
            plan.commands[0].categories.contains(&Category::Kiosk),
            "{:?}",
            plan.commands[0].categories
        );
        // The device's report on `applications` speaks for the kiosk too.
        let fields = android_fields(&s);
        let kiosk = &fields
            .iter()
            .find(|(c, _)| *c == Category::Kiosk)
            .unwrap()
            .1;
        assert_eq!(kiosk, &["applications".to_owned()]);
    }

    #[test]
    #[cfg(feature = "windows")]
    fn a_windows_single_app_kiosk_is_mapped_with_the_app_it_names() {
        let s = settings(
            "[policy]\nid = \"p\"\n[apps.cat]\nname = \"Catalogue\"\ninstall = \"available\"\n\
             windows = { package_family_name = \"Example.Cat_8wekyb3d8bbwe\" }\n\
             [kiosk]\nmode = \"single-app\"\napp = \"cat\"\n",
        );
        let pc = Device::new(
            mdmkit_core::DeviceId::new("pc").unwrap(),
            "r".parse().unwrap(),
            Platform::Windows,
        );
        let plan = windows(&pc, &Settings::default(), &s, &[Category::Kiosk]);
        assert!(!plan.commands.is_empty());
        assert!(
            plan.commands
                .iter()
                .all(|c| c.categories == [Category::Kiosk])
        );
        assert!(plan.unsupported.is_empty(), "{:?}", plan.unsupported);
    }

    #[test]
    fn a_category_keeps_the_fields_it_writes_alone() {
        let s = settings("[policy]\nid = \"p\"\n[passcode]\nmin_length = 6\n");
        let fields = android_fields(&s);
        let passcode = &fields
            .iter()
            .find(|(c, _)| *c == Category::Passcode)
            .unwrap()
            .1;
        assert!(!passcode.is_empty());
        assert!(
            fields
                .iter()
                .filter(|(c, _)| *c != Category::Passcode)
                .all(|(_, f)| f.is_empty())
        );
    }
}
