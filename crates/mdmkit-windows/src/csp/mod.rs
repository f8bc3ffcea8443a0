//! The CSP mapping: mdmkit-policy settings as OMA-DM commands.
//!
//! Every supported setting becomes one or more [`Action`]s on CSP nodes
//! (`./Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordLength`,
//! `./Vendor/MSFT/WiFi/Profile/{SSID}/WlanXml`, ...), each with its `Format`,
//! its value encoding and what a `Delete` does to it ([`OnDelete`]).
//! [`compile`] turns settings into `Add` / `Replace` / `Exec` / `Delete`
//! commands; [`compile_diff`] turns a change between two settings into the
//! fewest commands: `Add` for a new node, `Replace` for a changed one,
//! `Delete` for a removed one, or a `Replace` with the documented default
//! (and a [`Note`]) where the CSP refuses `Delete` or keeps its value after
//! it. What Windows cannot enforce is reported in
//! [`Compiled::unsupported`] with its setting path, never dropped.
//!
//! The table of scalar settings is [`SCALARS`]; `docs/windows.md` ("CSP
//! mapping") lists the rest.
//!
//! ```
//! use mdmkit_policy::{Policy, Rule};
//! use mdmkit_windows::SyncMl;
//! use mdmkit_windows::csp::{compile, compile_diff};
//!
//! let old = Policy::from_toml("[policy]\nid = \"p\"\n[passcode]\nrequired = true\n")?;
//! let mut new = old.settings.clone();
//! new.restrictions.camera = Some(Rule::Deny);
//!
//! let first = compile(&old.settings, None);
//! assert_eq!(first.commands[0].name(), "Replace"); // DeviceLock nodes are replaced
//! let change = compile_diff(&old.settings, &new, None);
//! assert_eq!(change.commands.len(), 1); // only the camera
//! let msg = change.to_message("1", "1", "https://mdm.example/omadm", "device-1");
//! assert_eq!(SyncMl::read(msg.to_xml().as_bytes())?, msg);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use mdmkit_policy::{ChangeSet, Device, EffectivePolicy, SettingPath, Settings};
use serde::Serialize;

use crate::syncml::{Command, Container, Format, Item, ItemCommand, Meta, SyncHdr, SyncMl};

mod map;
mod table;
mod wlan;

pub use table::{SCALARS, Scalar, ScalarEncoding};
pub use wlan::wlan_profile_xml;

/// What happens to a node when its setting goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnDelete {
    /// `Delete` removes the node and the device returns to its default.
    Delete,
    /// The CSP keeps ("tattoos") the last value after `Delete`, or refuses
    /// `Delete` and has no neutral value: no command is sent, a [`Note`]
    /// says what stays on the device.
    Tattoo,
    /// The CSP refuses `Delete` or keeps the value after it: a `Replace`
    /// with this reset value is sent instead, with a [`Note`].
    ResetTo(&'static str),
}

/// How a node is first created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Create {
    /// `Add`: the node does not exist until created.
    Add,
    /// `Replace`: the node always exists (`./DevDetail/...`), or the CSP
    /// asks for `Replace` rather than `Add` (DeviceLock on desktop editions).
    Replace,
}

/// One thing a setting does on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A node holding a value.
    Set {
        /// The node.
        uri: String,
        /// The SyncML format of the value.
        format: Format,
        /// The value as written in `<Data>` (unescaped).
        value: String,
        /// How the node is created.
        create: Create,
        /// The node to `Delete` when the setting goes away, if not `uri`
        /// (the Wi-Fi profile, not its `WlanXml`).
        delete_uri: Option<String>,
        /// What `Delete` does.
        on_delete: OnDelete,
    },
    /// An `Exec` (an app install).
    Exec {
        /// The node executed.
        uri: String,
        /// The format of the argument.
        format: Format,
        /// The argument.
        value: String,
        /// The node whose `Delete` undoes it (uninstalls), if any.
        undo: Option<String>,
    },
    /// A node that must not exist (an app to remove): a `Delete`.
    Remove {
        /// The node.
        uri: String,
    },
}

impl Action {
    /// The node this action addresses.
    pub fn uri(&self) -> &str {
        match self {
            Self::Set { uri, .. } | Self::Exec { uri, .. } | Self::Remove { uri } => uri,
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Self::Set { .. } => 0,
            Self::Exec { .. } => 1,
            Self::Remove { .. } => 2,
        }
    }
}

/// A setting's actions, with the setting path they come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapped {
    /// The setting.
    pub path: SettingPath,
    /// What it does on the device, in order.
    pub actions: Vec<Action>,
}

