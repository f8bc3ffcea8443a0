#![allow(missing_docs)] // The fields mirror the keys that schema.yaml documents.

//! The facts of the schema, read from the YAML trees.
//!
//! Only facts are taken: key names, types, presence, defaults, allowed
//! values, bounds, formats and support facts. Titles, descriptions, content
//! and notes (Apple's prose) are never read.

use std::collections::HashMap;

use crate::yaml::{Doc, Node};

/// A scalar fact.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A real.
    Real(f64),
    /// A boolean.
    Bool(bool),
}

/// Shared-iPad facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedIpad {
    pub mode: Option<String>,
    pub device_channel: Option<bool>,
    pub user_channel: Option<bool>,
    pub allowed_scopes: Vec<String>,
}

/// The support facts for one OS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsFacts {
    pub os: String,
    pub introduced: Option<String>,
    pub deprecated: Option<String>,
    pub removed: Option<String>,
    pub access_rights: Option<String>,
    pub multiple: Option<bool>,
    pub device_channel: Option<bool>,
    pub user_channel: Option<bool>,
    pub supervised: Option<bool>,
    pub requires_dep: Option<bool>,
    pub user_approved_mdm: Option<bool>,
    pub allow_manual_install: Option<bool>,
    pub always_skippable: Option<bool>,
    pub beta: Option<bool>,
    pub allowed_enrollments: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub shared_ipad: Option<SharedIpad>,
    pub user_enrollment: Option<String>,
}

/// One key.
#[derive(Debug, Clone, Default)]
pub struct Key {
    pub name: String,
    pub ty: String,
    pub required: bool,
    pub default: Option<Scalar>,
    pub allowed: Vec<Scalar>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub format: Option<String>,
    pub subtype: Option<String>,
    pub repetition: Option<(u32, u32)>,
    pub combine: Option<String>,
    pub asset_types: Vec<String>,
    pub os: Vec<OsFacts>,
    pub subkey_type: Option<String>,
    pub subkeys: Option<usize>,
}

impl Key {
    /// Whether this key stands for arbitrary keys.
    pub fn is_wildcard(&self) -> bool {
        self.name == "ANY" || self.name.starts_with("ANY ")
    }
}

/// A list of keys: a payload's keys, a response's keys or a nested
/// dictionary's (or an array's single item spec).
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub keys: Vec<Key>,
    /// The category (output module) that owns it.
    pub category: usize,
}

/// The output modules.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("checkin", "Checkin"),
    ("commands", "Command"),
    ("profiles", "Profile"),
    ("errors", "Error"),
    ("declarations", "Declaration"),
    ("credentials", "Credential"),
    ("status", "StatusItem"),
    ("protocol", "Protocol"),
    ("other", "Other"),
];

/// One schema file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub category: usize,
    pub name: String,
    pub file: String,
    pub rust_type: String,
    pub response_type: Option<String>,
    pub os: Vec<OsFacts>,
    pub apply: Option<String>,
    pub beta: bool,
    pub keys: Option<usize>,
    pub response: Option<usize>,
}

/// The whole schema.
#[derive(Debug, Default)]
pub struct Model {
    pub entries: Vec<Entry>,
    pub shapes: Vec<Shape>,
}

/// Which category a file path belongs to.
pub fn category_of(path: &str) -> Option<usize> {
    let prefixes = [
        ("mdm/checkin/", 0),
        ("mdm/commands/", 1),
        ("mdm/profiles/", 2),
        ("mdm/errors/", 3),
        ("declarative/declarations/assets/credentials/", 5),
        ("declarative/declarations/", 4),
        ("declarative/status/", 6),
        ("declarative/protocol/", 7),
        ("other/", 8),
    ];
    prefixes
        .iter()
        .find(|(p, _)| path.starts_with(p))
        .map(|(_, c)| *c)
}

