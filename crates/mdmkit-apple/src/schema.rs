//! The facts of Apple's device-management schema as static tables.
//!
//! Every payload, command, check-in message, declaration and status item of
//! the schema has one [`SchemaEntry`] in [`SCHEMAS`] (generated, see
//! `crates/mdmkit-apple-codegen`). Its keys are [`KeySpec`]s: name, type,
//! presence, default, allowed values, bounds and the per-OS support facts
//! ([`OsFacts`]). Validation ([`crate::validate`]) and support queries
//! ([`crate::support`]) walk these tables; the typed structs of
//! [`crate::generated`] carry the same keys as Rust fields.

use std::fmt;

pub use crate::generated::SCHEMAS;

/// The value type of a key, as the schema names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// `<string>`
    String,
    /// `<integer>`
    Integer,
    /// `<real>`
    Real,
    /// `<boolean>`
    Boolean,
    /// `<date>`
    Date,
    /// `<data>`
    Data,
    /// `<array>`
    Array,
    /// `<dictionary>`
    Dictionary,
    /// `<any>`: any plist value, not validated.
    Any,
}

impl KeyType {
    /// The schema's spelling without angle brackets (`string`, `integer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Real => "real",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Data => "data",
            Self::Array => "array",
            Self::Dictionary => "dictionary",
            Self::Any => "any",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scalar fact from the schema: a default or an allowed value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Scalar {
    /// A string.
    Str(&'static str),
    /// An integer.
    Int(i64),
    /// A real number.
    Real(f64),
    /// A boolean.
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Real(r) => write!(f, "{r}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The extra format a string key promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StringFormat {
    /// A URL.
    Url,
    /// A host name.
    Hostname,
    /// An e-mail address.
    Email,
}

/// How values of one key from several declarations are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CombineType {
    /// Logical OR of booleans.
    BooleanOr,
    /// Logical AND of booleans.
    BooleanAnd,
    /// The smallest number.
    NumberMin,
    /// The largest number.
    NumberMax,
    /// The value listed first in the allowed values.
    EnumFirst,
    /// The value listed last in the allowed values.
    EnumLast,
    /// The first value processed.
    First,
    /// Arrays concatenated.
    ArrayAppend,
    /// The union of arrays.
    SetUnion,
    /// The intersection of arrays.
    SetIntersection,
}

/// The operating systems the schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Os {
    /// iOS and iPadOS.
    Ios,
    /// macOS.
    MacOs,
    /// tvOS.
    TvOs,
    /// visionOS.
    VisionOs,
    /// watchOS.
    WatchOs,
}

impl Os {
    /// The schema's spelling (`iOS`, `macOS`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ios => "iOS",
            Self::MacOs => "macOS",
            Self::TvOs => "tvOS",
            Self::VisionOs => "visionOS",
            Self::WatchOs => "watchOS",
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether something may be used under a special enrollment mode
/// (user enrollment, shared iPad).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Usable with or without the mode.
    Allowed,
    /// Usable only under the mode.
    Required,
    /// Not usable under the mode.
    Forbidden,
    /// Accepted but without effect under the mode.
    Ignored,
}

/// An enrollment type a payload may be installed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enrollment {
    /// A supervised device.
    Supervised,
    /// Device enrollment.
    Device,
    /// User enrollment.
    User,
    /// A locally installed profile.
    Local,
}

/// The scope a payload may be installed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// The system scope.
    System,
    /// A user scope.
    User,
    /// Local (shared iPad).
    Local,
}

/// Shared-iPad facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedIpad {
    /// Whether the item may be used on a shared iPad.
    pub mode: Option<Mode>,
    /// Whether it may be installed on the device channel of a shared iPad.
    pub device_channel: Option<bool>,
    /// Whether it may be installed on the user channel of a shared iPad.
    pub user_channel: Option<bool>,
    /// The scopes allowed on a shared iPad.
    pub allowed_scopes: &'static [Scope],
}

