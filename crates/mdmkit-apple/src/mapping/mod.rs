//! From mdmkit-policy to Apple: a device's effective [`Settings`] become one
//! configuration profile per policy category, app commands, and a report of
//! everything Apple cannot enforce on that device.
//!
//! - Each category gets its own profile, identified
//!   `<prefix>.<tenant>.<category>` ([`ProfileId`]), so a change to one
//!   category replaces one profile and nothing else. UUIDs are derived from
//!   the content ([`ProfileBuilder`]), so an unchanged category re-encodes
//!   byte for byte and [`Mapper::plan_diff`] can compare encodings.
//! - Every key is checked against the schema's `supportedOS` facts for the
//!   device ([`crate::support::check_key`]) and against the key's allowed values and
//!   range. A key the device would ignore or reject is not sent: it is
//!   reported as an [`UnsupportedSetting`] with its setting path and the
//!   reason (`needs a supervised device`, `needs iOS 17.0`, ...).
//! - Apps are not profiles: required and removed apps become
//!   `InstallApplication` / `RemoveApplication` commands ([`AppAction`]).
//! - Nor are the device name and time zone: [`device_settings`] gives them
//!   as one `Settings` command, the name template filled from the inventory.
//!
//! The mapping table is in `docs/apple.md` (section "Mapping").
//!
//! ```
//! use mdmkit_apple::mapping::Mapper;
//! use mdmkit_apple::schema::Os;
//! use mdmkit_apple::support::{DeviceContext, OsVersion};
//! use mdmkit_core::TenantId;
//! use mdmkit_policy::{Category, Policy};
//!
//! let old = Policy::from_toml("[policy]\nid = \"p\"\n[restrictions]\ncamera = \"deny\"\napp_store = \"deny\"")?.settings;
//! let mut new = old.clone();
//! new.passcode.min_length = Some(6);
//!
//! let ipad = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), false); // unsupervised
//! let mapper = Mapper::new(TenantId::new("region")?);
//! let compiled = mapper.compile(&new, &ipad)?;
//! assert_eq!(compiled.profiles.len(), 2);
//! assert_eq!(compiled.unsupported[0].path.to_string(), "restrictions.app_store");
//!
//! let plan = mapper.plan_diff(&old, &new, &ipad)?;
//! assert_eq!(plan.install.len(), 1); // only the new passcode profile
//! assert_eq!(plan.install[0].0, Category::Passcode);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod categories;
mod device_settings;

use categories::Map;
pub(crate) use categories::check_value;
pub use device_settings::{DeviceSettings, device_settings};

use std::collections::BTreeMap;

use mdmkit_core::TenantId;
use mdmkit_policy::{Category, Device, SettingPath, Settings};

use crate::command::{Command, everyday};
use crate::error::Error;
use crate::plist_io::Format;
use crate::profile::{Profile, ProfileBuilder, ProfileId};
use crate::schema::Os;
use crate::support::{DeviceContext, OsVersion};

/// The identifier prefix used unless [`Mapper::prefix`] sets another.
pub const DEFAULT_PREFIX: &str = "org.mdmkit";

/// The version assumed for an Apple device whose OS version is unknown.
pub const ASSUMED_CURRENT: OsVersion = OsVersion(99, 0, 0);

/// A setting Apple cannot enforce on the device, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnsupportedSetting {
    /// The setting (`restrictions.app_store`, `wifi["ECOLE"].proxy`).
    pub path: SettingPath,
    /// Why it was not sent (`com.apple.applicationaccess allowUIAppInstallation: needs a supervised device`).
    pub reason: String,
    /// Whether it was sent anyway ([`Mapper::keep_unsupported`]): only for
    /// support facts of the device, never for values Apple rejects.
    pub sent: bool,
}

impl std::fmt::Display for UnsupportedSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)?;
        if self.sent {
            f.write_str(" (sent anyway)")?;
        }
        Ok(())
    }
}

/// An app command the policy asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AppAction {
    /// `InstallApplication` of an App Store app by bundle id.
    Install {
        /// The logical app id of the policy.
        app: String,
        /// The bundle id.
        bundle_id: String,
    },
    /// `RemoveApplication` of a managed app.
    Remove {
        /// The logical app id of the policy.
        app: String,
        /// The bundle id.
        bundle_id: String,
    },
}