/// `word.other(Thing)` → `WordOtherThing`.
pub fn camel(s: &str) -> String {
    let mut out = String::new();
    for part in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

fn scalar(doc: &Doc, id: usize) -> Option<Scalar> {
    match doc.node(id) {
        Node::Scalar { value, plain } => {
            if !plain {
                return Some(Scalar::Str(value.clone()));
            }
            if value == "true" {
                return Some(Scalar::Bool(true));
            }
            if value == "false" {
                return Some(Scalar::Bool(false));
            }
            if let Ok(i) = value.parse::<i64>() {
                return Some(Scalar::Int(i));
            }
            if value.contains(['.', 'e', 'E'])
                && let Ok(r) = value.parse::<f64>()
                && r.is_finite()
            {
                return Some(Scalar::Real(r));
            }
            Some(Scalar::Str(value.clone()))
        }
        _ => None,
    }
}

fn number(doc: &Doc, id: Option<usize>) -> Option<f64> {
    match scalar(doc, id?)? {
        #[allow(clippy::cast_precision_loss)]
        Scalar::Int(i) => Some(i as f64),
        Scalar::Real(r) => Some(r),
        _ => None,
    }
}

fn boolean(doc: &Doc, id: usize, key: &str) -> Option<bool> {
    match scalar(doc, doc.get(id, key)?)? {
        Scalar::Bool(b) => Some(b),
        _ => None,
    }
}

fn text(doc: &Doc, id: usize, key: &str) -> Option<String> {
    doc.get_str(id, key)
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn strings(doc: &Doc, id: Option<usize>) -> Vec<String> {
    id.map(|id| {
        doc.items(id)
            .iter()
            .filter_map(|i| doc.str(*i).map(str::to_owned))
            .collect()
    })
    .unwrap_or_default()
}

fn os_facts(doc: &Doc, id: Option<usize>) -> Vec<OsFacts> {
    let Some(id) = id else { return Vec::new() };
    let Node::Map(entries) = doc.node(id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (os, fid) in entries {
        let fid = *fid;
        let shared_ipad = doc.get(fid, "sharedipad").map(|s| SharedIpad {
            mode: text(doc, s, "mode"),
            device_channel: boolean(doc, s, "devicechannel"),
            user_channel: boolean(doc, s, "userchannel"),
            allowed_scopes: strings(doc, doc.get(s, "allowed-scopes")),
        });
        out.push(OsFacts {
            os: os.clone(),
            introduced: text(doc, fid, "introduced"),
            deprecated: text(doc, fid, "deprecated"),
            removed: text(doc, fid, "removed"),
            access_rights: text(doc, fid, "accessrights"),
            multiple: boolean(doc, fid, "multiple"),
            device_channel: boolean(doc, fid, "devicechannel"),
            user_channel: boolean(doc, fid, "userchannel"),
            supervised: boolean(doc, fid, "supervised"),
            requires_dep: boolean(doc, fid, "requiresdep"),
            user_approved_mdm: boolean(doc, fid, "userapprovedmdm"),
            allow_manual_install: boolean(doc, fid, "allowmanualinstall"),
            always_skippable: boolean(doc, fid, "always-skippable"),
            beta: boolean(doc, fid, "beta"),
            allowed_enrollments: strings(doc, doc.get(fid, "allowed-enrollments")),
            allowed_scopes: strings(doc, doc.get(fid, "allowed-scopes")),
            shared_ipad,
            user_enrollment: doc
                .get(fid, "userenrollment")
                .and_then(|u| text(doc, u, "mode")),
        });
    }
    out
}

struct Reader<'a> {
    model: &'a mut Model,
    memo: HashMap<(usize, usize), usize>,
}

impl Reader<'_> {
    fn shape(&mut self, file: usize, doc: &Doc, seq: usize, category: usize) -> usize {
        if let Some(&id) = self.memo.get(&(file, seq)) {
            return id;
        }
        let id = self.model.shapes.len();
        self.model.shapes.push(Shape {
            keys: Vec::new(),
            category,
        });
        self.memo.insert((file, seq), id);
        let mut keys = Vec::new();
        for &k in doc.items(seq) {
            keys.push(self.key(file, doc, k, category));
        }
        self.model.shapes[id].keys = keys;
        id
    }

    fn key(&mut self, file: usize, doc: &Doc, id: usize, category: usize) -> Key {
        let ty = doc
            .get_str(id, "type")
            .unwrap_or("<any>")
            .trim_matches(['<', '>'])
            .to_owned();
        let range = doc.get(id, "range");
        let repetition = doc.get(id, "repetition").and_then(|r| {
            let min = number(doc, doc.get(r, "min"))?;
            let max = number(doc, doc.get(r, "max"))?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some((min as u32, max as u32))
        });
        let subkeys = doc
            .get(id, "subkeys")
            .filter(|s| !doc.items(*s).is_empty())
            .map(|s| self.shape(file, doc, s, category));
        Key {
            name: doc.get_str(id, "key").unwrap_or_default().to_owned(),
            ty,
            required: doc.get_str(id, "presence") == Some("required"),
            default: doc.get(id, "default").and_then(|d| scalar(doc, d)),
            allowed: doc
                .get(id, "rangelist")
                .map(|r| {
                    doc.items(r)
                        .iter()
                        .filter_map(|i| scalar(doc, *i))
                        .collect()
                })
                .unwrap_or_default(),
            min: range.and_then(|r| number(doc, doc.get(r, "min"))),
            max: range.and_then(|r| number(doc, doc.get(r, "max"))),
            format: text(doc, id, "format"),
            subtype: text(doc, id, "subtype").map(|s| s.trim_matches(['<', '>']).to_owned()),
            repetition,
            combine: text(doc, id, "combinetype"),
            asset_types: strings(doc, doc.get(id, "assettypes")),
            os: os_facts(doc, doc.get(id, "supportedOS")),
            subkey_type: text(doc, id, "subkeytype"),
            subkeys,
        }
    }
}

fn base_name(category: usize, file: &str, type_name: &str) -> String {
    let stem = file
        .rsplit('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".yaml");
    match category {
        0 | 1 | 7 => camel(type_name),
        2 | 8 => camel(stem.strip_prefix("com.apple.").unwrap_or(stem)),
        3 => format!("{}Error", camel(stem)),
        4 | 5 => {
            if type_name == "any" {
                camel(stem)
            } else {
                camel(type_name.strip_prefix("com.apple.").unwrap_or(type_name))
            }
        }
        _ => camel(type_name),
    }
}

fn suffix(category: usize) -> &'static str {
    match category {
        1 => "Command",
        2 => "Payload",
        6 => "Status",
        _ => "",
    }
}

/// Reads every schema file (`(relative path, text)`, sorted by path).
pub fn read(files: &[(String, String)]) -> Result<Model, String> {
    let mut model = Model::default();
    let mut reader = Reader {
        model: &mut model,
        memo: HashMap::new(),
    };
    let mut entries = Vec::new();
    for (index, (path, source)) in files.iter().enumerate() {
        let Some(category) = category_of(path) else {
            continue;
        };
        let doc = crate::yaml::parse(source).map_err(|e| format!("{path}: {e}"))?;
        let root = doc.root;
        let payload = doc.get(root, "payload");
        let type_name = payload
            .and_then(|p| {
                [
                    "payloadtype",
                    "requesttype",
                    "declarationtype",
                    "statusitemtype",
                    "credentialtype",
                ]
                .iter()
                .find_map(|k| doc.get_str(p, k))
            })
            .unwrap_or_default()
            .to_owned();
        let base = base_name(category, path, &type_name);
        // Items without keys (ProfileList, RestartDevice, ...) still get a
        // type, with an empty key list.
        let keys = Some(match doc.get(root, "payloadkeys") {
            Some(s) => reader.shape(index, &doc, s, category),
            None => {
                reader.model.shapes.push(Shape {
                    keys: Vec::new(),
                    category,
                });
                reader.model.shapes.len() - 1
            }
        });
        let response = doc
            .get(root, "responsekeys")
            .map(|s| reader.shape(index, &doc, s, category));
        let mut rust_type = format!("{base}{}", suffix(category));
        // Two files may name the same type (`com.apple.MCX(FileVault2)` and
        // `com.apple.MCX.FileVault2`): the later one gets a number.
        let stem = rust_type.clone();
        let mut n = 2;
        while entries
            .iter()
            .any(|e: &Entry| e.category == category && e.rust_type == rust_type)
        {
            rust_type = format!("{stem}{n}");
            n += 1;
        }
        let response_type = response.map(|_| format!("{base}Response"));
        entries.push(Entry {
            category,
            name: if type_name.is_empty() {
                path.rsplit('/')
                    .next()
                    .unwrap_or(path)
                    .trim_end_matches(".yaml")
                    .to_owned()
            } else {
                type_name
            },
            file: path.clone(),
            rust_type,
            response_type,
            os: os_facts(&doc, payload.and_then(|p| doc.get(p, "supportedOS"))),
            apply: payload.and_then(|p| text(&doc, p, "apply")),
            beta: payload.and_then(|p| boolean(&doc, p, "beta")) == Some(true),
            keys,
            response,
        });
    }
    model.entries = entries;
    Ok(model)
}