/// The support facts of a payload, command or key on one OS.
///
/// `None` means the schema says nothing; key-level facts override the
/// payload-level ones (see [`crate::support`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsFacts {
    /// The OS these facts are about.
    pub os: Os,
    /// The version that introduced it; `Some("n/a")` means not available.
    pub introduced: Option<&'static str>,
    /// The version that deprecated it.
    pub deprecated: Option<&'static str>,
    /// The version that removed it.
    pub removed: Option<&'static str>,
    /// The MDM access right needed to run it.
    pub access_rights: Option<&'static str>,
    /// Whether several copies of the payload may be installed.
    pub multiple: Option<bool>,
    /// Whether it may be used on the device channel.
    pub device_channel: Option<bool>,
    /// Whether it may be used on the user channel.
    pub user_channel: Option<bool>,
    /// Whether it needs a supervised device.
    pub supervised: Option<bool>,
    /// Whether it needs a device provisioned by automated enrollment.
    pub requires_dep: Option<bool>,
    /// Whether it needs user-approved MDM.
    pub user_approved_mdm: Option<bool>,
    /// Whether a user may install the profile by hand.
    pub allow_manual_install: Option<bool>,
    /// Whether the skip key's setup pane is always skipped.
    pub always_skippable: Option<bool>,
    /// Whether it is a beta on this OS.
    pub beta: Option<bool>,
    /// The enrollment types allowed (empty: no restriction stated).
    pub allowed_enrollments: &'static [Enrollment],
    /// The scopes allowed (empty: no restriction stated).
    pub allowed_scopes: &'static [Scope],
    /// Shared-iPad facts.
    pub shared_ipad: Option<SharedIpad>,
    /// Whether it may be used under user enrollment.
    pub user_enrollment: Option<Mode>,
}

impl OsFacts {
    /// Facts stating nothing, for struct-update syntax in generated tables.
    pub const EMPTY: Self = Self {
        os: Os::Ios,
        introduced: None,
        deprecated: None,
        removed: None,
        access_rights: None,
        multiple: None,
        device_channel: None,
        user_channel: None,
        supervised: None,
        requires_dep: None,
        user_approved_mdm: None,
        allow_manual_install: None,
        always_skippable: None,
        beta: None,
        allowed_enrollments: &[],
        allowed_scopes: &[],
        shared_ipad: None,
        user_enrollment: None,
    };

    /// Whether the schema marks it as not available on this OS.
    pub fn unavailable(&self) -> bool {
        self.introduced == Some("n/a")
    }
}

/// One key of a payload, command, message or nested dictionary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeySpec {
    /// The plist key.
    pub name: &'static str,
    /// The value type.
    pub ty: KeyType,
    /// Whether the schema marks the key required.
    pub required: bool,
    /// The default value, if the schema gives one.
    pub default: Option<Scalar>,
    /// The allowed values (empty: any).
    pub allowed: &'static [Scalar],
    /// The lower bound of a number.
    pub min: Option<f64>,
    /// The upper bound of a number.
    pub max: Option<f64>,
    /// A regular expression the string value must match.
    pub format: Option<&'static str>,
    /// A string format (URL, host name, e-mail).
    pub subtype: Option<StringFormat>,
    /// The number of array items allowed (min, max).
    pub repetition: Option<(u32, u32)>,
    /// How declarations combine this key.
    pub combine: Option<CombineType>,
    /// The allowed asset types (declarations referring to assets).
    pub asset_types: &'static [&'static str],
    /// Per-OS support facts of this key.
    pub os: &'static [OsFacts],
    /// The shared name of the nested structure, when the schema gives one.
    pub subkey_type: Option<&'static str>,
    /// For a dictionary: its keys; for an array: one spec for its items
    /// (several for arrays of alternative dictionaries). A key named `ANY`
    /// stands for arbitrary keys.
    pub subkeys: &'static [KeySpec],
}

impl KeySpec {
    /// A spec stating nothing, for struct-update syntax in generated tables.
    pub const EMPTY: Self = Self {
        name: "",
        ty: KeyType::Any,
        required: false,
        default: None,
        allowed: &[],
        min: None,
        max: None,
        format: None,
        subtype: None,
        repetition: None,
        combine: None,
        asset_types: &[],
        os: &[],
        subkey_type: None,
        subkeys: &[],
    };

    /// Whether this spec stands for arbitrary keys of a dictionary.
    pub fn is_wildcard(&self) -> bool {
        self.name == "ANY" || self.name.starts_with("ANY ")
    }