impl AppAction {
    /// The MDM command (a fresh `CommandUUID` each call).
    pub fn command(&self) -> Command {
        match self {
            AppAction::Install { bundle_id, .. } => everyday::install_application(bundle_id),
            AppAction::Remove { bundle_id, .. } => everyday::remove_application(bundle_id),
        }
    }
}

/// What a device's settings compile to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Compiled {
    /// One profile per non-empty category, in category order.
    pub profiles: Vec<(Category, Profile)>,
    /// App installs and removals.
    pub apps: Vec<AppAction>,
    /// Everything that was not sent, with its setting path and the reason.
    pub unsupported: Vec<UnsupportedSetting>,
}

impl Compiled {
    /// The profile of a category, if it has one.
    pub fn profile(&self, category: Category) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, p)| p)
    }
}

/// The commands that bring a device from one policy to another.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Plan {
    /// Categories whose profile is new or changed, with the new profile.
    pub install: Vec<(Category, Profile)>,
    /// Profiles to remove (their `PayloadIdentifier`), for emptied categories.
    pub remove: Vec<(Category, String)>,
    /// App actions not already asked for by the old policy.
    pub apps: Vec<AppAction>,
    /// What the new policy cannot enforce on the device.
    pub unsupported: Vec<UnsupportedSetting>,
}

impl Plan {
    /// The MDM commands: `InstallProfile`, then `RemoveProfile`, then apps.
    pub fn commands(&self) -> Vec<Command> {
        let mut out: Vec<Command> = self
            .install
            .iter()
            .map(|(_, p)| everyday::install_built_profile(p))
            .collect();
        out.extend(
            self.remove
                .iter()
                .map(|(_, id)| everyday::remove_profile(id)),
        );
        out.extend(self.apps.iter().map(AppAction::command));
        out
    }

    /// Whether nothing needs to be sent.
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty() && self.apps.is_empty()
    }
}

/// The Apple view of a device from its inventory facts; `None` for other
/// platforms. The OS comes from the model name (iPad and iPhone are iOS,
/// Mac is macOS); an unknown version is taken as current
/// ([`ASSUMED_CURRENT`]) and unknown supervision as unsupervised.
pub fn device_context(device: &Device) -> Option<DeviceContext> {
    if device.platform != mdmkit_core::Platform::Apple {
        return None;
    }
    let model = device.model.as_deref().unwrap_or("").to_ascii_lowercase();
    let os = if model.contains("mac") {
        Os::MacOs
    } else if model.contains("apple tv") {
        Os::TvOs
    } else if model.contains("vision") {
        Os::VisionOs
    } else if model.contains("watch") {
        Os::WatchOs
    } else {
        Os::Ios
    };
    let version = device
        .os_version
        .as_deref()
        .and_then(OsVersion::parse)
        .unwrap_or(ASSUMED_CURRENT);
    Some(DeviceContext::new(
        os,
        version,
        device.supervised.unwrap_or(false),
    ))
}

/// A supervised iOS device of the current version: what a profile compiled
/// without a device in mind (a policy file) is checked against.
pub fn any_supervised_ios() -> DeviceContext {
    DeviceContext::new(Os::Ios, ASSUMED_CURRENT, true)
}

/// Compiles settings for a tenant's device with the default prefix.
pub fn compile(
    tenant: &TenantId,
    settings: &Settings,
    ctx: &DeviceContext,
) -> Result<Compiled, Error> {
    Mapper::new(tenant.clone()).compile(settings, ctx)
}

/// Plans the commands from `old` to `new` with the default prefix.
pub fn plan_diff(
    tenant: &TenantId,
    old: &Settings,
    new: &Settings,
    ctx: &DeviceContext,
) -> Result<Plan, Error> {
    Mapper::new(tenant.clone()).plan_diff(old, new, ctx)
}

/// The mapping for one tenant: identifier prefix and organisation name.
#[derive(Debug, Clone)]
pub struct Mapper {
    tenant: TenantId,
    prefix: String,
    organization: Option<String>,
    keep_unsupported: bool,
}

