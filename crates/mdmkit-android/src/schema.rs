//! Checks JSON against the field names, types and enum values of Google's
//! description, without the description itself: the generator commits a
//! compact table of every schema (`model/schema_table.txt`).
//!
//! Use it to prove that a body mdmkit (or an integrator) produced only uses
//! keys and values AMAPI knows, before sending it.
//!
//! ```
//! let body = serde_json::json!({"cameraDisabled": true, "encryptionPolicy": "ENABLED_WITH_PASSWORD", "camraDisabled": true});
//! let problems = mdmkit_android::schema::check(&body, "Policy")?;
//! assert_eq!(problems.len(), 1);
//! assert_eq!(problems[0].path, "camraDisabled");
//! # Ok::<(), mdmkit_android::Error>(())
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::Error;

const TABLE: &str = include_str!("model/schema_table.txt");

/// The most problems [`check`] reports before it stops looking.
pub const MAX_VIOLATIONS: usize = 1000;

/// A field's type in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldType<'a> {
    Str,
    Bool,
    Int32,
    Int64,
    Number,
    Duration,
    Timestamp,
    Any,
    Enum(&'a str),
    Object(&'a str),
    List(&'a str),
    Map(&'a str),
}

impl<'a> FieldType<'a> {
    fn parse(code: &'a str) -> Self {
        match code.as_bytes().first() {
            Some(b'[') => FieldType::List(&code[1..]),
            Some(b'{') => FieldType::Map(&code[1..]),
            Some(b'@') => FieldType::Object(&code[1..]),
            Some(b'e') if code.starts_with("e:") => FieldType::Enum(&code[2..]),
            Some(b'b') => FieldType::Bool,
            Some(b'i') => FieldType::Int32,
            Some(b'l') => FieldType::Int64,
            Some(b'f') => FieldType::Number,
            Some(b'd') => FieldType::Duration,
            Some(b't') => FieldType::Timestamp,
            Some(b'a') => FieldType::Any,
            _ => FieldType::Str,
        }
    }
}

type Table = HashMap<&'static str, HashMap<&'static str, &'static str>>;

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: Table = HashMap::new();
        let mut current: Option<&'static str> = None;
        for line in TABLE.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('=') {
                t.entry(name).or_default();
                current = Some(name);
            } else if let (Some(schema), Some((field, code))) = (current, line.split_once('\t')) {
                t.entry(schema).or_default().insert(field, code);
            }
        }
        t
    })
}

/// Whether Google's description has a schema of this name.
pub fn has_schema(name: &str) -> bool {
    table().contains_key(name)
}

/// The JSON field names of a schema, sorted; `None` for an unknown schema.
pub fn fields(schema: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&'static str> = table().get(schema)?.keys().copied().collect();
    v.sort_unstable();
    Some(v)
}

/// The values an enumerated field takes; `None` when the schema or field
/// is unknown or the field is not enumerated (lists of enums count).
pub fn enum_values(schema: &str, field: &str) -> Option<Vec<&'static str>> {
    let code = *table().get(schema)?.get(field)?;
    let code = code.trim_start_matches('[');
    code.strip_prefix("e:").map(|v| v.split(',').collect())
}

/// Something in a JSON body that Google's description does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Where, as a JSON path (`applications[0].installType`).
    pub path: String,
    /// What is wrong.
    pub kind: ViolationKind,
}

/// What is wrong at a [`Violation`]'s path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViolationKind {
    /// A key the schema does not have.
    UnknownKey,
    /// A value outside the field's enumeration.
    UnknownEnumValue(String),
    /// A JSON value of the wrong type (`expected` names the type).
    WrongType {
        /// What the description wants.
        expected: &'static str,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ViolationKind::UnknownKey => write!(f, "{}: unknown key", self.path),
            ViolationKind::UnknownEnumValue(v) => write!(f, "{}: unknown value {v:?}", self.path),
            ViolationKind::WrongType { expected } => {
                write!(f, "{}: expected {expected}", self.path)
            }
        }
    }
}

/// Checks `value` against the schema `schema` (`Policy`, `Device`,
/// `Command`, ...) and returns every key and enum value that the
/// description lacks, and values of the wrong JSON type (at most
/// [`MAX_VIOLATIONS`]). Free-form fields (managed configurations) are not
/// looked into.
pub fn check(value: &Value, schema: &str) -> Result<Vec<Violation>, Error> {
    if !has_schema(schema) {
        return Err(Error::Unexpected {
            what: "schema check",
            why: format!("no schema named {schema:?} in Google's description"),
        });
    }
    let mut out = Vec::new();
    walk_object(value, schema, &mut String::new(), &mut out, 0);
    Ok(out)
}

