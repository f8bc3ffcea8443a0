//! Validation of plist dictionaries against the schema tables.
//!
//! [`validate_dict`] walks a dictionary with the [`KeySpec`]s of a payload,
//! command or message and reports every problem with its key path: missing
//! required keys, wrong types, values outside the allowed list or range,
//! arrays of the wrong length. Keys the schema does not list are reported as
//! [`Issue::UnknownKey`], a warning ([`Issue::is_error`] is false): devices
//! ignore such keys, but they are often misspellings.

use plist::{Dictionary, Value};

use crate::plist_io::value_kind;
use crate::schema::{KeySpec, KeyType, Scalar};
use crate::typed::KeyPath;

/// One problem found by validation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Issue {
    /// A required key is missing.
    #[error("{path}: required key is missing")]
    Missing {
        /// Where the key should be.
        path: String,
    },
    /// The value has another type than the schema gives.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// Where the value is.
        path: String,
        /// The schema's type.
        expected: KeyType,
        /// The type found.
        found: &'static str,
    },
    /// The value is not one of the allowed values.
    #[error("{path}: {value} is not an allowed value")]
    NotAllowed {
        /// Where the value is.
        path: String,
        /// The value found.
        value: String,
    },
    /// A number lies outside the schema's bounds.
    #[error("{path}: {value} is outside the range {min:?}..={max:?}")]
    OutOfRange {
        /// Where the value is.
        path: String,
        /// The value found.
        value: f64,
        /// The lower bound.
        min: Option<f64>,
        /// The upper bound.
        max: Option<f64>,
    },
    /// An array has too few or too many items.
    #[error("{path}: {count} items, expected {min} to {max}")]
    Count {
        /// Where the array is.
        path: String,
        /// Its length.
        count: usize,
        /// The fewest items allowed.
        min: u32,
        /// The most items allowed.
        max: u32,
    },
    /// A payload or message type the schema does not know (a warning).
    #[error("{path}: type {name:?} is not in the schema")]
    UnknownType {
        /// Where the type is named.
        path: String,
        /// The type.
        name: String,
    },
    /// A key the schema does not list (a warning).
    #[error("{path}: key is not in the schema")]
    UnknownKey {
        /// Where the key is.
        path: String,
    },
}

impl Issue {
    /// Whether the issue makes the document invalid (everything but
    /// [`Issue::UnknownKey`]).
    pub fn is_error(&self) -> bool {
        !matches!(self, Issue::UnknownKey { .. } | Issue::UnknownType { .. })
    }

    /// The key path the issue is about.
    pub fn path(&self) -> &str {
        match self {
            Issue::Missing { path }
            | Issue::WrongType { path, .. }
            | Issue::NotAllowed { path, .. }
            | Issue::OutOfRange { path, .. }
            | Issue::Count { path, .. }
            | Issue::UnknownType { path, .. }
            | Issue::UnknownKey { path } => path,
        }
    }
}

/// Validates `dict` against `keys`, appending issues; `extra` lists keys
/// that are valid although `keys` does not list them (the common payload
/// keys, for instance).
pub fn validate_dict_at(
    keys: &[KeySpec],
    dict: &Dictionary,
    path: &KeyPath<'_>,
    known: &[&str],
    out: &mut Vec<Issue>,
) {
    let wildcard = keys.iter().find(|k| k.is_wildcard());
    for spec in keys.iter().filter(|k| !k.is_wildcard()) {
        match dict.get(spec.name) {
            None if spec.required => out.push(Issue::Missing {
                path: path.key(spec.name).to_string(),
            }),
            None => {}
            Some(v) => validate_value(spec, v, &path.key(spec.name), out),
        }
    }
    for (k, v) in dict {
        if keys.iter().any(|s| s.name == k) || known.contains(&k.as_str()) {
            continue;
        }
        match wildcard {
            Some(w) => validate_value(w, v, &path.key(k), out),
            None => out.push(Issue::UnknownKey {
                path: path.key(k).to_string(),
            }),
        }
    }
}

/// Validates a dictionary against a list of keys; see [`validate_dict_at`].
pub fn validate_dict(keys: &[KeySpec], dict: &Dictionary) -> Vec<Issue> {
    let mut out = Vec::new();
    validate_dict_at(keys, dict, &KeyPath::ROOT, &[], &mut out);
    out
}

