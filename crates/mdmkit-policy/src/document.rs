//! Policy documents: one policy per TOML or JSON document.
//!
//! A document is a table of categories (`[passcode]`, `[restrictions]`,
//! `[wifi."ECOLE"]`, ...) plus an optional `[policy]` table with the
//! policy's id, name, description and locks. TOML and JSON documents are the
//! same data: both are turned into one JSON value, deserialised into the
//! typed model piece by piece (so that one wrong key does not hide the
//! others) and validated; every issue is returned at once, with its setting
//! path and, for TOML, its line.

use std::path::Path;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Issue, IssueKind, Issues};
use crate::flat::{self, FlatSettings};
use crate::ids::PolicyId;
use crate::model::{
    Apps, Category, Certificates, DeviceSettings, Kiosk, OsUpdates, Passcode, Restrictions,
    Settings, Vendor, WebFilter, WifiNetworks,
};
use crate::path::SettingPath;
use crate::source::{self, Format, Locator, MAX_DOCUMENT_BYTES};
use crate::validate;

/// A policy: settings with an id, a description and the settings it locks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Policy {
    /// The policy's id, unique in a tenant.
    pub id: PolicyId,
    /// A human name.
    pub name: Option<String>,
    /// What the policy is for.
    pub description: Option<String>,
    /// Settings this policy locks where it is assigned: no node or device
    /// below may relax them (see `docs/policy.md`).
    pub locks: Vec<SettingPath>,
    /// The settings.
    pub settings: Settings,
}

/// The `[policy]` table of a document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyMeta {
    /// The policy id; defaults to the file name without extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<PolicyId>,
    /// A human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Setting paths this policy locks (`restrictions.camera`, `wifi`,
    /// `wifi["ECOLE"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<SettingPath>,
}

impl Policy {
    /// An empty policy.
    pub fn new(id: PolicyId) -> Self {
        Self {
            id,
            name: None,
            description: None,
            locks: Vec::new(),
            settings: Settings::default(),
        }
    }

    /// Parses and validates a document whose `[policy]` table names its id.
    pub fn parse(text: &str, format: Format) -> Result<Policy, Issues> {
        parse_document(text, format, None)
    }

    /// Parses and validates a document; `default_id` is used when the
    /// document names no id (the loader passes the file name).
    pub fn parse_with_default_id(
        text: &str,
        format: Format,
        default_id: &PolicyId,
    ) -> Result<Policy, Issues> {
        parse_document(text, format, Some(default_id))
    }

    /// Parses a TOML document (see [`Policy::parse`]).
    pub fn from_toml(text: &str) -> Result<Policy, Issues> {
        Self::parse(text, Format::Toml)
    }

    /// Parses a JSON document (see [`Policy::parse`]).
    pub fn from_json(text: &str) -> Result<Policy, Issues> {
        Self::parse(text, Format::Json)
    }