/// A setting Windows cannot enforce (or not from the data given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsupportedSetting {
    /// The setting.
    pub path: SettingPath,
    /// Why.
    pub reason: String,
}

/// A remark on what the commands do not do: a tattooed value, a reset in
/// place of `Delete`, a partial mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The setting.
    pub path: SettingPath,
    /// The node.
    pub uri: String,
    /// What to know.
    pub text: String,
}

/// Commands for a device, and what could not be expressed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Compiled {
    /// The commands, in a deterministic order, `CmdID`s `1`, `2`, ...
    pub commands: Vec<Command>,
    /// Settings Windows cannot enforce.
    pub unsupported: Vec<UnsupportedSetting>,
    /// Remarks on tattooed nodes, resets and partial mappings.
    pub notes: Vec<Note>,
}

impl Compiled {
    /// A complete server message carrying the commands and `<Final/>`.
    ///
    /// `server` is the header's `Source` (the server URL), `device` its
    /// `Target` (the device id).
    pub fn to_message(&self, session_id: &str, msg_id: &str, server: &str, device: &str) -> SyncMl {
        SyncMl {
            header: SyncHdr::new(session_id, msg_id, device, server),
            commands: self.commands.clone(),
            final_: true,
        }
    }

    fn push(&mut self, make: fn(ItemCommand) -> Command, item: Item) {
        let id = self.commands.len() as u64 + 1;
        self.commands.push(make(ItemCommand::new(id, item)));
    }

    fn set(&mut self, verb: Create, uri: &str, format: &Format, value: &str) {
        let make = match verb {
            Create::Add => Command::Add,
            Create::Replace => Command::Replace,
        };
        self.push(make, value_item(uri, format, value));
    }

    fn delete(&mut self, uri: &str) {
        self.push(Command::Delete, Item::target(uri));
    }

    fn exec(&mut self, uri: &str, format: &Format, value: &str) {
        self.push(Command::Exec, value_item(uri, format, value));
    }

    fn note(&mut self, path: &SettingPath, uri: &str, text: impl Into<String>) {
        self.notes.push(Note {
            path: path.clone(),
            uri: uri.to_owned(),
            text: text.into(),
        });
    }
}

/// The Policy CSP area whose nodes must change together.
const DEVICE_LOCK: &str = "/vendor/msft/policy/config/devicelock/";

/// Puts the commands on DeviceLock nodes (the password rules) inside one
/// `Atomic`, first, the others after it in their order: Windows then
/// applies the password rules all or not at all (a refused minimum length
/// rolls back the rest, answered 507 with 216 for the rolled-back ones),
/// and never leaves a half-changed password policy. Commands already
/// inside a container are left as they are.
pub fn atomic_device_lock(commands: Vec<Command>) -> Vec<Command> {
    let is_lock = |c: &Command| {
        let items = c.items();
        !items.is_empty()
            && !matches!(c, Command::Atomic(_) | Command::Sequence(_))
            && items.iter().all(|i| {
                i.uri()
                    .is_some_and(|u| u.normalized().to_ascii_lowercase().contains(DEVICE_LOCK))
            })
    };
    let (lock, rest): (Vec<Command>, Vec<Command>) = commands.into_iter().partition(is_lock);
    if lock.is_empty() {
        return rest;
    }
    let mut out = Vec::with_capacity(rest.len() + 1);
    out.push(Command::Atomic(Container {
        cmd_id: Some("1".into()),
        commands: lock,
        ..Container::default()
    }));
    out.extend(rest);
    out
}

fn value_item(uri: &str, format: &Format, value: &str) -> Item {
    Item::target(uri)
        .with_meta(Meta::format(format.clone()))
        .with_data(value)
}

/// The actions of every supported setting, and the unsupported ones.
///
/// `device` supplies the facts some settings need (the serial number of a
/// name template); without it those settings are reported unsupported.
pub fn map_settings(
    settings: &Settings,
    device: Option<&Device>,
) -> (Vec<Mapped>, Vec<UnsupportedSetting>, Vec<Note>) {
    map::map_settings(settings, device)
}

/// Compiles settings into the commands that establish them on a device
/// that has none of them: `Add` (or `Replace` for nodes that always exist),
/// `Exec` for installs, `Delete` for apps to remove.
pub fn compile(settings: &Settings, device: Option<&Device>) -> Compiled {
    let (mapped, unsupported, notes) = map::map_settings(settings, device);
    let mut out = Compiled {
        unsupported,
        notes,
        ..Compiled::default()
    };
    for m in &mapped {
        for a in &m.actions {
            match a {
                Action::Set {
                    uri,
                    format,
                    value,
                    create,
                    ..
                } => out.set(*create, uri, format, value),
                Action::Exec {
                    uri, format, value, ..
                } => out.exec(uri, format, value),
                Action::Remove { uri } => out.delete(uri),
            }
        }
    }
    out
}