fn push(out: &mut Vec<Violation>, path: &str, kind: ViolationKind) {
    if out.len() < MAX_VIOLATIONS {
        out.push(Violation {
            path: if path.is_empty() {
                ".".to_owned()
            } else {
                path.to_owned()
            },
            kind,
        });
    }
}

fn walk_object(
    value: &Value,
    schema: &str,
    path: &mut String,
    out: &mut Vec<Violation>,
    depth: usize,
) {
    let Some(fields) = table().get(schema) else {
        return;
    };
    let Some(obj) = value.as_object() else {
        push(
            out,
            path,
            ViolationKind::WrongType {
                expected: "an object",
            },
        );
        return;
    };
    for (key, v) in obj {
        if out.len() >= MAX_VIOLATIONS || depth > 128 {
            return;
        }
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        match fields.get(key.as_str()) {
            None => push(out, path, ViolationKind::UnknownKey),
            Some(code) => walk_value(v, FieldType::parse(code), path, out, depth + 1),
        }
        path.truncate(len);
    }
}

fn walk_value(
    v: &Value,
    ty: FieldType<'_>,
    path: &mut String,
    out: &mut Vec<Violation>,
    depth: usize,
) {
    let wrong = |out: &mut Vec<Violation>, path: &str, expected| {
        push(out, path, ViolationKind::WrongType { expected });
    };
    match ty {
        FieldType::Any => {}
        FieldType::Str | FieldType::Duration | FieldType::Timestamp => {
            if !v.is_string() {
                wrong(out, path, "a string");
            }
        }
        FieldType::Bool => {
            if !v.is_boolean() {
                wrong(out, path, "a boolean");
            }
        }
        FieldType::Int32 => {
            if !v.is_i64() && !v.is_u64() {
                wrong(out, path, "an integer");
            }
        }
        FieldType::Int64 => {
            let ok =
                v.is_i64() || v.is_u64() || v.as_str().is_some_and(|s| s.parse::<i64>().is_ok());
            if !ok {
                wrong(out, path, "a 64-bit integer (as a string)");
            }
        }
        FieldType::Number => {
            if !v.is_number() {
                wrong(out, path, "a number");
            }
        }
        FieldType::Enum(values) => match v.as_str() {
            Some(s) if values.split(',').any(|k| k == s) => {}
            Some(s) => push(out, path, ViolationKind::UnknownEnumValue(s.to_owned())),
            None => wrong(out, path, "an enumeration value (a string)"),
        },
        FieldType::Object(schema) => walk_object(v, schema, path, out, depth),
        FieldType::List(inner) => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk_value(item, FieldType::parse(inner), path, out, depth + 1);
                    path.truncate(len);
                }
            }
            None => wrong(out, path, "a list"),
        },
        FieldType::Map(inner) => match v.as_object() {
            Some(map) => {
                for (k, item) in map {
                    let len = path.len();
                    path.push_str(&format!("[{k:?}]"));
                    walk_value(item, FieldType::parse(inner), path, out, depth + 1);
                    path.truncate(len);
                }
            }
            None => wrong(out, path, "an object"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_values_and_types_are_found_with_their_paths() {
        let body = json!({
            "applications": [
                {"packageName": "org.example.app", "installType": "FORCE_INSTALLED"},
                {"packageName": "org.example.b", "installType": "MANDATORY", "colour": "red"}
            ],
            "passwordPolicies": [{"passwordMinimumLength": "six"}],
            "version": "12",
        });
        let v = check(&body, "Policy").unwrap();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "applications[1].colour: unknown key",
                "applications[1].installType: unknown value \"MANDATORY\"",
                "passwordPolicies[0].passwordMinimumLength: expected an integer",
            ]
        );
    }

    #[test]
    fn the_table_knows_every_generated_schema() {
        for name in crate::model::GENERATED_SCHEMAS {
            assert!(has_schema(name), "{name}");
        }
        assert!(
            enum_values("Command", "type")
                .unwrap()
                .contains(&"START_LOST_MODE")
        );
        assert!(
            enum_values("Command", "resetPasswordFlags")
                .unwrap()
                .contains(&"LOCK_NOW")
        );
        assert!(check(&json!({}), "NoSuchSchema").is_err());
    }
}
