//! The JSON Schema of policy documents, generated from the types.
//!
//! `docs/policy.schema.json` is this schema; a test fails when it is stale
//! (`MDMKIT_BLESS=1 cargo test -p mdmkit-policy --test docs` rewrites it).

use serde_json::Value;

use crate::document::Policy;

/// The JSON Schema (draft 2020-12) of a policy document, TOML or JSON.
///
/// It describes shapes and types; ranges, formats and cross-field rules
/// (`password` required for personal Wi-Fi...) are checked by
/// [`Policy::parse`], which reports every problem at once.
pub fn json_schema() -> Value {
    let mut schema = schemars::schema_for!(Policy).to_value();
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$id".into(),
            Value::String("https://example.invalid/mdmkit/policy.schema.json".into()),
        );
        map.insert(
            "title".into(),
            Value::String("mdmkit policy document".into()),
        );
    }
    schema
}

/// [`json_schema`] as pretty JSON with a final newline, as committed.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}