    /// Reads a `.toml` or `.json` file; the id defaults to the file name
    /// without extension. Issues carry the file name.
    pub fn from_path(path: &Path) -> Result<Policy, Error> {
        let text = read_limited(path)?;
        let format = Format::from_path(path).unwrap_or(Format::Toml);
        let default_id = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| PolicyId::new(s).ok());
        parse_document(&text, format, default_id.as_ref()).map_err(|mut issues| {
            issues.set_file(path);
            Error::Invalid(issues)
        })
    }

    /// The document's `[policy]` table.
    pub fn meta(&self) -> PolicyMeta {
        PolicyMeta {
            id: Some(self.id.clone()),
            name: self.name.clone(),
            description: self.description.clone(),
            locks: self.locks.clone(),
        }
    }

    /// The document as a JSON value (the JSON format).
    pub fn to_json_value(&self) -> Value {
        let mut map = Map::new();
        if let Ok(meta) = serde_json::to_value(self.meta()) {
            map.insert("policy".into(), meta);
        }
        if let Ok(Value::Object(settings)) = serde_json::to_value(&self.settings) {
            map.extend(settings);
        }
        Value::Object(map)
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        // A Value always serialises.
        serde_json::to_string_pretty(&self.to_json_value()).unwrap_or_default()
    }

    /// The document as TOML. Fails only when managed app configuration or
    /// vendor passthrough holds a JSON `null`, which TOML cannot express.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string_pretty(&self.to_json_value()).map_err(Error::ToToml)
    }

    /// The settings as merge units.
    pub fn flatten(&self) -> FlatSettings {
        flat::flatten(&self.settings)
    }
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Policy {
    /// Deserialises without the checks of [`Policy::parse`] beyond types;
    /// the id is required.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(d)?;
        let meta: PolicyMeta = match map.remove("policy") {
            Some(v) => serde_json::from_value(v).map_err(serde::de::Error::custom)?,
            None => PolicyMeta::default(),
        };
        let settings: Settings =
            serde_json::from_value(Value::Object(map)).map_err(serde::de::Error::custom)?;
        let id = meta
            .id
            .ok_or_else(|| serde::de::Error::custom("policy.id is required"))?;
        Ok(Policy {
            id,
            name: meta.name,
            description: meta.description,
            locks: meta.locks,
            settings,
        })
    }
}

impl JsonSchema for Policy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Policy".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = Settings::json_schema(generator);
        let meta = generator.subschema_for::<PolicyMeta>();
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            let mut with_meta = Map::new();
            with_meta.insert("policy".into(), meta.to_value());
            with_meta.extend(std::mem::take(props));
            *props = with_meta;
        }
        schema.insert(
            "description".into(),
            "An mdmkit policy document: a `policy` table (id, name, description, locks) and \
             settings by category. Every setting is optional."
                .into(),
        );
        schema
    }
}

/// Reads a file of at most [`MAX_DOCUMENT_BYTES`].
pub(crate) fn read_limited(path: &Path) -> Result<String, Error> {
    read_at_most(path, MAX_DOCUMENT_BYTES)
}

/// Reads a UTF-8 file of at most `max` bytes.
pub(crate) fn read_at_most(path: &Path, max: usize) -> Result<String, Error> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let max = max as u64;
    // Sized from the file's length (within the limit), the read fills the
    // buffer once instead of doubling it through the file.
    let hint = file.metadata().map_or(0, |m| m.len().min(max + 1));
    let mut text = String::with_capacity(usize::try_from(hint).unwrap_or(0));
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if text.len() as u64 > max {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(max + 1);
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size,
            max,
        });
    }
    Ok(text)
}

/// Collects typed pieces of a document and the issues met on the way.
pub(crate) struct Reader<'a> {
    pub(crate) locator: &'a Locator,
    pub(crate) issues: Vec<Issue>,
}