/// Compiles a device's effective policy.
pub fn compile_effective(policy: &EffectivePolicy, device: &Device) -> Compiled {
    compile(policy.settings(), Some(device))
}

/// The fewest commands that take a device from `old` to `new`.
///
/// A node only in `new` is added (`Add`, or `Replace` for nodes that always
/// exist), a node whose value changed is replaced, a node only in `old` is
/// deleted, or reset with `Replace` and noted where the CSP refuses
/// `Delete` or keeps its value ([`OnDelete`]). Unchanged nodes send
/// nothing. Unsupported settings of `new` are reported.
pub fn compile_diff(old: &Settings, new: &Settings, device: Option<&Device>) -> Compiled {
    compile_diff_where(old, new, device, &|_| true)
}

/// [`compile_diff`] of the settings whose path `keep` accepts. The others
/// are read, not sent: a kiosk is mapped with the apps it names (their
/// package family names), yet only the kiosk's own nodes, unsupported
/// settings and notes come out.
pub fn compile_diff_where(
    old: &Settings,
    new: &Settings,
    device: Option<&Device>,
    keep: &dyn Fn(&SettingPath) -> bool,
) -> Compiled {
    let (mut old_mapped, _, _) = map::map_settings(old, device);
    let (mut new_mapped, mut unsupported, mut notes) = map::map_settings(new, device);
    old_mapped.retain(|m| keep(&m.path));
    new_mapped.retain(|m| keep(&m.path));
    unsupported.retain(|u| keep(&u.path));
    notes.retain(|n| keep(&n.path));
    let mut out = Compiled {
        unsupported,
        notes,
        ..Compiled::default()
    };
    let find = |mapped: &[Mapped], a: &Action| -> Option<(SettingPath, Action)> {
        mapped.iter().find_map(|m| {
            m.actions
                .iter()
                .find(|b| b.uri() == a.uri() && b.kind() == a.kind())
                .map(|b| (m.path.clone(), b.clone()))
        })
    };
    for m in &new_mapped {
        for a in &m.actions {
            let before = find(&old_mapped, a).map(|(_, b)| b);
            match (a, before) {
                (x, Some(y)) if *x == y => {}
                (
                    Action::Set {
                        uri, format, value, ..
                    },
                    Some(_),
                ) => out.set(Create::Replace, uri, format, value),
                (
                    Action::Set {
                        uri,
                        format,
                        value,
                        create,
                        ..
                    },
                    None,
                ) => out.set(*create, uri, format, value),
                (
                    Action::Exec {
                        uri, format, value, ..
                    },
                    _,
                ) => out.exec(uri, format, value),
                (Action::Remove { uri }, _) => out.delete(uri),
            }
        }
    }
    for m in &old_mapped {
        for a in &m.actions {
            if find(&new_mapped, a).is_some() {
                continue;
            }
            match a {
                Action::Set {
                    uri,
                    format,
                    delete_uri,
                    on_delete,
                    ..
                } => match on_delete {
                    OnDelete::Delete => out.delete(delete_uri.as_deref().unwrap_or(uri)),
                    OnDelete::Tattoo => out.note(
                        &m.path,
                        uri,
                        "removed from the policy, but the device keeps the last value (the CSP \
                         tattoos it or refuses Delete)",
                    ),
                    OnDelete::ResetTo(reset) => {
                        out.set(Create::Replace, uri, format, reset);
                        out.note(
                            &m.path,
                            uri,
                            format!(
                                "removed from the policy: the CSP keeps its value after Delete, \
                                 so it is reset with Replace to {reset:?}"
                            ),
                        );
                    }
                },
                Action::Exec { uri, undo, .. } => match undo {
                    Some(u) => out.delete(u),
                    None => out.note(&m.path, uri, "removed from the policy; nothing undoes it"),
                },
                Action::Remove { .. } => {}
            }
        }
    }
    out
}

/// The fewest commands for a [`ChangeSet`] against the settings it was
/// computed from: `compile_diff(old, apply(old, changes))`.
pub fn compile_changes(
    old: &Settings,
    changes: &ChangeSet,
    device: Option<&Device>,
) -> Result<Compiled, mdmkit_policy::Error> {
    let new = mdmkit_policy::apply(old, changes)?;
    Ok(compile_diff(old, &new, device))
}
