//! Generates the typed Android Management API model of `mdmkit-android` from
//! Google's discovery document (`androidmanagement.v1.json`).
//!
//! The output is committed, so a fresh clone builds without the discovery
//! document; this crate is run by hand (`cargo run -p mdmkit-android-codegen`)
//! when Google publishes a new revision, and its test fails when the
//! committed output no longer matches the document in `../shared`.
//!
//! What it writes, relative to `crates/mdmkit-android/`:
//!
//! - `src/model/gen_*.rs`: one Rust struct per schema reachable from the
//!   resources mdmkit handles (every field optional, unknown fields kept) and
//!   one Rust enum per enumerated field (with a fallback arm for values added
//!   later). Doc comments are made from names and types only; Google's prose
//!   is never copied.
//! - `src/model/schema_table.txt`: every schema's field names, types and
//!   enum values in a compact form, so tests (and callers) can check that a
//!   JSON body uses only keys and values that exist in Google's description.
//!
//! ```no_run
//! let doc = std::fs::read_to_string("androidmanagement.v1.json")?;
//! for file in mdmkit_android_codegen::generate(&doc)? {
//!     println!("{} ({} bytes)", file.path, file.contents.len());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

mod names;
mod render;

/// The resources whose schemas (and every schema they reach) are generated.
pub const ROOTS: &[&str] = &[
    "Policy",
    "Device",
    "Operation",
    "Command",
    "EnrollmentToken",
    "ListDevicesResponse",
    "ListOperationsResponse",
    "ListPoliciesResponse",
    "ListEnrollmentTokensResponse",
];

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the `mdmkit-android` crate directory.
    pub path: &'static str,
    /// The full text of the file.
    pub contents: String,
}

/// Why the discovery document could not be turned into code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError(pub String);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodegenError {}

fn err(msg: impl Into<String>) -> CodegenError {
    CodegenError(msg.into())
}

/// The type of one field, as the generator understands it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Str,
    Bool,
    I32,
    I64,
    F32,
    F64,
    Duration,
    Timestamp,
    Any,
    /// Enumerated string: values, and the Rust name once assigned.
    Enum(Vec<String>, String),
    Ref(String),
    Array(Box<Ty>),
    Map(Box<Ty>),
}

impl Ty {
    fn parse(p: &Value, at: &str) -> Result<Ty, CodegenError> {
        if let Some(r) = p.get("$ref").and_then(Value::as_str) {
            return Ok(Ty::Ref(r.to_owned()));
        }
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        let format = p.get("format").and_then(Value::as_str);
        Ok(match ty {
            "string" => {
                if let Some(values) = p.get("enum").and_then(Value::as_array) {
                    let values = values
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| err(format!("{at}: non-string enum value")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ty::Enum(values, String::new())
                } else {
                    match format {
                        Some("int64") | Some("uint64") => Ty::I64,
                        Some("google-duration") => Ty::Duration,
                        Some("google-datetime") => Ty::Timestamp,
                        _ => Ty::Str,
                    }
                }
            }
            "boolean" => Ty::Bool,
            "integer" => match format {
                Some("int32") | None => Ty::I32,
                Some(f) => return Err(err(format!("{at}: unsupported integer format {f}"))),
            },
            "number" => match format {
                Some("float") => Ty::F32,
                _ => Ty::F64,
            },
            "any" => Ty::Any,
            "array" => {
                let items = p
                    .get("items")
                    .ok_or_else(|| err(format!("{at}: array without items")))?;
                Ty::Array(Box::new(Ty::parse(items, at)?))
            }
            "object" => match p.get("additionalProperties") {
                Some(inner) => Ty::Map(Box::new(Ty::parse(inner, at)?)),
                None => Ty::Any,
            },
            other => return Err(err(format!("{at}: unsupported type {other:?}"))),
        })
    }

    /// The compact code used in `schema_table.txt`.
    fn table_code(&self, out: &mut String) {
        match self {
            Ty::Str => out.push('s'),
            Ty::Bool => out.push('b'),
            Ty::I32 => out.push('i'),
            Ty::I64 => out.push('l'),
            Ty::F32 | Ty::F64 => out.push('f'),
            Ty::Duration => out.push('d'),
            Ty::Timestamp => out.push('t'),
            Ty::Any => out.push('a'),
            Ty::Enum(values, _) => {
                out.push_str("e:");
                out.push_str(&values.join(","));
            }
            Ty::Ref(r) => {
                out.push('@');
                out.push_str(r);
            }
            Ty::Array(t) => {
                out.push('[');
                t.table_code(out);
            }
            Ty::Map(t) => {
                out.push('{');
                t.table_code(out);
            }
        }
    }

    fn refs(&self, direct_only: bool, out: &mut Vec<String>) {
        match self {
            Ty::Ref(r) => out.push(r.clone()),
            Ty::Array(t) | Ty::Map(t) if !direct_only => t.refs(direct_only, out),
            _ => {}
        }
    }

    fn enum_slot(&mut self) -> Option<(&Vec<String>, &mut String)> {
        match self {
            Ty::Enum(values, name) => Some((values, name)),
            Ty::Array(t) | Ty::Map(t) => t.enum_slot(),
            _ => None,
        }
    }
}

/// One field of a schema.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) json: String,
    pub(crate) ty: Ty,
    pub(crate) read_only: bool,
    pub(crate) deprecated: bool,
    /// Whether a direct reference must be boxed to break a cycle.
    pub(crate) boxed: bool,
}

