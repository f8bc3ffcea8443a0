//! The policy's device name and time zone as a `Settings` command.
//!
//! Neither is a profile payload: Apple sets both with the `Settings` MDM
//! command (`DeviceName` on supervised iOS and on macOS, `TimeZone` on
//! supervised iOS 14+ and tvOS 14+). The name template's placeholders
//! (`{serial}`, `{device_id}`, `{model}`, `{platform}`, `{node}`) are filled
//! from the device's inventory.

use mdmkit_policy::{Device, SettingPath, Settings};
use plist::{Dictionary, Value};

use super::UnsupportedSetting;
use crate::command::{Command, everyday};
use crate::schema::{self, KeySpec, SchemaEntry, SchemaKind};
use crate::support::{self, DeviceContext};

/// The `Settings` items for a device, and what could not be set.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct DeviceSettings {
    /// `Settings` items (`{Item: DeviceName, DeviceName: ..}`,
    /// `{Item: TimeZone, TimeZone: ..}`).
    pub items: Vec<Dictionary>,
    /// Settings the device cannot take, or a template that cannot be filled.
    pub unsupported: Vec<UnsupportedSetting>,
}

impl DeviceSettings {
    /// The `Settings` command, when there is anything to set (a fresh
    /// `CommandUUID` each call).
    pub fn command(&self) -> Option<Command> {
        (!self.items.is_empty()).then(|| everyday::settings(self.items.clone()))
    }

    /// Replaces, in a profile or declaration compile's `reports`, the
    /// generic reports of `device.name_template` and `device.time_zone`
    /// (neither is a profile or declaration key) with what this
    /// computation found the device cannot take.
    pub fn replace_reports(&self, reports: &mut Vec<UnsupportedSetting>) {
        let handled = |p: &str| p == "device.name_template" || p == "device.time_zone";
        reports.retain(|u| !handled(&u.path.to_string()));
        reports.extend(self.unsupported.iter().cloned());
    }
}

/// The `Settings` command items for `device.name_template` and
/// `device.time_zone`. Without a `device` a template with placeholders
/// cannot be filled and is reported.
pub fn device_settings(
    settings: &Settings,
    device: Option<&Device>,
    ctx: &DeviceContext,
) -> DeviceSettings {
    let mut out = DeviceSettings::default();
    let entry = schema::find(SchemaKind::Command, "Settings");
    let ds = &settings.device;
    if let Some(template) = &ds.name_template {
        let path = SettingPath::field("device").join_field("name_template");
        match fill(template, device) {
            Err(key) => out.unsupported.push(unsupported(
                path,
                format!("the name template needs the device's {{{key}}}: compile for a device"),
            )),
            Ok(name) => {
                if let Some(why) = item_issue(entry, "DeviceName", ctx) {
                    out.unsupported.push(unsupported(path, why));
                } else {
                    out.items.push(item("DeviceName", name));
                }
            }
        }
    }
    if let Some(tz) = &ds.time_zone {
        let path = SettingPath::field("device").join_field("time_zone");
        if let Some(why) = item_issue(entry, "TimeZone", ctx) {
            out.unsupported.push(unsupported(path, why));
        } else {
            out.items.push(item("TimeZone", tz.clone()));
        }
    }
    out
}

fn unsupported(path: SettingPath, reason: String) -> UnsupportedSetting {
    UnsupportedSetting {
        path,
        reason,
        sent: false,
    }
}

fn item(name: &str, value: String) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("Item".into(), Value::String(name.into()));
    d.insert(name.into(), Value::String(value));
    d
}

/// Why the device cannot take a `Settings` item, from the facts of the
/// item's dictionary in the command's schema.
fn item_issue(entry: Option<&SchemaEntry>, name: &str, ctx: &DeviceContext) -> Option<String> {
    let entry = entry?;
    let spec: &KeySpec = entry
        .key("Settings")?
        .subkeys
        .iter()
        .find(|k| k.name == name)?;
    let mut why = support::check_entry(entry, ctx);
    why.extend(support::check_key(entry, spec, ctx));
    why.dedup();
    (!why.is_empty()).then(|| {
        let r: Vec<String> = why.iter().map(ToString::to_string).collect();
        format!("Settings {name}: {}", r.join(", "))
    })
}

/// Fills the placeholders; the first one without a value is the error.
fn fill(template: &str, device: Option<&Device>) -> Result<String, String> {
    let mut name = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        name.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').unwrap_or(after.len());
        let key = &after[..close];
        let v = device.and_then(|d| match key {
            "serial" => d.serial.clone(),
            "device_id" => Some(d.id.as_str().to_owned()),
            "model" => d.model.clone(),
            "platform" => Some("apple".to_owned()),
            "node" => Some(d.node.as_str().to_owned()),
            _ => None,
        });
        name.push_str(&v.ok_or_else(|| key.to_owned())?);
        rest = after.get(close + 1..).unwrap_or("");
    }
    name.push_str(rest);
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::commands::SettingsCommand;
    use crate::schema::Os;
    use crate::support::OsVersion;
    use mdmkit_core::{DeviceId, Platform};
    use mdmkit_policy::{NodeId, Policy};

    fn settings() -> Settings {
        Policy::from_toml(
            "[policy]\nid = \"p\"\n[device]\nname_template = \"CM1-{serial}\"\ntime_zone = \"Europe/Paris\"",
        )
        .unwrap()
        .settings
    }

    fn ipad() -> Device {
        let mut d = Device::new(
            DeviceId::new("00008101-7C003470918CA617").unwrap(),
            NodeId::new("cm1").unwrap(),
            Platform::Apple,
        );
        d.serial = Some("DMP2E6C22755".into());
        d
    }

    #[test]
    fn a_supervised_ipad_gets_its_name_and_time_zone_by_one_settings_command() {
        let ctx = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        let s = device_settings(&settings(), Some(&ipad()), &ctx);
        assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
        let cmd: SettingsCommand = s.command().unwrap().decode().unwrap();
        let items = cmd.settings.unwrap();
        assert_eq!(
            items[0].get("DeviceName").and_then(Value::as_string),
            Some("CM1-DMP2E6C22755")
        );
        assert_eq!(
            items[1].get("TimeZone").and_then(Value::as_string),
            Some("Europe/Paris")
        );
    }

    #[test]
    fn an_unsupervised_ipad_and_a_mac_time_zone_are_reported() {
        let ctx = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), false);
        let s = device_settings(&settings(), Some(&ipad()), &ctx);
        assert!(s.command().is_none());
        assert_eq!(s.unsupported.len(), 2);
        assert!(
            s.unsupported[0]
                .reason
                .contains("needs a supervised device"),
            "{}",
            s.unsupported[0]
        );
        let mac = DeviceContext::new(Os::MacOs, OsVersion(15, 1, 0), true);
        let s = device_settings(&settings(), Some(&ipad()), &mac);
        assert_eq!(s.items.len(), 1);
        assert_eq!(s.unsupported[0].path.to_string(), "device.time_zone");
    }

    #[test]
    fn a_template_without_a_device_is_reported() {
        let ctx = DeviceContext::new(Os::Ios, OsVersion(18, 1, 0), true);
        let s = device_settings(&settings(), None, &ctx);
        assert_eq!(s.items.len(), 1);
        assert!(s.unsupported[0].reason.contains("{serial}"));
    }
}
