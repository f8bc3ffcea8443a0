//! What a given device cannot enforce of its effective policy, from the
//! capability matrix and the device's inventory facts. Vendor encoders
//! report these instead of dropping settings silently.

use mdmkit_core::Platform;
use serde::Serialize;

use crate::catalog::{self, Condition, Level};
use crate::flat::FlatSettings;
use crate::path::SettingPath;
use crate::tree::Device;
use crate::validate::parse_version;

/// A setting a device cannot (fully) enforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Unsupported {
    /// The merge unit.
    pub path: SettingPath,
    /// The device's platform.
    pub platform: Platform,
    /// `none` (not enforced at all) or `partial`.
    pub level: Level,
    /// Why, for reports.
    pub reason: String,
}

/// The merge units of `settings` that `device` cannot enforce, or only in
/// part, with the reason: no support on the platform, an approximation, a
/// device that is not supervised, an OS older than needed, or a condition
/// the inventory cannot confirm. Settings about another platform are not
/// listed.
pub fn unsupported(settings: &FlatSettings, device: &Device) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for path in settings.keys() {
        let Some(def) = catalog::governing(path) else {
            continue;
        };
        let support = def.support(device.platform);
        let mut push = |level: Level, reason: String| {
            out.push(Unsupported {
                path: path.clone(),
                platform: device.platform,
                level,
                reason,
            });
        };
        match support.level {
            Level::NotApplicable => continue,
            Level::None => {
                push(
                    Level::None,
                    format!("{} cannot enforce it", device.platform),
                );
                continue;
            }
            Level::Partial => push(
                Level::Partial,
                format!(
                    "{} enforces it only in part: {}",
                    device.platform, support.note
                ),
            ),
            _ => {}
        }
        for c in support.conditions {
            match c {
                Condition::Supervised if device.supervised != Some(true) => push(
                    Level::None,
                    match device.supervised {
                        Some(false) => "only on supervised devices; this one is not".to_owned(),
                        _ => "only on supervised devices; supervision is unknown".to_owned(),
                    },
                ),
                Condition::MinOs(min) => {
                    let have = device.os_version.as_deref().and_then(parse_version);
                    let need = parse_version(min);
                    match have {
                        Some(h) if need.as_ref().is_some_and(|n| &h < n) => push(
                            Level::None,
                            format!(
                                "needs OS {min} or later; this device runs {}",
                                device.os_version.as_deref().unwrap_or_default()
                            ),
                        ),
                        None => push(
                            Level::Partial,
                            format!("needs OS {min} or later; the OS version is unknown"),
                        ),
                        _ => {}
                    }
                }
                Condition::Only(what) => {
                    push(Level::Partial, format!("only on {what}"));
                }
                _ => {}
            }
        }
    }
    out
}