/// One schema (an object type).
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    pub(crate) name: String,
    pub(crate) fields: Vec<Field>,
}

fn load(doc: &Value) -> Result<BTreeMap<String, Schema>, CodegenError> {
    let schemas = doc
        .get("schemas")
        .and_then(Value::as_object)
        .ok_or_else(|| err("no schemas in the discovery document"))?;
    let mut out = BTreeMap::new();
    for (name, s) in schemas {
        let mut fields = Vec::new();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (json, p) in props {
                let at = format!("{name}.{json}");
                fields.push(Field {
                    json: json.clone(),
                    ty: Ty::parse(p, &at)?,
                    read_only: p.get("readOnly").and_then(Value::as_bool) == Some(true),
                    deprecated: p.get("deprecated").and_then(Value::as_bool) == Some(true),
                    boxed: false,
                });
            }
        }
        out.insert(
            name.clone(),
            Schema {
                name: name.clone(),
                fields,
            },
        );
    }
    for s in out.values() {
        for f in &s.fields {
            let mut refs = Vec::new();
            f.ty.refs(false, &mut refs);
            for r in refs {
                if !out.contains_key(&r) {
                    return Err(err(format!("{}.{}: unknown schema {r}", s.name, f.json)));
                }
            }
        }
    }
    Ok(out)
}

fn reachable(
    schemas: &BTreeMap<String, Schema>,
    roots: &[&str],
    direct_only: bool,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = roots.iter().map(|r| (*r).to_owned()).collect();
    while let Some(n) = stack.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(s) = schemas.get(&n) {
            for f in &s.fields {
                f.ty.refs(direct_only, &mut stack);
            }
        }
    }
    seen
}

/// Which generated file a schema goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Part {
    Policy,
    Device,
    Resources,
}

impl Part {
    const ALL: [Part; 3] = [Part::Policy, Part::Device, Part::Resources];

    fn path(self) -> &'static str {
        match self {
            Part::Policy => "src/model/gen_policy.rs",
            Part::Device => "src/model/gen_device.rs",
            Part::Resources => "src/model/gen_resources.rs",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Part::Policy => "the `Policy` resource and every type it reaches",
            Part::Device => "the `Device` resource and the types only it reaches",
            Part::Resources => {
                "`Operation`, `Command`, `EnrollmentToken`, list responses and the types only they reach"
            }
        }
    }
}

/// The manifest of the committed output (shared with `mdmkit-apple-codegen`).
#[path = "../../mdmkit-apple-codegen/src/manifest.rs"]
pub mod manifest;

/// The manifest of the committed output (`generated.sha256` in this crate).
pub fn manifest_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("generated.sha256")
}

/// The manifest of `files` generated from `discovery_json` by this
/// generator.
pub fn build_manifest(
    discovery_json: &str,
    files: &[GeneratedFile],
) -> Result<manifest::Manifest, String> {
    Ok(manifest::Manifest::new(
        manifest::digest([("androidmanagement.v1.json", discovery_json.as_bytes())]),
        manifest::generator_digest(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))?,
        files
            .iter()
            .map(|f| {
                (
                    f.path.to_owned(),
                    manifest::file_sha256(f.contents.as_bytes()),
                )
            })
            .collect(),
    ))
}