impl Mapper {
    /// A mapper for `tenant` with [`DEFAULT_PREFIX`].
    pub fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            prefix: DEFAULT_PREFIX.to_owned(),
            organization: None,
            keep_unsupported: false,
        }
    }

    /// Sets the identifier prefix (a reverse-DNS name of the operator).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the `PayloadOrganization` of every profile.
    pub fn organization(mut self, name: impl Into<String>) -> Self {
        self.organization = Some(name.into());
        self
    }

    /// Keeps keys the device's support facts rule out (supervision, OS
    /// version, OS) in the profiles, still reporting them with
    /// [`UnsupportedSetting::sent`] set. For profiles compiled with no
    /// particular device in mind (a policy file installed by hand), where
    /// the device ignores what it cannot apply. Values out of Apple's range
    /// are never sent.
    pub fn keep_unsupported(mut self, yes: bool) -> Self {
        self.keep_unsupported = yes;
        self
    }

    /// The identifier of a category's profile.
    pub fn profile_id(&self, category: Category) -> Result<ProfileId, Error> {
        Ok(ProfileId::new(
            &self.prefix,
            &self.tenant,
            category.as_str(),
        )?)
    }

    /// Compiles settings for a device.
    pub fn compile(&self, settings: &Settings, ctx: &DeviceContext) -> Result<Compiled, Error> {
        let mut m = Map {
            tenant: &self.tenant,
            ctx,
            unsupported: Vec::new(),
            keep_unsupported: self.keep_unsupported,
        };
        let mut profiles = Vec::new();
        for category in Category::ALL {
            let drafts = m.category(settings, category);
            if drafts.is_empty() {
                continue;
            }
            let mut b = ProfileBuilder::new(self.profile_id(category)?).display_name(format!(
                "{} ({})",
                category_title(category),
                self.tenant
            ));
            if let Some(o) = &self.organization {
                b = b.organization(o.clone());
            }
            for d in drafts {
                b = b.payload(d.ty, d.slug, d.dict);
            }
            profiles.push((category, b.build()?));
        }
        let apps = m.apps(settings);
        Ok(Compiled {
            profiles,
            apps,
            unsupported: m.unsupported,
        })
    }

    /// One profile holding the payloads of every category (what an admin
    /// installs by hand), identified `<prefix>.<tenant>.<name>`.
    pub fn single_profile(&self, compiled: &Compiled, name: &str) -> Result<Profile, Error> {
        let mut b = ProfileBuilder::new(ProfileId::new(&self.prefix, &self.tenant, name)?)
            .display_name(format!("{name} ({})", self.tenant));
        if let Some(o) = &self.organization {
            b = b.organization(o.clone());
        }
        for (category, p) in &compiled.profiles {
            for payload in &p.payloads {
                let slug = payload
                    .identifier
                    .strip_prefix(p.identifier.as_str())
                    .map(|s| s.trim_start_matches('.'))
                    .unwrap_or(payload.payload_type.as_str());
                b = b.payload(
                    payload.payload_type.clone(),
                    format!("{}.{slug}", category.as_str()),
                    payload.content.clone(),
                );
            }
        }
        Ok(b.build()?)
    }

    /// The fewest commands from `old` to `new` on a device: `InstallProfile`
    /// for each category whose compiled profile is new or differs,
    /// `RemoveProfile` for each category that no longer has one, and the app
    /// actions the old policy did not already ask for.
    pub fn plan_diff(
        &self,
        old: &Settings,
        new: &Settings,
        ctx: &DeviceContext,
    ) -> Result<Plan, Error> {
        let before = self.compile(old, ctx)?;
        let after = self.compile(new, ctx)?;
        let old_bytes: BTreeMap<Category, Vec<u8>> = before
            .profiles
            .iter()
            .map(|(c, p)| (*c, p.to_bytes(Format::Xml)))
            .collect();
        let mut install = Vec::new();
        for (c, p) in &after.profiles {
            if old_bytes.get(c) != Some(&p.to_bytes(Format::Xml)) {
                install.push((*c, p.clone()));
            }
        }
        let remove = before
            .profiles
            .iter()
            .filter(|(c, _)| after.profile(*c).is_none())
            .map(|(c, p)| (*c, p.identifier.clone()))
            .collect();
        let apps = after
            .apps
            .iter()
            .filter(|a| !before.apps.contains(a))
            .cloned()
            .collect();
        Ok(Plan {
            install,
            remove,
            apps,
            unsupported: after.unsupported,
        })
    }
}

fn category_title(c: Category) -> &'static str {
    match c {
        Category::Passcode => "Passcode",
        Category::Restrictions => "Restrictions",
        Category::Wifi => "Wi-Fi",
        Category::WebFilter => "Web filter",
        Category::Apps => "Apps",
        Category::Kiosk => "Kiosk",
        Category::OsUpdates => "OS updates",
        Category::Device => "Device",
        Category::Certificates => "Certificates",
        Category::Vendor => "Vendor payloads",
        _ => "Settings",
    }
}