impl Reader<'_> {
    pub(crate) fn issue(&mut self, kind: IssueKind, path: SettingPath, message: impl Into<String>) {
        let line = self.locator.line_of_path(&path);
        self.issues
            .push(Issue::at(kind, path, message).with_line(line));
    }

    /// Deserialises one piece, reporting the error at the deepest path
    /// serde reached.
    pub(crate) fn read<T: DeserializeOwned>(
        &mut self,
        base: &SettingPath,
        value: Value,
    ) -> Option<T> {
        let de: Result<T, _> = serde_path_to_error::deserialize(value);
        match de {
            Ok(v) => Some(v),
            Err(e) => {
                let mut path = base.clone();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Map { key } => path.push_field(key.clone()),
                        serde_path_to_error::Segment::Seq { index } => {
                            path.push_field(index.to_string())
                        }
                        serde_path_to_error::Segment::Enum { variant } => {
                            path.push_field(variant.clone())
                        }
                        _ => {}
                    }
                }
                let msg = e.into_inner().to_string();
                self.issue(IssueKind::Schema, path, msg);
                None
            }
        }
    }

    /// Deserialises a table, reporting every bad key rather than the first:
    /// when the whole table fails, each key is tried on its own and only
    /// the good ones are kept.
    pub(crate) fn read_struct<T: DeserializeOwned>(
        &mut self,
        base: &SettingPath,
        value: Value,
    ) -> Option<T> {
        let Value::Object(map) = value else {
            return self.read(base, value);
        };
        if let Ok(t) = serde_json::from_value::<T>(Value::Object(map.clone())) {
            return Some(t);
        }
        let mut good = Map::new();
        let mut bad = Vec::new();
        for (k, v) in map {
            let mut single = Map::new();
            single.insert(k.clone(), v.clone());
            let one: Result<T, _> = serde_path_to_error::deserialize(Value::Object(single));
            match one {
                Ok(_) => {
                    good.insert(k, v);
                }
                // Judged with the other keys below.
                Err(e) if e.inner().to_string().starts_with("missing field") => {
                    good.insert(k, v);
                }
                Err(_) => {
                    let mut single = Map::new();
                    single.insert(k.clone(), v);
                    let _ = self.read::<T>(base, Value::Object(single));
                    bad.push(k);
                }
            }
        }
        // A required key that was bad is already reported; do not report
        // it again as missing.
        let de: Result<T, _> = serde_json::from_value(Value::Object(good.clone()));
        if let Err(e) = de {
            let msg = e.to_string();
            if bad
                .iter()
                .any(|k| msg.starts_with(&format!("missing field `{k}`")))
            {
                return None;
            }
        }
        self.read(base, Value::Object(good))
    }

    /// Deserialises a keyed map entry by entry.
    pub(crate) fn read_map<T: DeserializeOwned>(
        &mut self,
        base: &SettingPath,
        value: Value,
    ) -> std::collections::BTreeMap<String, T> {
        let mut out = std::collections::BTreeMap::new();
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = base.join_key(k.clone());
                    if let Some(t) = self.read_struct::<T>(&p, v) {
                        out.insert(k, t);
                    }
                }
            }
            other => self.issue(
                IssueKind::Schema,
                base.clone(),
                format!("expected a table of entries, found {}", kind_of(&other)),
            ),
        }
        out
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn read_settings(r: &mut Reader<'_>, map: Map<String, Value>) -> Settings {
    let mut s = Settings::default();
    for (key, value) in map {
        let base = SettingPath::field(key.clone());
        let Some(cat) = Category::from_key(&key) else {
            let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            r.issue(
                IssueKind::Schema,
                base,
                format!(
                    "unknown category, expected `policy` or one of {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        match cat {
            Category::Passcode => {
                s.passcode = r.read_struct::<Passcode>(&base, value).unwrap_or_default();
            }
            Category::Restrictions => {
                s.restrictions = r
                    .read_struct::<Restrictions>(&base, value)
                    .unwrap_or_default();
            }
            Category::Wifi => {
                let wifi: WifiNetworks = r.read_map(&base, value);
                s.wifi = wifi;
            }
            Category::WebFilter => {
                s.web_filter = r.read_struct::<WebFilter>(&base, value).unwrap_or_default();
            }
            Category::Apps => {
                let apps: Apps = r.read_map(&base, value);
                s.apps = apps;
            }
            Category::Kiosk => s.kiosk = r.read_struct::<Kiosk>(&base, value).unwrap_or_default(),
            Category::OsUpdates => {
                s.os_updates = r.read_struct::<OsUpdates>(&base, value).unwrap_or_default();
            }
            Category::Device => {
                s.device = r
                    .read_struct::<DeviceSettings>(&base, value)
                    .unwrap_or_default();
            }
            Category::Certificates => s.certificates = read_certificates(r, &base, value),
            Category::Vendor => s.vendor = read_vendor(r, &base, value),
        }
    }
    s
}

fn read_certificates(r: &mut Reader<'_>, base: &SettingPath, value: Value) -> Certificates {
    let mut c = Certificates::default();
    let Value::Object(map) = value else {
        r.issue(IssueKind::Schema, base.clone(), "expected a table");
        return c;
    };
    for (k, v) in map {
        let p = base.join_field(k.clone());
        match k.as_str() {
            "roots" => c.roots = r.read_map(&p, v),
            "identities" => c.identities = r.read_map(&p, v),
            _ => r.issue(
                IssueKind::Schema,
                p,
                "unknown field, expected `roots` or `identities`",
            ),
        }
    }
    c
}

fn read_vendor(r: &mut Reader<'_>, base: &SettingPath, value: Value) -> Vendor {
    let mut vendor = Vendor::default();
    let Value::Object(map) = value else {
        r.issue(IssueKind::Schema, base.clone(), "expected a table");
        return vendor;
    };
    for (k, v) in map {
        let p = base.join_field(k.clone());
        match k.as_str() {
            "apple" => vendor.apple = r.read_map(&p, v),
            "windows" => vendor.windows = r.read_map(&p, v),
            "android" => vendor.android = r.read_map(&p, v),
            _ => r.issue(
                IssueKind::Schema,
                p,
                "unknown vendor, expected `apple`, `windows` or `android`",
            ),
        }
    }
    vendor
}

pub(crate) fn parse_document(
    text: &str,
    format: Format,
    default_id: Option<&PolicyId>,
) -> Result<Policy, Issues> {
    let parsed = source::parse(text, format).map_err(Issues)?;
    let mut r = Reader {
        locator: &parsed.locator,
        issues: Vec::new(),
    };
    let Value::Object(mut map) = parsed.value else {
        return Err(Issues(vec![Issue::whole(
            IssueKind::Schema,
            format!(
                "expected a table at the top, found {}",
                kind_of(&parsed.value)
            ),
        )]));
    };
    let meta = match map.remove("policy") {
        Some(v) => r
            .read_struct::<PolicyMeta>(&SettingPath::field("policy"), v)
            .unwrap_or_default(),
        None => PolicyMeta::default(),
    };
    let settings = read_settings(&mut r, map);
    let id = meta.id.clone().or_else(|| default_id.cloned());
    if id.is_none() {
        r.issue(
            IssueKind::Schema,
            SettingPath::field("policy").join_field("id"),
            "required (or name the file after the policy)",
        );
    }
    for issue in validate::settings(&settings) {
        let line = issue
            .path
            .as_ref()
            .and_then(|p| parsed.locator.line_of_path(p));
        r.issues.push(issue.with_line(line));
    }
    let flat = flat::flatten(&settings);
    let schema_errors = r.issues.iter().any(|i| i.kind == IssueKind::Schema);
    for (i, lock) in meta.locks.iter().enumerate() {
        let at = SettingPath::field("policy")
            .join_field("locks")
            .join_field(i.to_string());
        if let Some(msg) = validate::lock(lock, &flat) {
            // A setting that failed to parse is not "unset": say nothing.
            if schema_errors && msg.starts_with("locks a setting") {
                continue;
            }
            r.issue(IssueKind::Invalid, at, format!("{lock}: {msg}"));
        }
    }
    if !r.issues.is_empty() {
        sort_issues(&mut r.issues);
        return Err(Issues(r.issues));
    }
    let Some(id) = id else {
        return Err(Issues(r.issues));
    };
    Ok(Policy {
        id,
        name: meta.name,
        description: meta.description,
        locks: meta.locks,
        settings,
    })
}

/// Orders issues by file and line (issues without a line last), keeping
/// the discovery order otherwise.
pub(crate) fn sort_issues(issues: &mut [Issue]) {
    issues.sort_by(|a, b| {
        a.file.cmp(&b.file).then(
            a.line
                .unwrap_or(usize::MAX)
                .cmp(&b.line.unwrap_or(usize::MAX)),
        )
    });
}