/// Reads the discovery document and returns every generated file.
pub fn generate(discovery_json: &str) -> Result<Vec<GeneratedFile>, CodegenError> {
    let doc: Value = serde_json::from_str(discovery_json)
        .map_err(|e| err(format!("discovery document is not JSON: {e}")))?;
    let revision = doc
        .get("revision")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let mut schemas = load(&doc)?;

    let table = schema_table(&schemas, &revision);

    let wanted = reachable(&schemas, ROOTS, false);
    let policy_part = reachable(&schemas, &["Policy"], false);
    let device_part = reachable(&schemas, &["Device"], false);

    // Box direct references that lead back to their own schema.
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in &names {
        let mut boxes = Vec::new();
        if let Some(s) = schemas.get(name) {
            for (i, f) in s.fields.iter().enumerate() {
                if let Ty::Ref(r) = &f.ty
                    && reachable(&schemas, &[r.as_str()], true).contains(name)
                {
                    boxes.push(i);
                }
            }
        }
        if let Some(s) = schemas.get_mut(name) {
            for i in boxes {
                s.fields[i].boxed = true;
            }
        }
    }

    // Name the enums: `{Schema}{Field}`, singular for lists; identical value
    // lists of one schema (or of same-named fields) share one type.
    let mut taken: BTreeSet<String> = schemas.keys().cloned().collect();
    for reserved in render::RESERVED_TYPE_NAMES {
        if taken.contains(*reserved) {
            return Err(err(format!(
                "schema {reserved} clashes with a hand-written type"
            )));
        }
        taken.insert((*reserved).to_owned());
    }
    let mut by_values: Vec<(Vec<String>, String, String, String)> = Vec::new(); // values, schema, field, name
    let mut enums: Vec<(Part, String, Vec<String>, String)> = Vec::new(); // part, name, values, origin
    for name in &names {
        if !wanted.contains(name) {
            continue;
        }
        let part = part_of(name, &policy_part, &device_part);
        let Some(s) = schemas.get_mut(name) else {
            continue;
        };
        // Shorter field names first, so `Device.state` names the type that
        // `Device.appliedState` shares.
        let mut order: Vec<usize> = (0..s.fields.len()).collect();
        order.sort_by_key(|&i| (s.fields[i].json.len(), s.fields[i].json.clone()));
        for i in order {
            let f = &mut s.fields[i];
            let is_list = matches!(f.ty, Ty::Array(_));
            let json = f.json.clone();
            let Some((values, slot)) = f.ty.enum_slot() else {
                continue;
            };
            if let Some((_, _, _, existing)) = by_values
                .iter()
                .find(|(v, sch, fld, _)| v == values && (sch == name || *fld == json))
            {
                *slot = existing.clone();
                continue;
            }
            let mut field_part = names::pascal_from_camel(&json);
            if is_list && field_part.ends_with('s') && !field_part.ends_with("ss") {
                field_part.pop();
            }
            let mut rust = format!("{name}{field_part}");
            while taken.contains(&rust) {
                rust.push_str("Value");
            }
            taken.insert(rust.clone());
            *slot = rust.clone();
            by_values.push((values.clone(), name.clone(), json.clone(), rust.clone()));
            enums.push((part, rust, values.clone(), format!("{name}.{json}")));
        }
    }

    let mut files = Vec::new();
    for part in Part::ALL {
        let mut out = String::new();
        render::file_header(&mut out, part.what(), &revision);
        for name in &names {
            if !wanted.contains(name) || part_of(name, &policy_part, &device_part) != part {
                continue;
            }
            if let Some(s) = schemas.get(name) {
                render::structure(&mut out, s)?;
            }
        }
        for (p, rust, values, origin) in &enums {
            if *p == part {
                render::enumeration(&mut out, rust, values, origin)?;
            }
        }
        files.push(GeneratedFile {
            path: part.path(),
            contents: out,
        });
    }
    let generated: Vec<&str> = names
        .iter()
        .filter(|n| wanted.contains(*n))
        .map(String::as_str)
        .collect();
    files.push(GeneratedFile {
        path: "src/model/gen_registry.rs",
        contents: render::registry(&generated, &revision),
    });
    files.push(GeneratedFile {
        path: "src/model/schema_table.txt",
        contents: table,
    });
    Ok(files)
}

fn part_of(name: &str, policy: &BTreeSet<String>, device: &BTreeSet<String>) -> Part {
    if policy.contains(name) {
        Part::Policy
    } else if device.contains(name) {
        Part::Device
    } else {
        Part::Resources
    }
}

/// One line per schema (`=Name`), then one line per field
/// (`json<TAB>code`). Codes: `s` string, `b` boolean, `i` int32, `l` int64
/// (a JSON string), `f` number, `d` duration, `t` timestamp, `a` any JSON,
/// `e:V1,V2` enumerated string, `@Name` object of that schema, `[` list of,
/// `{` map from string keys to.
fn schema_table(schemas: &BTreeMap<String, Schema>, revision: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# @generated by mdmkit-android-codegen from androidmanagement.v1.json revision {revision}"
    );
    out.push_str(
        "# =Schema, then json-name<TAB>type: s string, b boolean, i int32, l int64, f number, d duration, t timestamp, a any, e:V,.. enum, @S object, [ list of, { map of\n",
    );
    for s in schemas.values() {
        let _ = writeln!(out, "={}", s.name);
        for f in &s.fields {
            let mut code = String::new();
            f.ty.table_code(&mut code);
            let _ = writeln!(out, "{}\t{}", f.json, code);
        }
    }
    out
}