fn type_matches(ty: KeyType, v: &Value) -> bool {
    matches!(
        (ty, v),
        (KeyType::Any, _)
            | (KeyType::String, Value::String(_))
            | (KeyType::Integer, Value::Integer(_))
            | (KeyType::Real, Value::Real(_) | Value::Integer(_))
            | (KeyType::Boolean, Value::Boolean(_))
            | (KeyType::Date, Value::Date(_))
            | (KeyType::Data, Value::Data(_))
            | (KeyType::Array, Value::Array(_))
            | (KeyType::Dictionary, Value::Dictionary(_))
    )
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Real(r) => Some(*r),
        #[allow(clippy::cast_precision_loss)]
        Value::Integer(i) => i
            .as_signed()
            .map(|s| s as f64)
            .or_else(|| i.as_unsigned().map(|u| u as f64)),
        _ => None,
    }
}

fn scalar_matches(allowed: &Scalar, v: &Value) -> bool {
    match (allowed, v) {
        (Scalar::Str(a), Value::String(s)) => a == s,
        (Scalar::Bool(a), Value::Boolean(b)) => a == b,
        (Scalar::Int(a), _) => {
            number(v) == {
                #[allow(clippy::cast_precision_loss)]
                Some(*a as f64)
            }
        }
        (Scalar::Real(a), _) => number(v) == Some(*a),
        // A rangelist of strings for a number key: compare the text.
        (Scalar::Str(a), _) => number(v).is_some_and(|n| a.parse::<f64>().ok() == Some(n)),
        _ => false,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        other => value_kind(other).to_owned(),
    }
}

fn validate_value(spec: &KeySpec, v: &Value, path: &KeyPath<'_>, out: &mut Vec<Issue>) {
    if !type_matches(spec.ty, v) {
        out.push(Issue::WrongType {
            path: path.to_string(),
            expected: spec.ty,
            found: value_kind(v),
        });
        return;
    }
    if !spec.allowed.is_empty()
        && !matches!(v, Value::Array(_) | Value::Dictionary(_))
        && !spec.allowed.iter().any(|a| scalar_matches(a, v))
    {
        out.push(Issue::NotAllowed {
            path: path.to_string(),
            value: show(v),
        });
    }
    if let Some(n) = number(v)
        && (spec.min.is_some_and(|m| n < m) || spec.max.is_some_and(|m| n > m))
    {
        out.push(Issue::OutOfRange {
            path: path.to_string(),
            value: n,
            min: spec.min,
            max: spec.max,
        });
    }
    match v {
        Value::Array(items) => {
            if let Some((min, max)) = spec.repetition {
                let n = items.len();
                if n < min as usize || n > max as usize {
                    out.push(Issue::Count {
                        path: path.to_string(),
                        count: n,
                        min,
                        max,
                    });
                }
            }
            if let [item_spec] = spec.subkeys {
                for (i, item) in items.iter().enumerate() {
                    validate_value(item_spec, item, &path.index(i), out);
                }
            } else if !spec.allowed.is_empty() {
                for (i, item) in items.iter().enumerate() {
                    if !spec.allowed.iter().any(|a| scalar_matches(a, item)) {
                        out.push(Issue::NotAllowed {
                            path: path.index(i).to_string(),
                            value: show(item),
                        });
                    }
                }
            }
        }
        Value::Dictionary(d) if spec.ty == KeyType::Dictionary && !spec.subkeys.is_empty() => {
            validate_dict_at(spec.subkeys, d, path, &[], out);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{SchemaKind, find};

    #[test]
    fn a_wrong_type_and_a_disallowed_value_are_reported_with_their_paths() {
        let entry = find(SchemaKind::Profile, "com.apple.homescreenlayout").unwrap();
        let mut icon = Dictionary::new();
        icon.insert("Type".into(), Value::String("Widget".into()));
        let mut d = Dictionary::new();
        d.insert(
            "Pages".into(),
            Value::Array(vec![Value::Array(vec![Value::Dictionary(icon)])]),
        );
        d.insert("Dock".into(), Value::Boolean(true));
        let issues = validate_dict(entry.keys, &d);
        assert!(issues.contains(&Issue::NotAllowed {
            path: "Pages[0][0].Type".into(),
            value: "\"Widget\"".into()
        }));
        assert!(issues.contains(&Issue::WrongType {
            path: "Dock".into(),
            expected: KeyType::Array,
            found: "boolean"
        }));
    }

    #[test]
    fn missing_required_keys_and_unknown_keys_are_reported() {
        let entry = find(SchemaKind::Profile, "com.apple.homescreenlayout").unwrap();
        let mut d = Dictionary::new();
        d.insert("Dokc".into(), Value::Array(vec![]));
        let issues = validate_dict(entry.keys, &d);
        assert!(issues.contains(&Issue::Missing {
            path: "Pages".into()
        }));
        let unknown = Issue::UnknownKey {
            path: "Dokc".into(),
        };
        assert!(issues.contains(&unknown));
        assert!(!unknown.is_error());
    }
}
