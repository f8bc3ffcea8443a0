//! The flat form of settings: one JSON value per merge unit, keyed by
//! [`SettingPath`]. Merge, diff, locks and hashes all work on it, driven by
//! the catalogue, so that they agree on what "one setting" is.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::catalog::{self, CATALOG};
use crate::model::Settings;
use crate::path::{Segment, SettingPath};

/// Settings as merge units: `restrictions.camera → "deny"`,
/// `wifi["ECOLE"] → {…}`.
pub type FlatSettings = BTreeMap<SettingPath, Value>;

/// Whether `shape` is the shape of a catalogue row.
fn is_leaf(shape: &str) -> bool {
    CATALOG.iter().any(|d| d.pattern == shape)
}

fn is_keyed(shape: &str) -> bool {
    CATALOG
        .iter()
        .any(|d| d.pattern.strip_suffix("[*]") == Some(shape))
}

fn walk(value: &Value, path: &mut SettingPath, out: &mut FlatSettings) {
    let shape = catalog::shape(path);
    if !path.is_root() && is_leaf(&shape) {
        out.insert(path.clone(), value.clone());
        return;
    }
    let Value::Object(map) = value else {
        // Not reachable from typed settings: every non-object value sits at
        // a catalogue row. Keep it rather than lose it.
        out.insert(path.clone(), value.clone());
        return;
    };
    let keyed = !path.is_root() && is_keyed(&shape);
    for (k, v) in map {
        if keyed {
            path.push_key(k.clone());
        } else {
            path.push_field(k.clone());
        }
        walk(v, path, out);
        path.pop();
    }
}

/// Flattens typed settings into merge units.
pub fn flatten(settings: &Settings) -> FlatSettings {
    let mut out = FlatSettings::new();
    // Serialising our own types into a JSON value cannot fail: every map
    // key is a string and no type has a fallible Serialize.
    if let Ok(value) = serde_json::to_value(settings) {
        walk(&value, &mut SettingPath::root(), &mut out);
    }
    out
}

/// Why flat settings could not be turned back into typed settings.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct UnflattenError {
    /// Where.
    pub path: String,
    /// What.
    pub message: String,
}

/// Rebuilds typed settings from merge units.
pub fn unflatten(flat: &FlatSettings) -> Result<Settings, UnflattenError> {
    let mut root = Value::Object(serde_json::Map::new());
    for (path, value) in flat {
        let mut cur = &mut root;
        let segs = path.segments();
        for (i, seg) in segs.iter().enumerate() {
            let key = match seg {
                Segment::Field(k) | Segment::Key(k) => k,
            };
            let Value::Object(map) = cur else {
                return Err(UnflattenError {
                    path: path.to_string(),
                    message: "a parent of this setting is not a table".into(),
                });
            };
            if i + 1 == segs.len() {
                map.insert(key.clone(), value.clone());
                break;
            }
            cur = map
                .entry(key.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
    }
    let de: Result<Settings, _> = serde_path_to_error::deserialize(root);
    de.map_err(|e| UnflattenError {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

/// Writes `value` as canonical JSON: object keys sorted, no whitespace.
/// Independent of serde_json's `preserve_order` feature.
pub(crate) fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*k) {
                    canonical_json(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Looks a sub-path up inside a JSON value (`["password"]` inside a Wi-Fi
/// entry); `None` when absent.
pub(crate) fn get_in<'a>(value: &'a Value, rest: &[Segment]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in rest {
        let k = match seg {
            Segment::Field(k) | Segment::Key(k) => k,
        };
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Rule, WifiNetwork, WifiSecurity};

    #[test]
    fn keyed_entries_are_single_units_and_round_trip() {
        let mut s = Settings::default();
        s.restrictions.camera = Some(Rule::Deny);
        s.passcode.min_length = Some(6);
        let w = WifiNetwork {
            security: Some(WifiSecurity::Wpa2Personal),
            password: Some("correct horse".into()),
            ..WifiNetwork::default()
        };
        s.wifi.insert("ECOLE".into(), w);
        let flat = flatten(&s);
        let keys: Vec<String> = flat.keys().map(|k| k.to_string()).collect();
        assert_eq!(
            keys,
            [
                "passcode.min_length",
                "restrictions.camera",
                "wifi[\"ECOLE\"]"
            ]
        );
        assert_eq!(unflatten(&flat).unwrap(), s);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let v: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,2],"c":null}}"#).unwrap();
        let mut out = String::new();
        canonical_json(&v, &mut out);
        assert_eq!(out, r#"{"a":{"c":null,"d":[1,2]},"b":1}"#);
    }
}