    /// Finds a sub-key by name.
    pub fn subkey(&self, name: &str) -> Option<&'static KeySpec> {
        self.subkeys.iter().find(|k| k.name == name)
    }
}

/// The part of the schema an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SchemaKind {
    /// A configuration-profile payload (`mdm/profiles`), keyed by PayloadType.
    Profile,
    /// An MDM command (`mdm/commands`), keyed by RequestType.
    Command,
    /// A check-in message (`mdm/checkin`), keyed by MessageType.
    Checkin,
    /// An error document a server returns (`mdm/errors`).
    Error,
    /// A declaration (`declarative/declarations`), keyed by Type.
    Declaration,
    /// A credential asset's data (`declarative/declarations/assets/credentials`).
    Credential,
    /// A declarative status item (`declarative/status`).
    StatusItem,
    /// A declarative-management protocol document (`declarative/protocol`).
    Protocol,
    /// Other documents (`other/`: enrollment SSO, machine info, ...).
    Other,
}

/// How several configurations of the same type apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Apply {
    /// Only one applies.
    Single,
    /// Each applies separately.
    Multiple,
    /// All are combined.
    Combined,
}

/// One payload, command, message, declaration or status item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchemaEntry {
    /// What part of the schema it comes from.
    pub kind: SchemaKind,
    /// Its type identifier: PayloadType, RequestType, MessageType,
    /// declaration Type or status item name.
    pub name: &'static str,
    /// The schema file it was generated from, relative to the schema root.
    pub file: &'static str,
    /// The name of the generated Rust type for its keys.
    pub rust_type: &'static str,
    /// Support facts for the whole item.
    pub os: &'static [OsFacts],
    /// How several configurations combine (declarations).
    pub apply: Option<Apply>,
    /// Whether the whole item is a beta.
    pub beta: bool,
    /// Its keys (for commands: the request keys).
    pub keys: &'static [KeySpec],
    /// The keys of a command's response.
    pub response_keys: &'static [KeySpec],
}

impl SchemaEntry {
    /// Finds a top-level key by name.
    pub fn key(&self, name: &str) -> Option<&'static KeySpec> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// Finds a response key by name.
    pub fn response_key(&self, name: &str) -> Option<&'static KeySpec> {
        self.response_keys.iter().find(|k| k.name == name)
    }
}

/// Finds the schema entry of a kind by its type identifier.
///
/// Several profile entries share `com.apple.MCX`; this returns the first.
pub fn find(kind: SchemaKind, name: &str) -> Option<&'static SchemaEntry> {
    SCHEMAS.iter().find(|e| e.kind == kind && e.name == name)
}

/// All entries of a kind sharing a type identifier (`com.apple.MCX` has
/// several).
pub fn find_all(kind: SchemaKind, name: &str) -> impl Iterator<Item = &'static SchemaEntry> {
    let name = name.to_owned();
    SCHEMAS
        .iter()
        .filter(move |e| e.kind == kind && e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(kind: SchemaKind) -> usize {
        SCHEMAS.iter().filter(|e| e.kind == kind).count()
    }

    #[test]
    fn every_part_of_the_schema_is_present() {
        assert_eq!(count(SchemaKind::Checkin), 8);
        assert_eq!(count(SchemaKind::Command), 66);
        assert_eq!(count(SchemaKind::Profile), 128);
        assert_eq!(count(SchemaKind::StatusItem), 45);
        assert_eq!(count(SchemaKind::Declaration), 39);
        assert!(
            find(SchemaKind::Command, "DeviceInformation")
                .is_some_and(|e| !e.response_keys.is_empty())
        );
    }

    #[test]
    fn recursive_sub_schemas_are_shared_not_copied() {
        let home = find(SchemaKind::Profile, "com.apple.homescreenlayout").unwrap();
        let dock_item = &home.key("Dock").unwrap().subkeys[0];
        let folder_pages = dock_item.subkey("Pages").unwrap();
        // Pages -> array of pages -> array of icons: the same icon table.
        let icon = &folder_pages.subkeys[0].subkeys[0];
        assert!(std::ptr::eq(icon.subkeys, dock_item.subkeys));
    }
}
