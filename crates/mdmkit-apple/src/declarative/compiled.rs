//! What a device's settings compile to as declarations, and its JSON form
//! (the output of `mdmkit compile --target apple-ddm`).

use mdmkit_policy::Category;
use plist::{Dictionary, Value};

use super::{Declaration, DeclarationKind, DeclarationSet, json_io};
use crate::mapping::{AppAction, DeviceSettings, UnsupportedSetting};
use crate::plist_io::Format;
use crate::profile::Profile;
use crate::typed::PlistDict;

/// A profile a `com.apple.configuration.legacy` declaration points at: the
/// server must serve `profile` at `url`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LegacyProfile {
    /// The policy category it holds.
    pub category: Category,
    /// The identifier of the declaration that points at it.
    pub declaration: String,
    /// Its `ProfileURL`.
    pub url: String,
    /// The profile.
    pub profile: Profile,
}

/// What a device's settings compile to as declarations.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeclarativeCompiled {
    /// The activation and configurations.
    pub set: DeclarationSet,
    /// The profiles behind the legacy declarations, to serve at their URLs.
    pub profiles: Vec<LegacyProfile>,
    /// App commands still needed (removals, and installs on devices without
    /// the managed-app declaration).
    pub apps: Vec<AppAction>,
    /// Everything that was not sent, with its setting path and the reason.
    pub unsupported: Vec<UnsupportedSetting>,
    /// `Settings` command items (device name, time zone) added by
    /// [`DeclarativeCompiled::with_device_settings`].
    pub settings: Vec<Dictionary>,
}

impl DeclarativeCompiled {
    /// Adds the device name and time zone as `Settings` command items
    /// (declarations have no such configuration): what
    /// [`crate::mapping::device_settings`] computed replaces the generic
    /// reports of `device.name_template` and `device.time_zone`.
    pub fn with_device_settings(mut self, ds: DeviceSettings) -> Self {
        ds.replace_reports(&mut self.unsupported);
        self.settings = ds.items;
        self
    }

    /// The `Settings` command for [`DeclarativeCompiled::settings`], if any.
    pub fn settings_command(&self) -> Option<crate::command::Command> {
        (!self.settings.is_empty())
            .then(|| crate::command::everyday::settings(self.settings.clone()))
    }

    /// The activation, when there is anything to activate.
    pub fn activation(&self) -> Option<&Declaration> {
        self.set.of_kind(DeclarationKind::Activation).next()
    }

    /// The configurations.
    pub fn configurations(&self) -> impl Iterator<Item = &Declaration> {
        self.set.of_kind(DeclarationKind::Configuration)
    }

    /// Everything as one JSON object (what `mdmkit compile --target
    /// apple-ddm` prints): `declarations` (the configurations),
    /// `activation`, `manifest` (the `DeclarationItems` response),
    /// `profiles` (URL, identifier and XML of each legacy profile),
    /// `commands` (app commands still needed) and `unsupported`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut d = Dictionary::new();
        d.insert(
            "declarations".into(),
            Value::Array(
                self.configurations()
                    .map(|c| Value::Dictionary(c.to_dict()))
                    .collect(),
            ),
        );
        // `null` when nothing is activated: written by hand below.
        let activation = self.activation().map(|a| Value::Dictionary(a.to_dict()));
        if let Some(a) = &activation {
            d.insert("activation".into(), a.clone());
        }
        d.insert(
            "manifest".into(),
            Value::Dictionary(self.set.manifest().to_dict()),
        );
        let profiles = self
            .profiles
            .iter()
            .map(|p| {
                let mut e = Dictionary::new();
                e.insert("Identifier".into(), Value::String(p.declaration.clone()));
                e.insert("ProfileURL".into(), Value::String(p.url.clone()));
                e.insert(
                    "PayloadIdentifier".into(),
                    Value::String(p.profile.identifier.clone()),
                );
                e.insert(
                    "mobileconfig".into(),
                    Value::String(
                        String::from_utf8_lossy(&p.profile.to_bytes(Format::Xml)).into_owned(),
                    ),
                );
                Value::Dictionary(e)
            })
            .collect();
        d.insert("profiles".into(), Value::Array(profiles));
        let settings = (!self.settings.is_empty()).then(|| {
            let mut e = Dictionary::new();
            e.insert("RequestType".into(), Value::String("Settings".into()));
            e.insert(
                "Settings".into(),
                Value::Array(
                    self.settings
                        .iter()
                        .cloned()
                        .map(Value::Dictionary)
                        .collect(),
                ),
            );
            Value::Dictionary(e)
        });
        let commands: Vec<Value> = settings
            .into_iter()
            .chain(self.apps.iter().map(|a| {
                let mut e = Dictionary::new();
                let (rt, app, bundle) = match a {
                    AppAction::Install { app, bundle_id } => ("InstallApplication", app, bundle_id),
                    AppAction::Remove { app, bundle_id } => ("RemoveApplication", app, bundle_id),
                };
                e.insert("RequestType".into(), Value::String(rt.into()));
                e.insert("Identifier".into(), Value::String(bundle.clone()));
                e.insert("app".into(), Value::String(app.clone()));
                Value::Dictionary(e)
            }))
            .collect();
        d.insert("commands".into(), Value::Array(commands));
        let unsupported = self
            .unsupported
            .iter()
            .map(|u| {
                let mut e = Dictionary::new();
                e.insert("path".into(), Value::String(u.path.to_string()));
                e.insert("reason".into(), Value::String(u.reason.clone()));
                e.insert("sent".into(), Value::Boolean(u.sent));
                Value::Dictionary(e)
            })
            .collect();
        d.insert("unsupported".into(), Value::Array(unsupported));
        let mut out = json_io::write_object(&d);
        if activation.is_none() {
            // {"declarations":[...],  -> insert "activation":null after it.
            let at = out
                .windows(b",\"manifest\":".len())
                .position(|w| w == b",\"manifest\":");
            if let Some(at) = at {
                out.splice(at..at, b",\"activation\":null".iter().copied());
            }
        }
        out
    }
}
